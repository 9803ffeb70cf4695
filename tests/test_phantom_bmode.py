"""Phantom B-mode image formation: speckle statistics, contrast, attenuation, depth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from leg3dus.core.errors import OptionError
from leg3dus.phantom import (
    Anatomy,
    Probe,
    bmode_envelope,
    cohort_params,
    make_subject,
    render_bmode,
    speckle_seed,
)
from leg3dus.phantom import tissue as T

# TGC equal to the muscle attenuation: a homogeneous block images with a flat mean.
FLAT = Probe(tgc_db_cm_mhz=0.7)


@pytest.mark.parametrize("spacing", [0.1, 0.277, 1.0])
def test_fully_developed_speckle_is_rayleigh(spacing):
    block = np.full((48, 64, 64), T.SOL, np.uint8)
    env = bmode_envelope(block, spacing, seed=11, probe=FLAT)[8:-8, 8:-8, 8:-8].ravel()
    snr = env.mean() / env.std()
    assert snr == pytest.approx(np.sqrt(np.pi / (4 - np.pi)), abs=0.04)  # 1.913
    # Second moment over squared first moment of a Rayleigh variable is 4 / pi.
    assert np.mean(env**2) / env.mean() ** 2 == pytest.approx(4 / np.pi, rel=0.02)
    # The fraction below the median of a Rayleigh fit matches its CDF at the mean.
    sigma = env.mean() / np.sqrt(np.pi / 2)
    frac = np.mean(env < env.mean())
    assert frac == pytest.approx(1 - np.exp(-env.mean() ** 2 / (2 * sigma**2)), abs=0.01)


def test_speckle_is_seeded_and_independent_of_chunking():
    tissue = np.full((40, 50, 30), T.GM, np.uint8)
    tissue[:, :5] = T.GEL
    a = render_bmode(tissue, 0.3, seed=1, chunk=7)
    assert np.array_equal(a, render_bmode(tissue, 0.3, seed=1, chunk=64))
    assert not np.array_equal(a, render_bmode(tissue, 0.3, seed=2))


def test_attenuation_without_tgc_follows_the_tissue_coefficient():
    probe = dataclasses.replace(FLAT, tgc_db_cm_mhz=0.0, noise_db=-200.0, compounding_mm=0.0)
    block = np.full((30, 400, 40), T.SOL, np.uint8)
    env = bmode_envelope(block, 0.1, seed=3, probe=probe)
    power_db = 10 * np.log10(np.mean(env[5:-5, :, 5:-5] ** 2, axis=(0, 2)))
    depth_cm = np.arange(400) * 0.01
    slope = np.polyfit(depth_cm[50:350], power_db[50:350], 1)[0]
    expected = -2 * T.ATTENUATION_DB_CM_MHZ[T.SOL] * probe.frequency_mhz
    assert slope == pytest.approx(expected, rel=0.05)


@pytest.fixture(scope="module")
def small_subject():
    params = cohort_params(1, seed=8)[0].replace(leg_length_mm=170.0)
    anat = Anatomy(params)
    image, labels = make_subject(params, spacing=0.5, anatomy=anat)
    return anat, image.array, labels.array, anat.tissue_grid(0.5)


def test_make_subject_equals_rendering_its_tissue_grid(small_subject):
    anat, image, _, tissue = small_subject
    again = render_bmode(tissue, 0.5, seed=speckle_seed(anat.params), chunk=33)
    assert np.array_equal(image, again)


def test_tissue_contrast_as_in_calf_ultrasound(small_subject):
    _, image, _, tissue = small_subject
    imaged = image > 0
    grey = {t: float(image[(tissue == t) & imaged].mean()) for t in
            (T.FAT, T.SEPTUM, T.FASCIA, T.GM, T.GL, T.SOL, T.APONEUROSIS, T.SKIN)}
    striated = float(image[(T.base(tissue) == T.GM) & (tissue & T.STRIATION > 0)].mean())
    assert grey[T.FAT] < grey[T.GM] - 20  # fat darker than muscle
    assert grey[T.SEPTUM] > grey[T.FAT] + 25  # bright septa in the fat
    assert grey[T.FASCIA] > grey[T.GM] + 25 and grey[T.APONEUROSIS] > grey[T.GM] + 25
    assert striated > grey[T.GM] + 10  # fascicle boundaries brighter than muscle
    assert 50 < grey[T.GM] < 140 and 50 < grey[T.SOL] < 140  # mid-grey muscle
    assert float(image[tissue == T.GEL].mean()) < 10  # anechoic water


def test_bone_casts_a_shadow_and_nothing_is_imaged_below_the_depth_limit(small_subject):
    anat, image, _, tissue = small_subject
    # Columns through bone: bright at the bone surface, dark beneath it.
    surface = (tissue == T.BONE) & (np.roll(tissue, 1, axis=1) != T.BONE)
    z, y, x = np.nonzero(surface)
    keep = image[z, y, x] > 0
    z, y, x = z[keep], y[keep], x[keep]
    assert z.size > 100
    below = image[z, np.minimum(y + 16, image.shape[1] - 1), x]  # 8 mm under the surface
    assert np.median(image[z, y + 1, x].astype(float)) > 2 * np.median(below)
    deep_muscle = image[(T.base(tissue) == T.DEEP) & (image > 0)]
    assert np.median(below) < 0.6 * np.median(deep_muscle)
    # The probe plane is the shallowest skin of each slice; 90 mm below it, all zero.
    top = np.argmax((tissue != T.GEL).any(axis=2), axis=1)
    limit = top + int(np.ceil(90.0 / 0.5))
    for iz in range(0, image.shape[0], 25):
        assert not image[iz, limit[iz]:].any()
        assert image[iz, limit[iz] - 20:limit[iz]].any()


def test_two_dimensional_frames():
    frame = np.full((300, 120), T.GM, np.uint8)
    frame[:10] = T.GEL
    img = render_bmode(frame, 0.2, seed=4, probe=dataclasses.replace(Probe(), max_depth_mm=40))
    assert img.shape == frame.shape and img.dtype == np.uint8
    assert not img[10 + 200:].any() and img[20:200].mean() > 40
    low = render_bmode(frame, 0.2, seed=4, probe=Probe(frequency_mhz=3.5))
    assert not np.array_equal(img[:200], low[:200])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(OptionError, match="uint8"):
        render_bmode(np.zeros((4, 4), np.float32), 1.0)
    with pytest.raises(OptionError, match="2D frame"):
        render_bmode(np.zeros((2, 2, 2, 2), np.uint8), 1.0)
    with pytest.raises(OptionError, match="spacing"):
        render_bmode(np.zeros((4, 4), np.uint8), (1.0, -1.0))
    with pytest.raises(OptionError, match="frequency"):
        Probe(frequency_mhz=0.1)
