"""``leg3dus register``: rigid registration of two acquisitions and transfer of labels."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import command, console, emit_json, label_values_option

_METRICS = ("correlation", "mattes")
_INITS = ("geometry", "moments", "identity")


def _levels(text: str) -> tuple[float, ...]:
    from ....core.errors import OptionError

    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise OptionError(f"--levels: expected voxel sizes in mm separated by commas, "
                          f"such as 4,2,1,0.6; found {text!r}") from None
    if not values or min(values) <= 0:
        raise OptionError(f"--levels: expected positive voxel sizes in mm, found {text!r}")
    return values


@command("register")
def register(
    fixed: Path = typer.Argument(..., help="Fixed acquisition (the grid labels are carried to)."),
    moving: Path = typer.Argument(..., help="Moving acquisition, aligned to FIXED."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Transform file (.tfm): fixed -> moving points, ITK."),
    resampled: Path = typer.Option(None, "--resampled",
                                   help="Also write MOVING resampled onto FIXED's grid."),
    labels: Path = typer.Option(None, "--labels", help="Labels of MOVING to transfer."),
    labels_out: Path = typer.Option(None, "--labels-out",
                                    help="Where to write the labels on FIXED's grid."),
    label_values: str = label_values_option(),
    metric: str = typer.Option("correlation", "--metric",
                               help="correlation (normalised) or mattes (mutual information)."),
    init: str = typer.Option("geometry", "--init",
                             help="geometry (centres of the scanned regions), moments "
                                  "(centres of mass) or identity."),
    init_transform: Path = typer.Option(None, "--init-transform",
                                        help="Start from this .tfm (fixed -> moving)."),
    fixed_mask: Path = typer.Option(None, "--fixed-mask", help="Only non-zero voxels count."),
    moving_mask: Path = typer.Option(None, "--moving-mask", help="Only non-zero voxels count."),
    use_empty: bool = typer.Option(False, "--use-empty",
                                   help="Let never-scanned voxels (value 0) count too."),
    levels: str = typer.Option("4,2,1,0.6", "--levels",
                               help="Pyramid voxel sizes in mm, coarse to fine."),
    samples: int = typer.Option(50_000, "--samples", min=1000,
                                help="Random metric samples per level."),
    iterations: int = typer.Option(200, "--iterations", min=1, help="Iterations of one descent."),
    search_mm: float = typer.Option(12.0, "--search-mm", min=0.0,
                                    help="Translation search range (mm) at the coarsest level."),
    min_overlap: float = typer.Option(0.2, "--min-overlap", min=0.0, max=1.0,
                                      help="Fail below this overlap of the scanned regions."),
    max_metric: float = typer.Option(None, "--max-metric",
                                     help="Fail when the final metric is above this value."),
    seed: int = typer.Option(0, "--seed", help="Seed of the metric sampling."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Rigidly register MOVING to FIXED (6 degrees of freedom, SimpleITK), write the
    transform in ITK's .tfm format (it maps FIXED points to MOVING points), and
    optionally MOVING resampled onto FIXED's grid and MOVING's labels carried onto
    FIXED's grid (nearest neighbour). Fails with exit 2, writing nothing, when the
    scanned regions do not overlap or the registration does not converge.

    Example: leg3dus register x1.mha x2.mha -o x2.tfm --labels masksX2.mha --labels-out m.mha
    """
    from ....core.atomic import check_not_input
    from ....core.errors import GeometryError, OptionError
    from ....core.volume_io import read_header, read_volume, write_volume
    from ....register import read_transform, register_rigid, resample_volume, transfer_labels
    from ....register import write_transform as write_tfm

    if metric not in _METRICS:
        raise OptionError(f"--metric: expected one of {', '.join(_METRICS)}, found {metric!r}")
    if init not in _INITS:
        raise OptionError(f"--init: expected one of {', '.join(_INITS)}, found {init!r}")
    if (labels is None) != (labels_out is None):
        raise OptionError("--labels and --labels-out go together: give both or neither")
    if not output.name.lower().endswith((".tfm", ".txt")):
        raise OptionError(f"{output}: the transform file must end in .tfm or .txt")
    inputs = [fixed, moving, labels, fixed_mask, moving_mask, init_transform]
    outputs = [p for p in (output, resampled, labels_out) if p is not None]
    for out in outputs:
        check_not_input(out, inputs)
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise OptionError("the output paths must differ from each other")
    level_sizes = _levels(levels)

    # Check the cheap things (headers, the initial transform) before the costly ones.
    moving_header = read_header(moving)
    if labels is not None:
        problems = read_header(labels).geometry.matches(moving_header.geometry)
        if problems:
            raise GeometryError(f"{labels}: the labels are not on the grid of {moving}: "
                                + "; ".join(problems))
        from ....core.label_values import read_labels

        labels_vol, convention = read_labels(labels, label_values)  # checked before the work
    elif label_values is not None:
        raise OptionError("--label-values applies to the --labels volume")
    start = read_transform(init_transform) if init_transform is not None else init
    fixed_vol = read_volume(fixed)
    moving_vol = read_volume(moving)
    masks = {}
    for name, path, ref, ref_path in (("fixed", fixed_mask, fixed_vol, fixed),
                                      ("moving", moving_mask, moving_vol, moving)):
        if path is not None:
            mask = read_volume(path)
            problems = mask.geometry.matches(ref.geometry)
            if problems:
                raise GeometryError(f"{path}: the {name} mask is not on the grid of "
                                    f"{ref_path}: " + "; ".join(problems))
            masks[name] = mask
    result = register_rigid(
        fixed_vol, moving_vol, metric=metric, init=start, fixed_mask=masks.get("fixed"),
        moving_mask=masks.get("moving"), mask_empty=not use_empty, levels_mm=level_sizes,
        samples=samples, iterations=iterations, search_mm=search_mm,
        min_overlap=min_overlap, max_metric=max_metric, seed=seed)

    moved = moved_labels = None
    if resampled is not None:
        moved = resample_volume(moving_vol, fixed_vol.geometry, result.transform)
    del moving_vol
    if labels is not None:
        moved_labels = transfer_labels(labels_vol, fixed_vol.geometry, result.transform)
        del labels_vol
    write_tfm(result.transform, output)
    if moved is not None:
        write_volume(moved, resampled)
    if moved_labels is not None:
        write_volume(moved_labels, labels_out)

    summary = {"fixed": fixed, "moving": moving, "transform": output,
               "resampled": resampled, "labels_out": labels_out, **result.summary()}
    if labels is not None:
        summary["label_values"] = convention.as_json()
    if as_json:
        emit_json(summary)
        return
    if quiet:
        return
    out = console()
    rz, ry, rx = summary["rotation_deg_zyx"]
    tz, ty, tx = summary["translation_mm_zyx"]
    out.print(f"{moving} -> {fixed}: rotation (z, y, x) {rz:+.2f} {ry:+.2f} {rx:+.2f} deg, "
              f"translation (z, y, x) {tz:+.2f} {ty:+.2f} {tx:+.2f} mm")
    out.print(f"{metric} metric {result.initial_metric:.4f} -> {result.metric:.4f}, overlap "
              f"{result.overlap:.0%}, {result.iterations} iterations, {result.restarts} "
              f"restart(s), converged, {result.seconds:.1f} s")
    for path in outputs:
        out.print(f"wrote {path}")
    if labels is not None:
        out.print(f"{labels} read as {convention.describe()}", markup=False)
