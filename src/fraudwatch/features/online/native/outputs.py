# mypy: disable-error-code="no-untyped-def"
"""What an event of a group reads and writes: its filter, its columns, its previous event.

`outputs` writes every column of a group but `first_seen` from a key's accumulators (the live
ones in order, a scratch copy built by brute force for a late event) with the same IEEE
operations, in the same order, as `features/online/outputs.py`; `new_event` takes an event row
from the group's free stack and fills it.
"""

from __future__ import annotations

import math

import numba

from fraudwatch.features.online.native.arith import haversine_km, sigma, speed_kmh
from fraudwatch.features.online.native.layout import (
    C_DISTINCT,
    G_EVF_END,
    G_EVF_START,
    G_FILTER_END,
    G_FILTER_FIELD,
    G_FILTER_IN,
    G_FILTER_START,
    G_LAT_COL,
    G_LON_COL,
    G_OUT_END,
    G_OUT_START,
    K_TAIL,
    KIND,
    O_AUX,
    O_COL,
    O_COLUMN,
    O_FIELD,
    O_KIND,
    O_WINDOW,
    S_COUNT,
    S_SQUARES,
    S_TOTAL,
    W_FC,
    W_HOME,
    W_HOURS,
    W_N,
)
from fraudwatch.features.online.native.windows import (
    E_FRAUD,
    E_KEY,
    E_PREV,
    E_RING,
    E_SEQ,
    E_TS,
    E_VALS,
    INF,
    LAT,
    LON,
    NIL,
    NULL,
    P_RING_MASK,
    after,
)

NAN = math.nan
COUNT, SUM, MEAN, STD = KIND["count"], KIND["sum"], KIND["mean"], KIND["std"]
MIN, MAX, DISTINCT, LAST = KIND["min"], KIND["max"], KIND["distinct"], KIND["last"]
TIME_SINCE_LAST, FIRST_SEEN = KIND["time_since_last"], KIND["first_seen"]
RATIO, FRAUD_COUNT, FRAUD_RATE = KIND["ratio_to_mean"], KIND["fraud_count"], KIND["fraud_rate"]
ZSCORE, HOUR_DEVIATION = KIND["zscore"], KIND["hour_deviation"]
DISTANCE_PREVIOUS, SPEED_PREVIOUS = KIND["distance_from_previous"], KIND["speed_from_previous"]
DISTANCE_HOME = KIND["distance_from_home"]
R_TS, R_FRAUD, R_SLOTS = 0, 1, 2  # label ring columns: ts, first fraud label time, event rows


@numba.njit(cache=True, inline="always")
def matches(
    groups, windows, sums, cnts, queues, outs, fcodes, numeric, scale, evfields, g, vals, r
):
    """Whether transaction `r` passes group `g`'s filter (a null never does)."""
    f = groups[g, G_FILTER_FIELD]
    if f < 0:
        return True
    v = vals[r, f]
    if v == NULL:
        return False
    found = False
    for i in range(groups[g, G_FILTER_START], groups[g, G_FILTER_END]):
        if fcodes[i] == v:
            found = True
    return found == (groups[g, G_FILTER_IN] == 1)


@numba.njit(cache=True)
def outputs(
    ev,
    acc,
    g,
    r,
    ts,
    seq,
    prev,
    vals,
    extremes,
    out,
    groups,
    windows,
    sums,
    cnts,
    queues,
    outs,
    fcodes,
    numeric,
    scale,
    evfields,
):
    """Every column of group `g` but `first_seen`, from the key's accumulators `acc`;
    `extremes[q]` is the min/max of queue row q (NULL when empty)."""
    distance = NAN
    if prev != NIL:
        lat1, lon1 = ev[prev, groups[g, G_LAT_COL]], ev[prev, groups[g, G_LON_COL]]
        lat2, lon2 = vals[r, LAT], vals[r, LON]
        if lat1 != NULL and lon1 != NULL and lat2 != NULL and lon2 != NULL:  # noqa: PLR1714
            distance = haversine_km(lat1 / 1e6, lon1 / 1e6, lat2 / 1e6, lon2 / 1e6)
    for o in range(groups[g, G_OUT_START], groups[g, G_OUT_END]):
        kind, column, w, f = outs[o, O_KIND], outs[o, O_COLUMN], outs[o, O_WINDOW], outs[o, O_FIELD]
        aux = outs[o, O_AUX]
        value = NAN
        if kind == FIRST_SEEN:
            continue
        if kind == TIME_SINCE_LAST:
            if prev != NIL:
                value = (ts - ev[prev, E_TS]) / 1e6
        elif kind == LAST:
            if prev != NIL:
                before = ev[prev, outs[o, O_COL]]
                if numeric[f] == 1:
                    if before != NULL:
                        value = float(before) / scale[f]
                elif before != NULL and vals[r, f] != NULL:
                    value = 1.0 if before == vals[r, f] else 0.0
        elif kind == DISTANCE_PREVIOUS:
            value = distance
        elif kind == SPEED_PREVIOUS:
            if prev != NIL and not math.isnan(distance):
                value = speed_kmh(distance, (ts - ev[prev, E_TS]) / 1e6)
        elif kind == COUNT:
            value = float(acc[windows[w, W_N]])
        elif kind == FRAUD_COUNT:
            value = float(acc[windows[w, W_FC]])
        elif kind == FRAUD_RATE:
            n = acc[windows[w, W_N]]
            if n:
                value = acc[windows[w, W_FC]] / n
        elif kind == DISTINCT:
            value = float(acc[cnts[aux, C_DISTINCT]])
        elif kind in (MIN, MAX):
            if extremes[aux] != NULL:
                value = float(extremes[aux]) / scale[f]
        elif kind == HOUR_DEVIATION:
            h = vals[r, 1]
            hours = windows[w, W_HOURS]
            near = acc[hours + h] + acc[hours + (h + 1) % 24] + acc[hours + (h - 1) % 24]
            value = 1 - near / acc[windows[w, W_N]]
        elif kind == DISTANCE_HOME:
            m = windows[w, W_HOME]
            if vals[r, LAT] != NULL and vals[r, LON] != NULL:
                home_lat = float(acc[m + 1]) / acc[m] / 1e6
                home_lon = float(acc[m + 2]) / acc[m] / 1e6
                value = haversine_km(vals[r, LAT] / 1e6, vals[r, LON] / 1e6, home_lat, home_lon)
        else:
            n, s = acc[sums[aux, S_COUNT]], acc[sums[aux, S_TOTAL]]
            if kind == SUM:
                value = float(s) / scale[f]
            elif kind == MEAN:
                if n:
                    value = float(s) / n / scale[f]
            elif kind == RATIO:
                v = vals[r, f]
                if v != NULL and s != 0:
                    value = float(v * n) / float(s)
            elif n >= 2:
                q = sums[aux, S_SQUARES]
                spread = sigma(n, s, acc[q], acc[q + 1])
                if kind == STD:
                    value = spread / scale[f]
                elif spread != 0:
                    value = (float(vals[r, 0]) - float(s) / n) / spread
        out[r, column] = value


@numba.njit(cache=True, inline="always")
def previous(ev, acc, ts, seq, horizon):
    """The key's newest event before (ts, seq) within the horizon, or NIL."""
    prev = acc[K_TAIL]
    while prev != NIL and (
        ev[prev, E_TS] > ts or (ev[prev, E_TS] == ts and ev[prev, E_SEQ] >= seq)
    ):
        prev = ev[prev, E_PREV]
    if prev != NIL and not after(ev, prev, ts - horizon, seq):
        prev = NIL
    return prev


@numba.njit(cache=True, inline="always")
def new_event(ev, free, gl, ring, kid, g, r, ts, seq, vals, t_ring, groups, evfields):
    top = free[0] - 1
    free[0] = top
    e = free[top + 1]
    ev[e, E_TS] = ts
    ev[e, E_SEQ] = seq
    ev[e, E_KEY] = kid
    start = groups[g, G_EVF_START]
    for k in range(start, groups[g, G_EVF_END]):  # the fields the group reads
        ev[e, E_VALS + k - start] = vals[r, evfields[k]]
    slot = t_ring[r]
    ev[e, E_RING] = slot
    ev[e, E_FRAUD] = INF
    if slot >= 0:
        place = slot & gl[P_RING_MASK]
        ev[e, E_FRAUD] = ring[place, R_FRAUD]
        ring[place, R_SLOTS + g] = e
    return e
