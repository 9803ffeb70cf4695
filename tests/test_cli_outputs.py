"""No command overwrites an input: every output option refuses a file the command reads
(a subject's image or labels, a participants table, a model, predictions) and a folder
holding one, with one error line, exit 2, and nothing written."""

from __future__ import annotations

import hashlib

import pytest


def snapshot(root):
    """Every file under ``root`` (hidden temporary ones included) with its checksum."""
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def refused(cli, tmp_path):
    """Run ``leg3dus ARGS``; assert exit 2, one ``error:`` line naming ``names``, and no
    file under the test folder added, removed or changed."""

    def run(*args, names=()):
        before = snapshot(tmp_path)
        res = cli(*args)
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
        for name in names:
            assert str(name) in lines[0], lines[0]
        assert snapshot(tmp_path) == before
        return lines[0]

    return run


def test_synth_refuses_a_dataset_or_a_file(refused, tiny_dataset):
    refused("synth", tiny_dataset, "-n", "1", "--spacing", "5", names=[tiny_dataset])
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("synth", image, "-n", "1", "--spacing", "5", names=[image])


def test_info_writes_nothing(cli, tiny_dataset, tmp_path):
    before = snapshot(tmp_path)
    assert cli("info", tiny_dataset).exit_code == 0
    assert cli("info", tiny_dataset / "train" / "S01" / "masksX1.mha", "--json").exit_code == 0
    assert snapshot(tmp_path) == before


def test_validate_fix_stray_refuses_the_dataset_and_its_files(refused, tiny_dataset):
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("validate", tiny_dataset, "--fix-stray", "nearest", "--out", image, names=[image])
    refused("validate", tiny_dataset, "--fix-stray", "nearest", "--out", tiny_dataset)
    subject = tiny_dataset / "train" / "S01"
    refused("validate", subject, "--fix-stray", "nearest", "--out", subject)


def test_export_refuses_a_folder_of_the_dataset_or_one_of_its_files(refused, tiny_dataset):
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("export", tiny_dataset, image, "--to", "nifti", "--overwrite", names=[image])
    split = tiny_dataset / "train"
    refused("export", tiny_dataset, split, "--to", "nifti", "--overwrite", names=[split])
    refused("export", tiny_dataset, tiny_dataset, "--to", "nifti", "--overwrite")


def test_compound_refuses_its_sequence_and_config(refused, tmp_path):
    seq, config = tmp_path / "s1.igs.mha", tmp_path / "calib.xml"
    seq.write_bytes(b"not read: the output is checked first")
    config.write_text("<PlusConfiguration/>")
    refused("compound", seq, "-o", seq, names=[seq])
    refused("compound", seq, "--config", config, "-o", config, names=[config])


def test_propagate_refuses_its_sparse_labels_and_their_tree(refused, tiny_dataset, tmp_path):
    labels = tiny_dataset / "train" / "S01" / "masksX1.mha"
    refused("propagate", labels, "-o", labels, names=[labels])
    refused("propagate", tiny_dataset, "-o", tiny_dataset)
    listed = tmp_path / "slices.txt"
    listed.write_text("2\n10\n")
    refused("propagate", labels, "--annotated", listed, "-o", listed, names=[listed])


def test_register_refuses_its_inputs_for_every_output(refused, tiny_dataset):
    s1, s2 = tiny_dataset / "train" / "S01", tiny_dataset / "train" / "S02"
    fixed, moving, labels = s1 / "x1.mha", s2 / "x1.mha", s2 / "masksX1.mha"
    tfm = s1.parent / "t.tfm"
    refused("register", fixed, moving, "-o", tfm, "--labels", labels, "--labels-out", labels,
            names=[labels])
    refused("register", fixed, moving, "-o", tfm, "--resampled", fixed, names=[fixed])
    refused("register", fixed, moving, "-o", tfm, "--labels", labels, "--labels-out",
            s1 / "masksX1.mha", "--resampled", s1 / "masksX1.mha")


def test_train_refuses_the_dataset_as_run_folder(refused, tiny_dataset):
    pytest.importorskip("monai")
    refused("train", tiny_dataset, "--model", "2d", "--out", tiny_dataset, names=[tiny_dataset])
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("train", tiny_dataset, "--model", "2d", "--out", image, names=[image])


def test_predict_refuses_images_labels_and_the_model(refused, tiny_dataset, tmp_path):
    pytest.importorskip("monai")
    model = tmp_path / "model.ts"
    model.write_bytes(b"not read: the output is checked first")
    image = tiny_dataset / "test" / "S04" / "x1.mha"
    refused("predict", model, image, "-o", image, names=[image])
    refused("predict", model, image, "-o", model, names=[model])
    refused("predict", model, tiny_dataset, "-o", tiny_dataset)


def test_evaluate_refuses_an_input_before_computing(refused, tiny_dataset, tmp_path):
    labels = tiny_dataset / "train" / "S01" / "masksX1.mha"
    refused("evaluate", labels, labels, "--out", labels, names=[labels])
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "S01.mha").write_bytes(labels.read_bytes())
    refused("evaluate", pred, tiny_dataset, "--out", pred / "S01.mha", names=["S01.mha"])
    table = tiny_dataset / "scores.csv"
    table.write_text("kept\n")
    refused("evaluate", labels, table, "--out", table, names=[table])


def test_morphology_refuses_labels_images_and_the_participants_table(refused, tiny_dataset):
    labels = tiny_dataset / "train" / "S01" / "masksX1.mha"
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("morphology", tiny_dataset, "-o", labels, names=[labels])
    refused("morphology", tiny_dataset, "--profiles", image, names=[image])
    refused("morphology", tiny_dataset, "--summary", tiny_dataset)
    table = tiny_dataset / "participants.tsv"
    table.write_text("participant_id\tsex\tside\nS01\tF\tleft\n")
    refused("morphology", tiny_dataset, "-o", table, names=[table])
    refused("morphology", tiny_dataset, "-o", image.parent / "m.csv", "--profiles",
            image.parent / "m.csv", names=["m.csv"])


def test_report_refuses_the_data_and_the_predictions(refused, tiny_dataset, tmp_path):
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("report", tiny_dataset, "-o", image, names=[image])
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "S02.mha").write_bytes((tiny_dataset / "train" / "S02" / "masksX1.mha").read_bytes())
    refused("report", tiny_dataset, "--predictions", pred, "-o", pred / "S02.mha",
            names=["S02.mha"])
    refused("report", tiny_dataset, "-o", tiny_dataset)


def test_demo_refuses_a_folder_it_did_not_write(refused, tiny_dataset):
    refused("demo", "--quick", "--out", tiny_dataset, names=[tiny_dataset])
    image = tiny_dataset / "train" / "S01" / "x1.mha"
    refused("demo", "--quick", "--out", image, names=[image])
