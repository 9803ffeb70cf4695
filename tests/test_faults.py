"""Faults injected into running commands: SIGKILL, SIGINT, a full disk, an unreachable
scheduler, a corrupted checkpoint. Outputs are either absent or complete and valid, the
next run leaves no temporary files, inputs are never changed."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from leg3dus.core.volume_io import read_volume

CLI = [sys.executable, "-m", "leg3dus"]
SYNTH = ["synth", "-n", "2", "--spacing", "3", "-q", "--fractions", "0.5", "0.5", "0"]


def checksums(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative path (hidden files included)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders of an interrupted write under ``root``."""
    return [str(p) for p in root.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name
            or (p.is_dir() and p.name.startswith("."))]


def assert_complete_or_absent(root: Path) -> None:
    """Every volume a user sees under ``root`` reads in full with its geometry."""
    if not root.exists():
        return
    if root.is_file():
        read_volume(root)
        return
    for p in root.rglob("*"):
        if p.is_file() and not p.name.startswith(".") and p.name.endswith((".mha", ".nii.gz")):
            read_volume(p)  # raises on a truncated file


def kill_at(args: list[str], delay_s: float, cwd: Path, sig=signal.SIGKILL):
    proc = subprocess.Popen(CLI + args, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay_s)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def run(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 120):
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A tiny synthetic tree and the checksums of a complete run."""
    root = tmp_path_factory.mktemp("faults")
    proc = run([*SYNTH[:1], "ref", *SYNTH[1:]], root)
    assert proc.returncode == 0, proc.stderr
    return root / "ref", checksums(root / "ref")


def test_sigkill_synth_then_rerun_completes(cohort, tmp_path):
    ref, ref_sums = cohort
    rng = np.random.default_rng(19)
    for delay in sorted(rng.uniform(1.0, 3.0, size=1)):
        code, _, _ = kill_at([*SYNTH[:1], "s", *SYNTH[1:]], delay, tmp_path)
        assert code == -signal.SIGKILL
        assert_complete_or_absent(tmp_path / "s")
    proc = run([*SYNTH[:1], "s", *SYNTH[1:]], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert leftovers(tmp_path / "s") == []
    assert checksums(tmp_path / "s") == ref_sums


def test_sigkill_export_keeps_inputs_and_leaves_nothing_partial(cohort, tmp_path):
    ref, ref_sums = cohort
    rng = np.random.default_rng(7)
    for delay in rng.uniform(0.8, 2.0, size=1):
        kill_at(["export", str(ref), str(tmp_path / "nii"), "--to", "nifti"], delay, tmp_path)
        assert checksums(ref) == ref_sums  # the input is unchanged
        assert_complete_or_absent(tmp_path / "nii")
    proc = run(["export", str(ref), str(tmp_path / "nii"), "--to", "nifti", "--overwrite"],
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert leftovers(tmp_path) == []
    assert checksums(ref) == ref_sums


def test_sigint_exits_130_with_one_line(tmp_path):
    proc = subprocess.Popen(CLI + [*SYNTH[:1], "s", *SYNTH[1:]], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "s").exists() and proc.poll() is None:  # while writing
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    code = proc.returncode
    if code == 0:
        pytest.skip("the command finished before the interrupt")
    assert code == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert_complete_or_absent(tmp_path / "s")


_STARTUP_SIGINT = """
import os, signal, sys
sys.argv = ["leg3dus"]
from leg3dus.apps.cli import app  # the commands are imported; none has started
os.kill(os.getpid(), signal.SIGINT)
"""


def test_sigint_while_commands_load_exits_130_with_one_line():
    proc = subprocess.run([sys.executable, "-c", _STARTUP_SIGINT], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 130
    assert proc.stderr.strip() == "interrupted; no partial output was kept"


_FSIZE = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))
from leg3dus.apps.cli import main
sys.argv = ["leg3dus"] + sys.argv[1:]
main()
"""


def test_full_disk_gives_one_line_and_no_partial_output(cohort, tmp_path):
    ref, _ = cohort
    target = tmp_path / "nii"
    proc = subprocess.run([sys.executable, "-c", _FSIZE, "export", str(ref), str(target),
                           "--to", "nifti"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "space" in lines[0] or "large" in lines[0]
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_unreachable_scheduler_fails_in_seconds(tmp_path):
    start = time.monotonic()
    proc = run([*SYNTH[:1], "s", *SYNTH[1:], "--scheduler", "tcp://127.0.0.1:9"], tmp_path,
               timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error:") and "scheduler" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert elapsed < 30


def test_corrupted_checkpoint_is_a_clear_error(cohort, tmp_path):
    ref, _ = cohort
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 not a checkpoint" * 10)
    proc = run(["predict", str(bad), str(ref / "val" / "P002" / "x1.mha"),
                "-o", str(tmp_path / "pred.mha")], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "model.pt" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "pred.mha").exists()


def test_corrupted_last_checkpoint_on_resume(cohort, tmp_path):
    ref, _ = cohort
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes(os.urandom(256))
    proc = run(["train", str(ref), "--model", "2d", "--out", str(run_dir), "--resume"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "last.pt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _die_once(item):
    """Square ``item``; the first attempt at item 2 kills its worker process."""
    value, marker = item
    if value == 2 and not os.path.exists(marker):
        Path(marker).write_text("killed")
        os._exit(1)  # the worker dies mid-batch, like a SIGKILL
    return value * value


def test_killed_dask_worker_is_retried_and_results_equal_serial(tmp_path):
    pytest.importorskip("distributed")
    from leg3dus.core.parallel import map_subjects

    items = [(v, str(tmp_path / "killed")) for v in range(4)]
    serial = [r.value for r in map_subjects(lambda it: it[0] * it[0], items)]
    results = map_subjects(_die_once, items, workers=2)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.value for r in results] == serial


def test_report_html_escapes_user_strings():
    from leg3dus.apps.report.html import paragraph, section, table

    evil = '<script>alert("x")</script>'
    html = table(["subject"], [[evil]]) + paragraph(evil) + section(evil)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_no_pickle_from_user_files():
    """torch.load only with weights_only=True; no pickle.load; no allow_pickle=True."""
    src = Path(__file__).resolve().parents[1] / "src" / "leg3dus"
    for path in src.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.name}:{n}"
            if "torch.load(" in line:
                assert "weights_only=True" in line, where
            assert "pickle.load" not in line and "allow_pickle=True" not in line, where


def test_training_killed_mid_epoch_resumes_from_last_checkpoint(cohort, tmp_path):
    ref, _ = cohort
    config = tmp_path / "tiny.toml"
    config.write_text("steps_per_epoch = 40\nbatch_size = 2\nmax_epochs = 2\n"
                      "val_slice_step = 8\naugment = false\n")
    run_dir = tmp_path / "run"
    args = ["train", str(ref), "--model", "2d", "--preset", "cpu-quick", "--config",
            str(config), "--out", str(run_dir), "-q"]
    proc = subprocess.Popen(CLI + args, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not (run_dir / "last.pt").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()  # during epoch 2 (epoch 1's checkpoint has just appeared)
    proc.communicate()
    if proc.returncode == 0:
        pytest.skip("training finished before the kill")
    log_before = (run_dir / "log.csv").read_text().splitlines()
    assert len(log_before) == 2  # header + epoch 1: nothing of the killed epoch
    assert leftovers(run_dir) == [] or all(".tmp-" in p for p in leftovers(run_dir))
    resumed = run(["train", str(ref), "--model", "2d", "--out", str(run_dir), "-q",
                   "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    log = (run_dir / "log.csv").read_text().splitlines()
    assert log[:2] == log_before and len(log) == 3 and log[2].startswith("2,")
    assert leftovers(run_dir) == []


def test_resume_with_damaged_config_is_a_clear_error(tmp_path):
    from leg3dus.core.errors import InputFileError
    from leg3dus.segment.train import _prepare

    torch = pytest.importorskip("torch")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"spec": {"kind": "2d"}, "model": {}}, str(run_dir / "last.pt"))
    (run_dir / "config.json").write_text("{not json")
    with pytest.raises(InputFileError, match="config.json"):
        _prepare(tmp_path, "2d", run_dir, {}, True, {})


def test_sigkill_compound_keeps_inputs_and_output_whole(tmp_path):
    from leg3dus.sweep import PlusConfig, Sequence, write_config, write_sequence

    n = 40
    probe = np.repeat(np.eye(4)[None], n, axis=0)
    probe[:, 2, 3] = np.arange(n) * 0.5
    frames = np.random.default_rng(3).integers(1, 256, (n, 48, 40), dtype=np.uint8)
    seq = write_sequence(Sequence(frames, {"ProbeToReference": probe}), tmp_path / "s.igs.mha")
    cfg = write_config(PlusConfig({("Image", "Probe"): np.diag([0.5, 0.5, 1.0, 1.0])}),
                       tmp_path / "c.xml")
    inputs = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (seq, cfg)}
    out = tmp_path / "out" / "v.mha"
    args = ["compound", str(seq), "--config", str(cfg), "-o", str(out), "--spacing", "0.25"]
    delay = float(np.random.default_rng(5).uniform(1.0, 3.0))
    kill_at(args, delay, tmp_path)
    assert_complete_or_absent(tmp_path / "out")
    proc = run(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_volume(out).shape[0] > 1
    assert leftovers(tmp_path) == []
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (seq, cfg)} == inputs


def test_sigkill_propagate_keeps_inputs_and_output_whole(cohort, tmp_path):
    from leg3dus.core.volume_io import write_volume

    ref, _ = cohort
    labels = read_volume(ref / "train" / "P001" / "masksX1.mha")
    sparse = labels.array.copy()
    keep = np.zeros(sparse.shape[0], bool)
    keep[::4] = True
    sparse[~keep] = 0
    src = write_volume(labels.with_array(sparse), tmp_path / "sparse.mha")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "dense.mha"
    args = ["propagate", str(src), "-o", str(out), "--method", "sdf"]
    kill_at(args, float(np.random.default_rng(11).uniform(0.8, 2.5)), tmp_path)
    assert_complete_or_absent(out)
    proc = run(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_volume(out).shape == labels.shape
    assert leftovers(tmp_path) == []
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


@pytest.fixture(scope="module")
def tiny_run(cohort, tmp_path_factory) -> Path:
    """A network trained for one short epoch on the tiny cohort."""
    pytest.importorskip("torch")
    ref, _ = cohort
    root = tmp_path_factory.mktemp("tiny_run")
    config = root / "tiny.toml"
    config.write_text("steps_per_epoch = 8\nbatch_size = 2\nmax_epochs = 1\n"
                      "val_slice_step = 8\naugment = false\n")
    proc = run(["train", str(ref), "--model", "2d", "--preset", "cpu-quick", "--config",
                str(config), "--out", str(root / "run"), "-q"], root)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


def test_sigkill_predict_keeps_inputs_and_outputs_whole(cohort, tiny_run, tmp_path):
    ref, _ = cohort
    before = checksums(ref)
    model_sum = hashlib.sha256((tiny_run / "model.ts").read_bytes()).hexdigest()
    out = tmp_path / "pred"
    args = ["predict", str(tiny_run), str(ref), "-o", str(out), "-q"]
    kill_at(args, float(np.random.default_rng(13).uniform(1.0, 3.0)), tmp_path)
    assert_complete_or_absent(out)
    proc = run(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p for p in out.rglob("*.mha") if not p.name.startswith("."))
    assert len(written) == 2  # one prediction per subject of the tree
    for p in written:
        assert read_volume(p).shape == read_volume(ref / p.relative_to(out)).shape
    assert leftovers(tmp_path) == []
    assert checksums(ref) == before
    assert hashlib.sha256((tiny_run / "model.ts").read_bytes()).hexdigest() == model_sum
