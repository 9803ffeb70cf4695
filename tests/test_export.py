"""leg3dus export: every format read back voxel for voxel, geometry kept, no partial output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_pair
from PIL import Image

from leg3dus import read_volume, write_volume
from leg3dus.core import labels as lab
from leg3dus.core.errors import OptionError
from leg3dus.dataset import find_subjects
from leg3dus.dataset.export import EXPORT_FORMATS, ExportOptions, export_dataset
from leg3dus.dataset.itksnap import read_label_description
from leg3dus.dataset.slices import read_slices_npz

SUBJECTS = (("train", "S01"), ("train", "S02"), ("val", "S03"), ("test", "S04"))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    for i, (split, sid) in enumerate(SUBJECTS):
        image, labels = make_pair(shape=(12, 10, 8), spacing=(0.28, 0.28, 0.28), seed=i)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    return root


def _pairs(root):
    return {s.id: (read_volume(s.image), read_volume(s.label)) for s in find_subjects(root)}


def _same_geometry(a, b, atol=1e-6):
    np.testing.assert_allclose(a.spacing, b.spacing, atol=atol)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-5)
    np.testing.assert_allclose(a.direction, b.direction, atol=atol)


def _nothing_under(folder):
    """No file and no temporary folder was left (an empty nnUNet_raw parent may remain)."""
    return not folder.exists() or not any(p.is_file() or p.name.startswith(".")
                                          for p in folder.rglob("*"))


def test_nnunet_layout_dataset_json_and_voxels(cli, tree, tmp_path):
    out = tmp_path / "nnUNet_raw"
    result = cli("export", tree, out, "--to", "nnunet", "--dataset-id", "7", "--json")
    assert result.exit_code == 0, result.stderr
    folder = out / "Dataset007_LEG3DUS"
    assert json.loads(result.stdout)["output"] == str(folder)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file()) == [
        "dataset.json", "imagesTr/S01_0000.nii.gz", "imagesTr/S02_0000.nii.gz",
        "imagesTr/S03_0000.nii.gz", "imagesTs/S04_0000.nii.gz", "labels.itksnap.txt",
        "labelsTr/S01.nii.gz",
        "labelsTr/S02.nii.gz", "labelsTr/S03.nii.gz", "labelsTs/S04.nii.gz",
        "splits_final.json"]
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "US"}
    assert meta["labels"] == {"background": 0, "SOL": 1, "GM": 2, "GL": 3}
    assert meta["numTraining"] == 3 and meta["file_ending"] == ".nii.gz"
    described = read_label_description(folder / "labels.itksnap.txt")
    assert {v: name for v, (name, _) in described.items()} == {
        0: "Clear Label", 1: "SOL", 2: "GM", 3: "GL"}
    assert json.loads((folder / "splits_final.json").read_text()) == [
        {"train": ["S01", "S02"], "val": ["S03"]}]
    for sid, (image, labels) in _pairs(tree).items():
        part = "Ts" if sid == "S04" else "Tr"
        img = read_volume(folder / f"images{part}" / f"{sid}_0000.nii.gz")
        seg = read_volume(folder / f"labels{part}" / f"{sid}.nii.gz")
        assert img.dtype == np.uint8 and np.array_equal(img.array, image.array)
        assert set(np.unique(seg.array)) == {0, 1, 2, 3}
        assert np.array_equal(lab.to_value(seg.array), labels.array)
        _same_geometry(img, image)
        _same_geometry(seg, image)


@pytest.mark.parametrize(("to", "ext"), [("nifti", ".nii.gz"), ("zarr", ".zarr")])
def test_tree_formats_round_trip(cli, tree, tmp_path, to, ext):
    out = tmp_path / to
    assert cli("export", tree, out, "--to", to).exit_code == 0
    exported = find_subjects(out, image_name="x1" + ext, label_name="masksX1" + ext)
    assert [(s.split, s.id) for s in exported] == [(s.split, s.id) for s in find_subjects(tree)]
    pairs = _pairs(tree)
    for s in exported:
        image, labels = pairs[s.id]
        img, seg = read_volume(s.image), read_volume(s.label)
        assert np.array_equal(img.array, image.array) and np.array_equal(seg.array, labels.array)
        _same_geometry(img, image)
        assert read_label_description(s.label.parent / "masksX1.itksnap.txt")[150][0] == "GM"
    assert cli("export", tree, tmp_path / "c", "--to", to, "--classes").exit_code == 0
    seg = read_volume(tmp_path / "c" / "test" / "S04" / ("masksX1" + ext))
    assert np.array_equal(seg.array, lab.to_index(pairs["S04"][1].array))
    described = read_label_description(tmp_path / "c" / "test" / "S04" / "masksX1.itksnap.txt")
    assert described[2][0] == "GM"


def test_slices_png_pairs_with_stride(cli, tree, tmp_path):
    out = tmp_path / "png"
    assert cli("export", tree, out, "--to", "slices", "--stride", "5").exit_code == 0
    image, labels = _pairs(tree)["S02"]
    folder = out / "train" / "S02"
    assert sorted(p.name for p in folder.glob("image_*.png")) == [
        "image_0000.png", "image_0005.png", "image_0010.png"]
    for k in (0, 5, 10):
        assert np.array_equal(np.asarray(Image.open(folder / f"image_{k:04d}.png")),
                              image.array[k])
        assert np.array_equal(np.asarray(Image.open(folder / f"label_{k:04d}.png")),
                              labels.array[k])
    meta = json.loads((folder / "slices.json").read_text())
    assert meta["index"] == [0, 5, 10] and meta["axis"] == 0
    np.testing.assert_allclose(meta["direction"], image.direction)


def test_slices_npz_keeps_geometry(cli, tree, tmp_path):
    out = tmp_path / "npz"
    args = ("export", tree, out, "--to", "slices", "--slice-format", "npz", "--stride", "3",
            "--classes")
    assert cli(*args).exit_code == 0
    image, labels = _pairs(tree)["S03"]
    data = read_slices_npz(out / "val" / "S03.npz")
    assert data["index"].tolist() == [0, 3, 6, 9]
    assert np.array_equal(data["image"], image.array[::3])
    assert np.array_equal(data["label"], lab.to_index(labels.array[::3]))
    np.testing.assert_allclose(data["origin"], image.origin)
    np.testing.assert_allclose(data["spacing"], image.spacing)


def test_failures_leave_no_output(cli, tree, tmp_path):
    out = tmp_path / "out"
    bad = read_volume(tree / "val/S03/masksX1.mha")
    bad.array[0, 0, 0] = 13
    write_volume(bad, tree / "val/S03/masksX1.mha")
    for to in EXPORT_FORMATS:
        result = cli("export", tree, out / to, "--to", to)
        assert result.exit_code == 2
        assert "13 (1 voxel)" in result.stderr and "--fix-stray" in result.stderr
        assert result.stderr.count("\n") == 1
    assert _nothing_under(out)
    write_volume(read_volume(tree / "val/S03/x1.mha").crop(
        (slice(0, 11), slice(None), slice(None))), tree / "val/S03/x1.mha")
    result = cli("export", tree, out / "geo", "--to", "nifti")
    assert result.exit_code == 2 and "grid" in result.stderr
    assert _nothing_under(out)


def test_output_rules_and_bad_options(cli, tree, tmp_path):
    out = tmp_path / "n"
    assert cli("export", tree, out, "--to", "nifti").exit_code == 0
    again = cli("export", tree, out, "--to", "nifti")
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert cli("export", tree, out, "--to", "nifti", "--overwrite").exit_code == 0
    assert cli("export", tree, tree, "--to", "nifti", "--overwrite").exit_code == 2
    assert cli("export", tree, tree.parent, "--to", "zarr", "--overwrite").exit_code == 2
    assert (tree / "train" / "S01" / "x1.mha").exists()
    for args in [("--to", "tiff"), ("--to", "slices", "--stride", "0"),
                 ("--to", "slices", "--slice-format", "jpg"),
                 ("--to", "nnunet", "--dataset-id", "1000"),
                 ("--to", "nnunet", "--dataset-name", "a b")]:
        result = cli("export", tree, tmp_path / "x", *args)
        assert result.exit_code == 2 and result.stderr.startswith("error: "), args
    (tree / "train" / "S02" / "masksX1.mha").unlink()
    result = cli("export", tree, tmp_path / "x", "--to", "nnunet")
    assert result.exit_code == 2 and "train/S02" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_new_format_is_one_table_entry(tree, tmp_path):
    from leg3dus.dataset.export import ExportFormat, register_format

    def write(subject, folder, options):
        (folder / subject.id).write_text(subject.split)
        return {"subject": subject.key}

    register_format(ExportFormat("ids", "subject ids", write))
    try:
        result = export_dataset(find_subjects(tree), "ids", tmp_path / "ids")
        assert (tmp_path / "ids" / "S04").read_text() == "test"
        assert [r["subject"] for r in result["subjects"]][0] == "train/S01"
    finally:
        del EXPORT_FORMATS["ids"]
    with pytest.raises(OptionError):
        export_dataset(find_subjects(tree), "ids", tmp_path / "y")
    with pytest.raises(OptionError, match="stride"):
        ExportOptions(stride=0)
