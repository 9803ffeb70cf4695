"""2D transverse slices (along axis 0, knee to ankle) of a volume and its labels.

For 2D networks and slice-propagation work. Slice ``k`` is ``array[k]``, of shape
(y, x) = (depth, width). Two layouts:

``png``
    ``image_KKKK.png`` and ``label_KKKK.png`` pairs (8-bit greyscale, KKKK the slice
    index along axis 0) and ``slices.json`` with the geometry.
``npz``
    one ``<subject>.npz`` holding ``image`` and ``label`` (n, y, x), ``index`` (the
    slice indices), ``spacing``, ``origin`` and ``direction`` (all (z, y, x)).

Geometry is kept: slice ``k`` lies at ``origin + k * spacing[0] * direction[:, 0]`` mm.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import OptionError

SLICE_FORMATS = ("png", "npz")


def slice_indices(n: int, stride: int = 1) -> np.ndarray:
    """Indices 0, stride, 2*stride... below ``n``."""
    return np.arange(0, n, stride)


def _geometry(volume, index: np.ndarray) -> dict:
    return {"axis": 0, "index": index.tolist(), "spacing": list(volume.spacing),
            "origin": list(volume.origin), "direction": np.asarray(volume.direction).tolist(),
            "shape": list(volume.shape)}


def write_slices(image, labels, folder: str | Path, stride: int = 1,
                 fmt: str = "png") -> list[Path]:
    """Write every ``stride``-th transverse slice of ``image`` (and ``labels`` if given).

    ``png`` writes into ``folder``; ``npz`` writes ``folder.npz`` beside it (one file per
    subject). Returns the files written.

    Examples
    --------
    >>> write_slices(image, labels, "out/train/S01", stride=10)  # doctest: +SKIP
    """
    folder = Path(folder)
    index = slice_indices(image.shape[0], stride)
    if fmt == "npz":
        path = folder.with_name(folder.name + ".npz")
        arrays = {"image": image.array[index], "index": index,
                  "spacing": np.asarray(image.spacing), "origin": np.asarray(image.origin),
                  "direction": np.asarray(image.direction)}
        if labels is not None:
            arrays["label"] = labels.array[index]
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        return [path]
    if fmt != "png":
        raise OptionError(f"slice format must be one of {', '.join(SLICE_FORMATS)}, found {fmt!r}")
    from PIL import Image

    for vol, what in ((image, "image"), (labels, "labels")):
        if vol is not None and vol.dtype != np.uint8:
            raise OptionError(f"PNG slices need uint8 {what}, found {vol.dtype}; "
                              "use --slice-format npz")
    files = []
    folder.mkdir(parents=True, exist_ok=True)
    for k in index:
        for vol, prefix in ((image, "image"), (labels, "label")):
            if vol is None:
                continue
            path = folder / f"{prefix}_{k:04d}.png"
            with atomic_path(path) as tmp:
                Image.fromarray(np.ascontiguousarray(vol.array[k])).save(
                    tmp, format="PNG", compress_level=1)
            files.append(path)
    meta = folder / "slices.json"
    with atomic_path(meta) as tmp:
        tmp.write_text(json.dumps(_geometry(image, index), indent=2) + "\n")
    files.append(meta)
    return files


def read_slices_npz(path: str | Path) -> dict:
    """The arrays of an NPZ slice file as a dict (``image``, ``label``, ``index``...)."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
