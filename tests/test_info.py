"""leg3dus info: known muscle volumes, table and JSON, broken subjects reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import write_volume
from leg3dus.core import labels as lab
from leg3dus.dataset import find_subjects
from leg3dus.dataset.info import describe_subject, summarise


def test_describe_subject_known_answer(tiny_dataset):
    subject = find_subjects(tiny_dataset)[0]
    row = describe_subject(subject)
    _, labels = make_pair(seed=1)
    voxel_cm3 = 0.5 * 0.4 * 0.3 / 1000
    counts = {v: int((labels.array == v).sum()) for v in (0, 100, 150, 200)}
    assert row["shape"] == [24, 20, 16] and row["dtype"] == "uint8"
    assert row["spacing"] == pytest.approx([0.5, 0.4, 0.3])
    assert row["label_values"] == [0, 100, 150, 200]
    assert row["label_counts"] == {str(k): v for k, v in counts.items()}
    assert row["volumes_cm3"] == pytest.approx({m.name: counts[m.value] * voxel_cm3
                                                for m in lab.MUSCLES})
    assert row["file_mb"] > 0 and "error" not in row


def test_info_json_and_summary(cli, tiny_dataset):
    result = cli("info", tiny_dataset, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["subjects"]] == ["S01", "S02", "S03", "S04"]
    s = data["summary"]
    assert s["subjects"] == 4 and s["splits"] == {"train": 2, "val": 1, "test": 1}
    sol = [r["volumes_cm3"]["SOL"] for r in data["subjects"]]
    assert s["SOL_cm3_mean"] == pytest.approx(np.mean(sol))
    assert s == summarise(data["subjects"])


def test_info_table_fits_80_columns(cli, tiny_dataset):
    image, labels = make_pair(shape=(1443 // 40, 632 // 40, 564 // 40),
                              spacing=(0.277, 0.277, 0.277))
    write_volume(image, tiny_dataset / "test" / "S1234567" / "x1.mha")
    write_volume(labels, tiny_dataset / "test" / "S1234567" / "masksX1.mha")
    result = cli("info", tiny_dataset)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    table = lines[: lines.index(next(ln for ln in lines if ln.startswith("spacing in mm")))]
    assert len(table) == 6 and max(len(line) for line in table) <= 80
    assert lines[0].split()[:4] == ["split", "subject", "shape", "z,y,x"]
    row = next(line for line in lines if "S1234567" in line)
    assert "36x15x14" in row and " 0.277 " in row and "0,100,150,200" in row
    assert lines[-1].startswith("5 subjects (train 2, val 1, test 2)")


def test_info_goes_on_past_a_broken_subject_and_exits_2(cli, tiny_dataset):
    path = tiny_dataset / "train" / "S02" / "masksX1.mha"
    path.write_bytes(path.read_bytes()[:-50])
    result = cli("info", tiny_dataset, "--json")
    assert result.exit_code == 2
    rows = {r["id"]: r for r in json.loads(result.stdout)["subjects"]}
    assert "truncated" in rows["S02"]["error"] and "masksX1.mha" in rows["S02"]["error"]
    assert all("error" not in rows[s] for s in ("S01", "S03", "S04"))
    text = cli("info", tiny_dataset)
    assert text.exit_code == 2
    assert "1 unreadable" in text.stdout and "S02" in text.stdout
    lines = text.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: train/S02: ")
    assert "masksX1.mha" in lines[0] and "truncated" in lines[0]


def test_info_on_a_truncated_volume_exits_2(cli, tiny_dataset):
    path = tiny_dataset / "val" / "S03" / "x1.mha"
    path.write_bytes(path.read_bytes()[:-50])
    result = cli("info", path)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: x1.mha: ")
    assert "truncated" in lines[0] and str(path) in lines[0]
    intact = cli("info", tiny_dataset / "val" / "S03" / "masksX1.mha")
    assert intact.exit_code == 0 and intact.stderr == ""


def test_info_single_volume_and_errors(cli, tiny_dataset, tmp_path):
    result = cli("info", tiny_dataset / "val" / "S03" / "masksX1.mha", "--json")
    row = json.loads(result.stdout)["subjects"][0]
    assert row["label_values"] == [0, 100, 150, 200] and row["shape"] == [24, 20, 16]
    result = cli("info", tiny_dataset / "val" / "S03" / "x1.mha", "--json")
    assert "label_values" not in json.loads(result.stdout)["subjects"][0]
    for bad in (tmp_path / "missing", tmp_path / "note.txt"):
        if bad.suffix:
            bad.write_text("x")
        result = cli("info", bad)
        assert result.exit_code == 2 and result.stderr.startswith("error: ")
        assert str(bad.name) in result.stderr
