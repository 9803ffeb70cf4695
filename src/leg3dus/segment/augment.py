"""Ultrasound-style augmentation of training batches, split into the draw of its random
parameters (numpy, on the host, small arrays) and their application (torch ops on the
batch's device, one launch per operation for the whole batch).

Geometry (image and classes together, one resampling): with probability 0.5 a rotation
about axis 0 (+-10 degrees, in the transverse plane) and a scaling (+-10 %); with
probability 0.2 a smooth elastic displacement (about 2 voxels). Intensity (image only):
gain x0.8..1.2 (p 0.5), offset +-0.05 (p 0.3), gamma 0.7..1.5 (p 0.5, changes of dynamic
range), Gaussian noise sd 0.03 (p 0.3). Depth (axis 1) is never flipped: attenuation
makes it asymmetric.

Training draws the parameters of a whole epoch at once (:func:`draw_params`) and copies
them to the device once; each step applies its rows with :func:`apply_params`, drawing
the noise field on the device. Nothing goes back to the host.
"""

from __future__ import annotations

import functools

import numpy as np

#: Parameter names and their per-patch shape after the batch axis (``field``: the
#: coarse elastic field, ``(dims, *coarse)``).
SCALARS = ("cos", "sin", "inv_scale", "warp", "gain", "offset", "gamma", "noise_on")


def coarse_shape(spatial) -> list[int]:
    """The grid of the elastic field drawn for a patch of ``spatial`` voxels.

    >>> coarse_shape((128, 128)), coarse_shape((16, 64, 64))
    ([8, 8], [2, 4, 4])
    """
    return [max(2, int(s) // 16) for s in spatial]


def draw_params(rng: np.random.Generator, n: int, spatial) -> dict[str, np.ndarray]:
    """The augmentation of ``n`` patches of ``spatial`` voxels ((y, x) or (z, y, x)),
    drawn from ``rng``: float32 arrays with ``n`` rows (no noise field: that is drawn
    where it is applied).

    >>> p = draw_params(np.random.default_rng(0), 4, (32, 32))
    >>> p["cos"].shape, p["field"].shape, p["field"].dtype
    ((4,), (4, 2, 2, 2), dtype('float32'))
    """
    dims = len(spatial)
    turn = rng.random(n) < 0.5
    angle = np.where(turn, rng.uniform(-1, 1, n) * np.deg2rad(10), 0.0)
    scale = np.where(turn, rng.uniform(0.9, 1.1, n), 1.0)
    warp = rng.random(n) < 0.2
    field = rng.normal(0, 1, (n, dims, *coarse_shape(spatial)))

    def on(p, lo, hi, neutral):
        hit = rng.random(n) < p
        return np.where(hit, rng.uniform(lo, hi, n), neutral)

    out = {"cos": np.cos(angle) / scale, "sin": np.sin(angle) / scale,
           "inv_scale": 1.0 / scale, "warp": warp, "field": field,
           "gain": on(0.5, 0.8, 1.2, 1.0), "offset": on(0.3, -0.05, 0.05, 0.0),
           "gamma": on(0.5, 0.7, 1.5, 1.0), "noise_on": rng.random(n) < 0.3}
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def apply_params(image, classes, params: dict, noise=None, noise_sd: float = 0.03):
    """Augment a batch of torch tensors with drawn parameters (torch tensors or arrays
    with one row per patch, on any device: they are moved to the batch's).

    ``image`` is (B, C, y, x) for 2d and (B, 1, z, y, x) for 3d, in [0, 1]; ``classes``
    has one channel and the same spatial size (any integer type; the result is int64).
    ``params["field"]`` None skips the elastic field. ``noise``: a tensor of the image's
    shape (standard normal, scaled by ``noise_sd``) or None for no noise. Returns new
    tensors.

    >>> import torch
    >>> x = torch.rand(2, 1, 8, 8); y = torch.zeros(2, 1, 8, 8, dtype=torch.long)
    >>> same = {**identity_params(2, 2), "field": None}
    >>> torch.allclose(apply_params(x, y, same)[0], x)
    True
    """
    import torch
    import torch.nn.functional as F

    n, dims = image.shape[0], image.dim() - 2
    dev = image.device

    def col(name):
        return torch.as_tensor(params[name], dtype=torch.float32, device=dev)

    cos, sin, inv = col("cos"), col("sin"), col("inv_scale")
    zero = torch.zeros_like(cos)
    # rows and columns ordered (x, y[, z]): turn in the (x, y) plane
    if dims == 2:
        rows = [[cos, -sin, zero], [sin, cos, zero]]
    else:
        rows = [[cos, -sin, zero, zero], [sin, cos, zero, zero], [zero, zero, inv, zero]]
    theta = torch.stack([torch.stack(r, -1) for r in rows], 1)
    size = list(image.shape)
    grid = F.affine_grid(theta, size, align_corners=False)
    if params.get("field") is not None:
        field = torch.as_tensor(params["field"], dtype=torch.float32, device=dev)
        field = field * col("warp").view(n, *([1] * (dims + 1)))
        mode = "bilinear" if dims == 2 else "trilinear"
        field = F.interpolate(field, size=size[2:], mode=mode, align_corners=False)
        grid = grid + field.movedim(1, -1) * _per_axis(tuple(size[2:]), dev)
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    classes = F.grid_sample(classes.float(), grid, mode="nearest", padding_mode="zeros",
                            align_corners=False).long()
    shape = (n,) + (1,) * (dims + 1)
    image = image * col("gain").view(shape) + col("offset").view(shape)
    image = image.clamp(0, 1) ** col("gamma").view(shape)
    if noise is not None:
        image = image + noise * (noise_sd * col("noise_on")).view(shape)
    return image, classes


@functools.lru_cache(maxsize=16)
def _per_axis(spatial: tuple, device):
    """2 voxels in normalised coordinates, per grid axis (x, y[, z]): a tensor made once
    per patch size and device (a copy to the device each step would wait for it)."""
    import torch

    return torch.tensor([2.0 * 2.0 / s for s in spatial[::-1]], device=device)


def identity_params(n: int, dims: int) -> dict[str, np.ndarray]:
    """Parameters that leave a batch of ``n`` patches of ``dims`` axes as it is.

    >>> identity_params(2, 2)["gain"].tolist()
    [1.0, 1.0]
    """
    ones, zeros = np.ones(n, np.float32), np.zeros(n, np.float32)
    return {"cos": ones, "sin": zeros, "inv_scale": ones, "warp": zeros,
            "field": np.zeros((n, dims, *[2] * dims), np.float32), "gain": ones,
            "offset": zeros, "gamma": ones, "noise_on": zeros}
