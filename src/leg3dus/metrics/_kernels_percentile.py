"""Numba kernel of the metrics: a weighted percentile (the area-weighted HD95 of surfels)
without sorting every distance."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def weighted_percentile(d, w, q):
    """The smallest distance ``d[k]`` whose cumulative weight share, distances in
    increasing order, reaches ``q`` (0..1), without sorting everything: weights are
    summed into bins of distance, and only the bin where the share is reached is sorted.

    Returns ``(value, exact)``; ``exact`` is False when the share at the decision lies
    within rounding of ``q`` (a tie that the order of summation decides), for the caller
    to settle with a full sort.
    """
    n = len(d)
    total = 0.0
    top = 0.0
    for k in range(n):
        total += w[k]
        if d[k] > top:
            top = d[k]
    target = q * total
    tie = 1e-9 * total
    n_bins = 1 << 14
    scale = (n_bins - 1) / top if top > 0 else 0.0
    counts = np.zeros(n_bins, np.int64)
    weights = np.zeros(n_bins)
    for k in range(n):
        b = int(d[k] * scale)
        counts[b] += 1
        weights[b] += w[k]
    below = 0.0
    chosen = -1
    for b in range(n_bins):
        if counts[b] > 0:
            if below + weights[b] >= target:
                chosen = b
                break
            below += weights[b]
    if chosen < 0:
        return top, False
    members = np.empty(counts[chosen], np.int64)
    m = 0
    for k in range(n):
        if int(d[k] * scale) == chosen:
            members[m] = k
            m += 1
    order = np.argsort(d[members], kind="mergesort")
    for j in range(m):
        k = members[order[j]]
        before = below
        below += w[k]
        if below >= target:
            exact = target - before > tie and below - target > tie
            return d[k], exact
    return d[members[order[m - 1]]], False
