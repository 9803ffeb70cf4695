"""Segmentation networks for LEG-3D-US volumes: models, patch sampling, training,
sliding-window inference and export.

Two models: ``"2d"``, a U-Net on transverse slices (axis 0) that sees ``context``
neighbouring slices on each side as extra input channels ("2.5D"), and ``"3d"``, a
DynUNet on 3D patches. Torch and MONAI (the ``seg`` extra) are imported only when a
submodule is imported, so the rest of leg3dus works without them.

Main entry points: :func:`leg3dus.segment.train.train` (a run folder with checkpoints,
a CSV log, a plot and an exported ``model.ts``), :func:`leg3dus.segment.infer.load_model`
and :func:`leg3dus.segment.infer.predict` (labels 0/100/150/200 on the input's grid);
:func:`leg3dus.segment.adapt.adapt` and :func:`leg3dus.segment.adapt.predict_adapted`
fine-tune a trained network on a few annotated slices of a new subject, then segment it.
"""

from ..core.errors import OptionError


def require_seg():
    """Import and return ``(torch, monai)``, or raise :class:`OptionError` naming the extra."""
    try:
        import monai
        import torch
    except ImportError as exc:
        raise OptionError(
            f"segmentation needs the 'seg' extra (torch and MONAI), which is not installed "
            f"({exc}); install it with: pip install 'leg3dus[seg]'"
        ) from None
    return torch, monai
