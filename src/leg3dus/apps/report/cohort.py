"""The cohort sections of the report: the dataset overview, the morphology table with its
summary, and the cohort figures (cross-section profiles, box plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import labels as lab
from . import html as H
from .figures import box_figure, png_bytes, profile_figure


def dataset_section(data, subjects, done, errors, table_path, leg_extent) -> str:
    """The "Dataset" section: subjects per split, grids (z, y, x) and spacings (mm), the
    participants table, stray label values and the subjects not measured."""
    splits: dict[str, int] = {}
    for s in subjects:
        splits[s.split or "-"] = splits.get(s.split or "-", 0) + 1
    grids = sorted({(tuple(r["shape"]), tuple(round(v, 4) for v in r["spacing"])) for r in done})
    rows = [("subjects", len(subjects)), ("measured", len(done)),
            ("splits", ", ".join(f"{k} {v}" for k, v in splits.items())),
            ("grids (z, y, x)", "; ".join(f"{'x'.join(map(str, g))} at "
                                          f"{'/'.join(map(str, sp))} mm" for g, sp in grids)),
            ("participants table", str(Path(table_path).name) if table_path else "none"),
            ("leg length", "extent of all muscles along the leg" if leg_extent == "labels"
             else "whole imaged grid along the leg")]
    stray = {r["id"]: r["stray"] for r in done if r["stray"]}
    parts = [H.table(("", ""), rows)]
    if stray:
        parts.append(H.paragraph("Label values outside the scheme (not measured): " + "; ".join(
            f"{k}: {lab.describe_counts(v)}" for k, v in stray.items())))
    for e in errors:
        parts.append(H.paragraph(f"Not measured: {e['split']}/{e['id']}: {e['error']}"))
    legend = "".join(
        f'<span class="swatch" style="background:rgb{m.color}"></span>{H.esc(m.name)} '
        f"({H.esc(m.long_name)}, label {m.value}) &nbsp; " for m in lab.MUSCLES)
    parts.append(f"<p>{legend}</p>")
    return H.section("Dataset", *parts, section_id="dataset")


COHORT_COLUMNS = (("split", "split", 0), ("subject", "id", 0), ("sex", "sex", 0),
                  ("side", "side", 0), ("muscle", "muscle", 0),
                  ("volume (cm3)", "volume_cm3", 2), ("length (mm)", "length_mm", 1),
                  ("max CSA (cm2)", "max_csa_cm2", 2),
                  ("max CSA at (% leg)", "max_csa_position_pct", 1),
                  ("centroid path (mm)", "path_length_mm", 1))


def morphology_section(rows, summary) -> str:
    """The "Muscle morphology" section: one row per subject and muscle, then the
    summary (mean ± sd) per group."""
    table = H.table([c for c, _, _ in COHORT_COLUMNS],
                    [[r[k] if r[k] != "" else None for _, k, _ in COHORT_COLUMNS]
                     for r in rows],
                    [d for _, _, d in COHORT_COLUMNS], cls="cohort")
    stat_rows = []
    for s in summary:
        if not (s["n"] or s["n_absent"] or s["n_failed"]):
            continue
        stat_rows.append([s["group"] if s["group"] == "all" else f"{s['group']} {s['value']}",
                          s["muscle"], s["n"], s["n_absent"], s["n_failed"]] + [
            f"{H.fmt(s[f'{k}_mean'], d)} ± {H.fmt(s[f'{k}_sd'], d)}"
            for k, d in (("volume_cm3", 2), ("length_mm", 1), ("max_csa_cm2", 2),
                         ("max_csa_position_pct", 1))])
    stats = H.table(("group", "muscle", "n", "absent", "failed", "volume (cm3)", "length (mm)",
                     "max CSA (cm2)", "max CSA at (% leg)"), stat_rows, cls="summary")
    note = H.paragraph("Volume: voxel count times voxel volume. Length: extent along the leg "
                       "(axis 0). CSA: area of the muscle in each transverse slice. Position: "
                       "slice centre in % of leg length from the knee end. Centroid path: "
                       "length of the line through the slice centroids, slices under 10 % "
                       "of the largest CSA left out and the line smoothed over 5 mm. n: "
                       "subjects measured with the muscle; absent: measured without it; "
                       "failed: not measured.", cls="note")
    return H.section("Muscle morphology", table, note,
                     "<h3>Summary (mean ± sd)</h3>", stats, section_id="morphology")


def cohort_figures_section(done, rows, people) -> str:
    """The "Cohort figures" section: cross-section profiles along the leg and box plots of
    the measures (volumes split by sex when the participants table gives it)."""
    profiles: dict[str, list] = {}
    for r in done:
        morph = r["morphology"]
        for m in morph.muscles.values():
            if m.present:
                ks = np.arange(m.first_slice, m.last_slice + 1)
                profiles.setdefault(m.name, []).append((morph.position_pct(ks), m.csa_cm2[ks]))
    parts = [H.image(png_bytes(profile_figure(profiles)), "cross-section profiles",
                     "Anatomical cross-sectional area along the leg, each subject thin, the "
                     "mean thick.", "fig-profiles")]

    def per_muscle(key):
        return {m.name: [r[key] for r in rows if r["muscle"] == m.name and r["voxels"]]
                for m in lab.MUSCLES}

    panels = [("volume (cm3)", per_muscle("volume_cm3")), ("length (mm)", per_muscle("length_mm")),
              ("max CSA (cm2)", per_muscle("max_csa_cm2")),
              ("max CSA position (% leg)", per_muscle("max_csa_position_pct"))]
    sexes = sorted({r["sex"] for r in rows} - {""})
    groups = None
    if len(sexes) > 1:
        groups = {f"sex {s}": {m.name: [r["volume_cm3"] for r in rows if r["sex"] == s and
                                        r["muscle"] == m.name and r["voxels"]]
                               for m in lab.MUSCLES} for s in sexes}
    parts.append(H.image(png_bytes(box_figure(panels, "Morphology per muscle", groups)),
                         "morphology box plots",
                         "Box plots of the measures; volumes split by sex when the "
                         "participants table gives it." if groups else
                         "Box plots of the measures per muscle.", "fig-boxes"))
    return H.section("Cohort figures", *parts, section_id="cohort-figures")
