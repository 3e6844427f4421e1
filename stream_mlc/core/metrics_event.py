"""What one event adds to the sums of :class:`~stream_mlc.core.metrics.MultiLabelMetrics`.

:func:`_event_values` computes an event's example-based and ranking metrics, and the counts
the label-based ones pool, as one vector in the layout below; the metrics object adds it to
its cumulative and windowed sums and subtracts it when the event leaves the window. The
conventions (zero divisions, empty events, scikit-learn's ranking ties) are those of
:mod:`stream_mlc.core.metrics`. Pure standard library.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Hashable, Mapping
from itertools import repeat

# Layout of the per-event contribution vector (summed cumulatively and over the window).
# Floats first (re-summed exactly on resync), then exact integers.
_EX_P, _EX_R, _EX_F1, _JAC, _HAM, _RL, _LRAP = range(7)
_TP, _NT, _NP, _SUBSET, _ONE_ERR, _COV = range(7, 13)
_N_FLOAT = 7
_ZERO_SUMS = (0.0,) * _N_FLOAT + (0,) * 6


def _event_values(
    T: Collection[Hashable],
    P: Collection[Hashable],
    TP: Collection[Hashable],
    E: Collection[Hashable],
    scores: Mapping[Hashable, float],
) -> tuple:
    """One event's contribution to the sums.

    Parameters
    ----------
    T, P
        Its true and predicted labels, both within ``E``.
    TP
        ``T & P``.
    E
        The labels counted for the event.
    scores
        Label -> score; a missing label scores 0.0.

    Returns
    -------
    tuple
        ``(example precision, recall, F1, Jaccard, Hamming loss, ranking loss, lrap, true
        positives, true labels, predicted labels, exact match, one-error, coverage)``: the
        layout of ``_EX_P`` ... ``_COV``.

    Examples
    --------
    >>> _event_values({"a"}, {"a", "b"}, {"a"}, {"a", "b", "c"}, {"a": 0.9, "b": 0.6})
    (0.5, 1.0, 0.6666666666666666, 0.5, 0.3333333333333333, 0.0, 1.0, 1, 1, 2, 0, 0, 1)
    """
    m = len(E)
    tp = len(TP)
    nT = len(T)
    nP = len(P)
    if tp:
        ex_p = tp / nP
        ex_r = tp / nT
        ex_f1 = 2 * tp / (nT + nP)
        jac = tp / (nT + nP - tp)
    else:
        ex_p = ex_r = ex_f1 = jac = 0.0
    wrong = nT + nP - 2 * tp
    subset = 0 if wrong else 1
    ham = wrong / m if wrong else 0.0

    # ---- ranking (sklearn conventions; ties count against the ranking)
    if nT == 0:
        one_err, cov, rl, lrap = 0, 0, 0.0, 1.0
    elif nT == m:
        one_err, cov, rl, lrap = 0, m, 0.0, 1.0
    else:
        get = scores.get
        rs = sorted(map(get, T, repeat(0.0)))
        # Only the scores >= the lowest true score matter: counts of labels scoring at
        # least x, for x a true label's score. Sorting just those is O(L + k log k).
        low = rs[0]
        al = sorted([s for s in map(get, E, repeat(0.0)) if s >= low])
        n_al = len(al)
        cov = n_al
        bad = 0  # (true, false) pairs with the false label scoring at least as high
        prec = 0.0
        for x in rs:
            n_all = n_al - bisect_left(al, x)  # labels scoring >= x
            n_rel = nT - bisect_left(rs, x)  # true labels scoring >= x
            bad += n_all - n_rel
            prec += n_rel / n_all
        rl = bad / (nT * (m - nT))
        lrap = prec / nT
        top = rs[-1]
        one_err = 1 if (n_al - bisect_left(al, top)) > (nT - bisect_left(rs, top)) else 0

    return (ex_p, ex_r, ex_f1, jac, ham, rl, lrap, tp, nT, nP, subset, one_err, cov)
