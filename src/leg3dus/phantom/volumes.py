"""Muscle volumes of the continuous model, integrated from its surface tables.

Within one table row the surfaces are linear in the angle between nodes, so the area of
a band between an outer radius ``Ro`` and an inner radius ``Ri`` is the exact integral of
``(Ro^2 - Ri^2) / 2`` over the angle; the GM/GL split and the aponeurosis between them
are handled analytically. Along the leg the model is linear between rows, and Simpson's
rule with the mid-row values integrates the areas. This is independent of any voxel
grid, which makes it the reference that voxel counts are tested against.
"""

from __future__ import annotations

import math

import numpy as np

from . import _classify as K


def _interval_integrals(ro: np.ndarray, ri: np.ndarray, h: float, v: np.ndarray | float = 1.0):
    """Integral of (Ro^2 - Ri^2)/2 over the first fraction ``v`` of each angle interval."""
    def part(r):
        a, d = r[..., :-1], r[..., 1:] - r[..., :-1]
        return a * a * v + a * d * v**2 + d * d * v**3 / 3.0

    return 0.5 * h * (part(ro) - part(ri))


def _areas(tab: np.ndarray, sep: np.ndarray, gap: float) -> dict[str, np.ndarray]:
    """Cross-sectional areas (mm2) of SOL, GM and GL for every row of ``tab``."""
    nt = tab.shape[2] - 1
    h = 2 * math.pi / nt
    sol = _interval_integrals(tab[K.R_SOL], tab[K.R_DFASCIA], h).sum(axis=1)
    ro, ri = tab[K.R_GAS], tab[K.R_APO]
    gas_int = _interval_integrals(ro, ri, h)
    total = gas_int.sum(axis=1)
    rows = np.arange(tab.shape[1])
    u = (np.clip(sep, -math.pi, math.pi) + math.pi) / h
    j = np.clip(np.floor(u).astype(int), 0, nt - 1)
    v = u - j
    before = np.cumsum(gas_int, axis=1)
    gl = np.where(j > 0, before[rows, np.maximum(j - 1, 0)], 0.0)
    pair = np.stack([j, j + 1], axis=1)
    gl = gl + _interval_integrals(ro[rows[:, None], pair], ri[rows[:, None], pair], h,
                                  v[:, None])[:, 0]
    gm = total - gl
    # The aponeurosis between the heads, |rho * (theta - sep)| < gap, takes a strip of
    # width 2 * gap across the band, half from each head.
    r_o = ro[rows, j] * (1 - v) + ro[rows, j + 1] * v
    r_i = ri[rows, j] * (1 - v) + ri[rows, j + 1] * v
    strip = gap * np.maximum(r_o - r_i, 0.0)
    return {"SOL": sol, "GM": gm - strip, "GL": gl - strip}


def integrate_volumes(tab: np.ndarray, zt: np.ndarray, c: np.ndarray) -> dict[str, float]:
    """Volumes (cm3) of SOL, GM and GL from the tables of an :class:`Anatomy`."""
    tab64 = np.zeros((K.N_FIELDS,) + tab.shape[1:], np.float64)
    for k in (K.R_GAS, K.R_APO, K.R_SOL, K.R_DFASCIA):  # the only surfaces needed
        tab64[k] = tab[k]
    sep = zt[K.SEP].astype(np.float64)
    gap = float(c[K.C_GAP])
    dz = float(c[K.C_DZ])
    at_rows = _areas(tab64, sep, gap)
    mid_tab = np.zeros((K.N_FIELDS, tab.shape[1] - 1, tab.shape[2]), np.float64)
    for k in (K.R_GAS, K.R_APO, K.R_SOL, K.R_DFASCIA):
        mid_tab[k] = 0.5 * (tab64[k, 1:] + tab64[k, :-1])
    mid = _areas(mid_tab, 0.5 * (sep[1:] + sep[:-1]), gap)
    out = {}
    for name in ("SOL", "GM", "GL"):
        a = at_rows[name]
        out[name] = float(np.sum(dz / 6.0 * (a[:-1] + 4 * mid[name] + a[1:])) / 1000.0)
    return out
