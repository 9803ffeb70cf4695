"""Exporting a trained network: a TorchScript file that predicts without training code,
an ONNX file that onnxruntime runs without torch, or a MONAI bundle that MONAI's tools
load.

The file holds the traced network and, as an extra file ``leg3dus.json``, the model spec
(kind, patch, context, spacing, classes); :func:`leg3dus.segment.infer.load_model` reads
both. In plain torch::

    extra = {"leg3dus.json": ""}
    net = torch.jit.load("model.ts", _extra_files=extra)
    spec = json.loads(extra["leg3dus.json"])

A MONAI bundle (:func:`export_monai_bundle`) is a folder ``<name>/`` with
``configs/metadata.json`` (what goes in and out: classes, channels, intensity scaling),
``configs/inference.json`` (``network_def``, the MONAI network with its arguments, and
``network``), ``models/model.pt`` (the weights) and ``models/model.ts`` (TorchScript
with the metadata and the leg3dus spec), loaded with MONAI's bundle API::

    net = monai.bundle.load("leg3dus_calf", bundle_dir="bundles", source="monaihosting",
                            workflow_type="inference")
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

from ..core.atomic import atomic_path
from ..core.errors import OptionError
from . import require_seg
from .infer import SPEC_FILE

torch, monai = require_seg()


def example_windows(spec: dict, batch: int):
    """A zero batch of ``batch`` windows as the network takes them: 2d ``(B, channels, y,
    x)``, 3d ``(B, 1, z, y, x)``, of the spec's patch size."""
    patch = [int(p) for p in spec["patch"]]
    if spec["kind"] == "2d":
        return torch.zeros(batch, int(spec["in_channels"]), patch[1], patch[2])
    return torch.zeros(batch, 1, *patch)


def export_torchscript(net, spec: dict, path: str | os.PathLike,
                       extra_files: dict[str, str] | None = None) -> Path:
    """Trace ``net`` (on CPU, eval mode) and write it with ``spec`` to ``path``
    (``extra_files``: more named texts stored in the file).

    >>> export_torchscript(net, spec, "run/model.ts")  # doctest: +SKIP
    """
    path = Path(path)
    net = net.to("cpu").eval()
    example = example_windows(spec, 1)
    # Inference always feeds tiles of exactly the patch size, so shape checks that the
    # tracer freezes (it warns about them) hold for every call.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, example, check_trace=False)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(tmp),
                       _extra_files={SPEC_FILE: json.dumps(spec), **(extra_files or {})})
    return path


def export_onnx(net, spec: dict, path: str | os.PathLike) -> Path:
    """Write ``net`` (on CPU, eval mode) as ONNX with ``spec`` in the model's metadata
    (key ``leg3dus.json``). The input ``image`` is a batch of windows of the patch size
    (2d: N x channels x Y x X; 3d: N x 1 x Z x Y x X, float32 scaled like training), the
    output ``scores`` the class scores of each window; the batch size is free.

    >>> export_onnx(net, spec, "model.onnx")  # doctest: +SKIP
    """
    try:
        import onnx
    except ImportError as exc:
        raise OptionError(f"ONNX export needs the 'onnx' extra ({exc}); install it with: "
                          "pip install 'leg3dus[onnx]'") from None
    path = Path(path)
    net = net.to("cpu").eval()
    example = example_windows(spec, 2)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its operator registry warns that torchvision is absent
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(net, (example,), dynamo=True, verbose=False,
                                        input_names=["image"], output_names=["scores"],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
    finally:
        quiet.setLevel(level)
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = SPEC_FILE, json.dumps(spec)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return path


BUNDLE_VERSION = "0.1.0"


def network_def(spec: dict) -> dict:
    """The MONAI bundle ``network_def`` of a leg3dus model: the MONAI network class and
    the arguments :func:`leg3dus.segment.models.build_model` gives it.

    >>> from leg3dus.segment.models import default_spec
    >>> network_def(default_spec("2d"))["_target_"]
    'monai.networks.nets.UNet'
    """
    channels = [int(c) for c in spec["channels"]]
    if spec["kind"] == "2d":
        return {"_target_": "monai.networks.nets.UNet", "spatial_dims": 2,
                "in_channels": int(spec["in_channels"]), "out_channels": int(spec["classes"]),
                "channels": channels, "strides": [2] * (len(channels) - 1),
                "num_res_units": 2}
    strides = [1] + [2] * (len(channels) - 1)
    return {"_target_": "monai.networks.nets.DynUNet", "spatial_dims": 3, "in_channels": 1,
            "out_channels": int(spec["classes"]), "kernel_size": [3] * len(channels),
            "strides": strides, "upsample_kernel_size": strides[1:], "filters": channels,
            "norm_name": "instance", "res_block": True}


def bundle_metadata(spec: dict, name: str) -> dict:
    """``configs/metadata.json`` of a bundle: versions, task, and the network's inputs
    and outputs in MONAI's ``network_data_format``."""
    from ..core import labels as lab

    patch = [int(p) for p in spec["patch"]]
    if spec["kind"] == "2d":
        context = int(spec["context"])
        shape = patch[1:]
        channel_def = {str(i): f"transverse slice z{i - context:+d}" if i != context
                       else "transverse slice z" for i in range(2 * context + 1)}
        note = (f"a 2D network applied slice by slice along axis 0 (knee to ankle); its "
                f"{2 * context + 1} input channels are the slice and {context} neighbours "
                "on each side")
    else:
        shape, channel_def = patch, {"0": "ultrasound"}
        note = "a 3D network applied in windows"
    classes = {"0": "background", **{str(m.index): m.name for m in lab.MUSCLES}}
    return {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
                  "0.8.1/meta_schema_20220324.json",
        "version": BUNDLE_VERSION,
        "changelog": {BUNDLE_VERSION: "exported by leg3dus"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": __import__("numpy").__version__,
        "required_packages_version": {},
        "name": name,
        "task": "Segmentation of the soleus (SOL), gastrocnemius medialis (GM) and "
                "lateralis (GL) in 3D freehand ultrasound of the calf",
        "description": f"leg3dus {spec['kind']} model: {note}; windows of {patch} voxels "
                       f"(z, y, x) at a spacing of {spec['spacing']} mm; B-mode values "
                       "0..255 divided by 255; softmax over 4 classes, argmax.",
        "authors": "leg3dus",
        "copyright": "see the training data's licence",
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "magnitude", "modality": "US",
                "num_channels": len(channel_def), "spatial_shape": shape,
                "dtype": "float32", "value_range": [0, 1], "is_patch_data": True,
                "channel_def": channel_def}},
            "outputs": {"pred": {
                "type": "image", "format": "segmentation", "num_channels": 4,
                "spatial_shape": shape, "dtype": "float32", "value_range": [],
                "is_patch_data": True, "channel_def": classes}},
        },
        "leg3dus": spec,
    }


def inference_config(spec: dict) -> dict:
    """``configs/inference.json``: ``network_def`` and ``network`` on ``device``."""
    return {
        "imports": ["$import torch"],
        "bundle_root": ".",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": network_def(spec),
        "network": "$@network_def.to(@device)",
        "leg3dus_spec": spec,
    }


def export_monai_bundle(model, out: str | os.PathLike, name: str = "leg3dus_calf",
                        overwrite: bool = False) -> Path:
    """Write ``model`` (a :class:`~leg3dus.segment.infer.LoadedModel`) as the MONAI bundle
    folder ``out/name``, built under a temporary name and renamed once complete.

    Examples
    --------
    >>> from leg3dus.segment.infer import load_model
    >>> export_monai_bundle(load_model("runs/r2d"), "bundles")  # doctest: +SKIP
    PosixPath('bundles/leg3dus_calf')
    """
    import re

    from ..core.atomic import atomic_dir
    from ..core.errors import OptionError, OutputError
    from .models import build_model

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise OptionError(f"bundle name must be letters, digits, '_' or '-', found {name!r}")
    target = Path(out) / name
    if target.exists() and not overwrite:
        raise OutputError(f"{target}: already exists; choose another name or pass --overwrite")
    spec = model.spec
    net = build_model(spec)
    net.load_state_dict({k: v.to("cpu") for k, v in model.net.state_dict().items()})
    net.eval()
    metadata = bundle_metadata(spec, name)
    with atomic_dir(target) as tmp:
        (tmp / "configs").mkdir(parents=True)
        (tmp / "models").mkdir()
        (tmp / "docs").mkdir()
        (tmp / "configs" / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
        (tmp / "configs" / "inference.json").write_text(
            json.dumps(inference_config(spec), indent=2) + "\n")
        torch.save(net.state_dict(), tmp / "models" / "model.pt")
        export_torchscript(net, spec, tmp / "models" / "model.ts",
                           extra_files={"metadata.json": json.dumps(metadata)})
        (tmp / "docs" / "README.md").write_text(
            f"# {name}\n\n{metadata['task']}.\n\n{metadata['description']}\n")
    return target
