"""The HTML evaluation report: metrics, ROC and precision-recall curves, score distributions,
reasons for the riskiest decisions, global SHAP importance with a LIME second opinion,
fairness with a mitigation, and PSI drift. Everything on the test period except the drift
reference (a training sample) and the mitigation's fitting (the validation period)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from fraudwatch.models.blend import DECISIONS
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.drift import psi, psi_table
from fraudwatch.models.evaluate import EvaluationSet
from fraudwatch.models.fairness import fairness_report
from fraudwatch.models.reasons import reasons
from fraudwatch.models.report_template import PAGE


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _curves(y: np.ndarray, scores: dict[str, np.ndarray]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    if y.min() == y.max():
        return "<p>One class only in the test period: no curves.</p>"
    figure, (roc, pr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(y, score)
        precision, recall, _ = precision_recall_curve(y, score)
        roc.plot(fpr, tpr, label=name)
        pr.plot(recall, precision, label=name)
    roc.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    roc.set(xscale="log", xlim=(1e-4, 1), xlabel="false-positive rate (log)", ylabel="recall")
    roc.set_title("ROC")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    pr.axhline(y.mean(), color="k", linestyle=":", linewidth=0.8)
    roc.legend()
    pr.legend()
    return _png(figure)


def _distributions(y: np.ndarray, risk: np.ndarray, thresholds: dict[str, float]) -> str:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(11, 3.6))
    bins = [i / 50 for i in range(51)]
    axis.hist(risk[y == 0], bins=bins, alpha=0.6, label="genuine", log=True)
    axis.hist(risk[y == 1], bins=bins, alpha=0.6, label="fraud", log=True)
    for name, value in thresholds.items():
        axis.axvline(value, color="k", linestyle="--", linewidth=0.8)
        axis.text(value, axis.get_ylim()[1] * 0.5, f" {name}", fontsize=8)
    axis.set(xlabel="risk", ylabel="transactions (log)", title="risk by true class")
    axis.legend()
    return _png(figure)


def _shap_summary(bundle: ModelBundle, x: np.ndarray) -> tuple[str, list[str]]:
    import matplotlib.pyplot as plt
    import shap

    contributions = bundle.classifier.contributions(x)[:, :-1]
    names = list(bundle.layout.columns)
    plt.figure()
    shap.summary_plot(contributions, x, feature_names=names, show=False, max_display=15)
    image = _png(plt.gcf())
    order = np.argsort(-np.abs(contributions).mean(axis=0))
    return image, [names[i] for i in order[:15]]


def _lime(
    bundle: ModelBundle, background: np.ndarray, rows: np.ndarray, shap_rows: list[list[str]]
) -> str:
    from lime.lime_tabular import LimeTabularExplainer

    fill = bundle.anomaly.arrays["fill"]
    background = np.where(np.isfinite(background), background, fill)
    explainer = LimeTabularExplainer(
        background,
        feature_names=list(bundle.layout.columns),
        class_names=["genuine", "fraud"],
        discretize_continuous=True,
        random_state=0,
    )

    def predict(values: np.ndarray) -> np.ndarray:
        p = bundle.calibration(bundle.classifier.margin(values))
        return np.column_stack([1 - p, p])

    out = []
    for row, shap_top in zip(rows, shap_rows, strict=True):
        filled = np.where(np.isfinite(row), row, fill)
        explanation = explainer.explain_instance(filled, predict, num_features=5, num_samples=800)
        lime_top = [name for name, weight in explanation.as_list() if weight > 0]
        agree = sum(any(s in condition for condition in lime_top) for s in shap_top)
        out.append([" · ".join(shap_top), " · ".join(lime_top), f"{agree}/{len(shap_top)}"])
    return _table(["exact SHAP (top 3)", "LIME (positive, top 5)", "SHAP features LIME names"], out)


def _fairness_html(result: dict[str, Any]) -> str:
    parts = [f"<p>Flagged = risk ≥ {result['threshold']} (review or stricter).</p>"]
    if not result["attributes"]:
        return "<p>The data has no group attributes (region, institution, channel).</p>"
    for name, entry in result["attributes"].items():
        rows = [
            [
                group,
                v["rows"],
                v["false_positive_rate"],
                v["false_negative_rate"],
                v["selection_rate"],
            ]
            for group, v in entry["by_group"].items()
        ]
        rows.append(["disparity (max - min)", None, *entry["difference"].values()])
        rows.append(["disparity (min / max)", None, *entry["ratio"].values()])
        parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(_table(["group", "rows", "FPR", "FNR", "selection rate"], rows))
        mitigation = entry.get("mitigation")
        if mitigation:
            cost = mitigation["cost"]
            parts.append(
                f"<p>Mitigation: {html.escape(mitigation['method'])}. FPR disparity "
                f"{_fmt(entry['difference']['false_positive_rate'])} → "
                f"{_fmt(mitigation['after']['difference']['false_positive_rate'])}.</p>"
            )
            parts.append(
                _table(
                    ["", "before", "after"],
                    [
                        ["precision", cost["precision_before"], cost["precision_after"]],
                        ["recall", cost["recall_before"], cost["recall_after"]],
                        ["accuracy", cost["accuracy_before"], cost["accuracy_after"]],
                    ],
                )
            )
    return "".join(parts)


def write_report(
    bundle: ModelBundle, data: EvaluationSet, report: dict[str, Any], path: Path
) -> dict[str, Any]:
    """Write the page; returns the extra figures (fairness, drift) it computed."""
    rows = data.rows
    x = bundle.layout.matrix(rows)
    scores = bundle.score_matrix(x)
    y = rows["label"].to_numpy().astype(int)
    decision = bundle.thresholds.decide(scores.risk)
    sections: list[str] = []

    summary = [
        ["transactions / frauds", f"{report['transactions']:,} / {report['frauds']:,}"],
        ["ROC AUC", report["roc_auc"]],
        ["average precision", report["average_precision"]],
        ["card precision@100 (daily mean)", report.get("card_precision_at_100")],
        ["recall at 0.1 % FPR", report["recall_at_0.1pct_fpr"]],
        ["recall at 1 % FPR", report["recall_at_1pct_fpr"]],
        [
            "classifier alone: ROC AUC / AP",
            f"{_fmt(report['classifier_only']['roc_auc'])} / "
            f"{_fmt(report['classifier_only']['average_precision'])}",
        ],
        [
            "anomaly alone: ROC AUC / AP",
            f"{_fmt(report['anomaly_only']['roc_auc'])} / "
            f"{_fmt(report['anomaly_only']['average_precision'])}",
        ],
    ]
    sections.append("<h2>Metrics (test period)</h2>" + _table(["metric", "value"], summary))
    rule = report.get("operating_point", {}).get("rule", "configured")
    sections.append(f"<p>Thresholds chosen by: {html.escape(str(rule))} (docs/models.md).</p>")
    sections.append(
        _table(
            ["operating point", "threshold", "flagged", "precision", "recall"],
            [
                [name, v["threshold"], v["flagged"], v["precision"], v["recall"]]
                for name, v in report["thresholds"].items()
            ],
        )
    )
    money = report["money_eur"]
    sections.append(
        f"<p>Money (EUR): fraud {money['fraud_total']:,.2f}, saved (blocked or stepped up) "
        f"{money['saved']:,.2f}, missed {money['missed']:,.2f}; genuine amount blocked "
        f"{money['genuine_blocked']:,.2f}, genuine step-ups {money['genuine_stepped_up']:,}.</p>"
    )
    if "recall_by_scenario" in report:
        sections.append(
            "<h3>Recall per fraud scenario</h3>"
            + _table(
                ["scenario", "frauds", "recall (any action)", "recall at 1 % FPR"],
                [
                    [k, v["frauds"], v["recall"], v["recall_at_1pct_fpr"]]
                    for k, v in report["recall_by_scenario"].items()
                ],
            )
        )

    sections.append(
        "<h2>Curves</h2>"
        + _curves(
            y,
            {
                "blended risk": scores.risk,
                "classifier": scores.probability,
                "anomaly": scores.anomaly,
            },
        )
    )
    sections.append(
        "<h2>Score distributions</h2>" + _distributions(y, scores.risk, bundle.thresholds.as_dict())
    )

    riskiest = np.argsort(-scores.risk, kind="stable")[:15]
    top = riskiest[decision[riskiest] >= 1]
    top_reasons = reasons(bundle, x[top])
    sections.append(
        "<h2>Reasons for the riskiest decisions</h2>"
        + _table(
            ["transaction", "risk", "decision", "fraud?", "reasons (exact tree SHAP)"],
            [
                [
                    rows["transaction_id"].iloc[i],
                    float(scores.risk[i]),
                    DECISIONS[decision[i]],
                    "yes" if y[i] else "no",
                    "; ".join(r.text for r in found),
                ]
                for i, found in zip(top, top_reasons, strict=True)
            ],
        )
    )

    sample = np.random.default_rng(0).choice(len(x), size=min(2000, len(x)), replace=False)
    image, _ = _shap_summary(bundle, x[np.sort(sample)])
    sections.append("<h2>Global importance (SHAP summary, 2,000 test rows)</h2>" + image)
    if not len(top):
        sections.append("<p>No transaction of the test period reached review.</p>")
    if data.reference is not None and len(riskiest):
        lime_rows = riskiest[:3]
        shap_top = [[r.feature for r in found] for found in reasons(bundle, x[lime_rows])]
        background = bundle.layout.matrix(data.reference)
        sections.append(
            "<h2>LIME second opinion (the 3 riskiest transactions)</h2>"
            + _lime(bundle, background, x[lime_rows], shap_top)
        )

    validation_risk = None
    if data.validation is not None and len(data.validation):
        validation_risk = bundle.score_rows(data.validation).risk
    fairness = fairness_report(
        rows, scores.risk, bundle.thresholds.review, data.validation, validation_risk
    )
    sections.append("<h2>Fairness</h2>" + _fairness_html(fairness))

    drift: dict[str, Any] = {}
    if data.reference is not None:
        reference_x = bundle.layout.matrix(data.reference)
        numeric = [c for c in bundle.layout.columns if c not in bundle.layout.categories]
        drift["features"] = psi_table(data.reference, rows, numeric)
        drift["score"] = psi(bundle.score_matrix(reference_x).risk, scores.risk)
        shifted = [[k, v] for k, v in drift["features"].items()][:20]
        sections.append(
            f"<h2>Drift (PSI, training sample vs test period)</h2><p>Score PSI "
            f"{drift['score']:.4f}. Features above 0.1: "
            f"{sum(v > 0.1 for v in drift['features'].values())}, above 0.25: "
            f"{sum(v > 0.25 for v in drift['features'].values())} of "
            f"{len(drift['features'])}.</p>" + _table(["feature (20 largest)", "PSI"], shifted)
        )
    period = report["period"]
    subtitle = html.escape(
        f"{bundle.classifier.algorithm}, {bundle.classifier.best_iteration} trees, feature set "
        f"{bundle.layout.feature_set_version}; test period {period['start'][:10]} to "
        f"{period['end'][:10]}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(Template(PAGE).substitute(subtitle=subtitle, body="\n".join(sections)))
    return {"fairness": fairness, "drift": drift}
