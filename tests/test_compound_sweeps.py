"""Simulated tracked sweeps over the phantom, compounded back: labels and image agree."""

from __future__ import annotations

import numpy as np
import pytest

from leg3dus.compound import Options, reconstruct
from leg3dus.phantom import Anatomy, cohort_params, render_bmode
from leg3dus.phantom.sweeps import (
    SweepProtocol,
    frame_points,
    plan_sweeps,
    sweep_config,
    write_sweeps,
)
from leg3dus.phantom.tissue import label_lut
from leg3dus.sweep import concat_sequences, read_config, read_sequence

SPACING = 0.5
Z_MM = (90.0, 102.0)


def _ncc(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture(scope="module")
def anatomy():
    return Anatomy(cohort_params(1)[0])


def test_sweep_plan_is_realistic():
    p = SweepProtocol()
    plans = plan_sweeps((369.0, 161.0, 144.0), p, seed=2)
    assert len(plans) == 5
    for plan in plans:
        t = plan["true"]
        steps = np.diff(t[:, 2, 3])
        assert 0.45 < steps.mean() < 0.75 and steps.std() > 0.05   # speed changes
        tilt = np.degrees(np.arcsin(np.abs(t[:, 1, 2])))
        assert 0.3 < tilt.max() < 15                               # the hand tilts
        err = np.abs(plan["recorded"][:, :3, 3] - t[:, :3, 3])
        assert 0 < err.mean() < 0.2                                # tracking noise, mm
        assert np.all(np.diff(plan["timestamps"]) > 0)
    centres = [plan["true"][:, 0, 3].mean() for plan in plans]
    assert centres[0] - 19 < 3 and 144 - 19 - centres[-1] < 3      # knee-to-ankle strips


def test_frame_points_follow_the_calibration():
    p = SweepProtocol()
    pose = np.eye(4)
    pose[:3, 3] = (50.0, 0.0, 10.0)
    pts = frame_points(pose, p)
    assert pts.shape == (537, 221, 3)
    np.testing.assert_allclose(pts[0, 110], (10.0, 0.0, 50.0), atol=1e-4)   # (z, y, x)
    np.testing.assert_allclose(pts[536, 0, 1], 536 * 0.172, atol=1e-3)


def test_compounded_sweeps_give_the_phantom_back(anatomy, tmp_path):
    # a 12 mm stretch of the calf, frames at 0.3 mm pixels to keep the test quick
    p = SweepProtocol(frame_px=(308, 127), pixel_mm=0.3)
    paths = write_sweeps(anatomy, tmp_path, p, seed=4, spacing=SPACING, z_range_mm=Z_MM)
    names = sorted(x.name for x in paths)
    assert names[-1] == "sweep5.igs.mha" and "calibration.xml" in names
    cfg = read_config(tmp_path / "calibration.xml")
    image = concat_sequences([read_sequence(tmp_path / f"sweep{k}.igs.mha") for k in range(1, 6)])
    labels = concat_sequences([read_sequence(tmp_path / f"labels{k}.igs.mha")
                               for k in range(1, 6)])
    # the config's grid is the phantom's; keep the scanned stretch of it
    nz, ny, nx = anatomy.shape_at(SPACING)
    z0, z1 = int(np.ceil(Z_MM[0] / SPACING)), int(Z_MM[1] / SPACING) - 1
    cfg.recon.output_extent = (0, nx - 1, 0, ny - 1, z0, z1)
    opt = Options(method="vnn", fill="gaussian")
    img = reconstruct(image, cfg, options=opt).volume
    lab = reconstruct(labels, cfg, options=opt, labels=True).volume
    assert lab.origin[0] == pytest.approx((z0 + 0.5) * SPACING)
    tissue = anatomy.tissue_grid(SPACING, z0, z1 + 1)
    truth = label_lut()[tissue]
    inner = (slice(4, -4), slice(0, int(85 / SPACING)))  # scanned, 2 mm from the ends
    for value in (100, 150, 200):
        a, b = lab.array[inner] == value, truth[inner] == value
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice >= 0.98, (value, dice)
    ref = render_bmode(tissue, SPACING, seed=1)
    ncc = _ncc(img.array[inner].astype(float), ref[inner].astype(float))
    assert ncc > 0.85


def test_sweep_config_matches_the_phantom_grid():
    cfg = sweep_config(SweepProtocol(), (0.25, 0.25, 0.25), (10, 20, 30), 0.5)
    assert cfg.recon.output_extent == (0, 29, 0, 19, 0, 9)
    np.testing.assert_allclose(cfg.transforms[("Image", "Probe")][0, 0], 0.172)


def test_synth_sweeps_cli(cli, tmp_path, monkeypatch):
    import leg3dus.phantom.sweeps as sweeps_module
    from leg3dus.core.volume_io import read_volume

    # coarse frames far apart keep this quick; the real protocol is the default
    monkeypatch.setattr(sweeps_module, "SweepProtocol", lambda: SweepProtocol(
        n_sweeps=4, frame_px=(62, 27), pixel_mm=1.5, frame_spacing_mm=15.0))
    out = tmp_path / "cohort"
    r = cli("synth", out, "--subjects", "1", "--spacing", "3", "--sweeps", "--quiet")
    assert r.exit_code == 0, r.output
    subject = next(p for p in out.glob("*/*") if p.is_dir())
    folder = subject / "sweeps"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["calibration.xml"] + [f"labels{k}.igs.mha" for k in range(1, 5)] + [
        f"sweep{k}.igs.mha" for k in range(1, 5)]
    vol = tmp_path / "c.mha"
    r = cli("compound", *sorted(folder.glob("labels*.igs.mha")), "--config",
            folder / "calibration.xml", "--method", "vnn", "--labels", "-o", vol)
    assert r.exit_code == 0, r.output
    got, ref = read_volume(vol), read_volume(subject / "masksX1.mha")
    assert got.geometry.matches(ref.geometry) == []
    assert set(np.unique(got.array)) <= {0, 100, 150, 200}
