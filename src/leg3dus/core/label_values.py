"""Label values in any convention, mapped on read to the scheme 0/100/150/200.

Label files in the wild store the muscles as 100/150/200 (the LEG-3D-US masks), as
classes 1/2/3 (nnU-Net, ITK-SNAP, most networks) or as any values a drawing tool chose.
A :class:`LabelConvention` says which file value is which muscle; :func:`resolve` finds
it, in this order:

1. ``--label-values`` (parsed by :func:`parse_label_values`): ``1,2,3`` (the values of
   SOL, GM, GL in that order), a mapping ``SOL=1,GM=2,GL=3`` (a muscle may be left out;
   ``background=7`` declares a file value that means background), or a named
   convention: ``scheme`` (100,150,200) or ``classes`` (1,2,3);
2. the file's own label table: an nnU-Net ``dataset.json`` with a ``"labels"`` dict in
   the file's folder or up to two folders above it, or the segment metadata of a
   Slicer ``.seg.nrrd`` (``SegmentN_Name`` / ``SegmentN_LabelValue``). A table is used
   only when it names at least one muscle (``SOL``, ``GM``, ``GL`` or the long names
   such as ``soleus``, case-insensitive);
3. otherwise the scheme 0/100/150/200.

:func:`check_values` then refuses a volume whose non-zero values are all unknown to the
convention (a 0/1/2/3 map read as the scheme would otherwise measure as empty), and by
default one with stray values beside the known ones. :func:`read_labels` does all three
and maps the array to the scheme, so every later step sees 0/100/150/200.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import labels as lab
from .errors import LabelError, OptionError
from .segnrrd import is_seg_nrrd, read_segments

#: Named conventions accepted by ``--label-values``.
NAMED = {"scheme": (100, 150, 200), "classes": (1, 2, 3)}
_BACKGROUND_KEYS = ("background", "bg")
_MAX_PARENTS = 2  # dataset.json looked for beside the file and this many folders above
_HINT = ("give --label-values (e.g. 1,2,3 for SOL,GM,GL, or SOL=1,GM=2,GL=3)")


@dataclass(frozen=True)
class LabelConvention:
    """Which value of a label file is which muscle.

    ``muscles`` maps a muscle name (``SOL``, ``GM``, ``GL``) to its value in the file;
    ``background`` lists file values besides 0 that mean background; ``source`` says
    where the convention came from (``"default"``, ``"--label-values"`` or a file path).

    >>> c = LabelConvention({"SOL": 1, "GM": 2, "GL": 3}, source="--label-values")
    >>> c.name, c.describe()
    ('classes', 'labels SOL=1, GM=2, GL=3 (from --label-values)')
    >>> c.apply(np.array([0, 1, 2, 3], np.uint8)).tolist()
    [0, 100, 150, 200]
    """

    muscles: dict[str, int]
    background: tuple[int, ...] = ()
    source: str = "default"
    _table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = np.zeros(256, np.uint8)
        for name, value in self.muscles.items():
            table[value] = lab.muscle(name).value
        object.__setattr__(self, "_table", table)

    @property
    def known(self) -> set[int]:
        """File values the convention knows: 0, the muscles' and the background ones."""
        return {0, *self.muscles.values(), *self.background}

    @property
    def is_scheme(self) -> bool:
        """True when file values are already the scheme's (no mapping needed)."""
        return not self.background and all(
            v == lab.muscle(n).value for n, v in self.muscles.items())

    @property
    def name(self) -> str:
        """``"scheme"`` (100/150/200), ``"classes"`` (1/2/3) or ``"custom"``."""
        for name, values in NAMED.items():
            if not self.background and self.muscles == dict(zip(("SOL", "GM", "GL"), values,
                                                                 strict=True)):
                return name
        return "custom"

    def describe(self) -> str:
        """One line for the screen: the values and where they came from."""
        pairs = ", ".join(f"{n}={v}" for n, v in self.muscles.items())
        if self.background:
            pairs += ", background=" + "/".join(map(str, self.background))
        origin = "the LEG-3D-US scheme" if self.source == "default" else f"from {self.source}"
        return f"labels {pairs} ({origin})"

    def as_json(self) -> dict:
        """The convention as a JSON-ready dict (``name``, ``source``, ``values``, ...)."""
        return {"name": self.name, "source": self.source, "values": dict(self.muscles),
                "background": list(self.background)}

    @classmethod
    def from_json(cls, obj: dict) -> LabelConvention:
        """The convention back from :meth:`as_json` (e.g. a per-subject job's result)."""
        return cls(dict(obj["values"]), tuple(obj.get("background", ())),
                   obj.get("source", "default"))

    def apply(self, array: np.ndarray) -> np.ndarray:
        """``array`` with file values mapped to the scheme (uint8); values the convention
        does not know become background, so check them first (:func:`check_values`).
        The scheme convention returns ``array`` itself."""
        if self.is_scheme:
            return array
        if array.dtype != np.uint8:
            inside = (array >= 0) & (array <= 255)
            array = np.where(inside, array, 0).astype(np.uint8)
        return lab.apply_lut_u8(array, self._table)


#: The LEG-3D-US scheme itself: SOL 100, GM 150, GL 200.
SCHEME = LabelConvention({m.name: m.value for m in lab.MUSCLES})


def _muscle_name(text: str) -> str | None:
    key = text.strip().lower()
    for m in lab.MUSCLES:
        if key in (m.name.lower(), m.long_name.lower(), m.long_name.lower().replace(" ", "_")):
            return m.name
    return None


def _int_value(text: str, where: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise OptionError(f"{where}: expected an integer label value 0..255, found "
                          f"{text!r}") from None
    if not 0 <= value <= 255:
        raise OptionError(f"{where}: label values must lie in 0..255, found {value}")
    return value


def parse_label_values(text: str, option: str = "--label-values") -> LabelConvention:
    """A :class:`LabelConvention` from the text of ``--label-values`` (``option`` names
    the option in messages and in the convention's ``source``).

    Examples
    --------
    >>> parse_label_values("1,2,3").muscles
    {'SOL': 1, 'GM': 2, 'GL': 3}
    >>> parse_label_values("gm=5, sol=4, background=9").describe()
    'labels SOL=4, GM=5, background=9 (from --label-values)'
    >>> parse_label_values("scheme").is_scheme
    True
    """
    where = option
    text = text.strip()
    if text.lower() in NAMED:
        return LabelConvention(dict(zip(("SOL", "GM", "GL"), NAMED[text.lower()], strict=True)),
                               source=where)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    muscles: dict[str, int] = {}
    background: list[int] = []
    if parts and all("=" not in p for p in parts):
        if len(parts) != len(lab.MUSCLES):
            raise OptionError(f"{where}: expected three values for SOL,GM,GL (e.g. 1,2,3) "
                              f"or a mapping SOL=1,GM=2,GL=3, found {text!r}")
        muscles = {m.name: _int_value(p, where) for m, p in zip(lab.MUSCLES, parts, strict=True)}
    else:
        for p in parts:
            key, sep, value = p.partition("=")
            if not sep:
                raise OptionError(f"{where}: cannot mix plain values and NAME=VALUE, found {p!r}")
            if key.strip().lower() in _BACKGROUND_KEYS:
                background.append(_int_value(value, where))
                continue
            name = _muscle_name(key)
            if name is None:
                raise OptionError(f"{where}: unknown name {key.strip()!r}; expected SOL, GM, "
                                  "GL or background")
            if name in muscles:
                raise OptionError(f"{where}: {name} given twice")
            muscles[name] = _int_value(value, where)
        muscles = {m.name: muscles[m.name] for m in lab.MUSCLES if m.name in muscles}
    if not muscles:
        raise OptionError(f"{where}: expected SOL,GM,GL values (e.g. 1,2,3), found {text!r}")
    return _checked(muscles, background, where)


def from_option(text: str | None, option: str = "--label-values") -> LabelConvention | None:
    """The convention of a ``--label-values`` option, or None when it was not given (the
    label table of each file, else the scheme, then applies)."""
    return parse_label_values(text, option) if text else None


def _checked(muscles: dict[str, int], background, source: str) -> LabelConvention:
    values = list(muscles.values())
    if 0 in values:
        raise OptionError(f"{source}: 0 is background and cannot be a muscle's value")
    if len(set(values)) != len(values):
        raise OptionError(f"{source}: two muscles share one value: {muscles}")
    both = set(values) & set(background)
    if both:
        raise OptionError(f"{source}: value(s) {sorted(both)} are both a muscle and background")
    return LabelConvention(muscles, tuple(sorted(set(background) - {0})), source)


def _from_table(entries: list[tuple[str, int]], source: str) -> LabelConvention | None:
    """A convention from (name, value) pairs of a label table; None when no muscle is named."""
    muscles: dict[str, int] = {}
    background = []
    for name, value in entries:
        key = name.strip().lower()
        muscle = _muscle_name(name)
        if muscle is not None:
            muscles[muscle] = value
        elif key in _BACKGROUND_KEYS:
            background.append(value)
    if not muscles:
        return None
    try:
        return _checked(muscles, background, source)
    except OptionError as exc:
        raise LabelError(str(exc)) from None


def read_dataset_json(path: str | os.PathLike) -> LabelConvention | None:
    """The convention of an nnU-Net ``dataset.json`` (v2 ``{"SOL": 1}`` or v1
    ``{"1": "SOL"}`` labels); None when it names no muscle or has no labels dict."""
    path = Path(path)
    try:
        labels = json.loads(path.read_text(encoding="utf-8")).get("labels")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(labels, dict):
        return None
    entries = []
    for key, value in labels.items():
        name, number = (value, key) if str(key).strip().isdigit() else (key, value)
        if isinstance(number, list):  # nnU-Net v2 region labels: not a plain value
            continue
        try:
            entries.append((str(name), int(number)))
        except (TypeError, ValueError):
            continue
    return _from_table(entries, str(path))


def read_seg_nrrd_header(path: str | os.PathLike) -> LabelConvention | None:
    """The convention of a Slicer ``.seg.nrrd`` from its segments' names and label
    values (``SegmentN_Name``, ``SegmentN_LabelValue``; :func:`leg3dus.core.segnrrd.read_segments`);
    None when they name no muscle or the header cannot be read."""
    from .errors import InputFileError

    try:
        segments = read_segments(path)
    except InputFileError:
        return None
    return _from_table([(s.name, s.label_value) for s in segments], str(path))


def find_label_table(path: str | os.PathLike) -> LabelConvention | None:
    """The convention in the label table of ``path``'s own file, if it has one: its
    ``.seg.nrrd`` segments, or a ``dataset.json`` beside it or up to two folders above."""
    path = Path(path)
    if is_seg_nrrd(path):
        found = read_seg_nrrd_header(path)
        if found is not None:
            return found
    folder = path.parent
    for _ in range(_MAX_PARENTS + 1):
        candidate = folder / "dataset.json"
        if candidate.is_file():
            found = read_dataset_json(candidate)
            if found is not None:
                return found
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def resolve(path: str | os.PathLike | None, label_values: str | LabelConvention | None = None
            ) -> LabelConvention:
    """The convention of a label file: ``label_values`` if given, else its label table,
    else :data:`SCHEME` (see the module docstring)."""
    if isinstance(label_values, LabelConvention):
        return label_values
    if label_values:
        return parse_label_values(label_values)
    if path is not None:
        found = find_label_table(path)
        if found is not None:
            return found
    return SCHEME


def check_values(counts: dict, convention: LabelConvention, what: str,
                 allow_stray: bool = False) -> None:
    """Raise :class:`LabelError` when the values of a label volume do not fit ``convention``.

    ``counts`` is :func:`leg3dus.core.labels.value_counts` of the volume, ``what`` names it
    (its path). Non-zero values that are all unknown always fail; stray values beside
    known ones fail unless ``allow_stray`` (the scheme only: a mapping cannot keep them).

    >>> check_values({0: 10, 1: 5}, SCHEME, "m.nii.gz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.LabelError: m.nii.gz: label values 1 (5 voxels) are not those of ...
    """
    known = convention.known
    unknown = {v: c for v, c in counts.items() if v not in known}
    if not unknown:
        return
    muscles = set(convention.muscles.values())
    if not any(v in muscles for v in counts):
        raise LabelError(f"{what}: label values {lab.describe_counts(unknown)} are not those "
                         f"of {convention.describe()}; {_HINT}")
    if allow_stray and convention.is_scheme:
        return
    raise LabelError(f"{what}: stray label values outside the scheme: "
                     f"{lab.describe_counts(unknown)}, beside {convention.describe()}; {_HINT} "
                     "(background=V for values that mean background), or clean them with "
                     "'leg3dus validate --fix-stray'")


def read_labels(path: str | os.PathLike, label_values: str | LabelConvention | None = None,
                allow_stray: bool = False):
    """Read a label file, check its values and map them to the scheme.

    Returns ``(volume, convention)``: the :class:`~leg3dus.core.volume.Volume` holds
    0/100/150/200 (uint8 when mapped; the file's array as read when it already uses the
    scheme), and the :class:`LabelConvention` says what was used.
    """
    from .volume_io import read_volume

    convention = resolve(path, label_values)
    volume = read_volume(path)
    check_values(lab.value_counts(volume.array), convention, str(path), allow_stray)
    if convention.is_scheme:
        return volume, convention
    return volume.with_array(convention.apply(volume.array)), convention


def to_file_values(array: np.ndarray, convention: LabelConvention) -> np.ndarray:
    """Scheme values mapped back to the file's convention (for outputs that keep it).

    >>> c = parse_label_values("1,2,3")
    >>> to_file_values(np.array([0, 100, 150, 200], np.uint8), c).tolist()
    [0, 1, 2, 3]
    """
    if convention.is_scheme:
        return array
    table = np.zeros(256, np.uint8)
    for name, value in convention.muscles.items():
        table[lab.muscle(name).value] = value
    return lab.apply_lut_u8(np.asarray(array, np.uint8), table)
