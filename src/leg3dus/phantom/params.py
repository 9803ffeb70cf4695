"""Per-subject parameters of the phantom and the cohort they are drawn from.

Each subject's numbers come from its own random stream (``seed`` and its index), so
subject ``i`` is the same whatever the cohort size. Sex and side follow fixed blocks of
44 subjects, each block holding 22 female / 22 male and 20 left / 24 right legs in a
seeded order, like the LEG-3D-US cohort.

Means and spreads follow MRI and ultrasound studies of healthy adults (see
``docs/phantom.md``): shank length, subcutaneous fat over the calf, and triceps surae
volumes of roughly SOL 350-600 cm3, GM 150-350 cm3 and GL 80-200 cm3.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..core.errors import OptionError

BLOCK = 44  #: subjects per block of fixed sex and side counts
BLOCK_FEMALE = 22
BLOCK_LEFT = 20

# (mean, sd) per sex. Lengths in mm; muscle factors multiply the nominal muscle
# thicknesses of the anatomy (1.0 gives a mid-range adult).
_STATS = {
    "F": {"leg_length_mm": (385.0, 18.0), "fat_mm": (8.5, 2.0), "core_mm": (29.0, 1.5),
          "muscle": (0.92, 0.07)},
    "M": {"leg_length_mm": (415.0, 20.0), "fat_mm": (5.5, 1.5), "core_mm": (31.5, 1.5),
          "muscle": (1.08, 0.07)},
}
_MUSCLE_OWN_SD = 0.06  # per-muscle spread around the subject's overall muscle factor


@dataclass(frozen=True)
class SubjectParams:
    """What makes one synthetic subject: identity, body sizes and the shape seed.

    Attributes
    ----------
    id, index
        Subject name (``"P001"``) and its 0-based index in the cohort.
    sex, side
        ``"F"``/``"M"`` and ``"left"``/``"right"`` (a left leg is a mirrored right leg).
    leg_length_mm
        Knee to ankle, the length of the volume along axis 0.
    core_mm
        Radius (mm) of the core of the leg (bones, deep and anterior compartments)
        behind the triceps surae at mid-leg, before its elliptic aspect.
    fat_mm, skin_mm
        Mean subcutaneous fat and skin thickness over the calf.
    sol_scale, gm_scale, gl_scale
        Muscle size factors (1.0 = nominal thickness profile).
    pennation_deg
        Fascicle angles (GM, GL, SOL) to the aponeuroses, 15-23 degrees.
    shape_seed
        Seed of the smooth random deformations of every surface.

    Examples
    --------
    >>> p = cohort_params(3, seed=0)[2]
    >>> p.id, p.index
    ('P003', 2)
    """

    id: str
    index: int
    sex: str
    side: str
    leg_length_mm: float
    core_mm: float
    fat_mm: float
    skin_mm: float
    sol_scale: float
    gm_scale: float
    gl_scale: float
    pennation_deg: tuple[float, float, float]
    shape_seed: int

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M"):
            raise OptionError(f"subject {self.id}: sex must be 'F' or 'M', found {self.sex!r}")
        if self.side not in ("left", "right"):
            raise OptionError(f"subject {self.id}: side must be 'left' or 'right', "
                              f"found {self.side!r}")
        if not 150.0 <= self.leg_length_mm <= 700.0:
            raise OptionError(f"subject {self.id}: leg length must lie in 150..700 mm, "
                              f"found {self.leg_length_mm}")

    def replace(self, **changes) -> SubjectParams:
        """A copy with some fields changed (e.g. ``side="left"`` or a short leg)."""
        return dataclasses.replace(self, **changes)

    def as_row(self) -> dict:
        """The parameters as a flat dict of plain values (a row of cohort.csv)."""
        row = dataclasses.asdict(self)
        pen = row.pop("pennation_deg")
        for name, value in zip(("gm", "gl", "sol"), pen, strict=True):
            row[f"pennation_{name}_deg"] = round(float(value), 2)
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def _block_order(seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 7919, block])
    sexes = rng.permutation(np.array(["F"] * BLOCK_FEMALE + ["M"] * (BLOCK - BLOCK_FEMALE)))
    sides = rng.permutation(np.array(["left"] * BLOCK_LEFT + ["right"] * (BLOCK - BLOCK_LEFT)))
    return sexes, sides


def subject_params(index: int, seed: int = 0) -> SubjectParams:
    """Parameters of subject ``index`` (0-based) of the cohort drawn with ``seed``.

    >>> subject_params(0, seed=1) == cohort_params(5, seed=1)[0]
    True
    """
    if index < 0:
        raise OptionError(f"subject index must be >= 0, found {index}")
    sexes, sides = _block_order(seed, index // BLOCK)
    sex, side = str(sexes[index % BLOCK]), str(sides[index % BLOCK])
    rng = np.random.default_rng([seed, 104729, index])
    st = _STATS[sex]

    def draw(name, lo, hi):
        mean, sd = st[name]
        return float(np.clip(rng.normal(mean, sd), lo, hi))

    leg = draw("leg_length_mm", 330.0, 470.0)
    core = draw("core_mm", 25.0, 36.0)
    fat = draw("fat_mm", 3.0, 12.0)
    skin = float(rng.uniform(1.2, 2.0))
    overall = draw("muscle", 0.65, 1.4)
    own = np.clip(rng.normal(1.0, _MUSCLE_OWN_SD, 3), 0.8, 1.2)
    # Angles in the muscle's radial plane; oblique planes show them a few degrees steeper.
    pennation = rng.normal((18.0, 15.5, 20.5), 1.5)
    pennation = tuple(float(np.clip(a, 15.0, 23.0)) for a in pennation)
    return SubjectParams(
        id=f"P{index + 1:03d}", index=index, sex=sex, side=side, leg_length_mm=leg,
        core_mm=core, fat_mm=fat, skin_mm=skin, sol_scale=float(overall * own[0]),
        gm_scale=float(overall * own[1]), gl_scale=float(overall * own[2]),
        pennation_deg=pennation, shape_seed=int(rng.integers(0, 2**31 - 1)),
    )


def cohort_params(n: int, seed: int = 0) -> list[SubjectParams]:
    """Parameters of ``n`` subjects; subject ``i`` does not depend on ``n``.

    A cohort of 44 (the default of ``leg3dus synth``) has 22 female / 22 male and
    20 left / 24 right legs.

    Examples
    --------
    >>> cohort = cohort_params(44)
    >>> sum(p.sex == "F" for p in cohort), sum(p.side == "left" for p in cohort)
    (22, 20)
    """
    if n < 1:
        raise OptionError(f"a cohort needs at least 1 subject, found {n}")
    return [subject_params(i, seed) for i in range(n)]
