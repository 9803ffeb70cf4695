"""Finding subjects in LEG-3D-US trees, flat folders and single files."""

from __future__ import annotations

import pytest
from conftest import make_pair

from leg3dus import write_volume
from leg3dus.core.errors import InputFileError, OptionError
from leg3dus.core.layout import list_subjects, single_volume_roles
from leg3dus.dataset import Subject, find_subjects, subject_folder


def test_tree_layout_sorted_by_split_then_id(tiny_dataset):
    subjects = find_subjects(tiny_dataset)
    assert [(s.split, s.id) for s in subjects] == [("train", "S01"), ("train", "S02"),
                                                   ("val", "S03"), ("test", "S04")]
    s = subjects[0]
    assert s.image == tiny_dataset / "train" / "S01" / "x1.mha"
    assert s.label == tiny_dataset / "train" / "S01" / "masksX1.mha"
    assert s.key == "train/S01"
    assert [x.id for x in find_subjects(tiny_dataset, splits=("validation", "test"))] == \
        ["S03", "S04"]
    with pytest.raises(OptionError, match="unknown split"):
        find_subjects(tiny_dataset, splits=("dev",))


def test_validation_alias_missing_files_and_other_names(tmp_path):
    image, labels = make_pair()
    write_volume(image, tmp_path / "validation" / "A" / "x1.mha")
    write_volume(labels, tmp_path / "Train" / "B" / "masksX1.mha")
    (tmp_path / "train" / "notes").mkdir(parents=True)
    subjects = find_subjects(tmp_path)
    assert [(s.split, s.id, s.image is None, s.label is None) for s in subjects] == [
        ("train", "B", True, False), ("val", "A", False, True)]
    write_volume(image, tmp_path / "other" / "C" / "us.nrrd")
    write_volume(labels, tmp_path / "other" / "C" / "seg.nrrd")
    found = find_subjects(tmp_path / "other", image_name="us.nrrd", label_name="seg.nrrd")
    assert found == [Subject("C", "", tmp_path / "other" / "C" / "us.nrrd",
                             tmp_path / "other" / "C" / "seg.nrrd")]


def test_flat_folder_with_patterns(tmp_path):
    image, labels = make_pair()
    for sid in ("P1", "P2"):
        write_volume(image, tmp_path / "test" / f"{sid}.nii.gz")
        write_volume(labels, tmp_path / "test" / f"{sid}_seg.nii.gz")
    write_volume(image, tmp_path / "test" / "P3.nii.gz")
    subjects = find_subjects(tmp_path, "{id}.nii.gz", "{id}_seg.nii.gz", flat=True)
    assert [(s.split, s.id, s.label is not None) for s in subjects] == [
        ("test", "P1", True), ("test", "P2", True), ("test", "P3", False)]
    with pytest.raises(OptionError, match="exactly once"):
        find_subjects(tmp_path, "{id}{id}.mha", "{id}_seg.mha", flat=True)


def test_list_subjects_single_volume_and_errors(tmp_path, tiny_dataset):
    lone = tiny_dataset / "test" / "S04"
    assert list_subjects(lone / "x1.mha")[0].image == lone / "x1.mha"
    assert list_subjects(lone / "masksX1.mha")[0].image == lone / "masksX1.mha"
    as_label = single_volume_roles(list_subjects(lone / "masksX1.mha"), lone / "masksX1.mha")
    assert as_label[0].label == lone / "masksX1.mha" and as_label[0].image is None
    as_image = single_volume_roles(list_subjects(lone / "x1.mha"), lone / "x1.mha")
    assert as_image[0].image == lone / "x1.mha" and as_image[0].label is None
    one = list_subjects(tiny_dataset / "train" / "S02")
    assert [(s.id, s.image.name, s.label.name) for s in one] == [("S02", "x1.mha",
                                                                  "masksX1.mha")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"empty: no subjects found; expected"):
        list_subjects(tmp_path / "empty")
    with pytest.raises(InputFileError, match="no such folder"):
        find_subjects(tmp_path / "absent")
    assert subject_folder("root", "train", "S01").as_posix() == "root/train/S01"
    assert subject_folder("root", "", "S01").as_posix() == "root/S01"
