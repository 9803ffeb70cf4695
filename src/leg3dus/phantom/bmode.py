"""B-mode image formation from a grid of tissue codes.

Each voxel holds a complex Gaussian scatterer whose amplitude is its tissue's
echogenicity (:mod:`leg3dus.phantom.tissue`), attenuated on the way down and back
through the tissues above it and compensated by the time-gain control. The field is
convolved with the point-spread function of a linear probe (Gaussian in depth, width
and elevation, from the probe's resolution), its envelope is detected and log
compressed to uint8 over the probe's dynamic range, and a small Gaussian gives the
smoothed look of compounded volumes. Voxels deeper than the probe's reach below the
skin are not imaged (0).

The PSF is applied in complex baseband (IQ): for circular Gaussian scatterers,
modulating the PSF by the carrier ``exp(2i k y)`` only rotates each scatterer's phase,
which leaves the statistics of the envelope unchanged, so the carrier is omitted. The
envelope of fully developed speckle is then Rayleigh distributed (mean/std = 1.91).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..core.arrays import bounding_box, gaussian_taps
from ..core.errors import OptionError
from . import _bmode_kernels as B
from . import tissue as T

SPEED_OF_SOUND = 1540.0  #: m/s
_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class Probe:
    """A linear probe and its B-mode settings.

    Resolutions default to values that scale with frequency: at 7.5 MHz an axial FWHM
    of 0.3 mm (about a 1.5-cycle pulse), a lateral FWHM of 0.6 mm (F-number ~3) and an
    elevational FWHM of 1.2 mm (the lens focus of a 40 mm linear probe).

    Attributes
    ----------
    frequency_mhz
        Centre frequency.
    axial_fwhm_mm, lateral_fwhm_mm, elevation_fwhm_mm
        PSF widths (None: from the frequency).
    tgc_db_cm_mhz
        Time-gain compensation, dB per cm of depth per MHz, one way (applied twice).
    max_depth_mm
        Imaging depth below the probe, which touches the shallowest skin of each
        slice (frame); deeper voxels are 0.
    dynamic_range_db, gain_db
        Log compression: muscle speckle lands near grey 100 at ``gain_db=0``.
    noise_db
        Receiver noise relative to muscle echo, amplified by the TGC.
    compounding_mm
        Sigma of the Gaussian that gives the smoothed look of compounded volumes (0: off).

    Examples
    --------
    >>> Probe().axial_sigma_mm < Probe(frequency_mhz=4.0).axial_sigma_mm
    True
    """

    frequency_mhz: float = 7.5
    axial_fwhm_mm: float | None = None
    lateral_fwhm_mm: float | None = None
    elevation_fwhm_mm: float | None = None
    tgc_db_cm_mhz: float = 0.6
    max_depth_mm: float = 90.0
    dynamic_range_db: float = 50.0
    gain_db: float = 3.0
    noise_db: float = -95.0
    compounding_mm: float = 0.3

    def __post_init__(self) -> None:
        if not 0.5 <= self.frequency_mhz <= 30.0:
            raise OptionError(f"probe frequency must lie in 0.5..30 MHz, "
                              f"found {self.frequency_mhz}")
        if self.max_depth_mm <= 0 or self.dynamic_range_db <= 0:
            raise OptionError("probe max depth and dynamic range must be positive")

    @property
    def axial_sigma_mm(self) -> float:
        fwhm = self.axial_fwhm_mm or 2.25 / self.frequency_mhz
        return fwhm / _FWHM

    @property
    def lateral_sigma_mm(self) -> float:
        fwhm = self.lateral_fwhm_mm or 4.5 / self.frequency_mhz
        return fwhm / _FWHM

    @property
    def elevation_sigma_mm(self) -> float:
        fwhm = self.elevation_fwhm_mm or 9.0 / self.frequency_mhz
        return fwhm / _FWHM


@functools.lru_cache(maxsize=1)
def _gauss_table() -> np.ndarray:
    return B.gauss_table()


def _taps(sigma_vox: float, power: bool) -> np.ndarray:
    """Gaussian taps to 2.5 sigma, one tap below 0.2 voxel; unit energy (``power``, a
    PSF that keeps speckle power) or unit sum (a smoothing filter)."""
    if sigma_vox < 0.2:
        return np.ones(1, np.float32)
    return gaussian_taps(sigma_vox, norm="energy" if power else "sum")


def _spacing(spacing, ndim: int) -> tuple[float, ...]:
    sp = (float(spacing),) * ndim if np.isscalar(spacing) else tuple(float(s) for s in spacing)
    if len(sp) != ndim or min(sp) <= 0:
        raise OptionError(f"spacing must be a positive number or {ndim} of them, "
                          f"found {spacing}")
    return sp


class _Plan:
    """Kernels and tables of one rendering (probe x spacing)."""

    def __init__(self, probe: Probe, spacing: tuple[float, float, float], seed: int,
                 volumetric: bool):
        sz, sy, sx = spacing
        f = probe.frequency_mhz
        self.key = np.uint64(B._mix(np.uint64((int(seed) * 0x2545F4914F6CDD1D + 0x5851F42D4C957F2D)
                                    % 2**64)))
        self.echo = T.echo_lut()
        # Round-trip amplitude factor of one voxel: 2 * alpha * f * (sy / 10 cm) dB.
        step = 10.0 ** (-2.0 * T.attenuation_lut().astype(np.float64) * f * sy / 10.0 / 20.0)
        self.step = step.astype(np.float32)
        self.half = np.sqrt(step).astype(np.float32)
        self.gain_step = np.float32(10.0 ** (2.0 * probe.tgc_db_cm_mhz * f * sy / 10.0 / 20.0))
        self.noise = np.float32(10.0 ** (probe.noise_db / 20.0))
        self.table = _gauss_table()
        self.wy = _taps(probe.axial_sigma_mm / sy, True)
        self.wx = _taps(probe.lateral_sigma_mm / sx, True)
        self.wz = _taps(probe.elevation_sigma_mm / sz, True) if volumetric \
            else np.ones(1, np.float32)
        c = probe.compounding_mm
        self.sy_ = _taps(c / sy, False) if c > 0 else np.ones(1, np.float32)
        self.sx_ = _taps(c / sx, False) if c > 0 else np.ones(1, np.float32)
        self.sz_ = _taps(c / sz, False) if c > 0 and volumetric \
            else np.ones(1, np.float32)
        self.scale = 255.0 / probe.dynamic_range_db
        self.offset = 100.0 + self.scale * probe.gain_db
        self.limit = int(math.ceil(probe.max_depth_mm / sy))
        self.halo = len(self.wz) // 2 + len(self.sz_) // 2
        self.scatter_limit = self.limit + len(self.wy) // 2 + len(self.sy_) // 2 + 1

    def _active_box(self, tissue: np.ndarray) -> tuple[slice, slice]:
        """The (y, x) box outside which the output is 0: gel beyond the reach of the
        filters around the leg, and what lies deeper than the imaging depth."""
        ny, nx = tissue.shape[1:]
        rows = tissue.any(axis=2)
        if not rows.any():
            return slice(0, 0), slice(0, 0)
        tops = np.where(rows.any(axis=1), rows.argmax(axis=1), ny)
        my = len(self.wy) // 2 + len(self.sy_) // 2 + 1
        mx = len(self.wx) // 2 + len(self.sx_) // 2 + 1
        y0 = max(int(tops.min()) - my, 0)
        y1 = min(int(tops[tops < ny].max()) + self.limit + my, ny)
        # Across: the columns holding tissue, grown by the reach of the lateral filters.
        (xs,) = bounding_box(tissue.any(axis=1).any(axis=0), margin_vox=mx)
        return slice(y0, y1), xs

    def envelope(self, tissue: np.ndarray, offset, full, r0: int, r1: int,
                 grey: bool = False):
        """Envelope rows r0..r1 of a chunk (log-compressed grey values with ``grey``),
        and the skin index of every column of the chunk. ``offset`` and ``full`` place
        the chunk in its volume (voxel index of its first voxel, volume shape)."""
        skin = np.empty((tissue.shape[0], tissue.shape[2]), np.int32)
        re, im = B.scatter_inplane(tissue, np.asarray(offset, np.int64),
                                   np.asarray(full, np.int64), self.key, self.echo,
                                   self.step, self.half, self.gain_step, self.noise,
                                   self.table, self.wy, self.wx, self.scatter_limit, skin)
        return B.envelope_z(re, im, self.wz, r0, r1, np.float32(self.offset),
                            np.float32(self.scale if grey else 0.0)), skin

    def render_chunk(self, tissue: np.ndarray, z_offset: int, r0: int, r1: int,
                     full_z: int) -> np.ndarray:
        """uint8 rows r0..r1 of a chunk whose rows extend ``halo`` beyond them where
        the volume (``full_z`` rows) allows; the rows outside r0..r1 are only read."""
        out = np.zeros((r1 - r0,) + tissue.shape[1:], np.uint8)
        ys, xs = self._active_box(tissue)
        if ys.stop <= ys.start or xs.stop <= xs.start:
            return out
        crop = np.ascontiguousarray(tissue[:, ys, xs])
        hs = len(self.sz_) // 2
        e0, e1 = max(r0 - hs, 0), min(r1 + hs, tissue.shape[0])
        grey, skin = self.envelope(crop, (z_offset, ys.start, xs.start),
                                   (full_z,) + tissue.shape[1:], e0, e1, grey=True)
        del crop
        grey = B.conv_inplane(grey, self.sy_, self.sx_)
        out[:, ys, xs] = B.smooth_z_to_uint8(grey, self.sz_, r0 - e0, r1 - e0, skin[e0:e1],
                                             self.limit)
        return out


def _as_3d(tissue: np.ndarray) -> tuple[np.ndarray, bool]:
    tissue = np.asarray(tissue)
    if tissue.dtype != np.uint8:
        raise OptionError(f"tissue codes must be uint8, found {tissue.dtype}")
    if tissue.ndim == 2:
        return np.ascontiguousarray(tissue[None]), False
    if tissue.ndim == 3:
        return np.ascontiguousarray(tissue), True
    raise OptionError(f"tissue codes must be a 2D frame (depth, width) or a 3D volume "
                      f"(z, y, x), found shape {tissue.shape}")


def render_bmode(tissue: np.ndarray, spacing, seed: int = 0, probe: Probe | None = None,
                 z_offset: int = 0, chunk: int = 128) -> np.ndarray:
    """B-mode image (uint8) of a grid of tissue codes.

    Parameters
    ----------
    tissue
        uint8 tissue codes: a frame (depth, width) with depth along axis 0, or a volume
        (z, y, x) with depth along axis 1. Depth is counted from the first non-gel
        voxel of each column (the skin); the probe touches the shallowest skin of each
        slice, and the image stops ``probe.max_depth_mm`` below it.
    spacing
        mm, one number or one per axis in the same order.
    seed
        Seed of the speckle; ``z_offset`` shifts the slice index used to draw it (a
        frame number, or the first row of a chunk of a larger volume).
    probe
        The :class:`Probe` (default 7.5 MHz).
    chunk
        Rows of a volume processed at once (memory), without effect on the result.

    Examples
    --------
    >>> frame = np.full((200, 100), 7, np.uint8)  # soleus
    >>> img = render_bmode(frame, 0.2, seed=1)
    >>> img.shape, img.dtype, bool(60 < img[20:100].mean() < 140)
    ((200, 100), dtype('uint8'), True)
    """
    probe = probe or Probe()
    t3, volumetric = _as_3d(tissue)
    sp = _spacing(spacing, tissue.ndim)
    sp3 = sp if volumetric else (1.0,) + sp
    plan = _Plan(probe, sp3, seed, volumetric)
    out = np.empty(t3.shape, np.uint8)
    chunk = max(int(chunk), 1)
    for z0 in range(0, t3.shape[0], chunk):
        z1 = min(z0 + chunk, t3.shape[0])
        a, b = max(z0 - plan.halo, 0), min(z1 + plan.halo, t3.shape[0])
        out[z0:z1] = plan.render_chunk(t3[a:b], z_offset + a, z0 - a, z1 - a,
                                       z_offset + t3.shape[0])
    return out if volumetric else out[0]


def bmode_envelope(tissue: np.ndarray, spacing, seed: int = 0, probe: Probe | None = None,
                   z_offset: int = 0) -> np.ndarray:
    """The detected envelope (float32, linear, before log compression) of
    :func:`render_bmode`, for statistics of the speckle. Not chunked: small inputs.

    >>> env = bmode_envelope(np.full((40, 64, 64), 7, np.uint8), 0.2, seed=3)
    >>> env.dtype
    dtype('float32')
    """
    probe = probe or Probe()
    t3, volumetric = _as_3d(tissue)
    sp = _spacing(spacing, tissue.ndim)
    plan = _Plan(probe, sp if volumetric else (1.0,) + sp, seed, volumetric)
    env, _ = plan.envelope(t3, (z_offset, 0, 0), (z_offset + t3.shape[0],) + t3.shape[1:], 0,
                           t3.shape[0])
    return env if volumetric else env[0]
