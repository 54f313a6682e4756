# mypy: disable-error-code="no-untyped-def"
"""The native kernel: a batch of the merged stream through every group, in stream order.

`run_batch` walks labels and transactions as `engine.OnlineEngine` does: a label updates the
clocks and, the first time its transaction is labelled fraud, the fraud counters of the windows
holding it; an in-order transaction advances each of its keys' windows (`step`), a late one is
inserted at its place, its features computed from the key's retained events by the formulas of
`reference` (`late_step`), and the key's windows rebuilt. Every value is written with the same
IEEE operations, in the same order, as `features/online/outputs.py`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from fraudwatch.features.online.native.arith import haversine_km, sigma, speed_kmh
from fraudwatch.features.online.native.counts import count_of
from fraudwatch.features.online.native.layout import (
    C_COL,
    C_DISTINCT,
    C_SLOT,
    G_EVF_END,
    G_EVF_START,
    G_FILTER_END,
    G_FILTER_FIELD,
    G_FILTER_IN,
    G_FILTER_START,
    G_LABELS,
    G_LAT_COL,
    G_LON_COL,
    G_OUT_END,
    G_OUT_START,
    G_RETENTION,
    G_STRIDE,
    G_WIN_END,
    G_WIN_START,
    K_ACTIVE,
    K_FIRST,
    K_NEWEST,
    K_TAIL,
    K_USED,
    KIND,
    O_AUX,
    O_COL,
    O_COLUMN,
    O_FIELD,
    O_KIND,
    O_WINDOW,
    Q_COL,
    Q_HEAD,
    Q_MAX,
    S_COUNT,
    S_SQUARES,
    S_TOTAL,
    W_CNT_END,
    W_CNT_START,
    W_DELAY,
    W_FC,
    W_HI,
    W_HOME,
    W_HOURS,
    W_LO,
    W_N,
    W_Q_END,
    W_Q_START,
    W_WIDTH,
)
from fraudwatch.features.online.native.windows import (
    E_FRAUD,
    E_KEY,
    E_NEXT,
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
    P_EVENTS,
    P_HORIZON,
    P_MAX_LABEL_TS,
    P_MAX_TIME,
    P_NEWEST_SEQ,
    P_NEWEST_TS,
    P_RING_MASK,
    P_SLOTS,
    add,
    advance,
    after,
    append,
    clear,
    insert,
    refill,
    release,
    trim,
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
TX, LABEL = 0, 1


@numba.njit(cache=True)
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


@numba.njit(cache=True)
def _previous(ev, acc, ts, seq, horizon):
    """The key's newest event before (ts, seq) within the horizon, or NIL."""
    prev = acc[K_TAIL]
    while prev != NIL and (
        ev[prev, E_TS] > ts or (ev[prev, E_TS] == ts and ev[prev, E_SEQ] >= seq)
    ):
        prev = ev[prev, E_PREV]
    if prev != NIL and not after(ev, prev, ts - horizon, seq):
        prev = NIL
    return prev


@numba.njit(cache=True)
def _new_event(ev, free, gl, ring, kid, g, r, ts, seq, vals, t_ring, groups, evfields):
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


@numba.njit(cache=True)
def step(
    ev,
    free,
    gl,
    ring,
    acc,
    g,
    kid,
    r,
    ts,
    seq,
    vals,
    t_ring,
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
    counts,
    extremes,
):
    """An in-order transaction through one key of group `g`."""
    acc[K_USED] = 1
    prev = _previous(ev, acc, ts, seq, gl[P_HORIZON])
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        advance(ev, acc, w, kid, ts, seq, windows, sums, cnts, queues, counts, gl)
    for o in range(groups[g, G_OUT_START], groups[g, G_OUT_END]):
        if outs[o, O_KIND] == FIRST_SEEN:
            v = vals[r, outs[o, O_FIELD]]
            slot = cnts[outs[o, O_AUX], C_SLOT]
            value = NAN
            if v != NULL:
                value = 0.0 if count_of(counts, kid * gl[P_SLOTS] + slot, v) else 1.0
            out[r, outs[o, O_COLUMN]] = value
    if matches(
        groups, windows, sums, cnts, queues, outs, fcodes, numeric, scale, evfields, g, vals, r
    ):
        e = _new_event(ev, free, gl, ring, kid, g, r, ts, seq, vals, t_ring, groups, evfields)
        append(ev, acc, g, kid, e, groups, windows, sums, cnts, queues, counts, gl)
        acc[K_ACTIVE] = 1
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        for q in range(windows[w, W_Q_START], windows[w, W_Q_END]):
            head = acc[queues[q, Q_HEAD]]
            extremes[q] = NULL if head == NIL else ev[head, queues[q, Q_COL]]
    outputs(
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
    )
    if acc[K_TAIL] != NIL:
        trim(ev, acc, free, gl, groups[g, G_RETENTION])
    acc[K_NEWEST] = max(acc[K_NEWEST], ts)


@numba.njit(cache=True)
def _inside(ev, e, ts, seq, lower, upper):
    """(lower, seq) < order key of e <= (upper, seq)."""
    return after(ev, e, lower, seq) and not after(ev, e, upper, seq)


@numba.njit(cache=True)
def _distinct(ev, acc, ts, seq, lower, upper, column):
    """Distinct non-null values of an event column among the key's events in the window."""
    values = []
    e = acc[K_FIRST]
    while e != NIL:
        if _inside(ev, e, ts, seq, lower, upper) and ev[e, column] != NULL:
            values.append(ev[e, column])
        e = ev[e, E_NEXT]
    if not values:
        return 0
    ordered = np.sort(np.array(values))
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


@numba.njit(cache=True)
def late_step(
    ev,
    free,
    gl,
    ring,
    acc,
    g,
    kid,
    r,
    ts,
    seq,
    vals,
    t_ring,
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
    counts,
    templates,
):
    """A late transaction: inserted at its place (the windows rebuilt around it), its columns
    computed over the key's retained events by brute force, as the reference does."""
    stride = groups[g, G_STRIDE]
    acc[K_USED] = 1
    if matches(
        groups, windows, sums, cnts, queues, outs, fcodes, numeric, scale, evfields, g, vals, r
    ):
        clear(
            ev,
            acc,
            g,
            kid,
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
            counts,
            gl,
            templates[g, :stride],
        )
        e = _new_event(ev, free, gl, ring, kid, g, r, ts, seq, vals, t_ring, groups, evfields)
        insert(ev, acc, e)
        refill(
            ev,
            acc,
            g,
            kid,
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
            counts,
            gl,
        )
        acc[K_ACTIVE] = 1
    prev = _previous(ev, acc, ts, seq, gl[P_HORIZON])
    scratch = templates[g, :stride].copy()
    extremes = np.full(queues.shape[0], NULL, dtype=np.int64)
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        upper = ts - windows[w, W_DELAY]
        lower = upper - windows[w, W_WIDTH]
        e = acc[K_FIRST]
        while e != NIL:
            if _inside(ev, e, ts, seq, lower, upper):
                add(ev, scratch, w, -1, e, windows, sums, cnts, queues, counts, gl, ts, False)
                for q in range(windows[w, W_Q_START], windows[w, W_Q_END]):
                    v = ev[e, queues[q, Q_COL]]
                    best = extremes[q]
                    if v != NULL and (
                        best == NULL or (v > best if queues[q, Q_MAX] == 1 else v < best)
                    ):
                        extremes[q] = v
            e = ev[e, E_NEXT]
        for i in range(windows[w, W_CNT_START], windows[w, W_CNT_END]):
            scratch[cnts[i, C_DISTINCT]] = _distinct(ev, acc, ts, seq, lower, upper, cnts[i, C_COL])
    for o in range(groups[g, G_OUT_START], groups[g, G_OUT_END]):
        if outs[o, O_KIND] == FIRST_SEEN:
            w, f = outs[o, O_WINDOW], outs[o, O_FIELD]
            v = vals[r, f]
            value = NAN
            if v != NULL:
                value = 1.0
                upper = ts - windows[w, W_DELAY]
                lower = upper - windows[w, W_WIDTH]
                e = acc[K_FIRST]
                while e != NIL:
                    earlier = not after(ev, e, ts, seq) and not (
                        ev[e, E_TS] == ts and ev[e, E_SEQ] == seq
                    )
                    column = cnts[outs[o, O_AUX], C_COL]
                    if earlier and _inside(ev, e, ts, seq, lower, upper) and ev[e, column] == v:
                        value = 0.0
                    e = ev[e, E_NEXT]
            out[r, outs[o, O_COLUMN]] = value
    outputs(
        ev,
        scratch,
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
    )
    acc[K_NEWEST] = max(acc[K_NEWEST], ts)


@numba.njit(cache=True)
def label(
    evs,
    ring,
    gl,
    ks,
    slot,
    known_at,
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
    """A fraud label of the transaction in ring slot `slot` (first label: its events count)."""
    place = slot & gl[P_RING_MASK]
    if known_at < ring[place, R_TS] - gl[P_HORIZON]:
        return
    first = ring[place, R_FRAUD]
    if known_at < first:
        ring[place, R_FRAUD] = known_at
    for g in range(groups.shape[0]):
        e = ring[place, R_SLOTS + g]
        ev = evs[g]
        if e < 0 or ev[e, E_RING] != slot:
            continue
        ev[e, E_FRAUD] = min(ev[e, E_FRAUD], known_at)
        if first != INF or groups[g, G_LABELS] == 0:
            continue
        acc = ks[g][ev[e, E_KEY]]
        for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
            fc = windows[w, W_FC]
            lo = acc[windows[w, W_LO]]
            if fc < 0 or lo == NIL or after(ev, lo, ev[e, E_TS], ev[e, E_SEQ]):
                continue
            hi_column = windows[w, W_HI]
            if hi_column >= 0:
                hi = acc[hi_column]
                if hi != NIL and not after(ev, hi, ev[e, E_TS], ev[e, E_SEQ]):
                    continue
            acc[fc] += 1


@numba.njit(cache=True)
def run_batch(
    kinds,
    index,
    t_ts,
    t_seq,
    t_ok,
    t_ring,
    vals,
    keys,
    l_known,
    l_fraud,
    l_ring,
    out,
    gl,
    evs,
    frees,
    ring,
    ks,
    counts,
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
    templates,
):
    """The batch in stream order; `out` rows of rejected transactions are left untouched."""
    extremes = np.empty(queues.shape[0], dtype=np.int64)
    for item in range(kinds.shape[0]):
        i = index[item]
        if kinds[item] == LABEL:
            known_at = l_known[i]
            gl[P_MAX_TIME] = max(gl[P_MAX_TIME], known_at)
            gl[P_MAX_LABEL_TS] = max(gl[P_MAX_LABEL_TS], known_at)
            if l_fraud[i] and l_ring[i] >= 0:
                label(
                    evs,
                    ring,
                    gl,
                    ks,
                    l_ring[i],
                    known_at,
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
                )
            continue
        ts, seq = t_ts[i], t_seq[i]
        if not t_ok[i]:
            for g in range(keys.shape[1]):
                if keys[i, g] >= 0:
                    ks[g][keys[i, g], K_USED] = 1  # so that a sweep frees its id
            continue
        nts, nseq = gl[P_NEWEST_TS], gl[P_NEWEST_SEQ]
        ordered = (ts > nts or (ts == nts and seq >= nseq)) and ts >= gl[P_MAX_LABEL_TS]
        for g in range(keys.shape[1]):
            kid = keys[i, g]
            if kid < 0:
                continue
            acc = ks[g][kid]
            ev, free = evs[g], frees[g]
            if ordered:
                step(
                    ev, free, gl, ring, acc, g, kid, i, ts, seq, vals, t_ring, out, groups,
                    windows, sums, cnts, queues, outs, fcodes, numeric, scale, evfields, counts,
                    extremes,
                )  # fmt: skip
            else:
                late_step(
                    ev, free, gl, ring, acc, g, kid, i, ts, seq, vals, t_ring, out, groups,
                    windows, sums, cnts, queues, outs, fcodes, numeric, scale, evfields, counts,
                    templates,
                )  # fmt: skip
        if ordered:
            gl[P_NEWEST_TS], gl[P_NEWEST_SEQ] = ts, seq
        gl[P_MAX_TIME] = max(gl[P_MAX_TIME], ts)
        gl[P_EVENTS] += 1


@numba.njit(cache=True)
def sweep(
    cutoff,
    gl,
    evs,
    frees,
    ks,
    counts,
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
    templates,
):
    """Drop every key silent since before `cutoff`; returns (group, key id) of each."""
    dropped = []
    for g in range(groups.shape[0]):
        k = ks[g]
        ev, free = evs[g], frees[g]
        stride = groups[g, G_STRIDE]
        for kid in range(k.shape[0]):
            acc = k[kid]
            if acc[K_USED] == 0 or acc[K_NEWEST] >= cutoff:
                continue
            clear(
                ev,
                acc,
                g,
                kid,
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
                counts,
                gl,
                templates[g, :stride],
            )
            e = acc[K_FIRST]
            while e != NIL:
                following = ev[e, E_NEXT]
                release(ev, free, e)
                e = following
            acc[:] = templates[g, :stride]
            dropped.append((g, kid))
    result = np.empty((len(dropped), 2), dtype=np.int64)
    for i in range(len(dropped)):
        result[i, 0], result[i, 1] = dropped[i]
    return result
