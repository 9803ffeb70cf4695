"""Ensembles: the mean of the members' class probabilities; runs and CV folds as members."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import write_volume
from leg3dus.core.errors import OptionError

pytest.importorskip("monai")
import torch  # noqa: E402

from leg3dus.segment.ensemble import Ensemble, load_models  # noqa: E402
from leg3dus.segment.infer import sliding_window  # noqa: E402
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SPEC = {"channels": [4, 8], "patch": [1, 16, 16], "context": 1}


def _checkpoint(path, seed, **spec):
    spec = check_spec({**default_spec("2d"), **SPEC, **spec})
    torch.manual_seed(seed)
    net = build_model(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"spec": spec, "model": net.state_dict()}, path)
    return path


def test_ensemble_probabilities_are_the_mean_of_its_members(tmp_path):
    a, b = _checkpoint(tmp_path / "a.pt", 1), _checkpoint(tmp_path / "b.pt", 2)
    image = make_pair(shape=(6, 20, 24))[0].array
    ensemble = load_models([a, b], device="cpu")
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 2
    pa, pb, pe = (sliding_window(image, m, probabilities=True, tta=True, slab=4)
                  for m in (*ensemble.members, ensemble))
    np.testing.assert_allclose(pe, (pa + pb) / 2, atol=1e-6)
    classes = sliding_window(image, ensemble, tta=True, slab=2)
    np.testing.assert_array_equal(classes, ((pa + pb) / 2).argmax(0))


def test_a_cv_run_folder_stands_for_its_folds_and_members_must_match(tmp_path):
    for i in range(3):
        _checkpoint(tmp_path / "cv" / f"fold_{i}" / "best.pt", i)
    model = load_models([tmp_path / "cv"], device="cpu")
    assert [m.source.split("/")[-2] for m in model.members] == ["fold_0", "fold_1", "fold_2"]
    other = _checkpoint(tmp_path / "c.pt", 5, patch=[1, 32, 32])
    with pytest.raises(OptionError, match="patch differ"):
        load_models([tmp_path / "cv", other], device="cpu")


def test_predict_command_with_two_models(cli, tmp_path):
    a, b = _checkpoint(tmp_path / "a.pt", 1), _checkpoint(tmp_path / "b.pt", 2)
    image, _ = make_pair(shape=(6, 20, 24))
    write_volume(image, tmp_path / "x1.mha")
    result = cli("predict", a, b, tmp_path / "x1.mha", "-o", tmp_path / "p.mha", "--json")
    assert result.exit_code == 0, result.output
    assert '"models": 2' in result.stdout
    bad = cli("predict", a, b, tmp_path / "x1.mha", "-o", tmp_path / "q.mha",
              "--propagate", tmp_path / "x1.mha")
    assert bad.exit_code == 2 and "one model, not an ensemble" in bad.stderr
    assert not (tmp_path / "q.mha").exists()
