# mypy: disable-error-code="no-untyped-def"
"""Sliding windows over linked lists of events, compiled with numba (the kernel's inner loops).

Events live in one int64 table (`ev`, a row per event of a group's key, recycled through a free
stack): order key, the key's list links (in order-key order), the transaction's slot in the
label ring, the time its first fraud label became known (`INF`: none), its key and its field
values, then the links of the min/max queues it sits in. A key's row (`acc`, see `layout`) holds
its list ends and, per window, the cursors `lo` (first event inside; `NIL`: none left) and, for
label-delayed windows, `hi` (first event not yet admitted), the count, the exact sums and the
value counts (in one hash table, `counts`). Advancing evicts on the
lexicographic bound of `docs/features.md`, like `features/online/windows.py`.
"""

from __future__ import annotations

import numba
import numpy as np

from fraudwatch.features.online.native.arith import add_square
from fraudwatch.features.online.native.counts import USED, bump
from fraudwatch.features.online.native.layout import (
    C_COL,
    C_DISTINCT,
    C_SLOT,
    G_WIN_END,
    G_WIN_START,
    K_FIRST,
    K_HEADER,
    K_TAIL,
    Q_COL,
    Q_HEAD,
    Q_LINK,
    Q_MAX,
    Q_TAIL,
    S_COL,
    S_COUNT,
    S_OWN_COUNT,
    S_SQUARES,
    S_TOTAL,
    W_CNT_END,
    W_CNT_START,
    W_DELAY,
    W_FC,
    W_HI,
    W_HOME,
    W_HOUR_COL,
    W_HOURS,
    W_LAT_COL,
    W_LO,
    W_LON_COL,
    W_N,
    W_Q_END,
    W_Q_START,
    W_SUM_END,
    W_SUM_START,
    W_WIDTH,
)

NIL = -1
NULL = np.iinfo(np.int64).min  # a null field value
INF = np.iinfo(np.int64).max  # no fraud label
# event row columns; the group's fields start at E_VALS, its queue links follow (`layout`)
E_TS, E_SEQ, E_NEXT, E_PREV, E_RING, E_FRAUD, E_KEY, E_VALS = range(8)
# globals (`gl`)
P_NEWEST_TS, P_NEWEST_SEQ, P_MAX_TIME, P_MAX_LABEL_TS, P_EVENTS = range(5)
P_LATENESS, P_HORIZON, P_SLOTS, P_RING_MASK = 6, 7, 8, 10  # 5 and 9: unused
P_COUNTS = USED  # rows in use in the value-count table
P_SIZE = 12
LAT, LON = 2, 3  # transaction value columns of the positions (`layout.NUMERIC`)


@numba.njit(cache=True, inline="always")
def after(ev, e, ts, seq):
    """Whether event `e` comes after the order key (ts, seq)."""
    t = ev[e, E_TS]
    return t > ts or (t == ts and ev[e, E_SEQ] > seq)


@numba.njit(cache=True, inline="always")
def add(ev, acc, w, kid, e, windows, sums, cnts, queues, counts, gl, fraud_limit, full):
    """Account event `e` in window `w` of the key whose row is `acc` (without `full`, leave
    the value counts and min/max queues alone: the late path's scratch windows)."""
    acc[windows[w, W_N]] += 1
    fc = windows[w, W_FC]
    if fc >= 0 and ev[e, E_FRAUD] <= fraud_limit:
        acc[fc] += 1
    for i in range(windows[w, W_SUM_START], windows[w, W_SUM_END]):
        v = ev[e, sums[i, S_COL]]
        if v == NULL:
            continue
        if sums[i, S_OWN_COUNT]:
            acc[sums[i, S_COUNT]] += 1
        acc[sums[i, S_TOTAL]] += v
        if sums[i, S_SQUARES] >= 0:
            add_square(acc, sums[i, S_SQUARES], v, 1)
    for i in range(windows[w, W_CNT_START], windows[w, W_CNT_END] if full else 0):
        v = ev[e, cnts[i, C_COL]]
        if v != NULL and bump(counts, kid * gl[P_SLOTS] + cnts[i, C_SLOT], v, 1, gl) == 1:
            acc[cnts[i, C_DISTINCT]] += 1
    hours = windows[w, W_HOURS]
    if hours >= 0:
        acc[hours + ev[e, windows[w, W_HOUR_COL]]] += 1
    home = windows[w, W_HOME]
    if home >= 0:
        lat, lon = ev[e, windows[w, W_LAT_COL]], ev[e, windows[w, W_LON_COL]]
        if lat != NULL and lon != NULL:  # noqa: PLR1714
            acc[home] += 1
            acc[home + 1] += lat
            acc[home + 2] += lon
    if full:
        for i in range(windows[w, W_Q_START], windows[w, W_Q_END]):
            _push(ev, acc, queues, i, e)


@numba.njit(cache=True, inline="always")
def _push(ev, acc, queues, i, e):
    """Monotone queue: drop the back while it is not better than `e`, then append `e`."""
    column = queues[i, Q_COL]
    v = ev[e, column]
    if v == NULL:
        return
    link = queues[i, Q_LINK]
    back = acc[queues[i, Q_TAIL]]
    is_max = queues[i, Q_MAX] == 1
    while back != NIL:
        b = ev[back, column]
        if (is_max and b <= v) or (not is_max and b >= v):
            back = ev[back, link + 1]
        else:
            break
    if back == NIL:
        acc[queues[i, Q_HEAD]] = e
    else:
        ev[back, link] = e
    ev[e, link] = NIL
    ev[e, link + 1] = back
    acc[queues[i, Q_TAIL]] = e


@numba.njit(cache=True, inline="always")
def remove(ev, acc, w, kid, e, windows, sums, cnts, queues, counts, gl, fraud_limit, full):
    """Take event `e` (the oldest inside) out of window `w`."""
    acc[windows[w, W_N]] -= 1
    fc = windows[w, W_FC]
    if fc >= 0 and ev[e, E_FRAUD] <= fraud_limit:
        acc[fc] -= 1
    for i in range(windows[w, W_SUM_START], windows[w, W_SUM_END]):
        v = ev[e, sums[i, S_COL]]
        if v == NULL:
            continue
        if sums[i, S_OWN_COUNT]:
            acc[sums[i, S_COUNT]] -= 1
        acc[sums[i, S_TOTAL]] -= v
        if sums[i, S_SQUARES] >= 0:
            add_square(acc, sums[i, S_SQUARES], v, -1)
    for i in range(windows[w, W_CNT_START], windows[w, W_CNT_END] if full else 0):
        v = ev[e, cnts[i, C_COL]]
        if v != NULL and bump(counts, kid * gl[P_SLOTS] + cnts[i, C_SLOT], v, -1, gl) == 0:
            acc[cnts[i, C_DISTINCT]] -= 1
    hours = windows[w, W_HOURS]
    if hours >= 0:
        acc[hours + ev[e, windows[w, W_HOUR_COL]]] -= 1
    home = windows[w, W_HOME]
    if home >= 0:
        lat, lon = ev[e, windows[w, W_LAT_COL]], ev[e, windows[w, W_LON_COL]]
        if lat != NULL and lon != NULL:  # noqa: PLR1714
            acc[home] -= 1
            acc[home + 1] -= lat
            acc[home + 2] -= lon
    if full:
        for i in range(windows[w, W_Q_START], windows[w, W_Q_END]):
            if acc[queues[i, Q_HEAD]] == e:
                link = queues[i, Q_LINK]
                following = ev[e, link]
                acc[queues[i, Q_HEAD]] = following
                if following == NIL:
                    acc[queues[i, Q_TAIL]] = NIL
                else:
                    ev[following, link + 1] = NIL


@numba.njit(cache=True, inline="always")
def advance(ev, acc, w, kid, ts, seq, windows, sums, cnts, queues, counts, gl):
    """Move window `w` to end at (ts - delay, seq): admit (delayed windows), then evict."""
    delay = windows[w, W_DELAY]
    hi_column = windows[w, W_HI]
    stop = NIL
    if hi_column >= 0:
        upper = ts - delay
        hi = acc[hi_column]
        while hi != NIL and not after(ev, hi, upper, seq):
            add(ev, acc, w, kid, hi, windows, sums, cnts, queues, counts, gl, INF - 1, True)
            hi = ev[hi, E_NEXT]
        acc[hi_column] = hi
        stop = hi
    lower = ts - delay - windows[w, W_WIDTH]
    lo = acc[windows[w, W_LO]]
    while lo != stop and not after(ev, lo, lower, seq):
        remove(ev, acc, w, kid, lo, windows, sums, cnts, queues, counts, gl, INF - 1, True)
        lo = ev[lo, E_NEXT]
    acc[windows[w, W_LO]] = lo


@numba.njit(cache=True, inline="always")
def append(ev, acc, g, kid, e, groups, windows, sums, cnts, queues, counts, gl):
    """Link `e` (the key's newest event) at the tail and add it to the undelayed windows."""
    tail = acc[K_TAIL]
    ev[e, E_PREV] = tail
    ev[e, E_NEXT] = NIL
    if tail == NIL:
        acc[K_FIRST] = e
    else:
        ev[tail, E_NEXT] = e
    acc[K_TAIL] = e
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        lo = windows[w, W_LO]
        hi = windows[w, W_HI]
        if hi >= 0:
            if acc[hi] == NIL:
                acc[hi] = e
        else:
            add(ev, acc, w, kid, e, windows, sums, cnts, queues, counts, gl, INF - 1, True)
        if acc[lo] == NIL:
            acc[lo] = e


@numba.njit(cache=True)
def insert(ev, acc, e):
    """Link `e` at its order-key place in the key's list (a late event)."""
    at = acc[K_TAIL]
    while at != NIL and after(ev, at, ev[e, E_TS], ev[e, E_SEQ]):
        at = ev[at, E_PREV]
    following = acc[K_FIRST] if at == NIL else ev[at, E_NEXT]
    ev[e, E_PREV] = at
    ev[e, E_NEXT] = following
    if at == NIL:
        acc[K_FIRST] = e
    else:
        ev[at, E_NEXT] = e
    if following == NIL:
        acc[K_TAIL] = e
    else:
        ev[following, E_PREV] = e


@numba.njit(cache=True)
def clear(
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
    template,
):
    """Empty every window of the key (value counts included), keeping its list."""
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        hi = windows[w, W_HI]
        stop = acc[hi] if hi >= 0 else NIL
        lo = acc[windows[w, W_LO]]
        while lo != stop:
            remove(ev, acc, w, kid, lo, windows, sums, cnts, queues, counts, gl, INF - 1, True)
            lo = ev[lo, E_NEXT]
    first, tail = acc[K_FIRST], acc[K_TAIL]
    head = acc[:K_HEADER].copy()
    acc[:] = template
    acc[:K_HEADER] = head
    acc[K_FIRST], acc[K_TAIL] = first, tail


@numba.njit(cache=True)
def refill(
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
):
    """Rebuild the cleared windows from the key's list, as at its newest event."""
    first, tail = acc[K_FIRST], acc[K_TAIL]
    if tail == NIL:
        return
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        acc[windows[w, W_LO]] = first
        if windows[w, W_HI] >= 0:
            acc[windows[w, W_HI]] = first
            continue
        e = first
        while e != NIL:
            add(ev, acc, w, kid, e, windows, sums, cnts, queues, counts, gl, INF - 1, True)
            e = ev[e, E_NEXT]
    for w in range(groups[g, G_WIN_START], groups[g, G_WIN_END]):
        advance(
            ev,
            acc,
            w,
            kid,
            ev[tail, E_TS],
            ev[tail, E_SEQ],
            windows,
            sums,
            cnts,
            queues,
            counts,
            gl,
        )


@numba.njit(cache=True, inline="always")
def release(ev, free, e):
    """Return event row `e` to the group's free stack (`free[0]` rows are free)."""
    ev[e, E_RING] = -1
    ev[e, E_KEY] = -1
    free[free[0] + 1] = e
    free[0] += 1


@numba.njit(cache=True, inline="always")
def trim(ev, acc, free, gl, retention):
    """Forget the key's events older than its newest - retention - lateness (outside every
    window), keeping the newest of them: the previous event of a late arrival."""
    tail = acc[K_TAIL]
    cutoff = ev[tail, E_TS] - retention - gl[P_LATENESS]
    first = acc[K_FIRST]
    while first != tail:
        following = ev[first, E_NEXT]
        if ev[following, E_TS] >= cutoff:
            break
        release(ev, free, first)
        first = following
    acc[K_FIRST] = first
    ev[first, E_PREV] = NIL
