"""Exporting a trained network to a TorchScript file that predicts without training code.

The file holds the traced network and, as an extra file ``leg3dus.json``, the model spec
(kind, patch, context, spacing, classes); :func:`leg3dus.segment.infer.load_model` reads
both. In plain torch::

    extra = {"leg3dus.json": ""}
    net = torch.jit.load("model.ts", _extra_files=extra)
    spec = json.loads(extra["leg3dus.json"])
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from ..atomic import atomic_path
from . import require_seg
from .infer import SPEC_FILE

torch, monai = require_seg()


def export_torchscript(net, spec: dict, path: str | os.PathLike) -> Path:
    """Trace ``net`` (on CPU, eval mode) and write it with ``spec`` to ``path``.

    >>> export_torchscript(net, spec, "run/model.ts")  # doctest: +SKIP
    """
    path = Path(path)
    net = net.to("cpu").eval()
    patch = [int(p) for p in spec["patch"]]
    if spec["kind"] == "2d":
        example = torch.zeros(1, int(spec["in_channels"]), patch[1], patch[2])
    else:
        example = torch.zeros(1, 1, *patch)
    # Inference always feeds tiles of exactly the patch size, so shape checks that the
    # tracer freezes (it warns about them) hold for every call.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, example, check_trace=False)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(tmp), _extra_files={SPEC_FILE: json.dumps(spec)})
    return path
