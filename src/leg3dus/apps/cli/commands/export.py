"""``leg3dus export``: a dataset tree as nnU-Net, NIfTI, Zarr, 3D Slicer, OME-Zarr images
with labels, or 2D slices."""

from __future__ import annotations

from pathlib import Path

import typer

from ....dataset.export import EXPORT_FORMATS, ExportOptions, export_paths
from ..app import (
    command,
    console,
    emit_json,
    flat_option,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..progress import batch_runner


@command("export")
def export(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree or a folder of subjects."),
    out: Path = typer.Argument(..., help="Output folder (for nnunet: the nnUNet_raw folder)."),
    to: str = typer.Option(..., "--to", metavar="|".join(EXPORT_FORMATS),
                           help="Output format: "
                           + "; ".join(f"{k}: {f.description}" for k, f in EXPORT_FORMATS.items())),
    classes: bool = typer.Option(False, "--classes",
                                 help="Labels as classes 0..3 (nnunet always does)."),
    sparse: bool = typer.Option(False, "--sparse", help="nnunet: training labels from each "
                                "subject's sparse annotations (sparseX1.mha, "
                                "sparseX1_slices.txt); other slices are the ignore label."),
    dataset_id: int = typer.Option(501, "--dataset-id", help="nnunet: the NNN of DatasetNNN_Name."),
    dataset_name: str = typer.Option("LEG3DUS", "--dataset-name",
                                     help="nnunet: the Name of DatasetNNN_Name."),
    stride: int = typer.Option(1, "--stride", help="slices: keep every N-th slice along axis 0."),
    slice_format: str = typer.Option("png", "--slice-format", metavar="png|npz",
                                     help="slices: PNG image/label pairs or one NPZ per subject."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing output once the new one is complete."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    flat: bool = flat_option(),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Export every subject with its geometry: nnU-Net v2 raw layout (train and val in
    imagesTr/labelsTr, test in imagesTs/labelsTs, labels 0..3, dataset.json), plain NIfTI,
    Zarr volumes, 3D Slicer (NRRD images, .seg.nrrd segmentations), OME-Zarr images for
    viewers (pyramid, muscles as NGFF labels), or 2D transverse slices; label files get
    an ITK-SNAP label description beside them. The output appears only once complete; label
    values in another convention are mapped (--label-values or each file's label
    table); stray values stop the export (clean them with 'leg3dus validate --fix-stray').

    Example: leg3dus export LEG-3D-US --to nnunet nnUNet_raw --dataset-id 501
    """
    from ....core.label_values import LabelConvention

    options = ExportOptions(classes=classes, sparse=sparse, dataset_id=dataset_id,
                            dataset_name=dataset_name,
                            stride=stride, slice_format=slice_format, overwrite=overwrite,
                            label_values=label_values)
    result = export_paths(data, to, out, options, image_name=image_name,
                          label_name=label_name, flat=flat,
                          runner=batch_runner(scheduler, workers, f"exporting to {to}", quiet))
    if as_json:
        emit_json(result)
    else:
        console().print(f"{len(result['subjects'])} subjects exported to {to}: "
                        f"{result['output']}", markup=False)
        for c in result["label_values"]:
            console().print(f"labels read as {LabelConvention.from_json(c).describe()}",
                            markup=False)
