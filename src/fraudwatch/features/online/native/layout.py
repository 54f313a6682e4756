"""The compiled plan as small integer tables the native kernel interprets (no generated source).

Every (entity, filter) group of `plan.compile_plan` keeps its keys' state in one int64 row per
key; `Layout` assigns the columns of that row (a header, then per window its cursors, counts,
exact sums, 128-bit sums of squares, distinct counters, min/max queue ends, hour histogram and
position sums) and lists windows, sums, value counts, queues and outputs as rows of int64
tables whose columns are the constants below. The kernel is compiled once for these tables'
types, so any feature set runs on the same cached machine code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudwatch.features.online.plan import SCALE, Plan
from fraudwatch.features.rows import ROW_FIELD

Table = npt.NDArray[np.int64]

# key row header
K_USED, K_ACTIVE, K_NEWEST, K_FIRST, K_TAIL, K_HEADER = 0, 1, 2, 3, 4, 5
# group table columns
G_FILTER_FIELD, G_FILTER_IN, G_FILTER_START, G_FILTER_END = 0, 1, 2, 3
G_WIN_START, G_WIN_END, G_OUT_START, G_OUT_END, G_RETENTION, G_STRIDE, G_LABELS = range(4, 11)
# ... and its events' row: width, its fields (a range of `ev_fields`), the position columns
G_EV_WIDTH, G_EVF_START, G_EVF_END, G_LAT_COL, G_LON_COL = range(11, 16)
G_COLUMNS = 16
# window table columns
W_GROUP, W_WIDTH, W_DELAY, W_LO, W_HI, W_N, W_FC, W_HOURS, W_HOME = range(9)
W_SUM_START, W_SUM_END, W_CNT_START, W_CNT_END, W_Q_START, W_Q_END = range(9, 15)
W_HOUR_COL, W_LAT_COL, W_LON_COL = range(15, 18)  # event columns of hour, lat, lon (or -1)
W_COLUMNS = 18
# sums: field, its count column (== W_N for never-null fields), Σ, Σ² low word (-1: none),
# and the field's column in the group's event rows (S_COL; likewise C_COL, Q_COL, O_COL)
S_FIELD, S_COUNT, S_OWN_COUNT, S_TOTAL, S_SQUARES, S_COL = range(6)
# value counts: field, distinct counter column, global count slot (in the value-count table)
C_FIELD, C_DISTINCT, C_SLOT, C_COL = range(4)
# min/max queues: field, 1 for max, head and tail columns, link pair column in the event rows
Q_FIELD, Q_MAX, Q_HEAD, Q_TAIL, Q_LINK, Q_COL = range(6)
# outputs: kind, column, window (-1: look-back), field, row in the sums/counts/queues table
O_KIND, O_COLUMN, O_WINDOW, O_FIELD, O_AUX, O_COL = range(6)
E_FIELDS = 7  # event row columns before the fields (see `windows`)

KINDS = [
    "count", "sum", "mean", "std", "min", "max", "distinct", "last", "time_since_last",
    "first_seen", "ratio_to_mean", "fraud_count", "fraud_rate", "zscore", "hour_deviation",
    "distance_from_previous", "speed_from_previous", "distance_from_home",
]  # fmt: skip
KIND = {name: index for index, name in enumerate(KINDS)}
NUMERIC = ("amount", "hour", "lat", "lon")
ALWAYS = frozenset({"amount", "hour"})  # never null: their count is the window's n


@dataclass
class Layout:
    """The integer tables of a plan, and the row fields the kernel reads (value columns)."""

    fields: list[str]  # value columns of the transaction and event tables, by row field name
    numeric: npt.NDArray[np.int64]  # 1 when the field is a number (else a category code)
    scale: npt.NDArray[np.float64]  # divisor of each numeric field
    groups: Table
    windows: Table
    sums: Table
    counts: Table
    queues: Table
    outputs: Table
    ev_fields: Table  # per group (`G_EVF_START`..), the fields its event rows keep, in order
    filter_values: list[str]  # category values of the filters, `groups` ranges into them
    max_queues: int
    horizon_us: int

    @property
    def n_groups(self) -> int:
        return int(self.groups.shape[0])


def _table(rows: list[list[int]], width: int) -> Table:
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def build_layout(plan: Plan) -> Layout:
    """Assign every group's key-row columns and list its windows, accumulators and outputs."""
    fields: list[str] = [name for name in NUMERIC]
    index: dict[str, int] = {name: i for i, name in enumerate(fields)}

    def field(name: str) -> int:
        if name not in index:
            index[name] = len(fields)
            fields.append(name)
        return index[name]

    groups: list[list[int]] = []
    windows: list[list[int]] = []
    sums: list[list[int]] = []
    counts: list[list[int]] = []
    queues: list[list[int]] = []
    outputs: list[list[int]] = []
    filter_values: list[str] = []
    max_queues = 0
    for group in plan.groups:
        width = K_HEADER
        where = group.where
        fields_filter = [-1, 0, len(filter_values), len(filter_values)]
        if where is not None:
            filter_values += list(where.values)
            fields_filter = [
                field(ROW_FIELD[where.field]), int(where.op == "in"),
                fields_filter[2], len(filter_values),
            ]  # fmt: skip
        squares = {(o.window, o.row_field or "amount") for o in group.outputs if o.kind == "std"}
        squares |= {(o.window, "amount") for o in group.outputs if o.kind == "zscore"}
        frauds = {o.window for o in group.outputs if o.kind in ("fraud_count", "fraud_rate")}
        first_window = len(windows)
        sum_row: dict[tuple[int, str], int] = {}
        count_row: dict[tuple[int, str], int] = {}
        queue_row: dict[tuple[int, str, bool], int] = {}
        links = 0
        for k, spec in enumerate(group.windows):
            lo, hi, n = width, width + 1 if spec.delay_us else -1, width + 2
            width += 3
            fc = -1
            if k in frauds:
                fc, width = width, width + 1
            sum_start = len(sums)
            for name in sorted(spec.sums):
                own = name not in ALWAYS
                count = width if own else n
                width += int(own)
                total, width = width, width + 1
                square = -1
                if (k, name) in squares:
                    square, width = width, width + 2
                sum_row[(k, name)] = len(sums)
                sums.append([field(name), count, int(own), total, square, -1])
            count_start = len(counts)
            for name in sorted(spec.counts):
                count_row[(k, name)] = len(counts)
                counts.append([field(name), width, len(counts), -1])
                width += 1
            queue_start = len(queues)
            for names, is_max in ((spec.mins, 0), (spec.maxs, 1)):
                for name in sorted(names):
                    queue_row[(k, name, bool(is_max))] = len(queues)
                    queues.append([field(name), is_max, width, width + 1, links, -1])
                    width, links = width + 2, links + 1
            hours = home = -1
            if spec.hours:
                hours, width = width, width + 24
            if spec.home:
                home, width = width, width + 3
            windows.append([
                group.index, spec.width_us, spec.delay_us, lo, hi, n, fc, hours, home,
                sum_start, len(sums), count_start, len(counts), queue_start, len(queues),
                -1, -1, -1,
            ])  # fmt: skip
        max_queues = max(max_queues, links)
        out_start = len(outputs)
        for out in group.outputs:
            name = out.row_field or "amount"
            aux = -1
            if out.kind in ("sum", "mean", "std", "ratio_to_mean", "zscore"):
                aux = sum_row[(out.window, name)]
            elif out.kind in ("distinct", "first_seen"):
                aux = count_row[(out.window, name)]
            elif out.kind in ("min", "max"):
                aux = queue_row[(out.window, name, out.kind == "max")]
            f = field(name) if out.row_field is not None or aux >= 0 else -1
            window = first_window + out.window if out.window >= 0 else -1
            outputs.append([KIND[out.kind], out.column, window, f, aux, -1])
        groups.append([
            *fields_filter, first_window, len(windows), out_start, len(outputs),
            group.retention_us, width, int(group.labels), 0, 0, 0, -1, -1,
        ])  # fmt: skip
    ev_fields = _event_columns(groups, windows, sums, counts, queues, outputs, fields)
    numeric = np.array([int(name in SCALE) for name in fields], dtype=np.int64)
    scale = np.array([SCALE.get(name, 1.0) for name in fields], dtype=np.float64)
    return Layout(
        fields, numeric, scale,
        _table(groups, G_COLUMNS), _table(windows, W_COLUMNS), _table(sums, 6),
        _table(counts, 4), _table(queues, 6), _table(outputs, 6),
        np.array(ev_fields, dtype=np.int64),
        filter_values, max_queues, plan.horizon_us,
    )  # fmt: skip


def _event_columns(
    groups: list[list[int]],
    windows: list[list[int]],
    sums: list[list[int]],
    counts: list[list[int]],
    queues: list[list[int]],
    outputs: list[list[int]],
    fields: list[str],
) -> list[int]:
    """Give each group's event rows only the fields the group reads; fill the `*_COL` columns."""
    flat: list[int] = []
    hour, lat, lon = (fields.index(name) for name in ("hour", "lat", "lon"))
    for g in groups:
        used: list[int] = []

        def col(f: int, used: list[int] = used) -> int:
            if f not in used:
                used.append(f)
            return E_FIELDS + used.index(f)

        for w in windows[g[G_WIN_START] : g[G_WIN_END]]:
            for row, at in ((sums, S_COL), (counts, C_COL)):
                start, end = (W_SUM_START, W_SUM_END) if row is sums else (W_CNT_START, W_CNT_END)
                for item in row[w[start] : w[end]]:
                    item[at] = col(item[0])
            for item in queues[w[W_Q_START] : w[W_Q_END]]:
                item[Q_COL] = col(item[Q_FIELD])
            if w[W_HOURS] >= 0:
                w[W_HOUR_COL] = col(hour)
            if w[W_HOME] >= 0:
                w[W_LAT_COL], w[W_LON_COL] = col(lat), col(lon)
        for out in outputs[g[G_OUT_START] : g[G_OUT_END]]:
            if out[O_KIND] == KIND["last"]:
                out[O_COL] = col(out[O_FIELD])
            elif out[O_KIND] in (KIND["distance_from_previous"], KIND["speed_from_previous"]):
                g[G_LAT_COL], g[G_LON_COL] = col(lat), col(lon)
        links = E_FIELDS + len(used)
        for w in windows[g[G_WIN_START] : g[G_WIN_END]]:
            for item in queues[w[W_Q_START] : w[W_Q_END]]:
                item[Q_LINK] = links + 2 * item[Q_LINK]
        queue_count = sum(w[W_Q_END] - w[W_Q_START] for w in windows[g[G_WIN_START] : g[G_WIN_END]])
        g[G_EV_WIDTH] = links + 2 * queue_count
        g[G_EVF_START], g[G_EVF_END] = len(flat), len(flat) + len(used)
        flat += used
    return flat
