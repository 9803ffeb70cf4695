"""Volumes with geometry: round trips through every format, headers, broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import make_pair, oblique_direction

from leg3dus import Geometry, Volume, read_header, read_volume, write_volume
from leg3dus.core.errors import GeometryError, InputFileError, OptionError
from leg3dus.core.volume_io import volume_format
from leg3dus.core.zarrio import read_zarr, write_zarr

# NIfTI stores spacing, origin and the rotation as 32-bit floats.
FORMATS = [(".mha", True, 0.0), (".mha", False, 0.0), (".mhd", True, 0.0),
           (".mhd", False, 0.0), (".nrrd", True, 1e-12), (".nrrd", False, 1e-12),
           (".nhdr", True, 1e-12), (".nii", False, 1e-6), (".nii.gz", True, 1e-6),
           (".zarr", True, 0.0)]


def _assert_same_geometry(a, b, atol):
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=0, atol=atol)
    np.testing.assert_allclose(a.origin, b.origin, rtol=0, atol=max(atol, 1e-5 if atol else 0))
    np.testing.assert_allclose(a.direction, b.direction, rtol=0, atol=atol)


@pytest.mark.parametrize(("ext", "compress", "atol"), FORMATS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_round_trip_keeps_voxels_type_and_oblique_geometry(tmp_path, ext, compress, atol, dtype):
    image, _ = make_pair(shape=(9, 7, 5), spacing=(0.277, 0.31, 0.29), origin=(12.5, -3.25, 7.0))
    vol = image.with_array(image.array.astype(dtype) - (3 if dtype != np.uint8 else 0))
    path = write_volume(vol, tmp_path / f"v{ext}", compress=compress)
    back = read_volume(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array, vol.array)
    _assert_same_geometry(back, vol, atol)
    header = read_header(path)
    assert header.shape == vol.shape and header.dtype == np.dtype(dtype)
    _assert_same_geometry(header.geometry, vol, atol)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_direction_survives_exactly_where_the_format_allows(tmp_path):
    image, _ = make_pair(shape=(4, 5, 6))
    assert not np.allclose(image.direction, np.eye(3))
    for ext in (".mha", ".zarr"):
        back = read_volume(write_volume(image, tmp_path / f"d{ext}"))
        assert np.array_equal(back.direction, image.direction)
        assert back.spacing == image.spacing and back.origin == image.origin


def test_zyx_order_matches_itk_xyz(tmp_path):
    vol = Volume(np.zeros((3, 4, 5), np.uint8), spacing=(0.5, 0.4, 0.3), origin=(1, 2, 3),
                 direction=oblique_direction())
    image = vol.to_sitk()
    assert image.GetSize() == (5, 4, 3)
    assert image.GetSpacing() == (0.3, 0.4, 0.5)
    assert image.GetOrigin() == (3.0, 2.0, 1.0)
    # The physical point of index (z, y, x) = (2, 1, 3) agrees with ITK's (x, y, z) one.
    ours = vol.geometry.index_to_physical([2, 1, 3])
    itk = image.TransformContinuousIndexToPhysicalPoint((3.0, 1.0, 2.0))
    np.testing.assert_allclose(ours, itk[::-1], atol=1e-12)
    np.testing.assert_allclose(vol.geometry.physical_to_index(ours), [2, 1, 3], atol=1e-12)


def test_uint8_stays_uint8_and_owns_writable_memory(tmp_path):
    image, _ = make_pair()
    back = read_volume(write_volume(image, tmp_path / "u.mha"))
    assert back.dtype == np.uint8
    back.array[0, 0, 0] = 7  # the buffer stays valid and writable after the reader is gone
    assert back.array[0, 0, 0] == 7
    assert read_volume(tmp_path / "u.mha", dtype=np.float32).dtype == np.float32


def test_header_reads_no_voxels(tmp_path, monkeypatch):
    image, _ = make_pair(shape=(6, 5, 4))
    path = write_volume(image, tmp_path / "h.nrrd")

    def no_read(*args, **kwargs):
        raise AssertionError("read_header must not read voxels")

    monkeypatch.setattr(sitk, "ReadImage", no_read)
    monkeypatch.setattr(sitk.ImageFileReader, "Execute", no_read)
    header = read_header(path)
    assert header.shape == (6, 5, 4) and header.nbytes == 120
    assert header.geometry.voxel_volume_mm3 == pytest.approx(0.5 * 0.4 * 0.3)


@pytest.mark.parametrize(("ext", "compress"), [(".mha", True), (".mha", False), (".nrrd", True),
                                               (".nrrd", False), (".nii", False),
                                               (".nii.gz", True), (".mhd", False),
                                               (".mhd", True), (".nhdr", True),
                                               (".nhdr", False)])
def test_truncated_file_is_an_input_error(tmp_path, ext, compress):
    image, _ = make_pair(shape=(20, 16, 12))
    path = write_volume(image, tmp_path / f"t{ext}", compress=compress)
    data = path if ext not in (".mhd", ".nhdr") else next(
        p for p in tmp_path.iterdir() if "raw" in p.name)
    blob = data.read_bytes()
    data.write_bytes(blob[: len(blob) * 2 // 3])
    for reader in (read_header, read_volume):
        with pytest.raises(InputFileError, match=r"truncated") as info:
            reader(path)
        assert data.name in str(info.value) and "expected" in str(info.value)


def test_missing_folder_and_unsupported_inputs(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_volume(tmp_path / "nope.mha")
    (tmp_path / "dir.mha").mkdir()
    with pytest.raises(InputFileError, match="folder"):
        read_header(tmp_path / "dir.mha")
    (tmp_path / "v.png").write_bytes(b"x")
    with pytest.raises(OptionError, match=r"unsupported volume format.*\.mha"):
        read_volume(tmp_path / "v.png")
    with pytest.raises(OptionError):
        write_volume(Volume(np.zeros((2, 2, 2), np.uint8)), tmp_path / "v.tif")
    (tmp_path / "junk.mha").write_text("not a volume\n")
    with pytest.raises(InputFileError, match="junk.mha"):
        read_volume(tmp_path / "junk.mha")
    sitk.WriteImage(sitk.Image(4, 5, sitk.sitkUInt8), str(tmp_path / "flat.mha"))
    with pytest.raises(GeometryError, match="3D"):
        read_volume(tmp_path / "flat.mha")
    assert volume_format("A/B.NII.GZ") == ".nii.gz"


def test_bad_volumes_are_rejected():
    with pytest.raises(GeometryError):
        Volume(np.zeros((2, 2), np.uint8))
    with pytest.raises(GeometryError):
        Volume(np.zeros((2, 2, 2), np.uint8), spacing=(1, 0, 1))
    with pytest.raises(GeometryError):
        Volume(np.zeros((2, 2, 2), np.uint8)).with_array(np.zeros((2, 2, 3)))


def test_crop_keeps_voxels_in_place():
    image, _ = make_pair()
    box = (slice(3, 10), slice(2, 9), slice(4, 12))
    sub = image.crop(box)
    np.testing.assert_allclose(sub.geometry.index_to_physical([0, 0, 0]),
                               image.geometry.index_to_physical([3, 2, 4]), atol=1e-12)
    assert np.array_equal(sub.array, image.array[box])


def test_geometry_matches_reports_each_difference():
    a = Geometry((4, 5, 6), (0.3, 0.3, 0.3), (0, 0, 0), np.eye(3))
    assert a.matches(a) == []
    b = Geometry((4, 5, 7), (0.3, 0.3, 0.31), (0, 0.01, 0), oblique_direction())
    problems = " ".join(a.matches(b))
    for word in ("shape", "spacing", "origin", "direction"):
        assert word in problems
    assert a.matches(Geometry((4, 5, 6), (0.30001, 0.3, 0.3), (0, 0, 0.0005))) == []


def test_zarr_is_chunked_along_axis0_with_ome_metadata(tmp_path):
    image, _ = make_pair(shape=(70, 8, 6))
    path = write_zarr(image, tmp_path / "v.zarr", chunk_slices=32)
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["node_type"] == "group"
    ome = meta["attributes"]["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert {a["unit"] for a in ms["axes"]} == {"millimeter"}
    transforms = {t["type"]: t for t in ms["datasets"][0]["coordinateTransformations"]}
    assert transforms["scale"]["scale"] == list(image.spacing)
    assert transforms["translation"]["translation"] == list(image.origin)
    array_meta = json.loads((path / ms["datasets"][0]["path"] / "zarr.json").read_text())
    assert array_meta["shape"] == [70, 8, 6]
    assert array_meta["chunk_grid"]["configuration"]["chunk_shape"] == [32, 8, 6]
    assert array_meta["dimension_names"] == ["z", "y", "x"]
    assert np.allclose(meta["attributes"]["leg3dus"]["direction"], image.direction)


def test_zarr_header_without_voxels_and_slab_reads(tmp_path, monkeypatch):
    image, _ = make_pair(shape=(40, 8, 6))
    path = write_volume(image, tmp_path / "v.zarr")
    import zarr

    def no_read(*args, **kwargs):
        raise AssertionError("read_header must not read voxels")

    monkeypatch.setattr(zarr.Array, "__getitem__", no_read)
    header = read_header(path)
    assert header.shape == (40, 8, 6) and header.dtype == np.uint8
    assert np.array_equal(header.geometry.direction, image.direction)
    monkeypatch.undo()
    slab = read_zarr(path, slices=slice(33, 38))
    assert np.array_equal(slab.array, image.array[33:38])
    np.testing.assert_allclose(slab.origin, image.geometry.index_to_physical([33, 0, 0]))


def test_zarr_without_own_attributes_uses_ome_transforms(tmp_path):
    import zarr

    image, _ = make_pair(shape=(5, 4, 3), direction=np.eye(3))
    path = write_volume(image, tmp_path / "v.zarr")
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    del attrs["leg3dus"]
    group.attrs.clear()
    group.attrs.update(attrs)
    back = read_volume(path)
    assert back.spacing == image.spacing and back.origin == image.origin
    assert np.array_equal(back.direction, np.eye(3))
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(InputFileError, match="empty.zarr.*Zarr"):
        read_volume(tmp_path / "empty.zarr")


def test_atomic_path_replaces_a_zarr_folder(tmp_path):
    from leg3dus.core.atomic import atomic_path

    target = tmp_path / "v.zarr"
    for fill in (1, 2):
        vol = Volume(np.full((4, 3, 2), fill, np.uint8), spacing=(1.0, 1.0, 1.0))
        with atomic_path(target) as tmp:
            write_volume(vol, tmp)
    assert np.all(read_volume(target).array == 2)
    assert [p.name for p in tmp_path.iterdir()] == ["v.zarr"]


@pytest.mark.parametrize("ext", [".mha", ".nrrd", ".mhd"])
def test_compression_level_zero_writes_raw_voxels(tmp_path, ext):
    """Level 0 means no compression: the header says so and the file holds every byte."""
    vol = Volume(np.full((20, 30, 40), 7, np.uint8))
    raw = write_volume(vol, tmp_path / f"raw{ext}", compression_level=0)
    write_volume(vol, tmp_path / f"packed{ext}", compression_level=1)
    head = raw.read_bytes()[:600].decode("latin-1")
    assert ("CompressedData = False" in head) if ext != ".nrrd" else ("encoding: raw" in head)
    data_size = sum(p.stat().st_size for p in tmp_path.glob("raw*"))
    assert data_size >= vol.array.nbytes
    assert sum(p.stat().st_size for p in tmp_path.glob("packed*")) < vol.array.nbytes // 10
    np.testing.assert_array_equal(read_volume(raw).array, vol.array)


def test_compression_level_zero_still_gzips_nii_gz(tmp_path):
    vol = Volume(np.full((10, 10, 10), 3, np.uint8))
    path = write_volume(vol, tmp_path / "v.nii.gz", compression_level=0)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_volume(path).array, vol.array)


@pytest.mark.parametrize("level", [-1, 10])
def test_compression_level_out_of_range_is_an_option_error(tmp_path, level):
    with pytest.raises(OptionError, match="0..9"):
        write_volume(Volume(np.zeros((2, 2, 2), np.uint8)), tmp_path / "v.mha",
                     compression_level=level)
    assert not list(tmp_path.iterdir())


def test_synth_compression_level_zero_writes_uncompressed_files(cli, tmp_path):
    out = tmp_path / "raw"
    result = cli("synth", out, "--subjects", "1", "--spacing", "5", "--compression-level", "0",
                 "--fractions", "1", "0", "0", "--quiet")
    assert result.exit_code == 0, result.output
    for name in ("x1.mha", "masksX1.mha"):
        path = next(out.rglob(name))
        assert b"CompressedData = False" in path.read_bytes()[:600]
        vol = read_volume(path)
        assert path.stat().st_size >= vol.array.nbytes


@pytest.mark.parametrize("ext", [".mha", ".nii.gz", ".mhd", ".zarr"])
def test_copy_volume_keeps_voxels_and_geometry(tmp_path, ext):
    from leg3dus.core.volume_io import copy_volume

    image, _ = make_pair(shape=(6, 5, 4))
    src = write_volume(image, tmp_path / f"a{ext}")
    dst = copy_volume(src, tmp_path / "copy" / f"a{ext}")
    back = read_volume(dst)
    np.testing.assert_array_equal(back.array, image.array)
    _assert_same_geometry(back, image, 1e-6)
    if ext in (".mha", ".nii.gz"):
        assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(OptionError, match="format"):
        copy_volume(src, tmp_path / "b.nrrd")
    assert not (tmp_path / "b.nrrd").exists()
