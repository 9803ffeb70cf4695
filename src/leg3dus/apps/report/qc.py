"""The report's acquisition-QC section: for subjects with tracked sweeps beside their
volumes (``<subject>/sweeps``), the short QC of each subject's sweeps (poses only)."""

from __future__ import annotations

from . import html as H


def acquisition_rows(subjects) -> list[dict]:
    """One row per subject that has a ``sweeps`` folder beside its label volume."""
    from ...core.layout import SWEEPS_DIR
    from ...sweep import read_config, read_sequence
    from ...sweep.folder import CONFIG_NAME, IMAGE_GLOBS, sequence_files
    from ...sweep.qc import sweeps_summary

    rows = []
    for s in subjects:
        ref = s.label or s.image
        folder = ref.parent / SWEEPS_DIR if ref is not None else None
        if folder is None or not folder.is_dir():
            continue
        files = sequence_files(folder, IMAGE_GLOBS)
        if not files:
            continue
        cfg_path = folder / CONFIG_NAME
        cfg = read_config(cfg_path) if cfg_path.is_file() else None
        p = cfg.recon if cfg is not None else None
        named = [(f.name, read_sequence(f, pixels=False)) for f in files]
        kw = {"image": p.image_frame, "reference": p.reference_frame} if p else {}
        rows.append({"subject": s.key, **sweeps_summary(named, cfg, **kw)})
    return rows


def acquisition_section(subjects) -> str:
    """The section's HTML, or "" when no subject has sweeps."""
    rows = acquisition_rows(subjects)
    if not rows:
        return ""
    table = H.table(["subject", "sweeps", "invalid frames", "gaps", "jumps",
                     "fast stretches", "max spacing (mm)", "max speed (mm/s)", "QC"],
                    [[r["subject"], r["sweeps"], r["invalid_frames"], r["gaps"], r["jumps"],
                      r["fast"], round(r["spacing_max_mm"], 2), round(r["speed_max_mm_s"], 1),
                      "ok" if r["ok"] else "check"] for r in rows],
                    digits=[0, 0, 0, 0, 0, 0, 2, 1, 0])
    note = ("<p>From the tracked poses and timestamps of each subject's sweeps; "
            "<code>leg3dus qc &lt;subject&gt;/sweeps</code> adds coverage, holes and the "
            "agreement of neighbouring sweeps.</p>")
    return H.section("Acquisition QC", note, table, section_id="acquisition-qc")
