"""``leg3dus register``: rigid registration of two acquisitions and transfer of labels."""

from __future__ import annotations

from pathlib import Path

import typer

from ....register import INITS, METRICS
from ..app import command, console, emit_json, label_values_option


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
    metric: str = typer.Option(METRICS[0], "--metric",
                               help=f"{' or '.join(METRICS)} (normalised correlation, "
                                    "Mattes mutual information)."),
    init: str = typer.Option(INITS[0], "--init",
                             help=f"{', '.join(INITS)}: centres of the scanned regions "
                                  "meet, centres of mass meet, or no initial move."),
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
    from ....register import parse_levels, register_files

    done = register_files(
        fixed, moving, output, resampled=resampled, labels=labels, labels_out=labels_out,
        label_values=label_values, metric=metric, init=init,
        init_transform=init_transform, fixed_mask=fixed_mask, moving_mask=moving_mask,
        mask_empty=not use_empty, levels_mm=parse_levels(levels), samples=samples,
        iterations=iterations, search_mm=search_mm, min_overlap=min_overlap,
        max_metric=max_metric, seed=seed)
    if as_json:
        emit_json(done.summary())
        return
    if quiet:
        return
    out, r = console(), done.result
    s = r.summary()
    rz, ry, rx = s["rotation_deg_zyx"]
    tz, ty, tx = s["translation_mm_zyx"]
    out.print(f"{moving} -> {fixed}: rotation (z, y, x) {rz:+.2f} {ry:+.2f} {rx:+.2f} deg, "
              f"translation (z, y, x) {tz:+.2f} {ty:+.2f} {tx:+.2f} mm")
    out.print(f"{metric} metric {r.initial_metric:.4f} -> {r.metric:.4f}, overlap "
              f"{r.overlap:.0%}, {r.iterations} iterations, {r.restarts} restart(s), "
              f"converged, {r.seconds:.1f} s")
    for path in done.outputs:
        out.print(f"wrote {path}")
    if done.convention is not None:
        out.print(f"{labels} read as {done.convention.describe()}", markup=False)
