"""ITK's morphological contour interpolation behind ``method="morph"``."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from leg3dus.core.errors import OptionError
from leg3dus.propagate import morph_interpolate, propagate


def _vol():
    vol = np.zeros((11, 24, 60), np.uint8)
    vol[0, 5:15, 5:15] = 100
    vol[5, 5:14, 6:15] = 100
    vol[10, 6:14, 8:16] = 100
    vol[0, 5:15, 30:40] = 150
    vol[5, 5:15, 30:40] = 150  # GM ends: slice 10 is annotated without it
    return vol


def test_missing_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "itk", None)
    with pytest.raises(OptionError, match=r"leg3dus\[interp\]"):
        morph_interpolate(_vol())


def test_morph_fills_gaps_and_honours_annotated_slices():
    pytest.importorskip("itk")
    vol = _vol()
    out = propagate(vol, "morph", spacing=(0.5, 0.3, 0.3), annotated=[0, 5, 10])
    np.testing.assert_array_equal(out[[0, 5, 10]], vol[[0, 5, 10]])
    sol = [int((out[k] == 100).sum()) for k in range(11)]
    gm = [int((out[k] == 150).sum()) for k in range(11)]
    assert all(s > 0 for s in sol)
    assert all(g > 0 for g in gm[:5]) and gm[10] == 0
    assert set(np.unique(out)) == {0, 100, 150}
    # Transposed along axis 2, the same interpolation.
    t = propagate(np.ascontiguousarray(np.moveaxis(vol, 0, 2)), "morph",
                  spacing=(0.3, 0.3, 0.5), axis=2, annotated=[0, 5, 10])
    np.testing.assert_array_equal(np.moveaxis(t, 2, 0), out)


def test_worker_failure_is_a_one_line_leg3dus_error(monkeypatch, tmp_path):
    from leg3dus.core.errors import Leg3dusError
    from leg3dus.propagate import MorphError, morph

    worker = tmp_path / "failing_worker.py"
    worker.write_text("import sys\nprint('Traceback (most recent call last):', file=sys.stderr)\n"
                      "print('RuntimeError: itk exploded', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(morph, "_WORKER", worker)
    with pytest.raises(MorphError) as info:
        morph._run_itk(np.zeros((3, 4, 4), np.uint8), {})
    assert isinstance(info.value, Leg3dusError)
    assert str(info.value) == ("ITK's morphological contour interpolation failed: "
                               "RuntimeError: itk exploded")
