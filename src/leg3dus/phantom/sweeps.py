"""Simulated tracked acquisition: parallel freehand sweeps from knee to ankle over a
phantom, written as PLUS sequence files with a calibration configuration.

The Reference frame is the subject's volume frame with its axes in (x, y, z) order
(x across, y depth, z along the leg), so a compounded volume lies on the phantom's grid.
A 40 mm linear probe images transverse planes of ``frame_px`` = (rows, cols) pixels;
the hand moves it along the leg at a varying speed with slow tilt, rock, yaw and
lateral drift plus tremor. Frames are rendered at the true poses; the tracker records
them with noise (ProbeToTracker) next to a fixed reference marker (ReferenceToTracker).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..core.layout import SWEEPS_DIR
from ..sweep import PlusConfig, ReconParams, Sequence, write_config, write_sequence


@dataclass
class SweepProtocol:
    """How the sweeps are acquired (lengths in mm, angles in degrees, 1 sigma).

    Examples
    --------
    >>> SweepProtocol().frame_width_mm
    38.012
    """

    n_sweeps: int = 5
    frame_px: tuple[int, int] = (537, 221)  #: rows (depth) x columns (across)
    pixel_mm: float = 0.172
    frame_spacing_mm: float = 0.6
    speed_jitter: float = 0.35   #: relative change of the frame spacing, slow
    tilt_deg: float = 3.0        #: elevational tilt (plane leaning along the leg), slow
    rock_deg: float = 1.0        #: in-plane roll, slow
    yaw_deg: float = 2.0         #: rotation about the beam, slow
    drift_mm: float = 1.5        #: lateral wander, slow
    tremor_mm: float = 0.08      #: hand tremor, per frame
    tracking_noise_mm: float = 0.05
    tracking_noise_deg: float = 0.05
    frame_rate_hz: float = 30.0

    @property
    def frame_width_mm(self) -> float:
        return round(self.frame_px[1] * self.pixel_mm, 6)


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation about x, then y, then z (radians), as a 3x3 matrix."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def _rigid(rot: np.ndarray, t) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = t
    return m


def image_to_probe(protocol: SweepProtocol) -> np.ndarray:
    """Calibration: pixel (col, row) to mm in the probe frame (origin at the middle of
    the transducer face, x along the array, y along the beam)."""
    s = protocol.pixel_mm
    m = np.diag([s, s, 1.0, 1.0])
    m[0, 3] = -(protocol.frame_px[1] - 1) / 2.0 * s
    return m


def _slow(rng: np.random.Generator, n: int, sigma_frames: float) -> np.ndarray:
    """Smooth random signal of unit standard deviation (in expectation)."""
    pad = int(4 * sigma_frames) + 1
    x = gaussian_filter1d(rng.normal(size=n + 2 * pad), sigma_frames)[pad:pad + n]
    # filtered unit white noise has variance 1 / (2 sqrt(pi) sigma)
    return x * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_frames)


def plan_sweeps(extent_mm, protocol: SweepProtocol | None = None, seed: int = 0,
                z_range_mm: tuple[float, float] | None = None) -> list[dict]:
    """True and recorded probe poses of every sweep over a volume of ``extent_mm``.

    ``extent_mm`` is the (z, y, x) size of the subject's box; the sweeps run from knee
    to ankle over ``z_range_mm`` (default: the whole length). Returns one dict per sweep
    with ``true`` and ``recorded`` ProbeToReference (n, 4, 4) and ``timestamps`` (n,).

    Examples
    --------
    >>> plans = plan_sweeps((400.0, 175.0, 156.0), seed=1)
    >>> len(plans), plans[0]["true"].shape[1:]
    (5, (4, 4))
    """
    p = protocol or SweepProtocol()
    rng = np.random.default_rng(seed)
    _, _, ex = (float(v) for v in extent_mm)
    z_start, z_stop = z_range_mm or (0.0, float(extent_mm[0]))
    ez = z_stop - z_start
    width = p.frame_width_mm
    if p.n_sweeps > 1:
        centres = np.linspace(width / 2, ex - width / 2, p.n_sweeps)
    else:
        centres = np.array([ex / 2])
    n_est = int(ez / p.frame_spacing_mm * 1.6) + 10
    plans = []
    deg = np.pi / 180
    for cx in centres:
        speed = np.clip(1 + p.speed_jitter * _slow(rng, n_est, 40), 0.3, None)
        z = np.cumsum(p.frame_spacing_mm * speed) - p.frame_spacing_mm * speed[0]
        n = int(np.searchsorted(z, ez))
        z = z[:n]
        tilt = p.tilt_deg * _slow(rng, n, 60) * deg
        rock = p.rock_deg * _slow(rng, n, 60) * deg
        yaw = p.yaw_deg * _slow(rng, n, 80) * deg
        drift = p.drift_mm * _slow(rng, n, 80)
        tremor = rng.normal(0, p.tremor_mm, (n, 3))
        true = np.stack([_rigid(_rotation(tilt[i], yaw[i], rock[i]),
                                (cx + drift[i] + tremor[i, 0], tremor[i, 1] * 0.3,
                                 z_start + z[i] + tremor[i, 2])) for i in range(n)])
        noise = np.stack([_rigid(_rotation(*rng.normal(0, p.tracking_noise_deg * deg, 3)),
                                 rng.normal(0, p.tracking_noise_mm, 3)) for _ in range(n)])
        t = np.arange(n) / p.frame_rate_hz + rng.uniform(0, 0.002, n)
        plans.append({"true": true, "recorded": true @ noise, "timestamps": t})
    return plans


def frame_points(pose: np.ndarray, protocol: SweepProtocol) -> np.ndarray:
    """Pixel centres of a frame at ``pose`` (ProbeToReference) as (rows, cols, 3) float32
    points in (z, y, x) mm, the order the phantom's queries take."""
    rows, cols = protocol.frame_px
    m = pose @ image_to_probe(protocol)
    c, r = np.meshgrid(np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64))
    xyz = m[:3, 0] * c[..., None] + m[:3, 1] * r[..., None] + m[:3, 3]
    return xyz[..., ::-1].astype(np.float32)


def render_sweep(anatomy, plan: dict, protocol: SweepProtocol | None = None, seed: int = 0,
                 probe=None) -> tuple[np.ndarray, np.ndarray]:
    """B-mode frames and label frames (n, rows, cols) uint8 at the sweep's true poses."""
    from .bmode import render_bmode
    from .tissue import label_lut

    p = protocol or SweepProtocol()
    n = plan["true"].shape[0]
    frames = np.empty((n,) + tuple(p.frame_px), np.uint8)
    labels = np.empty_like(frames)
    lut = label_lut()
    for i in range(n):
        tissue = anatomy.tissue_at(frame_points(plan["true"][i], p))
        frames[i] = render_bmode(tissue, p.pixel_mm, seed=seed, probe=probe, z_offset=i)
        labels[i] = lut[tissue]
    return frames, labels


def sweep_config(protocol: SweepProtocol, origin_xyz, shape_zyx, spacing: float,
                 reference_to_tracker: np.ndarray | None = None) -> PlusConfig:
    """PLUS configuration with the calibration and a grid matching the phantom's."""
    nz, ny, nx = shape_zyx
    recon = ReconParams(output_spacing=(spacing,) * 3, output_origin=tuple(origin_xyz),
                        output_extent=(0, nx - 1, 0, ny - 1, 0, nz - 1),
                        interpolation="NEAREST_NEIGHBOR", compounding_mode="MEAN")
    return PlusConfig({("Image", "Probe"): image_to_probe(protocol)}, recon)


def write_sweeps(anatomy, out_dir: str | os.PathLike, protocol: SweepProtocol | None = None,
                 seed: int = 0, spacing: float = 0.277, probe=None,
                 z_range_mm: tuple[float, float] | None = None) -> list[Path]:
    """Render and write ``sweepK.igs.mha`` (B-mode), ``labelsK.igs.mha`` (labels) and
    ``calibration.xml`` into ``out_dir``; returns the written paths.

    Examples
    --------
    >>> write_sweeps(Anatomy(subject_params(0)), "P001/sweeps")  # doctest: +SKIP
    """
    p = protocol or SweepProtocol()
    out = Path(out_dir)
    rng = np.random.default_rng(seed + 7)
    ref_to_tracker = _rigid(_rotation(*rng.uniform(-np.pi, np.pi, 3)),
                            rng.uniform(-300, 300, 3))
    paths = []
    extent = anatomy.extent_mm
    for k, plan in enumerate(plan_sweeps(extent, p, seed, z_range_mm), start=1):
        frames, labels = render_sweep(anatomy, plan, p, seed * 31 + k, probe)
        n = frames.shape[0]
        transforms = {"ProbeToTracker": ref_to_tracker @ plan["recorded"],
                      "ReferenceToTracker": np.repeat(ref_to_tracker[None], n, axis=0)}
        for name, data in ((f"sweep{k}.igs.mha", frames), (f"labels{k}.igs.mha", labels)):
            seq = Sequence(data, {kk: v.copy() for kk, v in transforms.items()},
                           timestamps=plan["timestamps"])
            paths.append(write_sequence(seq, out / name))
    shape = anatomy.shape_at(spacing)
    origin = (0.5 * spacing,) * 3  # the phantom's voxel centres lie at (i + 0.5) * spacing
    paths.append(write_config(sweep_config(p, origin, shape, spacing), out / "calibration.xml"))
    return paths


def write_subject_sweeps(job) -> dict:
    """Write the sweeps of one cohort subject (a :class:`~leg3dus.phantom.cohort.SubjectJob`)
    into ``<subject folder>/sweeps`` (atomically); returns a summary row.

    The calibration's output grid is the subject's volume grid at the job's spacing.
    """
    from ..core.atomic import atomic_dir
    from ..core.layout import subject_folder
    from .anatomy import Anatomy
    from .subject import speckle_seed

    folder = subject_folder(job.out, job.split, job.params.id) / SWEEPS_DIR
    anat = Anatomy(job.params)
    seed = speckle_seed(job.params) % (2**31)
    with atomic_dir(folder) as tmp:
        paths = write_sweeps(anat, tmp, seed=seed, spacing=job.spacing, probe=job.probe)
    frames = sum(read_frame_count(folder / p.name) for p in paths if p.name.startswith("sweep"))
    return {"id": job.params.id, "split": job.split, "sweeps": str(folder), "frames": frames}


def read_frame_count(path: Path) -> int:
    """Number of frames a sequence file declares (its header only)."""
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("latin-1")
            if line.startswith("DimSize"):
                return int(line.split("=")[1].split()[2])
    return 0


#: Acquisition faults :func:`inject_fault` simulates.
FAULTS = ("drop", "jump", "fast")


def inject_fault(seq: Sequence, kind: str, start: int, n: int = 20,
                 offset_mm=(6.0, 0.0, 0.0), factor: int = 4,
                 transform: str = "ProbeToTracker") -> Sequence:
    """A copy of ``seq`` with one acquisition fault from frame ``start`` on.

    ``drop``: frames ``start .. start + n - 1`` are lost (a time and space gap);
    ``jump``: from frame ``start`` on the tracker reports the probe ``offset_mm`` (x, y, z
    in the tracker frame) away from where it is, while the images stay those of the true
    poses; ``fast``: over ``n * factor`` frames from ``start`` only every ``factor``-th is
    kept and later timestamps close up, so the probe moves ``factor`` times faster there.

    Examples
    --------
    >>> seq = Sequence(np.zeros((50, 2, 2), np.uint8), {"ProbeToTracker": np.stack(
    ...     [np.eye(4)] * 50)}, timestamps=np.arange(50) / 30)
    >>> inject_fault(seq, "drop", 10, 5).n_frames, inject_fault(seq, "fast", 10, 5).n_frames
    (45, 35)
    """
    from ..core.errors import OptionError

    if kind not in FAULTS:
        raise OptionError(f"fault must be one of {', '.join(FAULTS)}, found {kind!r}")
    if not 0 < start < seq.n_frames:
        raise OptionError(f"fault start must lie in 1..{seq.n_frames - 1}, found {start}")
    keep = np.ones(seq.n_frames, bool)
    times = seq.timestamps.copy()
    transforms = {k: v.copy() for k, v in seq.transforms.items()}
    if kind == "drop":
        keep[start:start + n] = False
    elif kind == "fast":
        stop = min(seq.n_frames, start + n * factor)
        block = np.zeros(seq.n_frames, bool)
        block[start:stop] = True
        keep[block] = (np.arange(seq.n_frames)[block] - start) % factor == 0
        dt = np.median(np.diff(times))
        new = times.copy()
        kept = np.flatnonzero(keep)
        for a, b in zip(kept[:-1], kept[1:], strict=True):
            new[b] = new[a] + (times[b] - times[a] if b - a == 1 else dt)
        times = new
    else:
        shift = np.eye(4)
        shift[:3, 3] = offset_mm
        transforms[transform][start:] = shift @ transforms[transform][start:]
    return Sequence(seq.frames[keep].copy(), {k: v[keep] for k, v in transforms.items()},
                    {k: v[keep].copy() for k, v in seq.transform_ok.items()}, times[keep],
                    seq.image_ok[keep].copy(), dict(seq.header))
