"""Label values in any convention: parsing --label-values, label tables, checks, mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import make_pair

from leg3dus import Volume, write_volume
from leg3dus.core import label_values as lv
from leg3dus.core import labels as lab
from leg3dus.core.errors import LabelError, OptionError


def _classes_volume(seed=0):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 4, (6, 5, 4)).astype(np.uint8)
    return classes, lab.to_value(classes)


@pytest.mark.parametrize("text, muscles, background", [
    ("1,2,3", {"SOL": 1, "GM": 2, "GL": 3}, ()),
    (" 3 , 1 ,2", {"SOL": 3, "GM": 1, "GL": 2}, ()),
    ("SOL=1,GM=2,GL=3", {"SOL": 1, "GM": 2, "GL": 3}, ()),
    ("gl=9,soleus=4", {"SOL": 4, "GL": 9}, ()),
    ("SOL=1,GM=2,GL=3,background=7,bg=8", {"SOL": 1, "GM": 2, "GL": 3}, (7, 8)),
    ("classes", {"SOL": 1, "GM": 2, "GL": 3}, ()),
    ("scheme", {"SOL": 100, "GM": 150, "GL": 200}, ()),
])
def test_parse_label_values(text, muscles, background):
    c = lv.parse_label_values(text)
    assert c.muscles == muscles and list(c.muscles) == [m for m in ("SOL", "GM", "GL")
                                                        if m in muscles]
    assert c.background == background and c.source == "--label-values"


@pytest.mark.parametrize("text, needle", [
    ("1,2", "three values"), ("1,2,3,4", "three values"), ("1,x,3", "integer"),
    ("1,2,300", "0..255"), ("0,2,3", "0 is background"), ("1,1,3", "share one value"),
    ("SOL=1,TA=2", "unknown name 'TA'"), ("SOL=1,2", "cannot mix"), ("SOL=1,SOL=2", "twice"),
    ("SOL=1,background=1", "both a muscle and background"), ("", "expected"),
])
def test_parse_label_values_refuses_bad_text(text, needle):
    with pytest.raises(OptionError, match=needle):
        lv.parse_label_values(text)


def test_apply_maps_to_the_scheme_and_back():
    classes, values = _classes_volume()
    c = lv.parse_label_values("1,2,3")
    assert c.name == "classes" and not c.is_scheme
    assert np.array_equal(c.apply(classes), values)
    assert np.array_equal(lv.to_file_values(values, c), classes)
    # Another dtype maps the same way; the scheme passes arrays through untouched.
    assert np.array_equal(c.apply(classes.astype(np.int16)), values)
    assert lv.SCHEME.apply(values) is values and lv.SCHEME.name == "scheme"
    # Background values vanish; a permutation lands on the right muscles.
    d = lv.parse_label_values("SOL=5,GM=6,GL=4,background=9")
    assert d.apply(np.array([0, 4, 5, 6, 9], np.uint8)).tolist() == [0, 200, 100, 150, 0]
    assert d.name == "custom"


def test_check_values_rules():
    c = lv.parse_label_values("1,2,3")
    lv.check_values({0: 5, 1: 2, 3: 1}, c, "f")  # a muscle may be absent
    with pytest.raises(LabelError, match=r"f: label values 1 \(2 voxels\), 2 \(1 voxel\) "
                                         r"are not those of .*--label-values"):
        lv.check_values({0: 5, 1: 2, 2: 1}, lv.SCHEME, "f")
    with pytest.raises(LabelError, match=r"f: stray label values outside the scheme: 7 \(3 vox"):
        lv.check_values({0: 5, 100: 2, 7: 3}, lv.SCHEME, "f")
    lv.check_values({0: 5, 100: 2, 7: 3}, lv.SCHEME, "f", allow_stray=True)
    with pytest.raises(LabelError, match="stray"):  # a mapping cannot keep strays
        lv.check_values({0: 5, 1: 2, 7: 3}, c, "f", allow_stray=True)
    lv.check_values({0: 5, 1: 2, 7: 3}, lv.LabelConvention({"SOL": 1}, (7,), "x"), "f")
    lv.check_values({0: 9}, lv.SCHEME, "f")  # all background is not an error here


def test_dataset_json_beside_or_above_the_file(tmp_path):
    classes, values = _classes_volume()
    root = tmp_path / "Dataset001_LEG"
    path = root / "labelsTr" / "LEG_001.nii.gz"
    write_volume(Volume(classes), path)
    # Without a table the 0..3 map is refused, naming the values and the option.
    with pytest.raises(LabelError, match=r"LEG_001.nii.gz: label values 1 .*--label-values"):
        lv.read_labels(path)
    # nnU-Net v2 labels, the way 'leg3dus export --format nnunet' writes them.
    (root / "dataset.json").write_text(json.dumps(
        {"labels": {"background": 0, "SOL": 1, "GM": 2, "GL": 3}}))
    vol, c = lv.read_labels(path)
    assert np.array_equal(vol.array, values) and c.source == str(root / "dataset.json")
    assert c.name == "classes"
    # nnU-Net v1 (value -> name) with long names, beside the file, wins over the one above.
    (root / "labelsTr" / "dataset.json").write_text(json.dumps(
        {"labels": {"0": "background", "1": "gastrocnemius medialis", "2": "Soleus",
                    "3": "gastrocnemius_lateralis"}}))
    vol, c = lv.read_labels(path)
    assert c.muscles == {"SOL": 2, "GM": 1, "GL": 3}
    assert np.array_equal(vol.array, lv.LabelConvention(c.muscles).apply(classes))
    # --label-values wins over any table.
    vol, c = lv.read_labels(path, "1,2,3")
    assert np.array_equal(vol.array, values) and c.source == "--label-values"


def test_tables_that_name_no_muscle_are_ignored(tmp_path):
    classes, values = _classes_volume()
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "liver": 1}}))
    write_volume(Volume(values), tmp_path / "m.mha")
    vol, c = lv.read_labels(tmp_path / "m.mha")
    assert c is lv.SCHEME and vol.array is not None
    (tmp_path / "dataset.json").write_text("{not json")
    assert lv.resolve(tmp_path / "m.mha") is lv.SCHEME


def test_seg_nrrd_segment_metadata(tmp_path):
    classes, values = _classes_volume()
    image = sitk.GetImageFromArray(np.where(classes > 0, classes + 10, 0).astype(np.uint8))
    for i, (name, value) in enumerate([("GL", 13), ("SOL", 11), ("GM", 12)]):
        image.SetMetaData(f"Segment{i}_Name", name)
        image.SetMetaData(f"Segment{i}_LabelValue", str(value))
        image.SetMetaData(f"Segment{i}_Layer", "0")
    path = tmp_path / "drawn.seg.nrrd"
    sitk.WriteImage(image, str(path), True)
    vol, c = lv.read_labels(path)
    assert c.muscles == {"SOL": 11, "GM": 12, "GL": 13} and c.source == str(path)
    assert np.array_equal(vol.array, values)
    assert "SOL=11" in c.describe() and c.as_json()["values"]["GL"] == 13


# --- every command that reads labels: drawn masks in 1/2/3 work without a detour --------

def _drawn(tmp_path, n=21):
    """Sparse labels drawn as 1/2/3 every 5th slice, and the same in the scheme."""
    classes = np.zeros((n, 30, 40), np.uint8)
    yy, xx = np.mgrid[:30, :40]
    for k in range(0, n, 5):
        classes[k][(yy - 15) ** 2 + (xx - 12) ** 2 <= 49] = 1
        classes[k][(yy - 15) ** 2 + (xx - 29) ** 2 <= 36] = 3
    drawn, scheme = tmp_path / "drawn.nii.gz", tmp_path / "scheme.mha"
    write_volume(Volume(classes, (0.5, 0.3, 0.3)), drawn)
    write_volume(Volume(lab.to_value(classes), (0.5, 0.3, 0.3)), scheme)
    return drawn, scheme


def test_propagate_drawn_masks(cli, tmp_path):
    from leg3dus import read_volume

    drawn, scheme = _drawn(tmp_path)
    out = tmp_path / "dense.mha"
    res = cli("propagate", drawn, "-o", out)
    assert res.exit_code == 2 and "--label-values" in res.stderr and not out.exists()
    res = cli("propagate", drawn, "-o", out, "--label-values", "1,2,3", "--json")
    assert res.exit_code == 0, res.stderr
    row = json.loads(res.stdout)["results"][0]
    assert row["label_values"]["name"] == "classes" and row["volumes_cm3"]["SOL"] > 0
    ref = tmp_path / "ref.mha"
    assert cli("propagate", scheme, "-o", ref).exit_code == 0
    np.testing.assert_array_equal(read_volume(out).array, read_volume(ref).array)
    res = cli("propagate", drawn, "-o", tmp_path / "d2.mha", "--label-values", "classes")
    assert "read as labels SOL=1, GM=2, GL=3 (from --label-values)" in res.stdout


def test_evaluate_class_predictions(cli, tmp_path, tiny_dataset):
    from leg3dus import read_volume

    truth = tiny_dataset / "train" / "S01" / "masksX1.mha"
    vol = read_volume(truth)
    pred = tmp_path / "pred.nii.gz"
    write_volume(vol.with_array(lab.to_index(vol.array)), pred)
    res = cli("evaluate", pred, truth, "--json")
    assert res.exit_code == 2 and "label values 1 (" in res.stderr
    assert "--label-values" in res.stderr and res.stderr.count("\n") == 1
    res = cli("evaluate", pred, truth, "--json", "--label-values", "1,2,3")
    assert res.exit_code == 0, res.stderr
    obj = json.loads(res.stdout)
    assert obj["GM"]["dice"] == 1.0 and obj["SOL"]["dice"] == 1.0
    assert obj["label_values"]["prediction"]["name"] == "classes"
    assert obj["label_values"]["truth"]["source"] == "default"
    # Both files drawn as 1/2/3: --truth-label-values for the truth.
    res = cli("evaluate", pred, pred, "--label-values", "1,2,3", "--truth-label-values",
              "classes")
    assert res.exit_code == 0, res.stderr
    assert "truth: labels SOL=1, GM=2, GL=3 (from --truth-label-values)" in res.stdout
    # A tree of predictions in 1/2/3 beside an nnU-Net dataset.json.
    preds = tmp_path / "preds"
    for path in tiny_dataset.rglob("masksX1.mha"):
        v = read_volume(path)
        write_volume(v.with_array(lab.to_index(v.array)), preds / f"{path.parent.name}.nii.gz")
    (preds / "dataset.json").write_text(json.dumps(
        {"labels": {"background": 0, "SOL": 1, "GM": 2, "GL": 3}}))
    res = cli("evaluate", preds, tiny_dataset, "--json", "--quiet")
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)["subjects"]
    assert len(rows) == 4 and all(r["union"]["dice"] == 1.0 for r in rows)
    assert rows[0]["label_values"]["prediction"]["source"] == str(preds / "dataset.json")


def test_predict_propagate_drawn_annotations(cli, tmp_path):
    pytest.importorskip("monai")
    import torch

    from leg3dus import read_volume
    from leg3dus.segment.models import build_model, check_spec, default_spec

    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec = check_spec({**default_spec("2d"), "channels": [4, 8], "patch": [1, 8, 8],
                       "context": 1})
    (tmp_path / "run").mkdir()
    torch.save({"spec": spec, "model": build_model(spec).state_dict()},
               tmp_path / "run" / "best.pt")
    image, truth = make_pair(seed=1)
    sparse = np.zeros_like(truth.array)
    sparse[[3, 10, 17]] = truth.array[[3, 10, 17]]
    write_volume(image, tmp_path / "x1.mha")
    write_volume(truth.with_array(lab.to_index(sparse)), tmp_path / "drawn.mha")
    out = tmp_path / "labels.mha"
    args = ("predict", tmp_path / "run", tmp_path / "x1.mha", "-o", out, "--propagate",
            tmp_path / "drawn.mha", "--adapt-steps", "2", "--quiet")
    res = cli(*args)
    assert res.exit_code == 2 and "--label-values" in res.stderr and not out.exists()
    res = cli(*args, "--label-values", "1,2,3", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["label_values"]["name"] == "classes"
    np.testing.assert_array_equal(read_volume(out).array[[3, 10, 17]], sparse[[3, 10, 17]])
    res = cli("predict", tmp_path / "run", tmp_path / "x1.mha", "-o", tmp_path / "p.mha",
              "--label-values", "1,2,3")
    assert res.exit_code == 2 and "--propagate" in res.stderr


def test_register_transfers_drawn_labels(cli, tmp_path):
    from test_register import pair

    from leg3dus import read_volume
    from leg3dus.register import read_transform, transfer_labels

    (fixed, _), (moving, moving_labels), _ = pair(0, labels=True)
    paths = [tmp_path / n for n in ("x1.mha", "x2.mha", "drawn.mha")]
    write_volume(fixed, paths[0])
    write_volume(moving, paths[1])
    write_volume(moving_labels.with_array(lab.to_index(moving_labels.array)), paths[2])
    tfm, out = tmp_path / "t.tfm", tmp_path / "m.mha"
    args = ("register", *paths[:2], "-o", tfm, "--labels", paths[2], "--labels-out", out,
            "--levels", "4,2", "--samples", "5000", "--iterations", "20")
    res = cli(*args)
    assert res.exit_code == 2 and "--label-values" in res.stderr and not tfm.exists()
    res = cli(*args, "--label-values", "1,2,3", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["label_values"]["values"] == {"SOL": 1, "GM": 2, "GL": 3}
    expected = transfer_labels(moving_labels, fixed.geometry, read_transform(tfm))
    np.testing.assert_array_equal(read_volume(out).array, expected.array)


def test_info_volumes_follow_the_convention(cli, tiny_dataset):
    from leg3dus import read_volume

    truth = cli("info", tiny_dataset, "--json")
    for path in tiny_dataset.rglob("masksX1.mha"):
        v = read_volume(path)
        write_volume(v.with_array(lab.to_index(v.array)), path)
    res = cli("info", tiny_dataset, "--json")
    assert res.exit_code == 0  # info describes; the mismatch is a warning
    assert "warning: " in res.stderr and "--label-values" in res.stderr
    rows = json.loads(res.stdout)["subjects"]
    assert rows[0]["label_values"] == [0, 1, 2, 3] and rows[0]["volumes_cm3"]["SOL"] == 0
    res = cli("info", tiny_dataset, "--json", "--label-values", "1,2,3")
    assert res.exit_code == 0 and "warning" not in res.stderr
    got, want = json.loads(res.stdout)["subjects"], json.loads(truth.stdout)["subjects"]
    assert [r["volumes_cm3"] for r in got] == [r["volumes_cm3"] for r in want]
    assert got[0]["label_convention"]["name"] == "classes"
    res = cli("info", tiny_dataset, "--label-values", "1,2,3")
    assert "volumes from labels SOL=1, GM=2, GL=3 (from --label-values)" in res.stdout


def test_export_maps_drawn_labels_and_its_nnunet_output_reads_back(cli, tiny_dataset,
                                                                    tmp_path):
    from leg3dus import read_volume

    scheme = {p.parent.name: read_volume(p).array for p in tiny_dataset.rglob("masksX1.mha")}
    # nnU-Net's labels (0..3) are read back through its dataset.json, with no option.
    nn = tmp_path / "nnUNet_raw"
    assert cli("export", tiny_dataset, nn, "--to", "nnunet", "--quiet").exit_code == 0
    case = next((nn / "Dataset501_LEG3DUS" / "labelsTr").glob("*.nii.gz"))
    res = cli("morphology", case, "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["subjects"][0]["label_values"]["source"].endswith(
        "dataset.json")
    # A tree drawn in 1/2/3 exports to 0/100/150/200 with --label-values.
    for path in tiny_dataset.rglob("masksX1.mha"):
        v = read_volume(path)
        write_volume(v.with_array(lab.to_index(v.array)), path)
    out = tmp_path / "nifti"
    res = cli("export", tiny_dataset, out, "--to", "nifti", "--quiet")
    assert res.exit_code == 2 and "--label-values" in res.stderr and not out.exists()
    res = cli("export", tiny_dataset, out, "--to", "nifti", "--quiet", "--json",
              "--label-values", "1,2,3")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["label_values"][0]["name"] == "classes"
    for sid, array in scheme.items():
        got = [p for p in out.rglob("*.nii.gz") if sid in str(p) and "x1" not in p.name]
        assert len(got) == 1 and np.array_equal(read_volume(got[0]).array, array)


def test_report_reads_drawn_labels_and_predictions(cli, tiny_dataset, tmp_path):
    from leg3dus import read_volume

    preds = tmp_path / "preds"
    for path in tiny_dataset.rglob("masksX1.mha"):
        v = read_volume(path)
        classes = v.with_array(lab.to_index(v.array))
        write_volume(classes, path)
        if path.parent.name == "S04":
            write_volume(classes, preds / "S04.mha")
    out = tmp_path / "r.html"
    res = cli("report", tiny_dataset, "-o", out, "--json", "--max-figures", "1")
    assert res.exit_code == 2 and "--label-values" in res.stderr and not out.exists()
    res = cli("report", tiny_dataset, "-o", out, "--json", "--max-figures", "1",
              "--label-values", "1,2,3", "--predictions", preds,
              "--prediction-label-values", "SOL=1,GM=2,GL=3")
    assert res.exit_code == 0, res.stdout + res.stderr
    info = json.loads(res.stdout)
    assert info["subjects"] == 4 and info["evaluated"] == 1 and info["errors"] == []
    assert [c["name"] for c in info["label_values"]] == ["classes"]
    assert "Not drawn" not in out.read_text()


def test_validate_in_the_file_convention_and_fix_to_the_scheme(cli, tiny_dataset, tmp_path):
    from leg3dus import read_volume

    scheme = {}
    for path in tiny_dataset.rglob("masksX1.mha"):
        v = read_volume(path)
        scheme[path.parent.name] = v.array
        classes = lab.to_index(v.array)
        if path.parent.name == "S02":
            classes[0, 0, :2] = 9  # two stray voxels
        write_volume(v.with_array(classes), path)
    res = cli("validate", tiny_dataset, "--json")
    assert res.exit_code == 1
    checks = {(f["subject"], f["check"]) for f in json.loads(res.stdout)["findings"]}
    assert ("train/S01", "stray-values") in checks and ("train/S01", "missing-muscle") in checks
    res = cli("validate", tiny_dataset, "--json", "--label-values", "1,2,3")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    found = [f for f in report["findings"] if f["check"] != "anisotropic"]  # 0.5/0.4/0.3 mm
    assert [(f["subject"], f["check"]) for f in found] == [("train/S02", "stray-values")]
    assert "9 (2 voxels)" in found[0]["message"]
    assert report["subjects"][0]["label_convention"]["name"] == "classes"
    clean = tmp_path / "clean"
    res = cli("validate", tiny_dataset, "--label-values", "1,2,3", "--fix-stray", "nearest",
              "--out", clean)
    assert "labels SOL=1, GM=2, GL=3 (from --label-values)" in res.stdout
    res = cli("validate", clean, "--json")
    assert {f["check"] for f in json.loads(res.stdout)["findings"]} == {"anisotropic"}
    for path in clean.rglob("masksX1.mha"):
        got = read_volume(path).array
        if path.parent.name == "S02":
            assert set(np.unique(got)) <= {0, 100, 150, 200}
        else:
            np.testing.assert_array_equal(got, scheme[path.parent.name])


def test_train_caches_drawn_labels_as_classes(cli, tmp_path):
    pytest.importorskip("monai")
    from leg3dus.core.errors import LabelError as LE
    from leg3dus.segment.cache import cache_subject

    root = tmp_path / "data"
    truth = {}
    for split, sid, seed in [("train", "S01", 1), ("val", "S02", 2)]:
        image, labels = make_pair(seed=seed)
        truth[sid] = lab.to_index(labels.array)
        write_volume(image.with_array((40 + labels.array // 2).astype(np.uint8)),
                     root / split / sid / "x1.mha")
        write_volume(labels.with_array(truth[sid]), root / split / sid / "masksX1.mha")
    s01 = root / "train" / "S01"
    with pytest.raises(LE, match="--label-values"):
        cache_subject("S01", s01 / "x1.mha", s01 / "masksX1.mha", tmp_path / "c")
    cached = cache_subject("S01", s01 / "x1.mha", s01 / "masksX1.mha", tmp_path / "c", "1,2,3")
    np.testing.assert_array_equal(np.asarray(cached.classes), truth["S01"])
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"batch_size": 2, "steps_per_epoch": 2, "augment": False,
                                  "model": {"channels": [4, 8], "patch": [1, 8, 8],
                                            "context": 1}}))
    args = ("train", root, "--model", "2d", "--config", config, "--max-epochs", "1",
            "--quiet", "--preset", "none")
    res = cli(*args, "-o", tmp_path / "bad")
    assert res.exit_code == 2 and "--label-values" in res.stderr
    res = cli(*args, "-o", tmp_path / "run", "--label-values", "1,2,3")
    assert res.exit_code == 0, res.stderr
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["label_values"] == "1,2,3"
    res = cli(*args, "-o", tmp_path / "run2", "--label-values", "1,2")
    assert res.exit_code == 2 and "--label-values" in res.stderr
