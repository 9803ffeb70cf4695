"""Running an exported ONNX model (:func:`leg3dus.segment.export.export_onnx`) with
onnxruntime, without torch: what :func:`leg3dus.segment.infer.load_model` returns for a
``.onnx`` file. The model spec travels in the file's metadata (key ``leg3dus.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..core.errors import InputFileError, OptionError

SPEC_KEY = "leg3dus.json"


class OnnxNet:
    """An onnxruntime session that maps a batch of windows (float32, ``(B, C, ...)``) to
    their class scores, like the torch network it was exported from."""

    def __init__(self, session) -> None:
        self.session = session
        self.input = session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0]


def load_onnx(path: str | os.PathLike, threads: int | None = None) -> tuple[OnnxNet, dict]:
    """The network and spec of an ONNX file that leg3dus exported; :class:`OptionError`
    when onnxruntime is missing, :class:`InputFileError` for another file. ``threads``
    sets onnxruntime's threads within an operator (default: its own, one per core)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise OptionError(f"an ONNX model needs onnxruntime ({exc}); install it with: "
                          "pip install 'leg3dus[onnx]'") from None
    path = Path(path)
    try:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        session = ort.InferenceSession(str(path), options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds
        raise InputFileError(f"{path}: not a readable ONNX model "
                             f"({str(exc).splitlines()[0][:200]})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if SPEC_KEY not in meta:
        raise InputFileError(f"{path}: an ONNX model without a leg3dus model description "
                             f"({SPEC_KEY}); export it with leg3dus export-model --to onnx")
    return OnnxNet(session), json.loads(meta[SPEC_KEY])
