# mypy: disable-error-code="no-untyped-def"
"""The late path: a transaction behind the newest order key, within the allowed lateness.

It is inserted at its place in each key's list and the key's windows are rebuilt around it;
its own columns are computed over the key's retained events by brute force, the formulas of
`reference` (fraud labels count when known by its time), through the same `outputs`.
"""

from __future__ import annotations

import numba
import numpy as np

from fraudwatch.features.online.native.layout import (
    C_COL,
    C_DISTINCT,
    G_OUT_END,
    G_OUT_START,
    G_STRIDE,
    G_WIN_END,
    G_WIN_START,
    K_ACTIVE,
    K_FIRST,
    K_NEWEST,
    K_USED,
    O_AUX,
    O_COLUMN,
    O_FIELD,
    O_KIND,
    O_WINDOW,
    Q_COL,
    Q_MAX,
    W_CNT_END,
    W_CNT_START,
    W_DELAY,
    W_Q_END,
    W_Q_START,
    W_WIDTH,
)
from fraudwatch.features.online.native.outputs import (
    FIRST_SEEN,
    NAN,
    matches,
    new_event,
    outputs,
    previous,
)
from fraudwatch.features.online.native.windows import (
    E_NEXT,
    E_SEQ,
    E_TS,
    NIL,
    NULL,
    P_HORIZON,
    add,
    after,
    clear,
    insert,
    refill,
)


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
        e = new_event(ev, free, gl, ring, kid, g, r, ts, seq, vals, t_ring, groups, evfields)
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
    prev = previous(ev, acc, ts, seq, gl[P_HORIZON])
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
