"""Acquisition QC of a set of sweeps: per-sweep checks, coverage, neighbour consistency,
a hit-count volume, a projection figure and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np

from .config import PlusConfig
from .qc import QcLimits, sweep_qc
from .qc_coverage import coverage, neighbour_ncc, pixel_mask, qc_grid, scanned_region, splat
from .seqfile import Sequence
from .transforms import image_to_reference


def run_qc(sweeps: list[tuple[str, Sequence]], cfg: PlusConfig | None = None,
           limits: QcLimits | None = None, spacing_mm: float | None = 1.0,
           bridge_mm: float | None = None, ncc_min: float = 0.3, ncc_rel: float = 0.6,
           region: np.ndarray | None = None, min_hole_mm3: float = 10.0,
           end_trim_mm: float = 5.0, label_sweeps: list[Sequence] | None = None) -> dict:
    """Check ``sweeps`` (name, sequence), neighbours in the order given.

    ``spacing_mm`` is the QC grid's spacing (None: the configuration's); ``bridge_mm``
    the distance hole filling bridges (default two voxels of the configuration's
    spacing); a neighbour band (20 mm along z) whose NCC is below ``ncc_min`` or below
    ``ncc_rel`` times the pair's best band is a finding; ``region`` an optional
    (z, y, x) mask of the muscle-bearing region on the QC grid (default: the scanned
    region where every sweep is, less ``end_trim_mm`` at each end); holes smaller than
    ``min_hole_mm3`` are not listed. ``label_sweeps`` (label sequences recorded with
    the sweeps, same poses) make the region muscle-bearing: per slice, the widened
    bounding box of voxels hit by a non-zero label pixel.

    Returns a dict: ``sweeps`` (per-sweep findings), ``grid``, ``coverage``,
    ``consistency``, ``findings`` (one line each) and ``ok``; the hit counts are under
    ``hits`` (uint32, z, y, x) and the grid's geometry under ``grid``.

    Examples
    --------
    >>> report = run_qc([("s1", read_sequence("sweep1.igs.mha"))], cfg)  # doctest: +SKIP
    """
    from ..core.errors import InputFileError

    lim = limits or QcLimits()
    p = cfg.recon if cfg is not None else PlusConfig().recon
    per = [sweep_qc(seq, cfg, name, lim, p.image_frame, p.reference_frame)
           for name, seq in sweeps]
    poses = [image_to_reference(seq, cfg, p.image_frame, p.reference_frame, name)
             for name, seq in sweeps]
    shapes = {seq.frame_shape for _, seq in sweeps}
    if len(shapes) != 1:
        raise InputFileError(f"{sweeps[1][0]}: frames of {sorted(shapes)}, expected one size")
    frame_shape = shapes.pop()
    if not any(v.any() for _, v in poses):
        raise InputFileError(f"{sweeps[0][0]}: no frame has valid transforms and image")
    origin, spacing, dims = qc_grid([m[v] for m, v in poses], frame_shape, p, spacing_mm)
    shape = (int(dims[2]), int(dims[1]), int(dims[0]))
    sp_zyx = tuple(float(v) for v in spacing[::-1])
    or_zyx = tuple(float(v) for v in origin[::-1])
    to_index = np.diag(np.r_[1.0 / spacing, 1.0])
    to_index[:3, 3] = -origin / spacing
    mask = pixel_mask(*frame_shape, p)
    hits = np.zeros(shape, np.uint32)
    pairs, prev, spans = [], None, []
    for (name, seq), (m, v) in zip(sweeps, poses, strict=True):
        h, s = splat(seq.frames[v], to_index @ m[v], mask, shape)
        hits += h
        zs = np.flatnonzero(h.any(axis=(1, 2)))
        if zs.size:
            spans.append((int(zs[0]), int(zs[-1])))
        mean = np.divide(s, h, out=np.zeros_like(s), where=h > 0)
        if prev is not None:
            r = neighbour_ncc(prev[1], prev[2], mean, h > 0, sp_zyx, or_zyx)
            pairs.append({"sweeps": [prev[0], name], **r})
        prev = (name, mean, h > 0)
    bridge = bridge_mm if bridge_mm is not None else 2 * max(p.output_spacing)
    # the scanned region runs along z where every sweep is (ragged ends are normal)
    trim = int(round(end_trim_mm / sp_zyx[0]))
    common = (max(a for a, _ in spans) + trim, min(b for _, b in spans) - trim) if spans \
        else None
    kind = "given mask" if region is not None else "scanned"
    if region is None and label_sweeps:
        muscle = np.zeros(shape, bool)
        for lab, (m, v) in zip(label_sweeps, poses, strict=True):
            _, labelled = splat((lab.frames[v] > 0).astype(np.uint8), to_index @ m[v], mask,
                                shape)
            muscle |= labelled > 0
        region = scanned_region(muscle, sp_zyx, 30.0, common)
        kind = "muscle (label sweeps)"
    cov = coverage(hits, sp_zyx, or_zyx, bridge, region, min_hole_mm3=min_hole_mm3,
                   z_range=common)
    cov["region_kind"] = kind
    cov.pop("region")
    findings = _findings(per, cov, pairs, ncc_min, ncc_rel)
    return {"sweeps": [q.as_dict() for q in per],
            "grid": {"origin_zyx": list(or_zyx), "spacing_zyx": list(sp_zyx),
                     "shape_zyx": list(shape)},
            "coverage": cov, "consistency": pairs, "ncc_min": ncc_min, "ncc_rel": ncc_rel,
            "limits": dict(lim.__dict__), "findings": findings, "ok": not findings,
            "hits": hits}


def _findings(per, cov, pairs, ncc_min, ncc_rel) -> list[str]:
    out = []
    for q in per:
        if q.invalid_frames:
            out.append(f"{q.name}: {len(q.invalid_frames)} frame(s) with invalid status "
                       f"(first: {q.invalid_frames[0]})")
        # a gap at a jump or inside a fast stretch is reported as that
        busy = {j["frame"] for j in q.jumps}
        for f in q.fast:
            busy.update(range(f["frame"], f["frame"] + f["frames"] + 1))
        for g in q.gaps:
            if g["frame"] in busy:
                continue
            out.append(f"{q.name}: gap of {g['value']:.2f} mm before frame {g['frame']} "
                       f"({g['along_mm']:.1f} mm along the sweep)")
        for j in q.jumps:
            out.append(f"{q.name}: tracking jump at frame {j['frame']} "
                       f"({j['along_mm']:.1f} mm along the sweep, {j['value']:.0f} mm/s)")
        for f in q.fast:
            out.append(f"{q.name}: fast sweep, {f['frames']} frames from frame {f['frame']} "
                       f"({f['along_mm']:.1f}-{f['until_along_mm']:.1f} mm along the sweep, "
                       f"up to {f['value']:.0f} mm/s)")
    for h in cov["holes"]:
        out.append(f"hole of {h['volume_mm3']:.0f} mm3 the fill cannot bridge at z "
                   f"{h['z_mm'][0]:.1f}-{h['z_mm'][1]:.1f} mm")
    for pr in pairs:
        best = max([b["ncc"] for b in pr["bands"]], default=0.0)
        for b in pr["bands"]:
            if b["ncc"] < max(ncc_min, ncc_rel * best):
                out.append(f"{pr['sweeps'][0]}/{pr['sweeps'][1]}: low agreement (NCC "
                           f"{b['ncc']:.2f}) at z {b['z_mm'][0]:.1f}-{b['z_mm'][1]:.1f} mm")
    return out


def summary_line(report: dict) -> str:
    """One line: sweeps, coverage, number of findings."""
    n = len(report["findings"])
    return (f"QC: {len(report['sweeps'])} sweep(s), "
            f"{100 * report['coverage']['fraction']:.1f}% of the scanned region hit, "
            f"{len(report['coverage']['holes'])} unbridgeable hole(s), "
            f"{n} finding(s)" + ("" if n else " - ok"))


def qc_figure(report: dict, path: str | os.PathLike | None = None) -> bytes:
    """PNG of the hit-count map projected along depth (y): z along the leg against x,
    with unbridgeable holes (dashed boxes), gaps, tracking jumps and fast stretches
    marked at their frames' centres; written to ``path`` if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..core.atomic import atomic_path

    hits = report["hits"]
    g = report["grid"]
    (oz, _, ox), (sz, _, sx) = g["origin_zyx"], g["spacing_zyx"]
    nz, _, nx = hits.shape
    proj = hits.sum(axis=1).astype(np.float64)
    ext = (ox - sx / 2, ox + (nx - 0.5) * sx, oz + (nz - 0.5) * sz, oz - sz / 2)
    zs = np.flatnonzero(proj.any(axis=1))
    z_span = (zs[-1] - zs[0] + 20 / sz) * sz if zs.size else nz * sz
    fig, ax = plt.subplots(figsize=(6.0, min(12.0, 1.2 + 4.6 * z_span / (nx * sx))),
                           dpi=110)
    im = ax.imshow(np.log1p(proj), extent=ext, aspect="equal", cmap="magma")
    fig.colorbar(im, ax=ax, label="log(1 + pixels per column)", shrink=0.7)
    if zs.size:  # show the scanned stretch of the leg
        ax.set_ylim(oz + (zs[-1] + 10 / sz) * sz, oz + (zs[0] - 10 / sz) * sz)
    for h in report["coverage"]["holes"]:
        (z0, z1), _, (x0, x1) = h["box_zyx_mm"]
        ax.add_patch(Rectangle((x0 - sx / 2, z0 - sz / 2), x1 - x0 + sx, z1 - z0 + sz,
                               fill=False, ec="cyan", lw=1.5, ls="--", label="holes"))
    marks = {"gaps": ("c", "o"), "jumps": ("lime", "x"), "fast": ("yellow", "^")}
    for q in report["sweeps"]:
        busy = {j["frame"] for j in q["jumps"]}
        for f in q["fast"]:
            busy.update(range(f["frame"], f["frame"] + f["frames"] + 1))
        for kind, (colour, marker) in marks.items():
            for e in q[kind]:
                if kind == "gaps" and e["frame"] in busy:
                    continue
                x, _, z = e["position_xyz_mm"]
                ax.plot(x, z, marker, color=colour, ms=9, mew=2, label=kind)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    if uniq:
        ax.legend(uniq.values(), uniq.keys(), loc="lower right", fontsize=7)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("z along the leg (mm)")
    ax.set_title(f"coverage {100 * report['coverage']['fraction']:.1f}%", fontsize=9)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
    return data


def write_qc_html(report: dict, path: str | os.PathLike) -> Path:
    """A self-contained HTML page: findings, per-sweep table, neighbour NCC, figure."""
    from ..core.atomic import atomic_path

    png = base64.b64encode(qc_figure(report)).decode("ascii")
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(q['name'])}</td><td>{q['valid_frames']}/{q['frames']}</td>"
        f"<td>{q['spacing_median_mm']:.2f} / {q['spacing_max_mm']:.2f}</td>"
        f"<td>{q['speed_median_mm_s']:.1f} / {q['speed_max_mm_s']:.1f}</td>"
        f"<td>{len(q['gaps'])}</td><td>{len(q['jumps'])}</td><td>{len(q['fast'])}</td>"
        f"<td>{len(q['invalid_frames'])}</td></tr>" for q in report["sweeps"])
    pairs = "".join(f"<tr><td>{e(' / '.join(p['sweeps']))}</td><td>{p['ncc']:.3f}</td>"
                    f"<td>{p['overlap_voxels']}</td></tr>" for p in report["consistency"])
    finds = "".join(f"<li>{e(f)}</li>" for f in report["findings"]) or "<li>none</li>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>leg3dus QC</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{padding:2px 8px;text-align:right}}table{{border-collapse:collapse}}
tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>Acquisition QC</h1><p>{e(summary_line(report))}</p>
<h2>Findings</h2><ul>{finds}</ul>
<h2>Sweeps</h2><table><tr><th>sweep</th><th>valid frames</th>
<th>spacing median / max (mm)</th><th>speed median / max (mm/s)</th><th>gaps</th>
<th>jumps</th><th>fast</th><th>invalid</th></tr>{rows}</table>
<h2>Neighbouring sweeps</h2><table><tr><th>pair</th><th>NCC</th><th>overlap voxels</th>
</tr>{pairs}</table>
<h2>Coverage</h2><img alt="hit-count map projected along depth"
src="data:image/png;base64,{png}"></body></html>"""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)


def report_json(report: dict) -> dict:
    """The report without the hit-count array (for JSON)."""
    return {k: v for k, v in report.items() if k != "hits"}
