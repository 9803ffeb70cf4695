"""Training patches cut where the network runs: the training cache held on the device,
patches gathered from it by index, with a host-memory fallback that gives the same
batches.

Design, for a GPU: every random choice of an epoch (subject, class, patch centre and
jitter, augmentation, see :func:`draw_epoch`) is drawn at the start of the epoch from one
seeded numpy generator, on the host, as small arrays, and copied to the device once.
The cohort's cropped volumes (:class:`~leg3dus.segment.cache.Cropped` boxes, uint8) lie
end to end in one flat device tensor per kind (image, classes); a batch of patches is a
single ``index_select`` of whole rows (one index per patch row, from an overlapping
strided view of the flat tensor) and one mask (zero outside a subject's box, edge slices
repeated for the 2.5D context, as :func:`leg3dus.segment.data.extract` cuts them), so a
step costs a few kernel launches whatever the batch size and never waits for the host.
Indexing rows rather than voxels keeps the index small (one entry per row of, e.g., 128
voxels), which matters on the CPU, where index arithmetic per voxel costs more than the
network's data.

:class:`HostPatches` is the fallback when the cache does not fit the device's budget
(:func:`choose_patches`): the same draws, each patch cut from the memory-mapped cache by
:func:`~leg3dus.segment.data.extract` and the batch copied to the device each step. Both
give the same batches bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core.errors import InputFileError, OptionError
from ..core.memory import available_bytes
from .augment import draw_params
from .cache import Cropped
from .data import extract

#: Share of the free memory (device memory on CUDA, available memory on the CPU) the
#: cache may take when no limit is set: the network and its activations need the rest.
FREE_SHARE = 0.5


def _box(volume) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """(box data, offset, full shape) of a :class:`Cropped` volume or an array."""
    if isinstance(volume, Cropped):
        return volume.data, volume.offset, volume.shape
    volume = np.asarray(volume)
    return volume, (0, 0, 0), volume.shape


def cache_bytes(subjects) -> int:
    """Bytes the cropped image and class boxes of ``subjects`` take (uint8)."""
    return sum(_box(v)[0].nbytes for s in subjects for v in (s.image, s.classes))


def draw_epoch(rng: np.random.Generator, subjects, spec: dict, steps: int, batch: int,
               augment: bool = True) -> dict[str, np.ndarray]:
    """Every random choice of ``steps`` batches of ``batch`` patches, drawn from ``rng``
    in one go: ``subject`` (int64, N = steps * batch), ``centre`` (int64 (N, 3), the
    sample point drawn), ``start`` (int64 (N, 3), the patch's first voxel (z, y, x),
    jittered; for 2d the centre slice), and with ``augment`` the parameters of
    :func:`leg3dus.segment.augment.draw_params`.

    Each patch, as :class:`leg3dus.segment.data.PatchSampler` draws it: a subject
    uniformly, a class uniformly among those it holds, a centre among the class's sample
    points, a jitter of up to a quarter of the patch.

    >>> from leg3dus.segment.cache import CachedSubject
    >>> s = CachedSubject("a", np.zeros((4, 8, 8), np.uint8), np.zeros((4, 8, 8), np.uint8),
    ...                   (1.0, 1.0, 1.0), {0: np.array([[2, 4, 4]], np.int32)})
    >>> spec = {"kind": "2d", "patch": [1, 4, 4], "context": 1}
    >>> d = draw_epoch(np.random.default_rng(0), [s], spec, 3, 2, augment=False)
    >>> d["start"].shape, sorted(set(d["start"][:, 0].tolist()))
    ((6, 3), [2])
    """
    if not subjects:
        raise InputFileError("no training subjects with both an image and labels")
    n = steps * batch
    size = np.asarray(spec["patch"], np.int64)
    subject = rng.integers(len(subjects), size=n)
    pick_class, pick_point = rng.random(n), rng.random(n)
    jitter = rng.integers(-(size // 4), size // 4 + 1, size=(n, 3))
    centre = np.zeros((n, 3), np.int64)
    for u, s in enumerate(subjects):  # a loop over subjects and classes, not patches
        mine = np.flatnonzero(subject == u)
        present = sorted(s.samples)
        if not present:
            raise InputFileError(f"subject {s.id}: no voxel to centre a patch on")
        k = np.minimum((pick_class[mine] * len(present)).astype(np.int64), len(present) - 1)
        for j, c in enumerate(present):
            rows, points = mine[k == j], s.samples[c]
            at = np.minimum((pick_point[rows] * len(points)).astype(np.int64),
                            len(points) - 1)
            centre[rows] = points[at]
    start = centre - size // 2 + jitter
    if spec["kind"] == "2d":
        start[:, 0] = centre[:, 0]
    out = {"subject": subject.astype(np.int64), "start": start, "centre": centre}
    if augment:
        spatial = spec["patch"][1:] if spec["kind"] == "2d" else spec["patch"]
        out.update(draw_params(rng, n, spatial))
    return out


def patch_shapes(spec: dict) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(image patch (z, y, x) as cut, classes patch (z, y, x), 2.5D context) of a spec."""
    size = tuple(int(v) for v in spec["patch"])
    if spec["kind"] == "2d":
        c = int(spec.get("context", 0))
        return (2 * c + 1, size[1], size[2]), (1, size[1], size[2]), c
    return size, size, 0


class DevicePatches:
    """The cohort's cropped volumes on ``device``; batches cut by one gather each.

    Examples
    --------
    >>> import torch
    >>> from leg3dus.segment.cache import CachedSubject
    >>> img = np.arange(64, dtype=np.uint8).reshape(4, 4, 4)
    >>> s = CachedSubject("a", img, img, (1.0, 1.0, 1.0), {0: np.array([[1, 1, 1]])})
    >>> p = DevicePatches([s], {"kind": "3d", "patch": [2, 2, 2]}, "cpu")
    >>> x, y = p.cut(torch.tensor([0]), torch.tensor([[3, 3, 3]]))
    >>> (x[0, 0] * 255).round().int().tolist(), y.dtype
    ([[[63, 0], [0, 0]], [[0, 0], [0, 0]]], torch.int64)
    """

    def __init__(self, subjects, spec: dict, device):
        import torch

        self.device = torch.device(device)
        self.kind = spec["kind"]
        self.image_shape, self.class_shape, self.context = patch_shapes(spec)
        # zeros before and after the volumes: a row of a patch that starts left of its
        # box, or lies outside it, reads them
        self.margin = int(self.image_shape[2])
        self.tables = {}
        for name in ("image", "classes"):
            boxes = [_box(getattr(s, name)) for s in subjects]
            sizes = [int(np.prod(b[0].shape)) for b in boxes]
            flat = torch.zeros(sum(sizes) + 2 * self.margin, dtype=torch.uint8,
                               device=self.device)
            at = self.margin
            for (data, _, _), k in zip(boxes, sizes, strict=True):
                if k:
                    part = np.ascontiguousarray(data).reshape(-1)
                    with warnings.catch_warnings():  # a read-only memory map: only read
                        warnings.simplefilter("ignore", UserWarning)
                        flat[at:at + k].copy_(torch.from_numpy(part))
                at += k
            base = self.margin + np.cumsum([0, *sizes[:-1]])

            def table(values):
                return torch.as_tensor(np.asarray(values, np.int64), device=self.device)

            self.tables[name] = (flat, table(base), table([b[1] for b in boxes]),
                                 table([b[0].shape for b in boxes]),
                                 table([b[2] for b in boxes]))

    def _gather(self, name: str, subject, start, shape, clamp_z: bool):
        """uint8 patches (n, *shape): rows of ``shape[2]`` voxels copied by one
        ``index_select`` from overlapping windows of the flat tensor, then zeroed where
        x lies outside the box (rows outside it read the zero margin)."""
        import torch

        flat, base, offset, box, full = self.tables[name]
        n, (sz, sy, sx) = subject.shape[0], shape
        off, dims = offset[subject], box[subject]  # (n, 3)
        z = start[:, 0, None] - (sz // 2 if clamp_z else 0) + torch.arange(sz, device=self.device)
        if clamp_z:  # 2.5D context: edge slices repeat
            z = torch.minimum(z.clamp_min(0), full[subject, 0, None] - 1)
        y = start[:, 1, None] + torch.arange(sy, device=self.device)
        x = start[:, 2, None] + torch.arange(sx, device=self.device)
        z, y, x = z - off[:, 0, None], y - off[:, 1, None], x - off[:, 2, None]
        inside = [(v >= 0) & (v < dims[:, a, None]) for a, v in enumerate((z, y, x))]
        row = (base[subject, None, None]
               + (z[:, :, None] * dims[:, 1, None, None] + y[:, None, :])
               * dims[:, 2, None, None] + x[:, 0, None, None])  # (n, sz, sy)
        row = torch.where(inside[0][:, :, None] & inside[1][:, None, :], row, 0)
        windows = flat.as_strided((flat.numel() - sx + 1, sx), (1, 1))
        row = row.clamp(0, flat.numel() - sx)  # rows wholly outside in x: masked below
        patch = windows.index_select(0, row.reshape(-1)).view(n, sz, sy, sx)
        return patch.mul_(inside[2].view(n, 1, 1, sx))

    def cut(self, subject, start):
        """Image (float32 in [0, 1]) and classes (int64) patches of the drawn ``subject``
        (n,) and ``start`` (n, 3) tensors on the device: (n, C, y, x) and (n, 1, y, x) for
        2d, (n, 1, z, y, x) for 3d."""
        import torch

        subject = subject.to(self.device)
        start = start.to(self.device)
        if self.kind == "2d":
            image = self._gather("image", subject, start, self.image_shape, True)
            classes = self._gather("classes", subject, start, self.class_shape, False)
        else:
            image = self._gather("image", subject, start, self.image_shape, False)[:, None]
            classes = self._gather("classes", subject, start, self.class_shape, False)
            classes = classes[:, None]
        return image.to(torch.float32) / 255.0, classes.to(torch.int64)


class HostPatches:
    """The same batches as :class:`DevicePatches`, cut on the host from the
    memory-mapped cache and copied to ``device`` (the fallback when the cache does not
    fit the device)."""

    def __init__(self, subjects, spec: dict, device):
        import torch

        self.subjects, self.spec = subjects, spec
        self.device = torch.device(device)
        self.pin = self.device.type == "cuda"

    def cut(self, subject, start):
        """As :meth:`DevicePatches.cut`, from numpy ``subject`` and ``start`` rows."""
        import torch

        size = np.asarray(self.spec["patch"])
        images, classes = [], []
        for u, s0 in zip(np.asarray(subject), np.asarray(start), strict=True):
            s = self.subjects[int(u)]
            if self.spec["kind"] == "2d":
                images.append(extract(s.image, s0, size, context=self.spec["context"]))
                classes.append(extract(s.classes, s0, size)[:1])
            else:
                images.append(extract(s.image, s0, size)[None])
                classes.append(extract(s.classes, s0, size)[None])
        x = torch.from_numpy(np.stack(images).astype(np.float32) / 255.0)
        y = torch.from_numpy(np.stack(classes).astype(np.int64))
        if self.pin:
            x, y = x.pin_memory(), y.pin_memory()
        return (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))


def free_bytes(device) -> int:
    """Memory the training cache may use on ``device``: a share (:data:`FREE_SHARE`) of
    the device's free memory (CUDA) or of the host's available memory (CPU)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = available_bytes()
        if free is None:  # unknown: a modest cache, the rest stays on the host
            free = 1 << 30
    return int(free * FREE_SHARE)


def check_limit(limit_mb) -> None:
    """:class:`OptionError` unless ``limit_mb`` is None or megabytes >= 0.

    >>> check_limit(0)
    >>> try:
    ...     check_limit(-1)
    ... except OptionError as exc:
    ...     print(str(exc)[:36])
    device_cache_mb must be megabytes >=
    """
    if limit_mb is not None and (isinstance(limit_mb, bool)
                                 or not isinstance(limit_mb, (int, float)) or limit_mb < 0):
        raise OptionError(f"device_cache_mb must be megabytes >= 0 (0: keep the cache on "
                          f"the host) or null, found {limit_mb!r}")


def choose_patches(subjects, spec: dict, device, limit_mb=None, say=None):
    """:class:`DevicePatches` when the cohort's cache fits ``limit_mb`` megabytes (None:
    :func:`free_bytes`), else :class:`HostPatches` with a message to ``say`` saying why.

    >>> from leg3dus.segment.cache import CachedSubject
    >>> img = np.ones((2, 4, 4), np.uint8)
    >>> s = CachedSubject("a", img, img, (1.0, 1.0, 1.0), {0: np.array([[1, 1, 1]])})
    >>> spec = {"kind": "3d", "patch": [2, 2, 2]}
    >>> type(choose_patches([s], spec, "cpu", limit_mb=0)).__name__
    'HostPatches'
    """
    say = say or (lambda _m: None)
    check_limit(limit_mb)
    need = cache_bytes(subjects)
    limit = free_bytes(device) if limit_mb is None else int(limit_mb * 1e6)
    mb = f"{need / 1e6:.1f} MB"
    if need > limit:
        say(f"training cache of {mb} does not fit the {limit / 1e6:.0f} MB allowed on "
            f"{device}; patches are cut on the host and copied to {device} each step "
            f"(slower; set device_cache_mb to allow more)")
        return HostPatches(subjects, spec, device)
    try:
        patches = DevicePatches(subjects, spec, device)
    except RuntimeError as exc:  # out of device memory despite the estimate
        say(f"training cache of {mb} could not be placed on {device} "
            f"({str(exc).splitlines()[0]}); patches are cut on the host instead")
        return HostPatches(subjects, spec, device)
    say(f"training cache of {mb} held on {device}; patches cut there")
    return patches
