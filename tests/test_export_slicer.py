"""3D Slicer segmentations (.seg.nrrd) and ITK-SNAP label descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import make_pair

from leg3dus import read_volume, write_volume
from leg3dus.core import labels as lab
from leg3dus.core.errors import InputFileError, LabelError
from leg3dus.core.label_values import read_labels
from leg3dus.core.segnrrd import geometry_to_ijk, read_seg_nrrd, read_segments, write_seg_nrrd
from leg3dus.core.volume import Volume
from leg3dus.core.volume_io import read_header
from leg3dus.dataset import find_subjects
from leg3dus.dataset.itksnap import read_label_description

slicerio = pytest.importorskip("slicerio")


def _same_geometry(a, b):
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-9)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-9)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-9)


def test_slicerio_reads_written_segments_and_geometry(tmp_path):
    _, labels = make_pair(shape=(9, 7, 5))  # oblique direction, anisotropic spacing
    path = write_volume(labels, tmp_path / "m.seg.nrrd")
    seg = slicerio.read_segmentation(str(path))
    assert [(s["name"], s["labelValue"], s["layer"]) for s in seg["segments"]] == [
        ("SOL", 100, 0), ("GM", 150, 0), ("GL", 200, 0)]
    for s, m in zip(seg["segments"], lab.MUSCLES, strict=True):
        np.testing.assert_allclose(np.array(s["color"]) * 255, m.color, atol=1e-3)
    # slicerio's (i, j, k) = (x, y, z) voxels and ijkToLPS against our (z, y, x) volume.
    assert np.array_equal(seg["voxels"].transpose(2, 1, 0), labels.array)
    np.testing.assert_allclose(seg["ijkToLPS"], geometry_to_ijk(labels), atol=1e-9)
    # ITK reads the same file on the same grid.
    image = sitk.ReadImage(str(path))
    assert np.array_equal(sitk.GetArrayFromImage(image), labels.array)
    np.testing.assert_allclose(image.GetOrigin(), labels.origin[::-1], atol=1e-9)
    back = read_volume(path)
    assert np.array_equal(back.array, labels.array)
    _same_geometry(back, labels)
    assert read_header(path).shape == labels.shape


def test_classes_are_written_with_class_values_and_read_back_as_the_scheme(tmp_path):
    _, labels = make_pair(shape=(6, 6, 6))
    classes = labels.with_array(lab.to_index(labels.array))
    path = write_volume(classes, tmp_path / "c.seg.nrrd")
    assert [(s.name, s.label_value) for s in read_segments(path)] == [
        ("SOL", 1), ("GM", 2), ("GL", 3)]
    mapped, convention = read_labels(path)
    assert convention.name == "classes"
    assert np.array_equal(mapped.array, labels.array)


def test_slicer_example_layout_is_read_like_itk():
    path = slicerio.get_testdata_file("Segmentation.seg.nrrd")
    volume, segments = read_seg_nrrd(path)
    image = sitk.ReadImage(path)
    assert np.array_equal(volume.array, sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(volume.spacing, image.GetSpacing()[::-1], atol=1e-9)
    np.testing.assert_allclose(volume.origin, image.GetOrigin()[::-1], atol=1e-9)
    assert [s.label_value for s in segments] == [1, 2, 3, 4, 5, 6, 7]
    assert segments[0].name == "ribs"


def test_overlapping_layers_are_refused():
    path = slicerio.get_testdata_file("SegmentationOverlapping.seg.nrrd")
    with pytest.raises(LabelError, match="SegmentationOverlapping.seg.nrrd: expected segments"):
        read_volume(path)


def _slicer_layout(labels: Volume, path, crop, names=("SOL", "GM", "GL")):
    """A file as Slicer writes it: muscles in two layers, cropped to their extent with a
    ReferenceImageExtentOffset, the reference grid in the conversion parameters (RAS)."""
    m = geometry_to_ijk(labels)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ m
    nx, ny, nz = labels.shape[::-1]
    geometry = ";".join(f"{v:.17g}" for v in ras.ravel()) + f";0;{nx - 1};0;{ny - 1};0;{nz - 1};"
    example = slicerio.read_segmentation(slicerio.get_testdata_file("Segmentation.seg.nrrd"),
                                         skip_voxels=True)
    params = [dict(p) for p in example["conversionParameters"]]
    for p in params:
        if p["name"] == "Reference image geometry":
            p["value"] = geometry
    box = labels.array[crop]  # crop is a (z, y, x) box; the file is (layer, i, j, k)
    layers = np.zeros((2, *box.shape[::-1]), np.uint8)
    layers[0] = np.where(box == 100, 1, 0).T + np.where(box == 200, 3, 0).T
    layers[1] = np.where(box == 150, 2, 0).T
    offset = [crop[2].start, crop[1].start, crop[0].start]
    cropped = m.copy()
    cropped[:3, 3] = m[:3, :3] @ offset + m[:3, 3]
    seg = {"voxels": layers, "ijkToLPS": cropped, "conversionParameters": params,
           "referenceImageExtentOffset": offset,
           "segments": [{"id": f"Segment_{i}", "name": n, "labelValue": v, "layer": layer}
                        for i, (n, v, layer) in enumerate(zip(names, (1, 2, 3), (0, 1, 0),
                                                              strict=True))]}
    slicerio.write_segmentation(str(path), seg)
    return path


def test_slicer_layout_cropped_layered_is_placed_on_the_image_grid(tmp_path):
    image, labels = make_pair(shape=(14, 12, 10))
    crop = (slice(2, 12), slice(2, 10), slice(2, 8))  # every label lies inside
    assert not labels.array[[0, 1, 12, 13]].any()
    path = _slicer_layout(labels, tmp_path / "masksX1.seg.nrrd", crop)
    assert read_header(path).geometry.matches(image.geometry) == []
    mapped, convention = read_labels(path)
    assert convention.muscles == {"SOL": 1, "GM": 2, "GL": 3}
    assert np.array_equal(mapped.array, labels.array)
    _same_geometry(mapped, labels)


def test_bad_inputs_name_the_file(tmp_path):
    _, labels = make_pair(shape=(5, 5, 5))
    labels.array[0, 0, 0] = 7
    with pytest.raises(LabelError, match=r"m.seg.nrrd: expected label values .* 7 "):
        write_seg_nrrd(labels, tmp_path / "m.seg.nrrd")
    assert not list(tmp_path.iterdir())
    bad = tmp_path / "bad.seg.nrrd"
    bad.write_bytes(b"not a nrrd\n")
    with pytest.raises(InputFileError, match="bad.seg.nrrd: expected a Slicer segmentation"):
        read_volume(bad)


def test_export_to_slicer_tree_itksnap_and_commands_read_it(cli, tiny_dataset, tmp_path):
    out = tmp_path / "slicer"
    result = cli("export", tiny_dataset, out, "--to", "slicer")
    assert result.exit_code == 0, result.stderr
    exported = find_subjects(out, image_name="x1.nrrd", label_name="masksX1.seg.nrrd")
    assert len(exported) == 4
    originals = {s.id: s for s in find_subjects(tiny_dataset)}
    for s in exported:
        labels = read_volume(originals[s.id].label)
        image = read_volume(originals[s.id].image)
        assert np.array_equal(read_volume(s.image).array, image.array)
        seg = read_volume(s.label)
        assert np.array_equal(seg.array, labels.array)
        _same_geometry(seg, labels)
        described = read_label_description(s.label.parent / "masksX1.itksnap.txt")
        assert described == {0: ("Clear Label", (0, 0, 0)),
                             **{m.value: (m.name, m.color) for m in lab.MUSCLES}}
    # A command that reads labels reads the exported tree as it is.
    check = cli("validate", out, "--image-name", "x1.nrrd", "--label-name", "masksX1.seg.nrrd",
                "--iso-tol", "1")
    assert check.exit_code == 0, check.stdout + check.stderr
    classes = tmp_path / "cls"
    assert cli("export", tiny_dataset, classes, "--to", "slicer", "--classes").exit_code == 0
    folder = classes / "train" / "S01"
    assert [s.label_value for s in read_segments(folder / "masksX1.seg.nrrd")] == [1, 2, 3]
    assert set(read_label_description(folder / "masksX1.itksnap.txt")) == {0, 1, 2, 3}


def test_export_reads_seg_nrrd_labels_and_a_bad_one_exits_2(cli, tiny_dataset, tmp_path):
    folder = tiny_dataset / "train" / "S01"
    write_volume(read_volume(folder / "masksX1.mha"), folder / "masksX1.seg.nrrd")
    (tiny_dataset / "train" / "S02" / "masksX1.seg.nrrd").write_bytes(b"NRRD0004\nbroken")
    for s in ("S03", "S04"):
        split = "val" if s == "S03" else "test"
        f = tiny_dataset / split / s
        write_volume(read_volume(f / "masksX1.mha"), f / "masksX1.seg.nrrd")
    result = cli("export", tiny_dataset, tmp_path / "n", "--to", "nifti",
                 "--label-name", "masksX1.seg.nrrd")
    assert result.exit_code == 2
    assert "masksX1.seg.nrrd" in result.stderr and not (tmp_path / "n").exists()


def test_evaluate_and_morphology_read_seg_nrrd(cli, tmp_path):
    _, labels = make_pair(shape=(16, 14, 12))
    truth = write_volume(labels, tmp_path / "truth.mha")
    # Class values 1..3 in the segmentation: its segment names say which muscle is which.
    pred = write_volume(labels.with_array(lab.to_index(labels.array)), tmp_path / "p.seg.nrrd")
    result = cli("evaluate", pred, truth, "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert [scores[m.name]["dice"] for m in lab.MUSCLES] == [1.0, 1.0, 1.0]
    morph = cli("morphology", pred, "--json")
    assert morph.exit_code == 0, morph.stderr
    subject = json.loads(morph.stdout)["subjects"][0]
    assert subject["shape"] == [16, 14, 12] and subject["stray_values"] == {}
