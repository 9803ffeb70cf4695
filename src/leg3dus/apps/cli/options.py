"""Options that several commands share: dataset file names, label values, progress and
where batches run."""

from __future__ import annotations

import typer


def scheduler_option():
    """The ``--scheduler`` option of every batch command."""
    return typer.Option(None, "--scheduler", metavar="ADDRESS",
                        help="Run subjects as tasks on this Dask scheduler (tcp://host:8786).")


def workers_option():
    """The ``--workers`` option of every batch command."""
    return typer.Option(None, "--workers", min=1,
                        help="Run subjects on a local Dask cluster of N worker processes.")


def image_name_option():
    """The ``--image-name`` option of commands that read a dataset tree."""
    from ...dataset import IMAGE_NAME

    return typer.Option(IMAGE_NAME, "--image-name", help="Image file name in a subject folder.")


def label_name_option():
    """The ``--label-name`` option of commands that read a dataset tree."""
    from ...dataset import LABEL_NAME

    return typer.Option(LABEL_NAME, "--label-name", help="Label file name in a subject folder.")


def flat_option():
    """The ``--flat`` option of commands that read a dataset tree."""
    return typer.Option(False, "--flat/--no-flat",
                        help="DATA is a flat folder; names are patterns with {id}.")


def quiet_option():
    """The ``--quiet`` option of commands that show a progress bar."""
    return typer.Option(False, "--quiet", "-q", help="No progress bar.")


def label_values_option():
    """The ``--label-values`` option of every command that reads labels
    (see :mod:`leg3dus.core.label_values`)."""
    return typer.Option(
        None, "--label-values", metavar="1,2,3|SOL=1,GM=2,GL=3",
        help="Values of SOL,GM,GL in the label files (e.g. 1,2,3 or SOL=1,GM=2,GL=3; "
             "'classes' = 1,2,3). Default: the file's label table (nnU-Net dataset.json, "
             ".seg.nrrd segments) when there is one, else 100,150,200. Read values are "
             "mapped to 100/150/200.")
