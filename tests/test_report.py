"""Figures, surface meshes and the HTML report (without a browser)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import oblique_direction

from leg3dus import Volume, write_volume
from leg3dus.apps.report import (
    default_slices,
    label_meshes,
    make_report,
    overlay_rgba,
    png_bytes,
    render_meshes,
    slice_figure,
    surface_mesh,
    write_mesh,
)
from leg3dus.apps.report.evaluation import find_predictions
from leg3dus.core import labels as lab
from leg3dus.core.errors import InputFileError, OptionError, OutputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sphere(shape, centre, radius):
    grid = np.indices(shape, sparse=True)
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def test_sphere_mesh_is_closed_outward_and_of_the_right_size():
    mask = sphere((40, 40, 40), (20, 19, 21), 12)
    mesh = surface_mesh(mask, (0.5, 0.5, 0.5))
    assert mesh.is_closed()
    r_mm = 12 * 0.5
    # Marching cubes at 0.5 on a voxelised ball: within a couple of % of the analytic ball.
    assert mesh.volume_cm3 == pytest.approx(4 / 3 * np.pi * r_mm**3 / 1000, rel=0.03)
    assert mesh.area_mm2 == pytest.approx(4 * np.pi * r_mm**2, rel=0.1)
    # Outward: in (x, y, z) the face normals point away from the centre.
    xyz = mesh.vertices[:, ::-1].astype(float)
    tri = xyz[mesh.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    outward = np.einsum("ij,ij->i", normals, tri.mean(1) - xyz.mean(0))
    assert (outward > 0).mean() > 0.99


def test_mesh_in_physical_space_follows_the_geometry():
    mask = np.zeros((12, 10, 8), bool)
    mask[3:9, 2:7, 2:6] = True
    spacing, origin, direction = (0.5, 0.4, 0.3), (10.0, -4.0, 2.5), oblique_direction()
    vol = Volume(mask.astype(np.uint8), spacing, origin, direction)
    phys = surface_mesh(mask, spacing, origin=origin, direction=direction)
    grid = surface_mesh(mask, spacing, physical=False)
    expected = vol.geometry.index_to_physical(grid.vertices / np.asarray(spacing))
    np.testing.assert_allclose(phys.vertices, expected, atol=1e-4)
    # A rotation keeps the enclosed volume (and its sign: faces stay outward).
    assert phys.volume_cm3 == pytest.approx(grid.volume_cm3, rel=1e-5)
    assert grid.volume_cm3 > 0


def _read_stl(path):
    data = path.read_bytes()
    n = int(np.frombuffer(data[80:84], "<u4")[0])
    rec = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
    assert len(data) == 84 + n * rec.itemsize
    return np.frombuffer(data[84:], rec)


def test_mesh_files_round_trip(tmp_path):
    mesh = surface_mesh(sphere((20, 20, 20), (10, 10, 10), 6), (1.0, 0.5, 0.25),
                        name="SOL", color=(230, 159, 0))
    xyz = mesh.vertices[:, ::-1]
    stl = _read_stl(write_mesh(mesh, tmp_path / "m.stl"))
    assert len(stl) == len(mesh.faces)
    np.testing.assert_allclose(stl["vertices"][:, 0], xyz[mesh.faces[:, 0]], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(stl["normal"], axis=1), 1.0, atol=1e-4)

    ply = (tmp_path / "m.ply")
    write_mesh(mesh, ply)
    raw = ply.read_bytes()
    head, body = raw.split(b"end_header\n", 1)
    assert f"element vertex {len(xyz)}".encode() in head
    v = np.frombuffer(body[: len(xyz) * 15], [("xyz", "<f4", 3), ("rgb", "u1", 3)])
    np.testing.assert_allclose(v["xyz"], xyz, atol=1e-6)
    assert tuple(v["rgb"][0]) == (230, 159, 0)
    f = np.frombuffer(body[len(xyz) * 15:], [("n", "u1"), ("idx", "<i4", 3)])
    assert (f["n"] == 3).all() and len(f) == len(mesh.faces)

    obj = write_mesh(mesh, tmp_path / "m.obj").read_text().splitlines()
    verts = np.array([[float(t) for t in ln.split()[1:]] for ln in obj if ln.startswith("v ")])
    faces = np.array([[int(t) for t in ln.split()[1:]] for ln in obj if ln.startswith("f ")])
    np.testing.assert_allclose(verts, xyz, atol=1e-3)
    assert faces.min() == 1 and faces.max() == len(xyz)

    with pytest.raises(OptionError, match="mesh format"):
        write_mesh(mesh, tmp_path / "m.vtk")
    assert not (tmp_path / "m.vtk").exists()


def test_empty_mask_and_bad_options():
    mesh = surface_mesh(np.zeros((4, 4, 4), bool))
    assert len(mesh.faces) == 0 and not mesh.is_closed()
    with pytest.raises(OptionError):
        surface_mesh(np.zeros((4, 4), bool))
    with pytest.raises(OptionError):
        surface_mesh(np.ones((4, 4, 4), bool), step_vox=0)


def _labels():
    labels = np.zeros((30, 20, 24), np.uint8)
    labels[sphere(labels.shape, (12, 12, 8), 6)] = 100
    labels[sphere(labels.shape, (16, 5, 16), 4)] = 150
    labels[sphere(labels.shape, (20, 12, 17), 3)] = 200
    return labels


def test_overlay_colours_and_figures():
    labels = _labels()
    rgba = overlay_rgba(labels[12])
    for m in lab.MUSCLES:
        sel = labels[12] == m.value
        if sel.any():
            np.testing.assert_allclose(rgba[sel][0, :3], np.asarray(m.color) / 255, atol=1e-6)
    assert (rgba[labels[12] == 0, 3] == 0).all()
    k, i, j = default_slices(labels)
    counts = (labels > 0).sum(axis=(1, 2))
    assert counts[k] == counts.max()
    image = np.random.default_rng(0).integers(0, 255, labels.shape, dtype=np.uint8)
    fig = slice_figure(image, labels, (1.0, 0.5, 0.5), prediction=labels)
    assert len([a for a in fig.axes if a.images]) == 3
    entry = fig.legends[0].legend_handles[-1]
    assert fig.legends[0].get_texts()[-1].get_text() == "prediction (dashed)"
    assert entry.get_linestyle() == "--" and entry.get_color() != "white"
    assert png_bytes(fig).startswith(PNG_MAGIC)
    meshes = label_meshes(labels, (1.0, 0.5, 0.5), physical=False)
    assert [m.name for m in meshes] == ["SOL", "GM", "GL"]
    assert png_bytes(render_meshes(meshes)).startswith(PNG_MAGIC)


def test_make_report_tables_meshes_and_errors(tiny_dataset, tmp_path):
    out = tmp_path / "r" / "report.html"
    result = make_report(tiny_dataset, out, max_figures=1, meshes_dir=tmp_path / "meshes",
                         mesh_format="ply")
    text = out.read_text()
    assert result.subjects == 4 and result.figures == text.count("<img ") == 4
    assert len(result.meshes) == 4 * 3 and all(p.suffix == ".ply" for p in result.meshes)
    assert 'class="cohort"' in text and "data:image/png;base64," in text
    assert "Evaluation" not in text
    with pytest.raises(OutputError):
        make_report(tiny_dataset, tiny_dataset / "train" / "S01" / "x1.mha")
    with pytest.raises(InputFileError, match="no subjects"):
        make_report(tmp_path / "r", tmp_path / "x.html")
    with pytest.raises(InputFileError, match="no predictions"):
        make_report(tiny_dataset, tmp_path / "y.html", predictions=tmp_path / "meshes")
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "y.html").exists()


def make_predictions(root, pred_dir):
    """Predictions for two subjects: S01 exactly its labels, S02 shifted by one voxel."""
    from leg3dus import read_volume

    for split, sid, shift in (("train", "S01", 0), ("train", "S02", 1)):
        truth = read_volume(root / split / sid / "masksX1.mha")
        write_volume(truth.with_array(np.roll(truth.array, shift, axis=2)),
                     pred_dir / split / sid / "masksX1.mha")
    return pred_dir


def test_make_report_with_predictions(tiny_dataset, tmp_path):
    pred = make_predictions(tiny_dataset, tmp_path / "pred")
    out = tmp_path / "report.html"
    result = make_report(tiny_dataset, out, predictions=pred, max_figures=1)
    ev = {e["id"]: e for e in result.evaluation}
    assert set(ev) == {"S01", "S02"}
    assert all(ev["S01"]["metrics"][m.name]["dice"] == 1.0 for m in lab.MUSCLES)
    assert all(ev["S02"]["metrics"][m.name]["dice"] < 1.0 for m in lab.MUSCLES)
    text = out.read_text()
    assert 'class="evaluation"' in text and "no prediction for val/S03, test/S04" in text
    assert text.count("<img ") == result.figures == 2 + 2 + 2


def test_find_predictions_layouts(tiny_dataset, tmp_path):
    from leg3dus.dataset import find_subjects

    subjects = find_subjects(tiny_dataset)
    pred = tmp_path / "pred"
    _, labels = Volume(np.zeros((2, 2, 2), np.uint8)), Volume(np.zeros((2, 2, 2), np.uint8))
    write_volume(labels, pred / "train" / "S01" / "masksX1.mha")
    write_volume(labels, pred / "S02" / "seg.mha")
    write_volume(labels, pred / "S03.nii.gz")
    found = find_predictions(pred, subjects)
    assert set(found) == {"train/S01", "val/S03"}
    assert set(find_predictions(pred, subjects, "seg.mha")) == {"train/S02", "val/S03"}


def test_report_cli(cli, tiny_dataset, tmp_path):
    out = tmp_path / "report.html"
    res = cli("report", tiny_dataset, "-o", out, "--max-figures", "0", "--json")
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["subjects"] == 4 and info["figures"] == 2 and out.exists()
    res = cli("report", tiny_dataset, "-o", tmp_path / "b.html", "--mesh-format", "vtk")
    assert res.exit_code == 2 and "--mesh-format" in res.stderr
    assert not (tmp_path / "b.html").exists()


def _report_json(cli, *args):
    res = cli("report", *args, "--json")
    return res, (json.loads(res.stdout) if res.stdout.strip() else None)


def test_report_of_a_folder_without_splits_draws_its_predicted_subject(cli, tiny_dataset,
                                                                       tmp_path):
    from leg3dus import read_volume

    truth = read_volume(tiny_dataset / "test" / "S04" / "masksX1.mha")
    write_volume(truth.with_array(np.roll(truth.array, 1, axis=2)),
                 tmp_path / "pred" / "S04" / "masksX1.mha")
    out = tmp_path / "r.html"
    res, info = _report_json(cli, tiny_dataset / "test", "--predictions", tmp_path / "pred",
                             "-o", out)
    assert res.exit_code == 0, res.stderr
    text = out.read_text()
    assert info["drawn"] == ["S04"] and info["errors"] == [] and info["evaluated"] == 1
    assert info["figures"] == text.count("<img ") == 2 + 2 + 2
    assert 'id="fig-slices-S04"' in text and "No subject" not in text
    assert "prediction outlined dashed" in text
    res = cli("report", tiny_dataset / "test", "--predictions", tmp_path / "pred", "-o", out)
    assert res.stderr == ""  # no progress bar when stderr is not a terminal
    assert res.stdout.strip().splitlines()[-1] == (
        f"report: {out} (1 subjects, 6 figures, slices of S04, 1 predictions evaluated)")
    # One subject folder is a cohort of one.
    res, info = _report_json(cli, tiny_dataset / "train" / "S01", "-o", tmp_path / "one.html")
    assert res.exit_code == 0, res.stderr
    assert info["subjects"] == 1 and info["drawn"] == ["S01"]
    assert info["figures"] == (tmp_path / "one.html").read_text().count("<img ") == 4


def test_report_draws_the_subjects_with_predictions_or_the_chosen_ones(cli, tiny_dataset,
                                                                      tmp_path):
    from leg3dus import read_volume

    pred = tmp_path / "pred"
    for split, sid in (("train", "S02"), ("test", "S04")):
        truth = read_volume(tiny_dataset / split / sid / "masksX1.mha")
        write_volume(truth, pred / split / sid / "masksX1.mha")
    res, info = _report_json(cli, tiny_dataset, "--predictions", pred, "-o", tmp_path / "a.html")
    assert res.exit_code == 0 and info["drawn"] == ["train/S02", "test/S04"]
    text = (tmp_path / "a.html").read_text()
    assert text.count("prediction outlined dashed") == 2 and 'fig-slices-S01"' not in text
    res, info = _report_json(cli, tiny_dataset, "--predictions", pred, "--max-figures", "1",
                             "-o", tmp_path / "b.html")
    assert info["drawn"] == ["train/S02"]
    res, info = _report_json(cli, tiny_dataset, "--subjects", "S03,train/S01", "-o",
                             tmp_path / "c.html")
    assert res.exit_code == 0 and info["drawn"] == ["val/S03", "train/S01"]
    res, info = _report_json(cli, tiny_dataset, "-o", tmp_path / "d.html")
    assert info["drawn"] == ["train/S01", "train/S02", "val/S03", "test/S04"]
    res = cli("report", tiny_dataset, "--subjects", "S09", "-o", tmp_path / "e.html")
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert "S09" in res.stderr and "train/S01" in res.stderr
    assert not (tmp_path / "e.html").exists()


def test_report_says_when_nothing_is_drawn(cli, tiny_dataset, tmp_path):
    res, info = _report_json(cli, tiny_dataset, "--max-figures", "0", "-o", tmp_path / "a.html")
    assert res.exit_code == 0 and info["drawn"] == []
    assert "no slice figures were asked" in (tmp_path / "a.html").read_text()
    res = cli("report", tiny_dataset, "--max-figures", "0", "-o", tmp_path / "b.html")
    assert "no subject drawn" in res.stdout
    # A subject whose image cannot be read is measured (labels) but not drawn: an error.
    image = tiny_dataset / "val" / "S03" / "x1.mha"
    image.write_bytes(image.read_bytes()[:-50])
    res, info = _report_json(cli, tiny_dataset, "--subjects", "S03", "-o", tmp_path / "c.html")
    assert res.exit_code == 2 and info["drawn"] == []
    assert res.stderr.splitlines() == [f"error: val/S03: {info['errors'][0]['error']}"]
    assert [e["id"] for e in info["errors"]] == ["S03"] and "x1.mha" in info["errors"][0]["error"]
    text = (tmp_path / "c.html").read_text()
    assert "Not drawn: val/S03" in text and "none of the chosen subjects" in text


def test_report_progress_goes_over_the_drawn_subjects_and_meshes(tiny_dataset, tmp_path):
    seen = []

    def recorder(items, total=None, description=""):
        items = list(items)
        seen.append((description, total, len(items)))
        return items

    make_report(tiny_dataset, tmp_path / "r.html", max_figures=2, progress=recorder,
                meshes_dir=tmp_path / "m", mesh_step=2)
    assert seen == [("drawing subjects", 2, 2), ("exporting meshes", 4, 4)]
