"""The query being compiled: named CTEs of window aggregates, joined back to the transactions.

Feature compilers ask the plan for the raw aggregates they need (`plan.window(...)`) and get back
a qualified column; identical requests share one column, and every aggregate over the same
partition lands in one CTE (`win_card`, `win_customer_x_merchant`, ...) so DuckDB sorts each
partition once. Families that need more than a window function (hour buckets, the fraud-label
join) add their own named CTEs with `plan.add_cte`. `render` assembles the final statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from fraudwatch.features.offline.sql import ORDER_KEY

_NOT_WORD = re.compile(r"[^a-z0-9]+")


@dataclass
class _WindowCte:
    name: str
    partition: tuple[str, ...]
    columns: dict[tuple[str, str], str] = field(default_factory=dict)  # (aggregate, frame) -> alias

    def body(self) -> str:
        partition = ", ".join(self.partition)
        lines = [
            f"    {aggregate} OVER (PARTITION BY {partition} ORDER BY ok{' ' if fr else ''}{fr})"
            f" AS {alias}"
            for (aggregate, fr), alias in self.columns.items()
        ]
        return "SELECT\n    seq,\n" + ",\n".join(lines) + "\n  FROM base"


@dataclass
class Plan:
    """Collects CTEs while definitions compile; `horizon_us` bounds windowless look-backs."""

    horizon_us: int
    _windows: dict[tuple[str, ...], _WindowCte] = field(default_factory=dict)
    _ctes: dict[str, str] = field(default_factory=dict)
    _joined: list[str] = field(default_factory=list)

    def window(self, partition: tuple[str, ...], aggregate: str, frame: str, hint: str) -> str:
        """`aggregate OVER (PARTITION BY partition ORDER BY ok frame)`, as a qualified column."""
        cte = self._windows.get(partition)
        if cte is None:
            cte = _WindowCte("win_" + "_x_".join(partition), partition)
            self._windows[partition] = cte
            self._joined.append(cte.name)
        alias = cte.columns.get((aggregate, frame))
        if alias is None:
            alias = _unique(_NOT_WORD.sub("_", hint.lower()).strip("_"), cte.columns.values())
            cte.columns[(aggregate, frame)] = alias
        return f"{cte.name}.{alias}"

    def add_cte(self, name: str, body: str, *, joined: bool = False) -> str:
        """A named CTE (added once); `joined` CTEs have one row per `seq` at most, joined back."""
        if name not in self._ctes:
            self._ctes[name] = body
            if joined:
                self._joined.append(name)
        return name

    def render(self, tx: str, labels: str, selects: list[str], *, ordered: bool = True) -> str:
        """The whole statement: `base`, the CTEs, and one row per transaction ordered by seq."""
        ctes = {
            "base": f"SELECT *, {ORDER_KEY} AS ok FROM {tx}",
            "labels_in": f"SELECT * FROM {labels}",
        }
        ctes.update(self._ctes)
        ctes.update({cte.name: cte.body() for cte in self._windows.values()})
        with_clause = ",\n".join(f"{name} AS (\n  {body}\n)" for name, body in ctes.items())
        joins = "".join(f"\nLEFT JOIN {name} ON {name}.seq = base.seq" for name in self._joined)
        columns = ",\n  ".join(["base.seq", "base.transaction_id", "base.ts", *selects])
        order = "\nORDER BY base.seq" if ordered else ""
        return f"WITH {with_clause}\nSELECT\n  {columns}\nFROM base{joins}{order}"


def _unique(alias: str, taken: Iterable[str]) -> str:
    existing = set(taken)
    candidate, index = alias, 1
    while candidate in existing:
        index += 1
        candidate = f"{alias}_{index}"
    return candidate
