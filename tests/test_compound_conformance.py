"""Reproduce the PLUS toolkit's four volume-reconstruction regression cases."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_or_skip

from leg3dus.compound import reconstruct
from leg3dus.core.volume_io import read_volume
from leg3dus.sweep import read_config, read_sequence

CASES = [("NNMEAN", "SpinePhantom_NN_MEAN"), ("NNLATE", "SonixRP_TRUS_D70mm_NN_LATE"),
         ("LNMAXI", "SpinePhantom_LN_MAXI"), ("LNMEAN", "SonixRP_TRUS_D70mm_LN_MEAN")]


@pytest.fixture(scope="module")
def plus_sequence():
    d = shared_or_skip("conformance", "plus")
    return d, read_sequence(d / "data" / "SpinePhantomFreehand.igs.mha")


@pytest.mark.parametrize(("case", "config"), CASES)
def test_plus_reference_volume(plus_sequence, case, config):
    d, seq = plus_sequence
    cfg = read_config(d / "config" / f"Config_VolumeReconstruction_{config}.xml")
    vol = reconstruct(seq, cfg).volume
    ref = read_volume(d / "data" / f"VolumeReconstructorTest{case}volumeRef.mha")
    assert vol.shape == ref.shape
    np.testing.assert_allclose(vol.origin, ref.origin, atol=1e-3)  # file keeps 6 digits
    np.testing.assert_allclose(vol.spacing, ref.spacing)
    # Bit-exact, as docs/compound.md says: every voxel equals PLUS's reference.
    np.testing.assert_array_equal(vol.array, ref.array)
    assert vol.array.dtype == ref.array.dtype and vol.array.any()
