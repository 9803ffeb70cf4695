"""The training cache: cropped boxes on disk that read like the full volumes, so the
same seed trains the same network as from full arrays."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402

from leg3dus import write_volume  # noqa: E402
from leg3dus.core import labels as lab  # noqa: E402
from leg3dus.segment import train as train_module  # noqa: E402
from leg3dus.segment.cache import CachedSubject, Cropped, cache_subject  # noqa: E402
from leg3dus.segment.config import load_config, merge  # noqa: E402
from leg3dus.segment.data import PatchSampler, extract  # noqa: E402
from leg3dus.segment.models import check_spec, default_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def framed_pair(seed):
    """A subject whose image is zero around the scanned region and whose muscles fill only
    part of it, as in a compounded volume: both crops are smaller than the grid."""
    image, labels = make_pair(seed=seed)
    rng = np.random.default_rng(seed)
    array = 40 + labels.array // 2 + rng.integers(0, 40, labels.shape)
    array[:, :2] = 0
    array[:, :, -3:] = 0
    array[:1] = 0
    return image.with_array(array.astype(np.uint8)), labels


def full_subject(cached: CachedSubject) -> CachedSubject:
    """The same subject as full in-memory arrays (the cache before it was cropped)."""
    return CachedSubject(cached.id, np.asarray(cached.image), np.asarray(cached.classes),
                         cached.spacing, cached.samples)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache") / "data"
    for split, sid, seed in [("train", "S01", 1), ("train", "S02", 2), ("val", "S03", 3)]:
        image, labels = framed_pair(seed)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    return root


def test_cache_holds_the_boxes_and_reads_like_the_volumes(tree, tmp_path):
    s01 = tree / "train" / "S01"
    image, labels = framed_pair(1)
    cached = cache_subject("S01", s01 / "x1.mha", s01 / "masksX1.mha", tmp_path / "c")
    assert isinstance(cached.image, Cropped) and isinstance(cached.image.data, np.memmap)
    assert cached.image.shape == image.shape and cached.image.data.size < image.array.size
    assert cached.classes.data.size < cached.image.data.size
    np.testing.assert_array_equal(np.asarray(cached.image), image.array)
    np.testing.assert_array_equal(np.asarray(cached.classes), lab.to_index(labels.array))
    zs = np.array([0, 3, 5])
    np.testing.assert_array_equal(cached.classes[zs], lab.to_index(labels.array)[zs])
    again = cache_subject("S01", s01 / "x1.mha", s01 / "masksX1.mha", tmp_path / "c")
    np.testing.assert_array_equal(again.image.data, cached.image.data)
    entry = next((tmp_path / "c").iterdir())
    arrays = sum((entry / f).stat().st_size - 128 for f in ("image.npy", "classes.npy"))
    assert arrays == cached.image.data.nbytes + cached.classes.data.nbytes
    full = full_subject(cached)
    for kind, model in [("2d", {"channels": [4, 8], "patch": [1, 8, 8], "context": 2}),
                        ("3d", {"channels": [4, 8, 8], "patch": [4, 8, 8]})]:
        spec = check_spec({**default_spec(kind), **model})
        got = PatchSampler([cached], spec).batch(64, np.random.default_rng(5))
        want = PatchSampler([full], spec).batch(64, np.random.default_rng(5))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    for start in [(0, -3, -3), (4, 10, 10), (9, 20, 17)]:
        np.testing.assert_array_equal(extract(cached.image, start, (1, 8, 8), context=2),
                                      extract(full.image, start, (1, 8, 8), context=2))


def test_training_from_the_cache_equals_training_from_full_arrays(tree, tmp_path,
                                                                  monkeypatch):
    import torch

    config = merge(load_config(None), {
        "batch_size": 4, "steps_per_epoch": 4, "max_epochs": 2, "augment": True,
        "lr_schedule": "constant", "seed": 3,
        "model": {"channels": [4, 8], "patch": [1, 16, 16], "context": 1}})
    cropped = train_module.train(tree, "2d", tmp_path / "a", config)
    real = train_module.cache_subject
    monkeypatch.setattr(train_module, "cache_subject",
                        lambda *a, **k: full_subject(real(*a, **k)))
    full = train_module.train(tree, "2d", tmp_path / "b", config)
    assert cropped["best_dice"] == full["best_dice"]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    sa, sb = a["model"], b["model"]
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
