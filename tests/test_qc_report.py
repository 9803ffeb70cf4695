"""The report's acquisition-QC section, and the header-only sequence read it uses."""

from __future__ import annotations

import numpy as np

from leg3dus.apps.report import make_report
from leg3dus.sweep import Sequence, read_sequence, write_sequence


def _sweep(n=6, jump_at=None):
    mats = np.stack([np.eye(4)] * n)
    mats[:, 2, 3] = np.arange(n) * 0.5
    if jump_at is not None:
        mats[jump_at:, 0, 3] += 20.0
    frames = np.arange(n * 12, dtype=np.uint8).reshape(n, 3, 4)
    return Sequence(frames, {"ImageToReference": mats}, timestamps=np.arange(n) / 30)


def test_header_only_read_gives_poses_without_pixels(tmp_path):
    seq = _sweep()
    seq.transform_ok["ImageToReference"][2] = False
    path = write_sequence(seq, tmp_path / "s.igs.mha")
    full, head = read_sequence(path), read_sequence(path, pixels=False)
    assert head.frames.shape == full.frames.shape and head.frames.dtype == np.uint8
    assert not head.frames.any() and full.frames.any()
    np.testing.assert_array_equal(head.transforms["ImageToReference"],
                                  full.transforms["ImageToReference"])
    np.testing.assert_array_equal(head.transform_ok["ImageToReference"],
                                  full.transform_ok["ImageToReference"])
    np.testing.assert_allclose(head.timestamps, full.timestamps)


def test_report_lists_the_sweeps_qc_of_subjects_with_sweeps(tiny_dataset, tmp_path):
    sweeps = tiny_dataset / "train" / "S01" / "sweeps"
    write_sequence(_sweep(), sweeps / "sweep1.igs.mha")
    write_sequence(_sweep(jump_at=3), sweeps / "sweep2.igs.mha")
    out = tmp_path / "report.html"
    make_report(tiny_dataset, out, max_figures=0)
    page = out.read_text()
    section = page[page.index('<section id="acquisition-qc">'):]
    section = section[:section.index("</section>")]
    assert "train/S01" in section and "train/S02" not in section
    assert "<td>check</td>" in section  # sweep2's 20 mm jump
    cells = section[section.index("train/S01"):].split("<td")
    assert '>2<' in cells[1]  # two sweeps


def test_report_without_sweeps_has_no_qc_section(tiny_dataset, tmp_path):
    out = tmp_path / "report.html"
    make_report(tiny_dataset, out, max_figures=0)
    assert "acquisition-qc" not in out.read_text()
