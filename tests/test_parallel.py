"""Per-subject jobs on a real 2-worker Dask LocalCluster: same results as in-process,
a failing subject reported while the others complete."""

from __future__ import annotations

import functools
import json

import pytest

from leg3dus.core.errors import OptionError
from leg3dus.core.parallel import dask_client, map_subjects
from leg3dus.core.volume_io import read_header
from leg3dus.dataset import find_subjects
from leg3dus.dataset.info import describe_subject
from leg3dus.dataset.validate import CheckOptions, check_subject

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from conftest import make_pair

    from leg3dus import write_volume

    root = tmp_path_factory.mktemp("par") / "data"
    for i, (split, sid) in enumerate([("train", "A"), ("train", "B"), ("val", "C"),
                                      ("test", "D"), ("test", "E")]):
        image, labels = make_pair(spacing=(0.3, 0.3, 0.3), seed=i)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    broken = root / "val" / "C" / "masksX1.mha"
    broken.write_bytes(broken.read_bytes()[:-40])
    return root


def test_results_equal_serial_and_in_input_order(cluster, dataset):
    subjects = find_subjects(dataset)
    for fn in (describe_subject, functools.partial(check_subject, options=CheckOptions())):
        serial = map_subjects(fn, subjects)
        done = []
        remote = map_subjects(fn, subjects, scheduler=cluster, on_done=done.append)
        assert [r.value for r in remote] == [r.value for r in serial]
        assert [r.item for r in remote] == subjects
        assert len(done) == len(subjects)


def test_a_failing_subject_is_reported_and_the_rest_complete(cluster, dataset):
    paths = [s.label for s in find_subjects(dataset)]
    results = map_subjects(read_header, paths, scheduler=cluster)
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0].item.parts[-2] == "C"
    assert "truncated" in failed[0].error and "masksX1.mha" in failed[0].error
    assert all(r.value.shape == (24, 20, 16) for r in results if r.ok)
    bug = map_subjects(int, ["1", "x", "3"], scheduler=cluster)
    assert [r.value for r in bug] == [1, None, 3]
    assert bug[1].error.startswith("ValueError")


def test_cli_on_the_cluster_matches_in_process(cli, cluster, dataset, tmp_path):
    for args in (("info", dataset, "--json"), ("validate", dataset, "--json")):
        serial = cli(*args)
        remote = cli(*args, "--scheduler", cluster)
        assert remote.exit_code == serial.exit_code
        assert json.loads(remote.stdout) == json.loads(serial.stdout)
    clean = tmp_path / "clean"
    (dataset / "val" / "C").rename(tmp_path / "C")
    try:
        assert cli("export", dataset, clean, "--to", "nifti", "--scheduler", cluster,
                   "--json").exit_code == 0
        assert len(list(clean.rglob("*.nii.gz"))) == 8
    finally:
        (tmp_path / "C").rename(dataset / "val" / "C")


def test_client_options():
    with dask_client() as client:
        assert client is None
    with pytest.raises(OptionError, match="not both"), dask_client("tcp://x:1", 2):
        pass
    with pytest.raises(OptionError, match="at least 1"), dask_client(None, -1):
        pass
