"""One training epoch, written so that a GPU never waits for the host.

The epoch's random draws (:func:`leg3dus.segment.device_data.draw_epoch`) go to the
device once; each step cuts its patches there (:class:`~.device_data.DevicePatches`, or
the host fallback), augments them with torch ops (the noise field from a device
generator seeded per epoch), runs the network under bf16 autocast on CUDA (float32 on
the CPU, where bf16 is slower and less exact), and adds the loss to a device tensor.
Nothing is read back per step (no ``.item()``, ``.cpu()`` or ``float(loss)``): the mean
loss is read once, at the end of the epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from .augment import apply_params


def autocast_for(device):
    """The autocast context of training on ``device``: bf16 on a CUDA device that has it,
    else none (float32).

    >>> type(autocast_for("cpu")).__name__
    'nullcontext'
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def noise_generator(device, seed: int, epoch: int):
    """The torch generator of an epoch's noise fields on ``device`` (seeded from
    ``(seed, epoch)``, so a resumed run draws what an uninterrupted one would)."""
    import torch

    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(np.random.SeedSequence([seed, epoch, 1]).generate_state(1)[0]))
    return gen


def run_epoch(net, opt, loss_fn, patches, draws: dict, steps: int, batch: int, *,
              generator=None, stop: Callable[[], bool] | None = None,
              progress: Callable[[int], None] | None = None) -> tuple[float | None, int]:
    """Train ``net`` for up to ``steps`` steps of ``batch`` patches.

    Parameters
    ----------
    patches
        A :class:`~.device_data.DevicePatches` or :class:`~.device_data.HostPatches`.
    draws
        :func:`~.device_data.draw_epoch` of at least ``steps * batch`` patches; the
        augmentation parameters, when present, are applied (noise from ``generator``).
    stop
        Asked before each step; True ends the epoch there (a time limit).
    progress
        Called with the step's index before it runs.

    Returns
    -------
    (mean loss over the steps run, or None when none ran; steps run)
    """
    import torch

    from .device_data import DevicePatches

    device = patches.device
    on_device = isinstance(patches, DevicePatches)
    where = {}
    for key, value in draws.items():
        keep_host = key in ("subject", "start") and not on_device
        where[key] = value if keep_host else torch.as_tensor(value, device=device)
    augment = "gain" in draws
    autocast = autocast_for(device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    done = 0
    for step in range(steps):
        if stop is not None and stop():
            break
        if progress is not None:
            progress(step)
        rows = slice(step * batch, (step + 1) * batch)
        x, y = patches.cut(where["subject"][rows], where["start"][rows])
        if augment:
            noise = torch.randn(x.shape, generator=generator, device=device)
            x, y = apply_params(x, y, {k: v[rows] for k, v in where.items()}, noise)
        with autocast:
            logits = net(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
        done += 1
    return (float(total) / done if done else None), done
