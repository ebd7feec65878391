"""The exclusive writer lock of a catalog folder.

`flock` on `catalog.lock`, non-blocking: a second writer is refused at once with the holder's
pid. The kernel drops the lock when the holder's file is closed, including on a crash or
SIGKILL, so a stale lock can never block the next run (the pid left in the file is only
informative). Readers never take it: WAL lets them read while the writer writes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

from musechat_tui.errors import MuseChatError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

LOCK_FILE = "catalog.lock"


class CatalogLockedError(MuseChatError):
    """Another process holds the catalog's writer lock."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        cmd = _cmdline(pid)
        if cmd:
            who += f" ({cmd})"
        super().__init__(
            f"catalog {directory} is being written by {who}; wait for it to finish "
            "or stop it, then run the command again"
        )


def _cmdline(pid: int | None) -> str:
    if not pid:
        return ""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)[:120]


class CatalogLock:
    """`with CatalogLock(dir): ...` or acquire()/release(). Not re-entrant."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        if self._file is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        self.directory.mkdir(parents=True, exist_ok=True)
        # "a+": never truncate the holder's pid before we own the lock.
        f = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 (held until release)
        try:
            _lock(f)
        except OSError:
            f.seek(0)
            text = f.read().strip()
            f.close()
            raise CatalogLockedError(
                self.directory, int(text) if text.isdigit() else None
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        with contextlib.suppress(OSError):
            f.seek(0)
            f.truncate()
            f.flush()
        with contextlib.suppress(OSError):
            _unlock(f)
        f.close()

    def __enter__(self) -> CatalogLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(f: IO[str]) -> None:
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)


def _unlock(f: IO[str]) -> None:
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    else:  # pragma: no cover
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
