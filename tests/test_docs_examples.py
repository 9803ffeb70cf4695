"""The docs tell the truth: words they use are accepted, their examples run."""

from __future__ import annotations

import numpy as np
from test_compound import stack_sequence

from leg3dus.sweep import write_config, write_sequence
from leg3dus.volume import read_volume


def test_compounding_max_is_maximum(cli, tmp_path, rng):
    """The README says mean/max/latest: ``max`` gives exactly what ``maximum`` gives."""
    frames = rng.integers(1, 256, (4, 9, 7), dtype=np.uint8)
    seq, cfg = stack_sequence(frames, dz=0.5)
    s = write_sequence(seq, tmp_path / "s.igs.mha")
    c = write_config(cfg, tmp_path / "c.xml")
    got = {}
    for word in ("max", "maximum", "MAX"):
        out = tmp_path / f"{word}.mha"
        r = cli("compound", s, "--config", c, "-o", out, "--compounding", word, "--quiet")
        assert r.exit_code == 0, r.output
        got[word] = read_volume(out).array
    np.testing.assert_array_equal(got["max"], got["maximum"])
    np.testing.assert_array_equal(got["MAX"], got["maximum"])
    r = cli("compound", s, "--config", c, "-o", tmp_path / "x.mha", "--compounding", "mx")
    assert r.exit_code == 2 and "compounding" in r.stderr
