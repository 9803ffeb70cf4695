"""OME-Zarr per subject: pyramid, NGFF labels, validation by ome-zarr-models, ome-zarr-py."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import Volume, read_volume, write_volume
from leg3dus.core.zarrio import halve_mean, halve_mode, pyramid_shapes, write_pyramid
from leg3dus.dataset.omezarr import LABELS_NAME, write_subject

zarr = pytest.importorskip("zarr")
models = pytest.importorskip("ome_zarr_models.v05")


def _blocky(rng, shape, block, values):
    """A volume constant on aligned block**3 cubes, cut to ``shape``."""
    small = rng.choice(values, size=[-(-n // block) for n in shape]).astype(np.uint8)
    big = np.kron(small, np.ones((block,) * 3, np.uint8))
    return big[: shape[0], : shape[1], : shape[2]]


@pytest.fixture
def subject(tmp_path):
    rng = np.random.default_rng(3)
    shape = (37, 22, 19)  # odd sizes: the last block of a level repeats its edge voxel
    image = Volume(_blocky(rng, shape, 4, np.arange(0, 250, 7)), (0.3, 0.4, 0.5),
                   (10.0, -4.0, 2.5))
    labels = image.with_array(_blocky(rng, shape, 4, [0, 100, 150, 200]))
    path = tmp_path / "S01.ome.zarr"
    result = write_subject(path, lambda: image, lambda geometry: labels, name="S01",
                           chunk_slices=4, min_level_bytes=200)
    return path, image, labels, result


def test_pyramid_levels_halve_with_matching_scales(subject):
    path, image, labels, result = subject
    assert result["levels"] == [[37, 22, 19], [19, 11, 10], [10, 6, 5], [5, 3, 3]]
    group = zarr.open_group(str(path), mode="r")
    ms = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    label_ms = group["labels"][LABELS_NAME].attrs["ome"]["multiscales"][0]
    for level, (ds, label_ds) in enumerate(zip(ms["datasets"], label_ms["datasets"],
                                               strict=True)):
        scale, translation = ds["coordinateTransformations"]
        np.testing.assert_allclose(scale["scale"], np.array(image.spacing) * 2 ** level)
        # The centre of the first 2**level block, in image and labels alike.
        np.testing.assert_allclose(translation["translation"],
                                   np.array(image.origin) + (2 ** level - 1) / 2
                                   * np.array(image.spacing))
        assert label_ds["coordinateTransformations"] == ds["coordinateTransformations"]
        array = group[ds["path"]]
        assert list(array.shape) == result["levels"][level]
        assert array.chunks == (min(4, array.shape[0]), *array.shape[1:])  # along the leg
        assert group["labels"][LABELS_NAME][ds["path"]].shape == array.shape
    # Constant 4-voxel cubes: levels 1 and 2 are exact subsamplings of level 0.
    for level in (1, 2):
        step = 2 ** level
        assert np.array_equal(group[str(level)][:], image.array[::step, ::step, ::step])
        assert np.array_equal(group["labels"][LABELS_NAME][str(level)][:],
                              labels.array[::step, ::step, ::step])
    assert np.array_equal(group["0"][:], image.array)
    assert group["3"].nbytes <= 200 < group["2"].nbytes


def test_ome_zarr_models_validates_image_and_labels(subject):
    path = subject[0]
    group = zarr.open_group(str(path), mode="r")
    image = models.Image.from_zarr(group)
    assert image.labels is not None and image.labels.label_paths == [LABELS_NAME]
    from ome_zarr_models.v05.image_label import ImageLabel
    from ome_zarr_models.v05.labels import Labels

    Labels.from_zarr(group["labels"])
    label = ImageLabel.from_zarr(group["labels"][LABELS_NAME]).attributes.ome.image_label
    assert [(c.label_value, c.rgba) for c in label.colors] == [
        (100, (230, 159, 0, 255)), (150, (86, 180, 233, 255)), (200, (0, 158, 115, 255))]
    assert [p.model_extra["name"] for p in label.properties] == ["SOL", "GM", "GL"]


def test_ome_zarr_py_reads_image_and_labels(subject):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    path, image, labels, result = subject
    nodes = list(Reader(parse_url(str(path)))())
    assert [tuple(d.shape) for d in nodes[0].data] == [tuple(s) for s in result["levels"]]
    muscles = nodes[-1]
    assert f"labels/{LABELS_NAME} " in str(muscles.zarr)
    assert np.array_equal(np.asarray(muscles.data[0]), labels.array)
    assert muscles.metadata["color"] == {100: [230 / 255, 159 / 255, 0.0, 1.0],
                                         150: [86 / 255, 180 / 255, 233 / 255, 1.0],
                                         200: [0.0, 158 / 255, 115 / 255, 1.0]}


def test_leg3dus_reads_the_image_back_with_its_direction(tmp_path):
    image, labels = make_pair(shape=(9, 8, 7))  # oblique
    write_subject(tmp_path / "s.ome.zarr", lambda: image, lambda g: labels)
    back = read_volume(tmp_path / "s.ome.zarr")
    assert np.array_equal(back.array, image.array)
    np.testing.assert_allclose(back.direction, image.direction)
    np.testing.assert_allclose(back.origin, image.origin)


class _Recorder:
    """A source that records the slabs read from it."""

    def __init__(self, array):
        self.array, self.reads = array, []
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key):
        slab = self.array[key]
        self.reads.append(len(slab))
        return slab


def test_written_slab_by_slab(tmp_path):
    source = _Recorder(np.zeros((50, 8, 8), np.uint8))
    group = zarr.open_group(str(tmp_path / "p.zarr"), mode="w", zarr_format=3)
    write_pyramid(group, source, chunk_slices=4, min_level_bytes=100)
    assert sum(source.reads) == 50 and max(source.reads) == 8  # 2 * chunk_slices


def test_halving_known_answers():
    assert pyramid_shapes((5, 4, 3), 1, min_level_bytes=1) == [(5, 4, 3), (3, 2, 2),
                                                                (2, 1, 1), (1, 1, 1)]
    block = np.array([[[10, 20], [30, 40]], [[50, 60], [70, 81]]], np.uint8)
    assert halve_mean(block).item() == 45  # 360/8 + 1/8, rounded
    tie = np.array([0, 0, 0, 0, 150, 150, 200, 200], np.uint8).reshape(2, 2, 2)
    assert halve_mode(tie).item() == 0  # 4 background vs 2 + 2: background wins
    tie[0] = 100
    assert halve_mode(tie).item() == 100  # 4 vs 4: the muscle over background


def test_export_to_ome_zarr_and_bad_labels(cli, tiny_dataset, tmp_path):
    out = tmp_path / "oz"
    result = cli("export", tiny_dataset, out, "--to", "ome-zarr")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.ome.zarr")) == [
        "test/S04.ome.zarr", "train/S01.ome.zarr", "train/S02.ome.zarr", "val/S03.ome.zarr"]
    group = zarr.open_group(str(out / "train" / "S01.ome.zarr"), mode="r")
    models.Image.from_zarr(group)
    original = read_volume(tiny_dataset / "train" / "S01" / "masksX1.mha")
    assert np.array_equal(group["labels"][LABELS_NAME]["0"][:], original.array)
    classes = tmp_path / "cls"
    assert cli("export", tiny_dataset, classes, "--to", "ome-zarr", "--classes").exit_code == 0
    label = zarr.open_group(str(classes / "val" / "S03.ome.zarr"), mode="r")
    assert [c["label-value"] for c in
            label["labels"][LABELS_NAME].attrs["ome"]["image-label"]["colors"]] == [1, 2, 3]
    # A stray value stops the export: one line, exit 2, nothing written.
    bad = read_volume(tiny_dataset / "val" / "S03" / "masksX1.mha")
    bad.array[0, 0, 0] = 7
    write_volume(bad, tiny_dataset / "val" / "S03" / "masksX1.mha")
    failed = cli("export", tiny_dataset, tmp_path / "bad", "--to", "ome-zarr")
    assert failed.exit_code == 2 and "masksX1.mha" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
@pytest.mark.parametrize("level", [0, 1])
def test_mha_is_streamed_slab_by_slab(tmp_path, dtype, level):
    from leg3dus.dataset.slab_source import _MhaStream, open_slabs

    rng = np.random.default_rng(1)
    image, _ = make_pair(shape=(37, 11, 9))
    image = image.with_array((rng.random(image.shape) * 200).astype(dtype))
    path = write_volume(image, tmp_path / "x1.mha", compression_level=level)
    source = open_slabs(path)
    assert isinstance(source, _MhaStream)  # not read whole
    assert source.geometry.matches(image.geometry) == []
    slabs = [source[a:a + 8] for a in range(0, 37, 8)]
    assert max(len(s) for s in slabs) == 8
    assert np.array_equal(np.concatenate(slabs), image.array)
    assert np.array_equal(source[3:5], image.array[3:5])  # going back restarts the stream
    other = open_slabs(write_volume(image, tmp_path / "x1.nii.gz"))
    assert np.array_equal(other[30:40], image.array[30:])


def test_ome_zarr_export_maps_label_values(cli, tiny_dataset, tmp_path):
    from leg3dus.core import labels as lab
    folder = tiny_dataset / "train" / "S01"
    scheme = read_volume(folder / "masksX1.mha")
    write_volume(scheme.with_array(lab.to_index(scheme.array)), folder / "masksX1.mha")
    plain = cli("export", tiny_dataset, tmp_path / "a", "--to", "ome-zarr")
    assert plain.exit_code == 2 and "give --label-values" in plain.stderr
    assert not (tmp_path / "a").exists()
    mapped = cli("export", tiny_dataset, tmp_path / "b", "--to", "ome-zarr",
                 "--label-values", "SOL=1,GM=2,GL=3,background=0")
    # Other subjects hold 100/150/200: with 1,2,3 they are refused too, naming the file.
    assert mapped.exit_code == 2 and "S02" in mapped.stderr
    for split, sid in [("train", "S02"), ("val", "S03"), ("test", "S04")]:
        f = tiny_dataset / split / sid / "masksX1.mha"
        v = read_volume(f)
        write_volume(v.with_array(lab.to_index(v.array)), f)
    ok = cli("export", tiny_dataset, tmp_path / "c", "--to", "ome-zarr", "--label-values", "1,2,3")
    assert ok.exit_code == 0, ok.stderr
    group = zarr.open_group(str(tmp_path / "c" / "train" / "S01.ome.zarr"), mode="r")
    assert np.array_equal(group["labels"][LABELS_NAME]["0"][:], scheme.array)
