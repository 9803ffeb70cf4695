"""Exporting a LEG-3D-US tree to the layouts other tools read.

Each format is one :class:`ExportFormat` entry of :data:`EXPORT_FORMATS`: a per-subject
writer (a job that can run on Dask), checks made before anything is written, and
dataset-level files written at the end. The whole output folder is built under a
temporary name and renamed into place only when every subject succeeded, so a failure
or an interrupt leaves no partial export.

Formats: ``nnunet`` (nnU-Net v2 raw dataset), ``nifti`` (the same tree as NIfTI),
``zarr`` (the same tree as OME-Zarr volumes), ``slicer`` (the same tree as NRRD images
and 3D Slicer segmentations ``masksX1.seg.nrrd``; see :mod:`leg3dus.core.segnrrd`),
``ome-zarr`` (one OME-Zarr image per subject with a pyramid and the muscles as its NGFF
labels; see :mod:`leg3dus.dataset.omezarr`), ``slices`` (2D transverse slices along axis 0
as PNG pairs or one NPZ per subject; see :mod:`leg3dus.dataset.slices`).

Every label file written in a tree gets an ITK-SNAP label description beside it
(``masksX1.itksnap.txt``, :mod:`leg3dus.dataset.itksnap`); nnU-Net's gets one at the
dataset's top (``labels.itksnap.txt``, classes 1..3).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.atomic import atomic_dir, atomic_path, check_not_input
from ..core.errors import GeometryError, LabelError, Leg3dusError, OptionError, OutputError
from ..core.layout import (
    IMAGE_NAME,
    LABEL_NAME,
    SLICES_NAME,
    SPARSE_NAME,
    Subject,
    case_name,
    list_subjects,
    subject_files,
    subject_folder,
)
from ..core.segnrrd import write_seg_nrrd
from ..core.volume import Volume
from ..core.volume_io import read_header, read_volume, volume_stem, write_volume
from .itksnap import description_path, write_label_description
from .slices import SLICE_FORMATS, write_slices

TRAINING_SPLITS = ("", "train", "val")
#: nnU-Net's ignore label in a sparse export: the highest value, after the three muscles.
NNUNET_IGNORE = len(lab.MUSCLES) + 1


@dataclass(frozen=True)
class ExportOptions:
    """Options of :func:`export_dataset`.

    classes
        Write labels as classes 0..3 instead of 0/100/150/200 (``nnunet`` always does).
    dataset_id, dataset_name
        nnU-Net's ``DatasetNNN_Name`` folder name.
    stride, slice_format
        For ``slices``: every ``stride``-th slice along axis 0, as ``png`` or ``npz``.
    overwrite
        Replace an existing output folder (only once the new one is complete).
    label_values
        Text of ``--label-values`` for the label files (default: each file's label
        table, else 0/100/150/200); see :mod:`leg3dus.core.label_values`.
    sparse
        ``nnunet``: the training cases' labels are their sparse annotations
        (``sparseX1.mha`` and ``sparseX1_slices.txt`` beside the image), with the
        slices not annotated written as nnU-Net's ignore label (:data:`NNUNET_IGNORE`,
        declared as ``"ignore"`` in ``dataset.json``).
    """

    classes: bool = False
    dataset_id: int = 501
    dataset_name: str = "LEG3DUS"
    stride: int = 1
    slice_format: str = "png"
    overwrite: bool = False
    label_values: str | None = None
    sparse: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.dataset_id <= 999:
            raise OptionError(f"--dataset-id must lie in 1..999, found {self.dataset_id}")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.dataset_name):
            raise OptionError(f"--dataset-name must be letters, digits, '_' or '-', "
                              f"found {self.dataset_name!r}")
        if self.stride < 1:
            raise OptionError(f"--stride must be at least 1, found {self.stride}")
        if self.slice_format not in SLICE_FORMATS:
            raise OptionError(f"--slice-format must be one of {', '.join(SLICE_FORMATS)}, "
                              f"found {self.slice_format!r}")


@dataclass(frozen=True)
class ExportFormat:
    """One export format: how to write a subject, what to check first, what to add last."""

    name: str
    description: str
    write_subject: Callable[[Subject, Path, ExportOptions], dict]
    target: Callable[[Path, ExportOptions], Path] = lambda out, options: Path(out)
    check: Callable[[list[Subject], ExportOptions], None] | None = None
    finish: Callable[[Path, list[dict], ExportOptions], None] | None = None


#: The export formats by name; a new format is one more entry (:func:`register_format`).
EXPORT_FORMATS: dict[str, ExportFormat] = {}


def register_format(fmt: ExportFormat) -> ExportFormat:
    """Add ``fmt`` to :data:`EXPORT_FORMATS`."""
    EXPORT_FORMATS[fmt.name] = fmt
    return fmt


def load_pair(subject: Subject, classes: bool,
              label_values=None) -> tuple[Volume, Volume | None]:
    """The subject's image and labels (None if absent), labels mapped to the scheme by
    ``label_values`` or their label table (:func:`leg3dus.core.label_values.read_labels`).

    Raises :class:`LabelError` for values that do not fit the convention (stray values)
    and :class:`GeometryError` when the two grids differ.
    """
    from ..core.label_values import read_labels

    if subject.image is None:
        raise OptionError(f"{subject.key}: no image file; every exported subject needs one")
    image = read_volume(subject.image)
    if subject.label is None:
        return image, None
    problems = read_header(subject.label).geometry.matches(image.geometry)
    if problems:
        raise GeometryError(f"{subject.label}: labels do not lie on the image grid: "
                            + "; ".join(problems))
    labels, _ = read_labels(subject.label, label_values)
    if classes:
        labels = labels.with_array(lab.to_index(labels.array, strict=False))
    return image, labels


def _tree_writer(ext: str, label_ext: str | None = None
                 ) -> Callable[[Subject, Path, ExportOptions], dict]:
    label_ext = label_ext or ext

    def write(subject: Subject, folder: Path, options: ExportOptions) -> dict:
        image, labels = load_pair(subject, options.classes, options.label_values)
        dest = subject_folder(folder, subject.split, subject.id)
        row = {"subject": subject.key, "image": str(dest / (volume_stem(IMAGE_NAME) + ext)),
               "label": None}
        write_volume(image, dest / (volume_stem(IMAGE_NAME) + ext))
        del image  # one full volume in memory at a time
        if labels is not None:
            row["label"] = str(dest / (volume_stem(LABEL_NAME) + label_ext))
            if label_ext == ".seg.nrrd":
                write_seg_nrrd(labels, row["label"], values=_file_values(options))
            else:
                write_volume(labels, row["label"])
            row["label_description"] = str(write_label_description(
                description_path(row["label"]), classes=options.classes))
        return row

    return write


def _nnunet_target(out: Path, options: ExportOptions) -> Path:
    return Path(out) / f"Dataset{options.dataset_id:03d}_{options.dataset_name}"


def _nnunet_check(subjects: list[Subject], options: ExportOptions) -> None:
    seen: dict[str, str] = {}
    for s in subjects:
        case = case_name(s)
        if case in seen:
            raise OptionError(f"subjects {seen[case]} and {s.key} give the same nnU-Net case "
                              f"name {case!r}; run 'leg3dus validate' (duplicate-id)")
        seen[case] = s.key
        if options.sparse and s.split in TRAINING_SPLITS:
            if not (s.image.parent / SPARSE_NAME).is_file():
                raise OptionError(f"{s.key}: no sparse annotations (expected {SPARSE_NAME} "
                                  f"beside {s.image}) for --sparse")
            continue
        if s.split in TRAINING_SPLITS and s.label is None:
            raise OptionError(f"{s.key}: training subject without labels (expected "
                              f"{LABEL_NAME} beside {s.image}); nnU-Net needs labels for "
                              "every training case")


def _sparse_labels(subject: Subject, options: ExportOptions) -> Volume:
    """A training case's sparse annotations as classes, unannotated slices as the ignore
    label."""
    from ..core.annotated import annotated_indices, parse_annotated

    folder = subject.image.parent
    sparse = Subject(subject.id, subject.split, subject.image, folder / SPARSE_NAME)
    _, labels = load_pair(sparse, True, options.label_values)
    slices = folder / SLICES_NAME
    listed = parse_annotated(slices) if slices.is_file() else None
    try:
        idx = annotated_indices(labels.array, listed)
    except (LabelError, OptionError) as exc:
        raise type(exc)(f"{sparse.label}: {exc}") from None
    out = np.full(labels.shape, NNUNET_IGNORE, np.uint8)
    out[idx] = labels.array[idx]
    return labels.with_array(out)


def _nnunet_subject(subject: Subject, folder: Path, options: ExportOptions) -> dict:
    image, labels = load_pair(subject, True, options.label_values)
    if options.sparse and subject.split in TRAINING_SPLITS:
        labels = _sparse_labels(subject, options)
    case = case_name(subject)
    suffix = "Tr" if subject.split in TRAINING_SPLITS else "Ts"
    row = {"subject": subject.key, "split": subject.split, "case": case,
           "image": str(folder / f"images{suffix}" / f"{case}_0000.nii.gz"), "label": None}
    write_volume(image, row["image"])
    if labels is not None:
        row["label"] = str(folder / f"labels{suffix}" / f"{case}.nii.gz")
        write_volume(labels, row["label"])
    return row


def nnunet_dataset_json(rows: list[dict], options: ExportOptions) -> dict:
    """The ``dataset.json`` of an nnU-Net v2 raw dataset made from export rows."""
    return {
        "channel_names": {"0": "US"},
        "labels": {"background": 0, **{m.name: m.index for m in lab.MUSCLES},
                   **({"ignore": NNUNET_IGNORE} if options.sparse else {})},
        "numTraining": sum(1 for r in rows if r["split"] in TRAINING_SPLITS),
        "file_ending": ".nii.gz",
        "name": options.dataset_name,
        "description": "LEG-3D-US: 3D freehand ultrasound of the calf with labels of the "
                       "soleus (SOL), gastrocnemius medialis (GM) and lateralis (GL)",
    }


def _file_values(options: ExportOptions) -> dict[str, int]:
    """The value of each muscle in the exported label files."""
    return {m.name: m.index if options.classes else m.value for m in lab.MUSCLES}


def _nnunet_finish(folder: Path, rows: list[dict], options: ExportOptions) -> None:
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(exist_ok=True)
    write_label_description(folder / "labels.itksnap.txt", classes=True)
    with atomic_path(folder / "dataset.json") as tmp:
        tmp.write_text(json.dumps(nnunet_dataset_json(rows, options), indent=2) + "\n")
    val = [r["case"] for r in rows if r["split"] == "val"]
    if val:
        # The dataset's own train/val split as one nnU-Net fold, for
        # nnUNet_preprocessed/<dataset>/splits_final.json.
        train = [r["case"] for r in rows if r["split"] in ("", "train")]
        with atomic_path(folder / "splits_final.json") as tmp:
            tmp.write_text(json.dumps([{"train": train, "val": val}], indent=2) + "\n")


def _slices_subject(subject: Subject, folder: Path, options: ExportOptions) -> dict:
    image, labels = load_pair(subject, options.classes, options.label_values)
    files = write_slices(image, labels, subject_folder(folder, subject.split, subject.id),
                         stride=options.stride, fmt=options.slice_format)
    return {"subject": subject.key, "files": [str(f) for f in files]}


register_format(ExportFormat(
    "nnunet", "nnU-Net v2 raw dataset (DatasetNNN_Name with imagesTr, labelsTr, imagesTs, "
    "dataset.json); labels as classes 0..3",
    _nnunet_subject, target=_nnunet_target, check=_nnunet_check, finish=_nnunet_finish))
register_format(ExportFormat("nifti", "the same tree as NIfTI (x1.nii.gz, masksX1.nii.gz)",
                             _tree_writer(".nii.gz")))
register_format(ExportFormat("zarr", "the same tree as OME-Zarr v3 volumes chunked along "
                             "axis 0 (x1.zarr, masksX1.zarr)", _tree_writer(".zarr")))
register_format(ExportFormat("slicer", "the same tree for 3D Slicer: images as NRRD and "
                             "labels as segmentations with one segment per muscle "
                             "(x1.nrrd, masksX1.seg.nrrd)", _tree_writer(".nrrd", ".seg.nrrd")))
def _ome_zarr_subject(subject: Subject, folder: Path, options: ExportOptions) -> dict:
    from .omezarr import scheme_label_source, write_subject
    from .slab_source import open_slabs

    if subject.image is None:
        raise OptionError(f"{subject.key}: no image file; every exported subject needs one")
    path = subject_folder(folder, subject.split, subject.id).parent / f"{subject.id}.ome.zarr"

    def labels_on(geometry):
        return scheme_label_source(subject.label, options.label_values, geometry)

    written = write_subject(path, lambda: open_slabs(subject.image),
                            labels_on if subject.label is not None else None,
                            name=subject.id, classes=options.classes)
    return {"subject": subject.key, "image": str(path),
            "label": str(path / "labels" / "muscles") if subject.label else None,
            "levels": written["levels"]}


register_format(ExportFormat(
    "ome-zarr", "one OME-Zarr image per subject (<split>/<subject>.ome.zarr) with a "
    "multiscale pyramid and the muscles as its NGFF labels (names, colours), for napari "
    "and web viewers", _ome_zarr_subject))
register_format(ExportFormat("slices", "transverse slices (axis 0) as PNG image/label pairs "
                             "or one NPZ per subject, every --stride-th slice",
                             _slices_subject))


def export_subject(subject: Subject, to: str, folder: Path, options: ExportOptions) -> dict:
    """Write one subject in format ``to`` under ``folder`` (a per-subject job)."""
    return EXPORT_FORMATS[to].write_subject(subject, Path(folder), options)


def _check_target(target: Path, root: Path | None, options: ExportOptions) -> None:
    if root is not None:
        t, r = target.resolve(), Path(root).resolve()
        if t == r or t in r.parents:
            raise OutputError(f"{target}: the export would replace the input dataset {root}; "
                              "choose another output folder")
    if target.exists() and not options.overwrite:
        raise OutputError(f"{target}: already exists; choose another folder or pass "
                          "--overwrite")


def export_dataset(subjects: list[Subject], to: str, out: str | Path,
                   options: ExportOptions = ExportOptions(), root: Path | None = None,
                   runner: Callable | None = None) -> dict:
    """Export ``subjects`` in format ``to`` (a key of :data:`EXPORT_FORMATS`) under ``out``.

    ``runner(fn, subjects)`` runs the per-subject jobs and returns
    :class:`leg3dus.core.parallel.JobResult` s (default: :func:`leg3dus.core.parallel.map_subjects`
    in-process). Returns ``{"format", "output", "subjects"}``.

    Examples
    --------
    >>> from leg3dus.dataset import find_subjects
    >>> export_dataset(find_subjects("LEG-3D-US"), "nnunet", "nnUNet_raw")  # doctest: +SKIP
    """
    if to not in EXPORT_FORMATS:
        raise OptionError(f"unknown export format {to!r}; expected one of "
                          f"{', '.join(EXPORT_FORMATS)}")
    if options.sparse and to != "nnunet":
        raise OptionError(f"--sparse applies to --to nnunet, not {to}")
    if not subjects:
        raise OptionError("no subjects to export")
    missing = [s.key for s in subjects if s.image is None]
    if missing:
        raise OptionError(f"no image file for {', '.join(missing)}; every exported subject "
                          f"needs one (expected {IMAGE_NAME})")
    fmt = EXPORT_FORMATS[to]
    target = fmt.target(Path(out), options)
    _check_target(target, root, options)
    if fmt.check is not None:
        fmt.check(subjects, options)
    if runner is None:
        from ..core.parallel import map_subjects

        runner = map_subjects
    with atomic_dir(target) as tmp:
        job = functools.partial(export_subject, to=to, folder=tmp, options=options)
        results = runner(job, subjects)
        failed = [r for r in results if not r.ok]
        if failed:
            raise Leg3dusError(f"export to {to} failed, nothing written; "
                               + "; ".join(r.error for r in failed))
        rows = [r.value for r in results]
        if fmt.finish is not None:
            fmt.finish(tmp, rows, options)
    # Paths were written under the temporary folder's name: report the final ones.
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str) and value.startswith(str(tmp)):
                row[key] = str(target) + value[len(str(tmp)):]
            elif key == "files":
                row[key] = [str(target) + v[len(str(tmp)):] for v in value]
    return {"format": to, "output": str(target), "subjects": rows}


def export_paths(data: str | os.PathLike, to: str, out: str | os.PathLike,
                 options: ExportOptions = ExportOptions(), *, image_name: str = IMAGE_NAME,
                 label_name: str = LABEL_NAME, flat: bool = False,
                 runner: Callable | None = None) -> dict:
    """Export the subjects of ``data`` (a tree, a subject folder or one volume) with
    :func:`export_dataset`, after checking that ``out`` is a folder and that the export
    would not land on a file of the dataset. The result also lists the label conventions
    read (``"label_values"``).

    >>> export_paths("LEG-3D-US", "nnunet", "nnUNet_raw")["output"]  # doctest: +SKIP
    'nnUNet_raw/Dataset501_LEG3DUS'
    """
    from ..core.label_values import from_option, resolve

    from_option(options.label_values)  # a malformed option fails before any work
    subjects = list_subjects(data, image_name, label_name, flat)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: expected an output folder, found a file")
    if to in EXPORT_FORMATS:
        check_not_input(EXPORT_FORMATS[to].target(out, options),
                        [data, *subject_files(subjects)])
    result = export_dataset(subjects, to, out, options, root=Path(data), runner=runner)
    used = {}
    for s in subjects:
        if s.label is not None:
            c = resolve(s.label, options.label_values)
            used[c.describe()] = c.as_json()
    return {**result, "label_values": list(used.values())}
