"""Shared fixtures: small volumes with non-trivial geometry and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leg3dus import Volume, write_volume

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_or_skip(*parts: str) -> Path:
    """A path under ../shared; skip when absent, except in CI where it must exist."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is required in CI")
        pytest.skip(f"{path} not present")
    return path


def oblique_direction() -> np.ndarray:
    """A proper rotation (not the identity), in (z, y, x) order."""
    a, b = np.deg2rad(20), np.deg2rad(-35)
    rz = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return rz @ ry


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_pair(shape=(24, 20, 16), spacing=(0.5, 0.4, 0.3), origin=(10.0, -4.0, 2.5),
              direction=None, seed=0):
    """A uint8 image and a label volume holding all three muscles, same geometry."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    labels = np.zeros(shape, np.uint8)
    z, y, x = shape
    labels[2 : z // 2, 2 : y // 2, 2 : x // 2] = 100
    labels[z // 2 : z - 2, 2 : y // 2, 2 : x // 2] = 150
    labels[2 : z - 2, y // 2 : y - 2, x // 2 : x - 2] = 200
    d = oblique_direction() if direction is None else direction
    return Volume(image, spacing, origin, d), Volume(labels, spacing, origin, d)


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """A LEG-3D-US tree with two train subjects, one val and one test subject."""
    root = tmp_path / "data"
    for split, sid, seed in [("train", "S01", 1), ("train", "S02", 2), ("val", "S03", 3),
                             ("test", "S04", 4)]:
        image, labels = make_pair(seed=seed)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    return root


@pytest.fixture
def cli():
    """Run ``leg3dus ARGS``; returns the click result (exit_code, stdout, stderr)."""
    from leg3dus.apps.cli import app

    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(scope="module")
def torch_one_thread():
    """One torch thread for a test module: avoids oversubscribing a small machine and
    keeps the network tests fast."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
