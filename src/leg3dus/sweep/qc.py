"""Acquisition quality control of one tracked sweep, from its poses and timestamps alone.

Per sweep: frames, frames with an invalid status (a tracked transform on the image's
chain, or the image itself), the spacing between successive frames along the sweep
(median, max), the probe speed, gaps (successive frames further apart than a
threshold), tracking jumps (a pose that moves or turns faster than a hand can: the
position of the frame's centre or its orientation changes faster than
``jump_speed_mm_s`` / ``jump_turn_deg_s``) and fast stretches (speed above
``max_speed_mm_s``). Places are given as the frame index and the distance along the
sweep in mm from its first valid frame (and the Reference position of the frame centre).
Coverage and consistency over several sweeps live in :mod:`.qc_coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import PlusConfig
from .seqfile import Sequence
from .transforms import image_to_reference


@dataclass
class QcLimits:
    """Thresholds of the checks (mm, mm/s, degrees/s)."""

    gap_mm: float = 2.0
    max_speed_mm_s: float = 50.0
    jump_speed_mm_s: float = 150.0
    jump_turn_deg_s: float = 90.0


@dataclass
class SweepQc:
    """Findings for one sweep; every list entry is a dict with ``frame`` (index of the
    frame after the event), ``along_mm`` and ``value``."""

    name: str
    frames: int
    valid_frames: int
    invalid_frames: list[int] = field(default_factory=list)
    spacing_median_mm: float = 0.0
    spacing_max_mm: float = 0.0
    speed_median_mm_s: float = 0.0
    speed_max_mm_s: float = 0.0
    length_mm: float = 0.0
    gaps: list[dict] = field(default_factory=list)
    jumps: list[dict] = field(default_factory=list)
    fast: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.invalid_frames or self.gaps or self.jumps or self.fast)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["ok"] = self.ok
        return d


def frame_centres(mats: np.ndarray, frame_shape) -> np.ndarray:
    """Reference (x, y, z) mm of each frame's centre pixel, (n, 3)."""
    h, w = frame_shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0, 0.0, 1.0])
    return (mats @ c)[:, :3]


def _rotation_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) between the rotations of pose pairs, scale removed per column."""
    ra = a[:, :3, :3] / np.linalg.norm(a[:, :3, :3], axis=1, keepdims=True)
    rb = b[:, :3, :3] / np.linalg.norm(b[:, :3, :3], axis=1, keepdims=True)
    rel = np.swapaxes(ra, 1, 2) @ rb
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of ``flags``."""
    d = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def sweep_qc(seq: Sequence, cfg: PlusConfig | None = None, name: str = "sweep",
             limits: QcLimits | None = None, image: str = "Image",
             reference: str = "Reference") -> SweepQc:
    """Check one sweep's poses and timestamps; returns a :class:`SweepQc`.

    Examples
    --------
    >>> mats = np.stack([np.eye(4)] * 4); mats[:, 2, 3] = [0.0, 0.5, 1.0, 10.0]
    >>> seq = Sequence(np.zeros((4, 2, 2), np.uint8), {"ImageToReference": mats},
    ...                timestamps=np.arange(4) / 30)
    >>> q = sweep_qc(seq)
    >>> q.spacing_max_mm, [g["frame"] for g in q.gaps], [j["frame"] for j in q.jumps]
    (9.0, [3], [3])
    """
    lim = limits or QcLimits()
    mats, valid = image_to_reference(seq, cfg, image, reference, name)
    q = SweepQc(name, seq.n_frames, int(valid.sum()),
                invalid_frames=np.flatnonzero(~valid).tolist())
    idx = np.flatnonzero(valid)
    if idx.size < 2:
        return q
    centres = frame_centres(mats[idx], seq.frame_shape)
    step = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    along = np.r_[0.0, np.cumsum(step)]
    dt = np.diff(seq.timestamps[idx])
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, step / dt, np.inf)
        turn = np.where(dt > 0, _rotation_deg(mats[idx[:-1]], mats[idx[1:]]) / dt, np.inf)
    q.spacing_median_mm = float(np.median(step))
    q.spacing_max_mm = float(step.max())
    finite = speed[np.isfinite(speed)]
    q.speed_median_mm_s = float(np.median(finite)) if finite.size else 0.0
    q.speed_max_mm_s = float(finite.max()) if finite.size else 0.0
    q.length_mm = float(along[-1])

    def place(k: int, value: float) -> dict:
        return {"frame": int(idx[k + 1]), "along_mm": round(float(along[k + 1]), 2),
                "position_xyz_mm": np.round(centres[k + 1], 2).tolist(),
                "value": round(float(value), 3)}

    q.gaps = [place(k, step[k]) for k in np.flatnonzero(step > lim.gap_mm)]
    jump = (speed > lim.jump_speed_mm_s) | (turn > lim.jump_turn_deg_s)
    q.jumps = [place(k, max(speed[k], 0.0)) for k in np.flatnonzero(jump)]
    fast = (speed > lim.max_speed_mm_s) & ~jump
    for a, b in _runs(fast):
        entry = place(a, float(np.max(speed[a:b])))
        entry["frames"] = int(b - a)
        entry["until_along_mm"] = round(float(along[b]), 2)
        q.fast.append(entry)
    return q


def sweeps_summary(named: list[tuple[str, Sequence]], cfg: PlusConfig | None = None,
                   limits: QcLimits | None = None, image: str = "Image",
                   reference: str = "Reference") -> dict:
    """Short QC of several sweeps from their poses only (what ``leg3dus compound`` shows):
    counts of invalid frames, gaps, jumps and fast stretches, the largest spacing and
    speed, and ``ok``.

    Examples
    --------
    >>> mats = np.stack([np.eye(4)] * 3); mats[:, 2, 3] = [0.0, 0.5, 1.0]
    >>> seq = Sequence(np.zeros((3, 2, 2), np.uint8), {"ImageToReference": mats},
    ...                timestamps=np.arange(3) / 30)
    >>> text = summary_text(sweeps_summary([("s1", seq)]))
    >>> text[:55], text[-24:]
    ('QC: 1 sweep(s), 0 invalid frame(s), 0 gap(s), 0 jump(s)', 'max spacing 0.50 mm - ok')
    """
    per = [sweep_qc(seq, cfg, name, limits, image, reference) for name, seq in named]
    return {"sweeps": len(per), "invalid_frames": sum(len(q.invalid_frames) for q in per),
            "gaps": sum(len(q.gaps) for q in per), "jumps": sum(len(q.jumps) for q in per),
            "fast": sum(len(q.fast) for q in per),
            "spacing_max_mm": max((q.spacing_max_mm for q in per), default=0.0),
            "speed_max_mm_s": max((q.speed_max_mm_s for q in per), default=0.0),
            "ok": all(q.ok for q in per)}


def summary_text(s: dict) -> str:
    """One line for :func:`sweeps_summary`."""
    return (f"QC: {s['sweeps']} sweep(s), {s['invalid_frames']} invalid frame(s), "
            f"{s['gaps']} gap(s), {s['jumps']} jump(s), {s['fast']} fast stretch(es), "
            f"max spacing {s['spacing_max_mm']:.2f} mm" + (" - ok" if s["ok"] else
                                                           " - run leg3dus qc"))
