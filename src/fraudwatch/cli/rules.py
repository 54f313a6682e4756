"""`fraudwatch rules`: check a rule set file, backtest it over history."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.features import FormatOption, OptionOption, PathArgument, read_history
from fraudwatch.cli.output import console, emit_json, table
from fraudwatch.features.defaults import default_feature_set
from fraudwatch.features.history import summary, with_pass_through
from fraudwatch.features.rows import label_table, tx_table
from fraudwatch.rules import CompiledRuleSet, RuleSet, RuleSetError, vocabulary
from fraudwatch.rules.backtest import backtest
from fraudwatch.rules.starter import load_rule_set, starter_rule_set

rules_app = typer.Typer(help="Rule sets: check and backtest.", no_args_is_help=True)

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rule set YAML (lists + rules); default: the starter set."),
]


def _rule_set(path: Path | None) -> RuleSet:
    if path is None:
        return starter_rule_set()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--rules"
        ) from None
    return load_rule_set(text)


@rules_app.command("check")
def check_command(
    path: Annotated[Path, typer.Argument(help="Rule set YAML to check.")],
    json_output: JsonOption = False,
) -> None:
    """Validate every rule of a rule set file against the fields and default features; exit 1
    listing each invalid rule with its problem."""
    try:
        rule_set = _rule_set(path)
    except RuleSetError as exc:
        problems = {"file": exc.message}
    else:
        problems = rule_set.problems(vocabulary(default_feature_set(), set(rule_set.lists)))
    if json_output:
        emit_json({"valid": not problems, "problems": problems})
    elif problems:
        table("invalid rules", ["rule", "problem"], [[k, v] for k, v in problems.items()])
    else:
        console.print(f"{len(rule_set.rules)} rules, all valid")
    if problems:
        raise typer.Exit(1)


@rules_app.command("backtest")
def backtest_command(
    format: FormatOption,
    path: PathArgument = None,
    rules: RulesOption = None,
    option: OptionOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a rule set over history with point-in-time features: per rule hits, precision and
    recall against the labels known at the end, and the transactions each action would take."""
    started = time.perf_counter()
    rule_set = _rule_set(rules)
    with container() as app:
        history = read_history(app, format, path, option, not json_output)
    attributes = history.attribute_names()
    features = with_pass_through(default_feature_set(), attributes)
    rule_vocabulary = vocabulary(features, set(rule_set.lists))
    problems = rule_set.problems(rule_vocabulary)
    if problems:
        raise RuleSetError("the rule set has invalid rules", problems)
    lists: dict[str, frozenset[str]] = {name: frozenset() for name in rule_set.lists}
    compiled = CompiledRuleSet(rule_set, rule_vocabulary, lists)
    report = backtest(
        compiled, features, tx_table(history.transactions, attributes), label_table(history.labels)
    )
    report.update(summary(history))
    report["seconds"] = round(time.perf_counter() - started, 2)
    if json_output:
        emit_json(report)
    else:
        _print(report)


def _print(report: dict[str, Any]) -> None:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    rows = [
        [
            r["name"] + (" (shadow)" if r["shadow"] else ""),
            r["action"],
            r["hits"],
            share(r["hit_rate"]),
            share(r["precision"]),
            share(r["recall"]),
        ]
        for r in report["rules"]
    ]
    table("rules", ["rule", "action", "hits", "hit rate", "precision", "recall"], rows)
    actions = [
        [name, a["transactions"], a["frauds"], share(a["precision"]), share(a["recall"])]
        for name, a in report["actions"].items()
    ]
    table(
        "by strongest action", ["action", "transactions", "frauds", "precision", "recall"], actions
    )
    console.print(
        f"{report['transactions']:,} transactions, {report['frauds']:,} frauds, "
        f"{report['seconds']} s"
    )
