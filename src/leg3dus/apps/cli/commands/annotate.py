"""``leg3dus annotate``: open a subject in napari with the annotation widget."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import command, label_values_option


@command("annotate")
def annotate(
    path: Path = typer.Argument(..., help="A subject folder (x1.mha, masksX1.mha) or an "
                                          "image file."),
    labels: Path = typer.Option(None, "--labels", help="Dense labels to open (default: "
                                                       "the saved session, else masksX1)."),
    sparse: Path = typer.Option(None, "--sparse", help="Sparse annotations to open "
                                                       "(default: the saved session's)."),
    label_values: str = label_values_option(),
) -> None:
    """Open napari with the subject, its labels and the annotation widget: draw muscle
    masks on a few slices, propagate them to 3D (zoi, sdf, morph or a trained run),
    correct and save in the subject's folder. Needs the gui extra (napari and Qt).

    Example: leg3dus annotate data/train/S01
    """
    from ...napari.launch import annotate as run

    run(path, labels, sparse, label_values)
