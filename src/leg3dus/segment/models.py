"""The two network kinds and their specification.

A model is described by a plain ``spec`` dict that travels in every checkpoint and
exported file, so a saved model can be rebuilt and applied without the training code:

- ``kind``: ``"2d"`` (slices along axis 0, ``context`` neighbours on each side as
  channels, so ``in_channels = 2 * context + 1``) or ``"3d"`` (one channel);
- ``patch``: window size in voxels, (z, y, x); ``z`` is 1 for ``"2d"``;
- ``spacing``: the voxel spacing (z, y, x) in mm the model was trained at;
- ``channels``: feature maps per level; ``classes``: 4 (background, SOL, GM, GL).
"""

from __future__ import annotations

from ..core.errors import OptionError
from . import require_seg

torch, monai = require_seg()

KINDS = ("2d", "3d")
NUM_CLASSES = 4


def default_spec(kind: str) -> dict:
    """The default specification of a model of ``kind`` (``"2d"`` or ``"3d"``).

    >>> default_spec("2d")["in_channels"]
    5
    """
    if kind == "2d":
        return {"kind": "2d", "context": 2, "in_channels": 5, "classes": NUM_CLASSES,
                "patch": [1, 128, 128], "channels": [16, 32, 64, 128, 256],
                "spacing": [1.0, 1.0, 1.0]}
    if kind == "3d":
        return {"kind": "3d", "context": 0, "in_channels": 1, "classes": NUM_CLASSES,
                "patch": [64, 64, 64], "channels": [16, 32, 64, 128],
                "spacing": [1.0, 1.0, 1.0]}
    raise OptionError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")


def check_spec(spec: dict, source: str = "model") -> dict:
    """Validate a spec (from a config or a file) and fill derived fields; returns a copy."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise OptionError(f"{source}: unknown model kind {kind!r}; expected one of "
                          f"{', '.join(KINDS)}")
    spec = {**default_spec(kind), **spec}
    levels = len(spec["channels"])
    least = 2 if kind == "2d" else 3  # DynUNet needs three levels or more
    if levels < least:
        raise OptionError(f"{source}: 'channels' of a {kind} model needs at least {least} "
                          f"levels, found {levels}")
    spec["context"] = int(spec["context"]) if kind == "2d" else 0
    spec["in_channels"] = 2 * spec["context"] + 1 if kind == "2d" else 1
    patch = [int(p) for p in spec["patch"]]
    if kind == "2d" and len(patch) == 2:
        patch = [1, *patch]
    if len(patch) != 3 or min(patch) < 1:
        raise OptionError(f"{source}: 'patch' must be 3 positive sizes (z, y, x), found {patch}")
    if kind == "2d" and patch[0] != 1:
        raise OptionError(f"{source}: a 2d model's patch has z size 1, found {patch}")
    factor = 2 ** (levels - 1)
    spatial = patch[1:] if kind == "2d" else patch
    if any(p % factor for p in spatial):
        raise OptionError(f"{source}: patch sizes {spatial} must be multiples of {factor} "
                          f"for {levels} levels")
    spec["patch"] = patch
    spec["spacing"] = [float(s) for s in spec["spacing"]]
    return spec


def build_model(spec: dict):
    """A freshly initialised ``torch.nn.Module`` for ``spec``.

    ``"2d"``: MONAI ``UNet`` (residual units, instance norm) mapping
    ``(B, in_channels, H, W)`` to ``(B, classes, H, W)``. ``"3d"``: MONAI ``DynUNet``
    mapping ``(B, 1, D, H, W)`` to ``(B, classes, D, H, W)``.

    >>> type(build_model(default_spec("2d"))).__name__
    'UNet'
    """
    spec = check_spec(spec)
    channels = tuple(int(c) for c in spec["channels"])
    if spec["kind"] == "2d":
        from monai.networks.nets import UNet

        return UNet(spatial_dims=2, in_channels=spec["in_channels"],
                    out_channels=spec["classes"], channels=channels,
                    strides=(2,) * (len(channels) - 1), num_res_units=2)
    from monai.networks.nets import DynUNet

    strides = [1] + [2] * (len(channels) - 1)
    return DynUNet(spatial_dims=3, in_channels=1, out_channels=spec["classes"],
                   kernel_size=[3] * len(channels), strides=strides,
                   upsample_kernel_size=strides[1:], filters=list(channels),
                   norm_name="instance", res_block=True)
