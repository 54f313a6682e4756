# mypy: disable-error-code="no-untyped-def"
"""The native kernel: a batch of the merged stream through every group, in stream order.

`run_batch` walks labels and transactions as `engine.OnlineEngine` does: a label updates the
clocks and, the first time its transaction is labelled fraud, the fraud counters of the windows
holding it; an in-order transaction advances each of its keys' windows (`step`), a late one
takes the late path (`late`). `sweep` drops the keys silent for longer than the horizon.
"""

from __future__ import annotations

import numba
import numpy as np

from fraudwatch.features.online.native.counts import count_of
from fraudwatch.features.online.native.late import late_step
from fraudwatch.features.online.native.layout import (
    C_SLOT,
    G_LABELS,
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
    O_AUX,
    O_COLUMN,
    O_FIELD,
    O_KIND,
    Q_COL,
    Q_HEAD,
    W_FC,
    W_HI,
    W_LO,
    W_Q_END,
    W_Q_START,
)
from fraudwatch.features.online.native.outputs import (
    FIRST_SEEN,
    NAN,
    R_FRAUD,
    R_SLOTS,
    R_TS,
    matches,
    new_event,
    outputs,
    previous,
)
from fraudwatch.features.online.native.windows import (
    E_FRAUD,
    E_KEY,
    E_NEXT,
    E_RING,
    E_SEQ,
    E_TS,
    INF,
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
    advance,
    after,
    append,
    clear,
    release,
    trim,
)

TX, LABEL = 0, 1


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
    prev = previous(ev, acc, ts, seq, gl[P_HORIZON])
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
        e = new_event(ev, free, gl, ring, kid, g, r, ts, seq, vals, t_ring, groups, evfields)
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
    part,
    parts,
):
    """Drop every key silent since before `cutoff` among part `part` of `parts` of each group's
    key rows (all of them with 0 of 1); returns (group, key id) of each."""
    dropped = []
    for g in range(groups.shape[0]):
        k = ks[g]
        ev, free = evs[g], frees[g]
        stride = groups[g, G_STRIDE]
        rows = k.shape[0]
        for kid in range(rows * part // parts, rows * (part + 1) // parts):
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
