"""The continuous, resolution-independent calf of one synthetic subject.

Coordinates are millimetres in the subject's volume frame, ordered (z, y, x): z runs
along the leg from the knee (0) to the ankle, y into depth from the top of the volume
(the probe side: the leg lies prone and is scanned from behind), x across. In a right
leg the medial side (GM) lies towards +x; a left leg is its mirror image.

The cross-section is built from the inside out around the leg's axis: a core (tibia,
fibula, deep compartment) wrapped posteriorly by the soleus, the Achilles tendon and
aponeurosis, the two gastrocnemius heads, then the crural fascia, subcutaneous fat with
septa and skin. Every layer is a thickness profile over (angle, position along the
leg) with smooth random deformations, so layers never overlap and each subject has its
own shape. Muscle volumes are integrals of these profiles (:meth:`Anatomy.true_volumes_cm3`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator

from ..core.errors import OptionError
from . import _classify as K
from . import tissue as T
from .params import SubjectParams

N_THETA = 1024  #: angle nodes of the surface tables
DZ_MM = 0.5  #: row spacing of the surface tables along the leg
GEL_TOP_MM = 5.0  #: water/gel between the top of the volume and the skin
MARGIN_X_MM = 12.0  #: gel on each side of the leg
BELOW_MM = 58.0  #: depth of the volume beyond the front of the leg
GAP_MM = 0.45  #: half-thickness of the GM/GL aponeurosis
SEPTUM_MM = 0.2  #: half-thickness of a fat septum
PERIOD_MM = 1.7  #: spacing of fascicle boundaries
DUTY = 0.2  #: fraction of a period that a fascicle boundary fills

# Nominal muscle thickness (mm) at the peak of each profile, for a size factor of 1.
GM_MM, GL_MM, SOL_MM, TENDON_MM = 18.5, 17.0, 23.0, 5.5


def _bump(u: np.ndarray) -> np.ndarray:
    """cos^2 bump: 1 at 0, 0 for |u| >= 1, continuous slope."""
    u = np.clip(np.abs(u), 0.0, 1.0)
    return np.cos(0.5 * np.pi * u) ** 2


def _ramp(s, a, b):
    """Smooth step from 0 (s <= a) to 1 (s >= b)."""
    u = np.clip((s - a) / (b - a), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _profile(s, start, peak, end, start_level=0.0):
    """Along-leg profile: start_level at ``start``, 1 at ``peak``, 0 at ``end`` and after."""
    rise = start_level + (1 - start_level) * np.sin(0.5 * np.pi * np.clip(
        (s - start) / (peak - start), 0.0, 1.0)) ** 2
    rise = np.where(s < start, 0.0 if start_level == 0 else start_level, rise)
    fall = np.cos(0.5 * np.pi * np.clip((s - peak) / (end - peak), 0.0, 1.0)) ** 2
    return np.where(s <= peak, rise, fall)


class _Smooth:
    """Smooth random fields over (along-leg fraction s, angle theta) from one seed."""

    def __init__(self, seed: int, s: np.ndarray, theta: np.ndarray):
        self.rng = np.random.default_rng(seed)
        self.s, self.theta = s, theta

    def field(self, kmax: int, jmax: int, decay: float = 1.0) -> np.ndarray:
        """Zero-mean field with about unit standard deviation, up to ``kmax`` half-waves
        along the leg and ``jmax`` harmonics around it (separable basis: cheap)."""
        k = np.arange(kmax + 1)
        j = np.arange(1, jmax + 1)
        ds = np.concatenate([np.cos(np.pi * np.outer(self.s, k)),
                             np.sin(np.pi * np.outer(self.s, k[1:]))], axis=1)
        ct = np.concatenate([np.cos(np.outer(j, self.theta)),
                             np.sin(np.outer(j, self.theta))], axis=0)
        kk = np.concatenate([k, k[1:]])[:, None]
        jj = np.concatenate([j, j])[None, :]
        coef = self.rng.normal(size=(len(kk), len(jj[0]))) / (1.0 + kk + jj) ** decay
        out = (ds @ coef).astype(np.float32) @ ct.astype(np.float32)
        return (out / (out.std(dtype=np.float64) + 1e-12)).astype(np.float64)

    def curve(self, kmax: int) -> np.ndarray:
        """Zero-mean smooth function of s alone, about unit standard deviation."""
        k = np.arange(1, kmax + 1)
        coef = self.rng.normal(size=kmax) / k
        out = np.sin(np.pi * np.outer(self.s, k) + self.rng.uniform(0, 2 * np.pi, kmax)) @ coef
        return out / (out.std() + 1e-12)


class Anatomy:
    """The continuous calf model of one subject.

    Parameters
    ----------
    params
        A :class:`~leg3dus.phantom.params.SubjectParams`.

    Examples
    --------
    >>> from leg3dus.phantom import Anatomy, cohort_params
    >>> anat = Anatomy(cohort_params(1)[0])
    >>> z, y, x = anat.extent_mm
    >>> code = anat.tissue_at(np.array([[z / 4, 2.0, x / 2]], np.float32))
    >>> int(code[0])  # gel above the skin
    0
    """

    def __init__(self, params: SubjectParams):
        self.params = params
        self._build()

    # ---- construction -------------------------------------------------------------
    def _build(self) -> None:
        p = self.params
        length = p.leg_length_mm
        nz = int(math.ceil(length / DZ_MM)) + 1
        s = np.linspace(0.0, 1.0, nz)
        theta = np.linspace(-np.pi, np.pi, N_THETA + 1)
        rnd = _Smooth(p.shape_seed, s, theta)
        S, TH = s[:, None], theta[None, :]

        # Core of the leg: an ellipse, wider across than deep, tapering to the ankle.
        taper = PchipInterpolator([0, 0.25, 0.6, 0.85, 1.0], [1.15, 1.05, 0.92, 0.78, 0.74])(s)
        core_y = p.core_mm * 0.88 * taper[:, None]
        core_x = p.core_mm * 1.22 * taper[:, None]
        r_core = 1.0 / np.sqrt((np.cos(TH) / core_y) ** 2 + (np.sin(TH) / core_x) ** 2)
        r_core = r_core * (1.0 + 0.05 * rnd.field(3, 3))

        # Gastrocnemius heads: medial (GM, larger, longer) and lateral (GL).
        gm_end = 0.56 + 0.03 * rnd.rng.uniform(-1, 1)
        gl_end = 0.47 + 0.03 * rnd.rng.uniform(-1, 1)
        c_gm = 0.55 + 0.08 * rnd.curve(2)[:, None]
        c_gl = -0.55 + 0.08 * rnd.curve(2)[:, None]
        a_gm = GM_MM * p.gm_scale * _profile(S, 0.0, 0.22, gm_end, 0.7) ** 0.7
        a_gl = GL_MM * p.gl_scale * _profile(S, 0.0, 0.2, gl_end, 0.65) ** 0.7
        gm = a_gm * _bump((TH - c_gm) / 1.45) ** 0.6 * (1.0 + 0.08 * rnd.field(3, 3))
        gl = a_gl * _bump((TH - c_gl) / 1.15) ** 0.6 * (1.0 + 0.08 * rnd.field(3, 3))
        t_gas = gm + gl
        sep = self._separation(gm, gl, theta, c_gl[:, 0], c_gm[:, 0])

        # Achilles tendon: grows from the gastrocnemius aponeurosis, narrows distally.
        width_t = 0.9 - 0.45 * _ramp(S, 0.5, 0.95)
        t_tendon = TENDON_MM * _ramp(S, 0.45, 0.78) * _bump(TH / width_t)
        t_apo = 0.9 * np.clip(t_gas / 3.0, 0.0, 1.0)

        # Soleus: from the proximal third to near the ankle, widest at mid-leg.
        width_s = 1.85 - 0.75 * _ramp(S, 0.55, 0.95)
        sol_on = _profile(S, 0.12 + 0.03 * rnd.rng.uniform(-1, 1), 0.52, 0.94) ** 0.6
        t_sol = (SOL_MM * p.sol_scale * sol_on * np.cos(0.5 * np.pi * np.clip(
            np.abs(TH + 0.1) / width_s, 0, 1)) ** 0.5 * (1.0 + 0.08 * rnd.field(3, 3)))
        t_dfascia = 0.7 * np.clip(t_sol / 3.0, 0.0, 1.0)

        fat = p.fat_mm * (1.0 + 0.22 * rnd.field(3, 4)) * (1.0 - 0.15 * _ramp(S, 0.6, 1.0))
        fat = np.maximum(fat, 1.5)
        skin = p.skin_mm * (1.0 + 0.1 * rnd.field(2, 3))

        tab = np.empty((K.N_FIELDS, nz, N_THETA + 1), np.float32)
        tab[K.R_CORE] = r_core
        tab[K.R_DFASCIA] = r_core + t_dfascia
        tab[K.R_SOL] = tab[K.R_DFASCIA] + t_sol
        tab[K.R_TENDON] = tab[K.R_SOL] + t_tendon
        tab[K.R_APO] = tab[K.R_TENDON] + t_apo
        tab[K.R_GAS] = tab[K.R_APO] + t_gas
        tab[K.R_FASCIA] = tab[K.R_GAS] + 1.0
        tab[K.R_FAT] = tab[K.R_FASCIA] + fat
        tab[K.R_SKIN] = tab[K.R_FAT] + skin
        for i, k in enumerate(K.SEPTA):
            level = np.clip((i + 1) / 4 + 0.2 * rnd.field(6, 10), 0.05, 0.95)
            tab[k] = tab[K.R_FASCIA] + level * fat
        tab[K.JITTER] = 0.6 * rnd.field(2, 12, decay=0.5)  # slow along z: keeps the angle
        tab[K.FRAGMENT] = rnd.field(50, 120, decay=0.3)  # > 0 on about half the leg
        tab[:, :, -1] = tab[:, :, 0]  # the angle wraps around

        # Place the leg: skin top GEL_TOP_MM below the top of the volume, centred across.
        top = tab[K.R_SKIN][:, N_THETA // 2]  # theta = 0 is the probe side
        half_width = np.max(np.abs(tab[K.R_SKIN] * np.sin(TH)))
        depth = np.max(tab[K.R_SKIN][:, N_THETA // 2] + tab[K.R_SKIN][:, 0])
        self._extent = (float(length), float(GEL_TOP_MM + depth + BELOW_MM),
                        float(2 * (half_width + MARGIN_X_MM)))
        drift = 3.0 * rnd.curve(2)
        zt = np.zeros((K.N_ZT, nz), np.float64)
        zt[K.YC] = GEL_TOP_MM + top
        zt[K.XC] = self._extent[2] / 2 + drift * (1 if p.side == "right" else -1)
        zt[K.SEP] = sep
        # Tibia (anterior-medial) and fibula (lateral) inside the core, offsets in mm
        # with +y anterior (deeper) and +x medial.
        zt[K.TIB_Y], zt[K.TIB_X], zt[K.TIB_R] = (0.45 * core_y[:, 0], 0.30 * core_x[:, 0],
                                                  0.36 * core_y[:, 0])
        zt[K.FIB_Y], zt[K.FIB_X], zt[K.FIB_R] = (0.05 * core_y[:, 0], -0.62 * core_x[:, 0],
                                                  0.2 * core_y[:, 0])
        self._tab = np.ascontiguousarray(tab, dtype=np.float32)
        self._zt = np.ascontiguousarray(zt, dtype=np.float32)
        pen = np.deg2rad(np.asarray(p.pennation_deg + (8.0,), np.float64))
        c = np.zeros(K.N_C, np.float64)
        c[K.C_MIRROR] = 1.0 if p.side == "right" else -1.0
        c[K.C_DZ] = length / (nz - 1)
        c[K.C_NT] = N_THETA
        c[K.C_GAP], c[K.C_SEPTUM] = GAP_MM, SEPTUM_MM
        c[K.C_PERIOD], c[K.C_DUTY] = PERIOD_MM, DUTY
        for i, (kc, ks) in enumerate([(K.C_GM_COS, K.C_GM_SIN), (K.C_GL_COS, K.C_GL_SIN),
                                      (K.C_SOL_COS, K.C_SOL_SIN),
                                      (K.C_DEEP_COS, K.C_DEEP_SIN)]):
            c[kc], c[ks] = math.cos(pen[i]), math.sin(pen[i])
        self._c = c.astype(np.float32)
        self._rmax = np.ascontiguousarray(self._tab[K.R_SKIN].max(axis=1))

    @staticmethod
    def _separation(gm, gl, theta, c_gl, c_gm):
        """Angle per row where GM takes over from GL (where the GM thickness first
        exceeds the GL thickness between the two centres)."""
        sep = np.empty(gm.shape[0])
        for i in range(gm.shape[0]):
            inside = (theta >= c_gl[i]) & (theta <= c_gm[i])
            idx = np.flatnonzero(inside)
            above = np.flatnonzero(gm[i, idx] > gl[i, idx])
            sep[i] = theta[idx[above[0]]] if above.size else c_gm[i]
        return sep

    # ---- queries --------------------------------------------------------------------
    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """(z, y, x) size in mm of the box the subject's volume covers."""
        return self._extent

    def axis_mm(self, z: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y, x) in mm of the leg's axis (the centre of the polar model) at ``z`` mm.
        The medial side lies towards +x from it in a right leg, -x in a left leg."""
        zt = self._zt.astype(np.float64)
        rows = np.arange(zt.shape[1]) * float(self._c[K.C_DZ])
        return np.interp(z, rows, zt[K.YC]), np.interp(z, rows, zt[K.XC])

    def shape_at(self, spacing: float | tuple) -> tuple[int, int, int]:
        """Grid shape (z, y, x) covering :attr:`extent_mm` at ``spacing`` mm."""
        sp = _spacing3(spacing)
        return tuple(max(1, int(round(e / s))) for e, s in zip(self._extent, sp, strict=True))

    def tissue_at(self, points: np.ndarray) -> np.ndarray:
        """Tissue codes (uint8, :mod:`leg3dus.phantom.tissue`) at points (..., 3) in
        (z, y, x) mm of the subject frame."""
        pts = np.asarray(points, dtype=np.float32)
        if pts.shape[-1] != 3:
            raise OptionError(f"points must have shape (..., 3) in (z, y, x) mm, "
                              f"found {pts.shape}")
        flat = np.ascontiguousarray(pts.reshape(-1, 3))
        return K.classify_points(flat, self._tab, self._zt, self._c).reshape(pts.shape[:-1])

    def labels_at(self, points: np.ndarray) -> np.ndarray:
        """Label values (0/100/150/200, uint8) at points (..., 3) in (z, y, x) mm."""
        return T.label_lut()[self.tissue_at(points)]

    def tissue_grid(self, spacing: float | tuple, z_start: int = 0,
                    z_stop: int | None = None) -> np.ndarray:
        """Tissue codes of the voxel centres ``(i + 0.5) * spacing`` of the rows
        ``z_start:z_stop`` of the grid :meth:`shape_at` gives (uint8, (z, y, x))."""
        sp = _spacing3(spacing)
        nz, ny, nx = self.shape_at(sp)
        z_stop = nz if z_stop is None else z_stop
        return K.classify_grid(int(z_start), int(z_stop - z_start), ny, nx,
                               np.asarray(sp, np.float64), self._tab, self._zt, self._c,
                               self._rmax)

    def true_volumes_cm3(self) -> dict[str, float]:
        """Volumes of SOL, GM and GL (cm3) integrated from the continuous model over
        the length of the leg (angle by angle, then Simpson's rule along the leg)."""
        from .volumes import integrate_volumes

        return integrate_volumes(self._tab, self._zt, self._c)


def _spacing3(spacing) -> tuple[float, float, float]:
    sp = (float(spacing),) * 3 if np.isscalar(spacing) else tuple(float(s) for s in spacing)
    if len(sp) != 3 or min(sp) <= 0:
        raise OptionError(f"spacing must be a positive number or three of them (z, y, x) mm, "
                          f"found {spacing}")
    return sp
