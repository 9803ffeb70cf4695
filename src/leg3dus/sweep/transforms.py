"""Compose per-frame poses: ImageToReference from the sequence's tracked transforms and
the configuration's fixed ones (e.g. inverse(ReferenceToTracker) * ProbeToTracker *
ImageToProbe), and check that tracked transforms are rigid."""

from __future__ import annotations

from collections import deque

import numpy as np

from ..core.errors import GeometryError, InputFileError
from .config import PlusConfig
from .seqfile import Sequence


def split_name(name: str) -> tuple[str, str] | None:
    """``"ToolToTracker"`` -> ``("Tool", "Tracker")``: split at the first "To" that
    follows a frame name and precedes a capital letter, as PLUS names transforms."""
    for i in range(1, len(name) - 2):
        if name[i:i + 2] == "To" and name[i + 2].isupper():
            return name[:i], name[i + 2:]
    return None


def _edges(seq: Sequence, cfg: PlusConfig | None):
    """Adjacency: frame name -> list of (other, per-frame (n,4,4) matrices, ok (n,))."""
    n = seq.n_frames
    adj: dict[str, list] = {}

    def add(src, dst, mats, ok):
        adj.setdefault(src, []).append((dst, mats, ok))

    for name, mats in seq.transforms.items():
        parts = split_name(name)
        if parts is None:
            continue
        src, dst = parts
        ok = seq.transform_ok[name].copy()
        add(src, dst, mats, ok)
        add(dst, src, ("inv", mats), ok)  # inverse computed when used
    if cfg is not None:
        for (src, dst), m in cfg.transforms.items():
            mats = np.broadcast_to(m, (n, 4, 4))
            ok = np.ones(n, bool)
            add(src, dst, mats, ok)
            add(dst, src, ("inv", mats), ok)
    return adj


def _matrices(entry) -> np.ndarray:
    if isinstance(entry, tuple):
        mats = entry[1]
        out = np.full(mats.shape, np.nan)
        good = np.isfinite(mats).all(axis=(1, 2))
        out[good] = np.linalg.inv(mats[good])
        return out
    return entry


def image_to_reference(seq: Sequence, cfg: PlusConfig | None = None, image: str = "Image",
                       reference: str = "Reference", path: str = "sequence"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ImageToReference (n, 4, 4) in mm per pixel and a validity mask (n,).

    Finds a chain of transforms from ``image`` to ``reference`` through the sequence's
    tracked transforms and the configuration's fixed ones. A frame is valid when every
    transform on the chain has status OK and its image status is OK. Raises
    :class:`InputFileError` when no chain exists.

    Examples
    --------
    >>> m, ok = image_to_reference(read_sequence(p), read_config(c))  # doctest: +SKIP
    """
    adj = _edges(seq, cfg)
    prev: dict[str, tuple] = {image: None}
    queue = deque([image])
    while queue:
        node = queue.popleft()
        for other, mats, ok in adj.get(node, []):
            if other not in prev:
                prev[other] = (node, mats, ok)
                queue.append(other)
    if reference not in prev:
        known = sorted(seq.transforms) + [f"{a}To{b}" for a, b in (cfg.transforms if cfg else {})]
        raise InputFileError(
            f"{path}: no chain of transforms from {image} to {reference}; the sequence and "
            f"configuration give {', '.join(known) or 'no transforms'}")
    n = seq.n_frames
    total = np.broadcast_to(np.eye(4), (n, 4, 4)).copy()
    valid = seq.image_ok.copy()
    node = reference
    chain = []
    while prev[node] is not None:
        src, mats, ok = prev[node]
        chain.append((mats, ok))
        node = src
    # chain holds hops from reference back to image; ImageToReference = H_k ... H_1
    for mats, ok in reversed(chain):
        total = _matrices(mats) @ total
        valid &= ok
    valid &= np.isfinite(total).all(axis=(1, 2))
    return total, valid


def check_rigid(seq: Sequence, path: str = "sequence", tol: float = 1e-2) -> None:
    """Raise :class:`GeometryError` if a tracked transform (status OK) is not rigid.

    The rotation part must be orthonormal with determinant +1 (to ``tol``) and the last
    row (0, 0, 0, 1). Transforms from the Image frame carry the pixel size and are not
    checked.
    """
    for name, mats in seq.transforms.items():
        if name.startswith("ImageTo"):
            continue
        ok = seq.transform_ok[name]
        if not ok.any():
            continue
        m = mats[ok]
        r = m[:, :3, :3]
        err = np.abs(r @ np.swapaxes(r, 1, 2) - np.eye(3)).max(axis=(1, 2))
        det = np.linalg.det(r)
        row = np.abs(m[:, 3] - [0, 0, 0, 1]).max(axis=1)
        bad = (err > tol) | (np.abs(det - 1) > tol) | (row > 1e-6)
        if bad.any():
            i = int(np.flatnonzero(ok)[np.argmax(bad)])
            raise GeometryError(
                f"{path}: {name}Transform of frame {i} is not rigid (expected a rotation and "
                f"a translation; rotation orthonormality error {err[bad][0]:.3g}, "
                f"determinant {det[bad][0]:.3g})")
