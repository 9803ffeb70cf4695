"""Training presets (which settings a run starts from) and the time limit inside an epoch."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402

from leg3dus import write_volume  # noqa: E402
from leg3dus.core.errors import OptionError  # noqa: E402
from leg3dus.segment import config as cfgmod  # noqa: E402
from leg3dus.segment import train as trainmod  # noqa: E402
from leg3dus.segment.config import (  # noqa: E402
    DEFAULTS,
    PRESETS,
    auto_preset,
    load_config,
    merge,
    preset_settings,
)
from leg3dus.segment.infer import load_model, read_checkpoint  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = {"batch_size": 2, "steps_per_epoch": 3, "max_epochs": 2, "augment": False,
        "lr_schedule": "constant",
        "model": {"channels": [4, 8], "patch": [1, 16, 16], "context": 1}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets") / "data"
    for split, sid, seed in [("train", "S01", 1), ("val", "S02", 2)]:
        image, labels = make_pair(seed=seed)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    return root


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_every_preset_loads_into_a_valid_config_and_model(name, kind):
    from leg3dus.segment.models import build_model, check_spec, default_spec

    config = load_config(None, preset=name, kind=kind)
    assert config["preset"] == name
    for key, value in PRESETS[name][kind].items():
        if key != "model":
            assert config[key] == value, key
    spec = check_spec({**default_spec(kind), **config["model"], "kind": kind})
    torch = pytest.importorskip("torch")
    net = build_model(spec).eval()
    # One window through the network: the preset's patch and channels fit together.
    patch = [int(n) for n in spec["patch"]]
    shape = ([1, 2 * int(spec["context"]) + 1, *patch[1:]] if kind == "2d"
             else [1, 1, *patch])
    with torch.no_grad():
        out = net(torch.zeros(shape))
    assert tuple(out.shape) == (1, 4, *shape[2:])


def test_cpu_quick_is_the_documented_phantom_setting():
    config = load_config(None, preset="cpu-quick", kind="2d")
    assert (config["batch_size"], config["steps_per_epoch"], config["max_epochs"],
            config["patience"], config["lr"], config["val_slice_step"]) == (8, 50, 50, 15,
                                                                            0.002, 8)
    assert config["model"] == {"context": 2, "patch": [1, 128, 128],
                               "channels": [8, 16, 32, 64, 128]}


def test_config_file_and_options_override_the_preset(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text("steps_per_epoch = 7\n[model]\nchannels = [4, 8, 16]\n")
    config = load_config(path, preset="gpu", kind="2d")
    assert config["steps_per_epoch"] == 7                  # file over preset
    assert config["batch_size"] == 32                      # preset over defaults
    assert config["model"]["channels"] == [4, 8, 16]       # file's model table wins
    assert config["model"]["context"] == 2                 # the rest of the preset's stays
    config = merge(config, {"batch_size": 3}, "options")   # options over everything
    assert config["batch_size"] == 3 and config["steps_per_epoch"] == 7
    assert load_config(None) == {**DEFAULTS, "model": {}}  # no preset: the bare defaults
    assert preset_settings("none", "2d") == {"preset": "none", "model": {}}


def test_unknown_preset_or_preset_in_a_file_is_refused(tmp_path):
    with pytest.raises(OptionError, match="cpu-quick"):
        load_config(None, preset="fast", kind="2d")
    path = tmp_path / "p.toml"
    path.write_text('preset = "gpu"\n')
    with pytest.raises(OptionError, match="--preset"):
        load_config(path, preset="none")


def test_auto_picks_the_cpu_preset_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto_preset() == "cpu-quick"
    assert preset_settings("auto", "2d")["preset"] == "cpu-quick"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert auto_preset() == "gpu"
    assert cfgmod.auto_preset(cuda=False) == "cpu-quick"


def test_cli_default_is_the_device_preset_updated_by_config_and_options(data, cli, tmp_path,
                                                                        monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    small = tmp_path / "small.toml"
    small.write_text("steps_per_epoch = 1\nbatch_size = 1\nval_slice_step = 4\n"
                     "[model]\nchannels = [4, 8]\npatch = [1, 32, 32]\n")
    run = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("train", data, "--model", "2d", "--out", run, "--config", small,
                     "--max-epochs", "1")
    assert result.exit_code == 0, result.stderr
    found = [f"{w.category.__name__} {w.filename}:{w.lineno}: {w.message}" for w in caught
             if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not found, found                                # training and the export
    assert "preset cpu-quick (no CUDA device" in result.stdout
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["preset"] == "cpu-quick"
    assert saved["config"]["lr"] == 0.002 and saved["config"]["patience"] == 15  # preset
    assert saved["config"]["steps_per_epoch"] == 1                               # file
    assert saved["config"]["max_epochs"] == 1                                    # option
    assert saved["spec"]["context"] == 2 and saved["spec"]["channels"] == [4, 8]
    again = cli("train", data, "--model", "2d", "--out", run, "--resume", "--preset", "gpu")
    assert again.exit_code == 2 and "--preset cannot change a resumed run" in again.stderr
    bad = cli("train", data, "--model", "2d", "--out", tmp_path / "r2", "--preset", "fast")
    assert bad.exit_code == 2 and "--preset" in bad.stderr and not (tmp_path / "r2").exists()


class FakeClock:
    """A clock that advances one second per reading."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 1.0
        return self.t


def read_steps(run):
    with open(run / "log.csv") as fh:
        return [int(r["steps"]) for r in csv.DictReader(fh)]


def test_time_limit_stops_inside_the_epoch_with_a_valid_checkpoint(data, tmp_path,
                                                                   monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(trainmod, "_now", clock)
    run = tmp_path / "run"
    config = merge(load_config(None), {**TINY, "steps_per_epoch": 500, "time_limit": 12})
    calls = []
    summary = trainmod.train(data, "2d", run, config, progress=lambda *a: calls.append(a))
    # one reading at the start, one at the epoch's start, one before each step: the
    # budget of 12 readings ends after 9 or 10 steps of the 500 of epoch 1
    assert summary["stopped_by"] == "time_limit" and summary["epochs"] == 1
    assert 5 <= summary["last_epoch_steps"] <= 11
    assert read_steps(run) == [summary["last_epoch_steps"]]
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["history"][0]["steps"] == summary["last_epoch_steps"]
    assert load_model(run).spec["kind"] == "2d"            # model.ts of the partial epoch
    assert not list(run.glob("*.tmp*"))
    steps = summary["last_epoch_steps"]
    assert calls == [("epoch 1", i, 500) for i in range(steps)] + [("validating", 0, 1)]


def test_progress_bar_only_on_a_terminal(monkeypatch):
    import importlib
    import io

    appmod = importlib.import_module("leg3dus.apps.cli.app")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(appmod.sys, "stderr", io.StringIO())
    with appmod.progress_callback() as update:
        assert update is None
    monkeypatch.setattr(appmod.sys, "stderr", Terminal())
    with appmod.progress_callback(quiet=True) as update:
        assert update is None
    with appmod.progress_callback() as update:
        assert callable(update)
        update("epoch 1", 3, 10)


def test_time_limit_keeps_back_the_time_validation_takes(data, tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(trainmod, "_now", clock)
    real_validate = trainmod.validate

    def slow_validate(*args, **kwargs):
        clock.t += 10.0                                    # validation "takes" 10 s
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(trainmod, "validate", slow_validate)
    run = tmp_path / "run"
    limit = 40
    config = merge(load_config(None), {**TINY, "steps_per_epoch": 8, "max_epochs": 9,
                                       "time_limit": limit, "patience": 99})
    summary = trainmod.train(data, "2d", run, config)
    steps = read_steps(run)
    assert summary["stopped_by"] == "time_limit"
    assert steps[0] == 8 and 0 < steps[-1] < 8, steps      # the last epoch is partial
    # epoch 1 used about 8 + 10 + 3 seconds; the last one stops early enough for its
    # validation to end near the limit instead of 10 s past it
    assert clock.t <= limit + 4, clock.t
    assert np.isfinite(float(summary["best_dice"]["SOL"]))


def read_lr(run):
    with open(run / "log.csv") as fh:
        return [float(r["lr"]) for r in csv.DictReader(fh)]


@pytest.mark.parametrize("schedule", ["poly", "poly-budget"])
def test_poly_budget_decays_over_the_epochs_that_fit(schedule, data, tmp_path, monkeypatch):
    monkeypatch.setattr(trainmod, "_now", FakeClock())
    run = tmp_path / schedule
    config = merge(load_config(None), {**TINY, "max_epochs": 50, "patience": 99, "lr": 0.01,
                                       "lr_schedule": schedule, "time_limit": 40})
    trainmod.train(data, "2d", run, config)
    lrs = read_lr(run)
    assert 3 <= len(lrs) <= 8 and lrs[0] == pytest.approx(0.01)
    assert all(b < a for a, b in zip(lrs, lrs[1:], strict=False))
    if schedule == "poly":
        assert lrs[-1] > 0.85 * 0.01        # decays over 50 epochs: hardly begun
    else:
        assert lrs[-1] < 0.5 * 0.01         # decays over the few epochs that fit
    assert trainmod.budget_horizon(3, 50, 2, 20.0, 0.0) == pytest.approx(3.0)
