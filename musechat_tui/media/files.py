"""Files as the indexer and the analysis cache look at them: only regular files are opened
(a FIFO blocks on open, a device is an endless stream), and a content hash never reads
past the size the file had when it was looked at."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


class NotRegularFileError(OSError):
    """A FIFO, device, socket or folder where a media file was expected."""


def regular_file_stat(path: Path) -> os.stat_result:
    """`stat` of what `path` names (symlinks followed); NotRegularFileError unless it is a
    regular file, so a FIFO (which blocks on open) or a device (an endless stream) is never
    opened."""
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(st.st_mode)
            else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )  # fmt: skip
        raise NotRegularFileError(f"{kind}, not a media file: skipped")
    return st


def content_hash(path: Path, size: int, chunk: int = 1 << 20) -> str:
    """Hash of the file's first `size` bytes (its size when looked at): opened without
    blocking and checked to still be a regular file, and never read past that size, so a
    file swapped for a FIFO or one that grows without end cannot stall the indexer."""
    h = hashlib.blake2b(digest_size=16)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError("not a regular file any more: skipped")
        left = size
        while left > 0 and (block := f.read(min(chunk, left))):
            h.update(block)
            left -= len(block)
    return h.hexdigest()
