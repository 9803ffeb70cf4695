"""Figures with matplotlib (Agg, no display): slices with label overlays, cross-section
profiles, box plots. Each function returns a :class:`matplotlib.figure.Figure`;
:func:`png_bytes` turns one into PNG bytes for files or the HTML report.

Slices are drawn at their physical aspect (spacing in mm). Array axis order (z, y, x):
the transverse view is ``[k, :, :]`` (depth down, across the leg to the right), the
longitudinal view ``[:, :, j]`` and the coronal view ``[:, i, :]`` show the leg from
knee (left) to ankle (right).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ...core import labels as lab

VIEWS = ("transverse", "longitudinal", "coronal")


def muscle_colour(m: lab.Muscle) -> tuple[float, float, float]:
    """The muscle's colour from :data:`leg3dus.core.labels.MUSCLES` as RGB in 0..1."""
    return tuple(c / 255.0 for c in m.color)


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def legend_handles(muscles=lab.MUSCLES) -> list[Patch]:
    """One coloured patch per muscle, labelled ``"SOL soleus"`` and so on."""
    return [Patch(facecolor=muscle_colour(m), edgecolor="none", label=f"{m.name} {m.long_name}")
            for m in muscles]


def overlay_rgba(labels2d: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """An RGBA image (float, 0..1) colouring each muscle of a 2D label slice."""
    rgba = np.zeros(labels2d.shape + (4,), np.float32)
    for m in lab.MUSCLES:
        sel = labels2d == m.value
        rgba[sel, :3] = muscle_colour(m)
        rgba[sel, 3] = alpha
    return rgba


def default_slices(labels: np.ndarray) -> tuple[int, int, int]:
    """Voxel indices (z, y, x) through the muscles: the transverse slice with the most
    muscle, and the depth and across positions of the muscles' centre."""
    from ...morphology import slice_statistics

    stats = slice_statistics(labels)
    counts = sum(c for c, _, _ in stats.values())
    if not counts.any():
        return tuple(n // 2 for n in labels.shape)
    k = int(np.argmax(counts))
    total = counts.sum()
    i = int(round(sum(sy.sum() for _, sy, _ in stats.values()) / total))
    j = int(round(sum(sx.sum() for _, _, sx in stats.values()) / total))
    return k, i, j


def _view(array: np.ndarray, view: str, index: int) -> np.ndarray:
    # Rows are drawn top-down: depth (y) vertical, the leg (z) horizontal.
    if view == "transverse":
        return array[index]
    if view == "longitudinal":
        return array[:, :, index].T
    return array[:, index, :].T


def _extent(shape, spacing, view: str) -> tuple[float, float, float, float]:
    sz, sy, sx = spacing
    nz, ny, nx = shape
    w, h = {"transverse": (nx * sx, ny * sy), "longitudinal": (nz * sz, ny * sy),
            "coronal": (nz * sz, nx * sx)}[view]
    return (0.0, w, h, 0.0)


_AXES = {"transverse": ("across (x) mm", "depth (y) mm"),
         "longitudinal": ("along the leg (z) mm, knee to ankle", "depth (y) mm"),
         "coronal": ("along the leg (z) mm, knee to ankle", "across (x) mm")}


def draw_slice(ax, image, labels, spacing, view: str, index: int, prediction=None,
               alpha: float = 0.35) -> None:
    """Draw one view of ``image`` (grey) with ``labels`` filled and outlined, and
    ``prediction`` (optional) outlined dashed, on a matplotlib axes; the arrays are
    (z, y, x) with ``spacing`` in mm, ``index`` the voxel index of the slice along the
    view's normal."""
    shape = (labels if labels is not None else image).shape
    extent = _extent(shape, spacing, view)
    if image is not None:
        ax.imshow(_view(image, view, index), cmap="gray", extent=extent, vmin=0,
                  vmax=255 if image.dtype == np.uint8 else None, interpolation="nearest")
    else:
        ax.set_facecolor("black")
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
    for vol, style in ((labels, "solid"), (prediction, "dashed")):
        if vol is None:
            continue
        sl = _view(vol, view, index)
        if style == "solid":
            ax.imshow(overlay_rgba(sl, alpha), extent=extent, interpolation="nearest")
        _outline(ax, sl, extent, style)
    ax.set_xlabel(_AXES[view][0])
    ax.set_ylabel(_AXES[view][1])
    ax.set_title(f"{view} ({'zxy'[VIEWS.index(view)]} = {index})", fontsize=10)


def _outline(ax, sl, extent, style):
    h, w = sl.shape
    x = np.linspace(extent[0], extent[1], w, endpoint=False) + (extent[1] - extent[0]) / w / 2
    y = np.linspace(extent[3], extent[2], h, endpoint=False) + (extent[2] - extent[3]) / h / 2
    for m in lab.MUSCLES:
        mask = sl == m.value
        if mask.any() and not mask.all():
            ax.contour(x, y, mask.astype(np.float32), levels=[0.5],
                       colors=[muscle_colour(m)], linewidths=1.0, linestyles=style)


def slice_figure(image, labels, spacing, slices=None, prediction=None,
                 title: str = "") -> Figure:
    """Transverse, longitudinal and coronal views with label overlays and a legend.

    Parameters
    ----------
    image, labels
        Arrays (z, y, x) on one grid; either may be None (not both).
    spacing
        (z, y, x) mm.
    slices
        Voxel indices (z, y, x): transverse slice, coronal depth, longitudinal position
        across; default :func:`default_slices`.
    prediction
        Optional predicted labels, outlined dashed over the filled truth.

    Examples
    --------
    >>> fig = slice_figure(None, labels, (1, 1, 1))  # doctest: +SKIP
    >>> open("slices.png", "wb").write(png_bytes(fig))  # doctest: +SKIP
    """
    ref = labels if labels is not None else image
    k, i, j = default_slices(labels) if (slices is None and labels is not None) else (
        slices or tuple(n // 2 for n in ref.shape))
    widths = [ref.shape[2] * spacing[2], ref.shape[0] * spacing[0], ref.shape[0] * spacing[0]]
    heights = [ref.shape[1] * spacing[1], ref.shape[1] * spacing[1], ref.shape[2] * spacing[2]]
    # Height from the panels' physical aspect, so little space is left blank.
    panel_h = 12.0 * max(heights) / max(sum(widths), 1e-6)
    fig = Figure(figsize=(13, min(max(panel_h, 1.5), 8.0) + 1.6), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=[max(w, 1e-6) for w in widths])
    for ax, view, idx in zip(axes, VIEWS, (k, j, i), strict=True):
        draw_slice(ax, image, labels, spacing, view, idx, prediction)
    handles = legend_handles()
    if prediction is not None:
        from matplotlib.lines import Line2D

        # Dark grey: the legend sits on white, where a white line would not show.
        handles.append(Line2D([], [], color="0.25", linestyle="dashed",
                              label="prediction (dashed)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def profile_figure(profiles: dict[str, list[tuple[np.ndarray, np.ndarray]]],
                   title: str = "Cross-sectional area along the leg") -> Figure:
    """Cross-sectional area (cm2) against position (% of leg length), one panel per muscle.

    ``profiles[muscle]`` is a list of ``(position_pct, csa_cm2)`` pairs, one per
    subject; each is drawn thin, and their mean on a common 1 % grid thick.
    """
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, len(lab.MUSCLES), sharey=True)
    grid = np.linspace(0, 100, 101)
    for ax, m in zip(axes, lab.MUSCLES, strict=True):
        curves = profiles.get(m.name, [])
        colour = muscle_colour(m)
        resampled = []
        for pos, csa in curves:
            ax.plot(pos, csa, color=colour, alpha=0.45, linewidth=0.9)
            # Outside the muscle the area is 0, but a muscle reaching an end of the leg
            # extent keeps its end value up to 0 % / 100 % (slice centres lie inside).
            left = csa[0] if pos[0] <= grid[1] else 0.0
            right = csa[-1] if pos[-1] >= grid[-2] else 0.0
            resampled.append(np.interp(grid, pos, csa, left=left, right=right))
        if len(resampled) > 1:
            ax.plot(grid, np.mean(resampled, axis=0), color="black", linewidth=1.8,
                    label=f"mean of {len(resampled)}")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_title(f"{m.name} ({m.long_name})", fontsize=10)
        ax.set_xlabel("position, % of leg length (knee 0, ankle 100)")
        ax.set_xlim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-sectional area (cm2)")
    fig.suptitle(title)
    return fig


def box_figure(panels: list[tuple[str, dict[str, list[float]]]], title: str = "",
               groups: dict[str, dict[str, list[float]]] | None = None) -> Figure:
    """Box plots, one panel per measure: ``panels = [(ylabel, {muscle: values})]``.

    With ``groups`` (``{group name: {muscle: values}}`` for the first panel's measure
    split, e.g. by sex) boxes of each group stand side by side in that panel instead.
    Points are drawn over the boxes so that small cohorts show every subject.
    """
    fig = Figure(figsize=(4.3 * len(panels), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    rng = np.random.default_rng(0)  # jitter of the points only
    for n, (ax, (ylabel, data)) in enumerate(zip(axes, panels, strict=True)):
        split = groups if (n == 0 and groups) else {"": data}
        names = [m.name for m in lab.MUSCLES if data.get(m.name)]
        width = 0.8 / len(split)
        for g, gdata in enumerate(split.values()):
            for mi, name in enumerate(names):
                vals = np.asarray([v for v in gdata.get(name, []) if v is not None
                                   and np.isfinite(v)], float)
                if not vals.size:
                    continue
                pos = mi + (g - (len(split) - 1) / 2) * width
                colour = muscle_colour(lab.muscle(name))
                bp = ax.boxplot(vals, positions=[pos], widths=width * 0.8, patch_artist=True,
                                showfliers=False)
                bp["boxes"][0].set(facecolor=colour, alpha=0.55 if g == 0 else 0.3,
                                   hatch="" if g == 0 else "//")
                ax.plot(pos + rng.uniform(-0.12, 0.12, vals.size) * width, vals, "o",
                        color="black", markersize=3)
        ax.set_xticks(range(len(names)), names)
        if len(split) > 1:
            ax.set_xlabel("  |  ".join(f"{'plain' if i == 0 else 'hatched'}: {k}"
                                       for i, k in enumerate(split)), fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
