"""Arrays and short texts computed once and kept on disk, by a key the caller derives from
everything they depend on. A missing, damaged or wrongly shaped file is computed again; an
unwritable folder only costs the time, never the answer."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np


def cached_array(
    path: Path,
    compute: Callable[[], np.ndarray],
    rows: int | None = None,
    keep: int | None = None,
) -> np.ndarray:
    """The float32 array stored at `path` (.npy), else `compute()` stored there. `rows`:
    the first dimension a stored array must have; `keep`: how many files of the folder to
    keep (newest first)."""
    try:
        stored = np.load(path, allow_pickle=False).astype(np.float32)
        if rows is not None and stored.shape[0] != rows:
            raise ValueError("stale")
        return stored
    except (OSError, ValueError):
        array = np.asarray(compute(), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npy")
        np.save(tmp, array)
        tmp.replace(path)
        if keep is not None:
            entries = sorted(path.parent.glob("*.npy"), key=lambda e: e.stat().st_mtime)
            for old in entries[:-keep]:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return array


def cached_text(path: Path, compute: Callable[[], str], valid: Callable[[str], bool]) -> str:
    """The ASCII text stored at `path` where `valid` accepts it, else `compute()` stored
    there (a hash, an id: small files, one per key)."""
    try:
        stored = path.read_text(encoding="ascii")
        if valid(stored):
            return stored
    except (OSError, UnicodeDecodeError):
        pass
    text = compute()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="ascii")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return text


def content_key(arrays: Sequence[np.ndarray], texts: Iterable[str] = ()) -> str:
    """A hash of the arrays' bytes (with their shapes) and the texts."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()


def code_key(files: Sequence[Path], extra: Sequence[str] = ()) -> str:
    """The identity of the code or weights a result was computed from: each file's path,
    size and modification time (hashing 90 MB of weights on every start would cost more
    than it saves; an edited file computes again), with `extra` (library versions)."""
    parts = list(extra)
    for path in files:
        st = path.stat()
        parts.append(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]
