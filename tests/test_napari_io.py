"""The napari reader and writer: geometry in mm, label values, bad input (no Qt needed
for most; the viewer tests use napari's make_napari_viewer)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import read_volume, write_volume
from leg3dus.apps.napari.layers import label_colors
from leg3dus.apps.napari.reader import get_reader, open_subject, read_path
from leg3dus.apps.napari.writer import write_labels
from leg3dus.core.errors import GeometryError, InputFileError, LabelError, OutputError
from leg3dus.core.volume import Volume


@pytest.fixture
def subject(tmp_path):
    """A subject folder: oblique uint8 image and its labels (all three muscles)."""
    image, labels = make_pair(direction=np.eye(3))
    folder = tmp_path / "S01"
    write_volume(image, folder / "x1.mha")
    write_volume(labels, folder / "masksX1.mha")
    return folder


def test_subject_layers_have_geometry_in_mm_and_no_copy(subject):
    layers, warnings = open_subject(subject)
    assert warnings == []
    (img, img_kw, kind), (lab, lab_kw, lab_kind) = layers
    assert (kind, lab_kind) == ("image", "labels")
    assert img.dtype == np.uint8 and lab.dtype == np.uint8
    assert img_kw["scale"] == (0.5, 0.4, 0.3) and img_kw["translate"] == (10.0, -4.0, 2.5)
    assert lab_kw["scale"] == img_kw["scale"] and lab_kw["translate"] == img_kw["translate"]
    assert "rotate" not in img_kw
    assert np.array_equal(img, read_volume(subject / "x1.mha").array)
    # SOL/GM/GL get the project's colours and names
    assert lab_kw["colormap"][150] == (round(86 / 255, 3), round(180 / 255, 3), 0.914, 1.0)
    assert dict(zip(lab_kw["features"]["index"], lab_kw["features"]["muscle"],
                    strict=True))[200] == "GL"


def test_oblique_direction_becomes_rotate(tmp_path):
    image, _ = make_pair()  # oblique direction
    write_volume(image, tmp_path / "x1.mha")
    (_, kw, _), = open_subject(tmp_path / "x1.mha")[0]
    assert np.allclose(kw["rotate"], image.direction)


def test_labels_in_another_convention_round_trip(tmp_path, subject):
    labels = read_volume(subject / "masksX1.mha")
    classes = np.select([labels.array == v for v in (100, 150, 200)], [1, 2, 3], 0)
    write_volume(labels.with_array(classes.astype(np.uint8)), tmp_path / "m.mha")
    layers, _ = open_subject(subject / "x1.mha", labels=tmp_path / "m.mha",
                             label_values="1,2,3")
    data, kw, _ = layers[1]
    assert np.array_equal(data, labels.array)  # shown as 100/150/200
    out = tmp_path / "out.nii.gz"
    assert write_labels(str(out), data, kw) == [str(out)]
    back = read_volume(out)
    assert np.array_equal(back.array, classes)  # written back as 1/2/3, no loss
    assert np.allclose(back.spacing, labels.spacing) and np.allclose(back.origin, labels.origin)


def test_stray_values_kept_reported_and_never_saved(tmp_path, subject):
    labels = read_volume(subject / "masksX1.mha")
    arr = labels.array.copy()
    arr[0, 0, :3] = 7
    write_volume(labels.with_array(arr), subject / "masksX1.mha")
    layers, warnings = open_subject(subject)
    assert len(warnings) == 1 and "7 (3 voxels)" in warnings[0]
    data, kw, _ = layers[1]
    assert (data == 7).sum() == 3  # not dropped
    assert label_colors()[None] == (1.0, 0.0, 1.0, 1.0)  # drawn in magenta
    with pytest.raises(LabelError, match=r"out\.mha: not saved: .*7 \(3 voxels\)"):
        write_labels(str(tmp_path / "out.mha"), data, kw)
    assert not (tmp_path / "out.mha").exists()


def test_writer_never_writes_over_the_image_or_its_source(subject):
    layers, _ = open_subject(subject)
    data, kw, _ = layers[1]
    before = (subject / "x1.mha").read_bytes()
    for name in ("x1.mha", "masksX1.mha"):
        with pytest.raises(OutputError, match="would overwrite the input"):
            write_labels(str(subject / name), data, kw)
    assert (subject / "x1.mha").read_bytes() == before


def test_labels_on_another_grid_fail(tmp_path, subject):
    other = Volume(np.zeros((24, 20, 15), np.uint8), (0.5, 0.4, 0.3), (10.0, -4.0, 2.5))
    write_volume(other, tmp_path / "m.mha")
    with pytest.raises(GeometryError, match=r"m\.mha: expected the grid of .*x1\.mha"):
        open_subject(subject, labels=tmp_path / "m.mha")


def test_truncated_and_missing_files_fail(tmp_path, subject):
    raw = (subject / "x1.mha").read_bytes()
    write_volume(read_volume(subject / "x1.mha"), tmp_path / "S02" / "x1.mha",
                 compress=False)
    path = tmp_path / "S02" / "x1.mha"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputFileError, match="x1.mha"):
        open_subject(tmp_path / "S02")
    with pytest.raises(InputFileError, match="expected a subject folder"):
        open_subject(tmp_path)
    with pytest.raises(InputFileError, match="found nothing there"):
        open_subject(tmp_path / "nothing.mha")
    assert (subject / "x1.mha").read_bytes() == raw


def test_npe2_reader_claims_volumes_and_subjects(subject, tmp_path):
    assert get_reader(str(subject)) is read_path
    assert get_reader(str(subject / "x1.mha")) is read_path
    assert get_reader(str(tmp_path)) is None  # a folder without an image
    (tmp_path / "notes.txt").write_text("x")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    # a labels file alone opens as a labels layer
    (data, kw, kind), = read_path(str(subject / "masksX1.mha"))
    assert kind == "labels" and kw["scale"] == (0.5, 0.4, 0.3)


def test_zarr_image_is_read_lazily(tmp_path, subject):
    pytest.importorskip("zarr")
    image = read_volume(subject / "x1.mha")
    write_volume(image, tmp_path / "x1.zarr")
    layers, _ = open_subject(tmp_path / "x1.zarr")
    data, kw, _ = layers[0]
    assert not isinstance(data, np.ndarray)  # the Zarr array, read as napari shows it
    assert np.array_equal(np.asarray(data[3]), image.array[3])
    assert kw["scale"] == (0.5, 0.4, 0.3)
