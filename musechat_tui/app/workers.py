"""Running blocking calls from Textual thread workers without blocking quit.

Textual runs thread workers on the event loop's default executor, and the loop waits for
those threads when the app exits. A model that takes seconds to load would make `q` hang
that long. `detached` runs the call in a daemon thread and waits for it in short steps,
giving up as soon as the worker is cancelled (the app cancels all workers on exit); the
abandoned daemon thread then dies with the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from textual.worker import get_current_worker

T = TypeVar("T")
POLL_S = 0.05


class Cancelled(Exception):
    """The worker was cancelled while waiting (the app is quitting, or work was replaced)."""


class Handle:
    """A call running in a daemon thread; `result()` waits for it like `detached`."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._box: dict[str, Any] = {}
        self._done = threading.Event()

        def run() -> None:
            try:
                self._box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting worker
                self._box["error"] = exc
            finally:
                self._done.set()

        name = f"musechat-{getattr(fn, '__name__', 'call')}"
        threading.Thread(target=run, name=name, daemon=True).start()

    def result(self) -> Any:
        try:
            worker = get_current_worker()
        except Exception:  # noqa: BLE001 - not in a worker (tests, scripts): just wait
            worker = None
        while not self._done.wait(POLL_S):
            if worker is not None and worker.is_cancelled:
                raise Cancelled
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]


def spawn(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Handle:
    """Start `fn` now, collect it later (two slow steps side by side)."""
    return Handle(fn, *args, **kwargs)


def detached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        get_current_worker()
    except Exception:  # noqa: BLE001 - not in a worker (tests, scripts): just call it
        return fn(*args, **kwargs)
    return Handle(fn, *args, **kwargs).result()  # type: ignore[no-any-return]


def cancelled() -> bool:
    try:
        return get_current_worker().is_cancelled
    except Exception:  # noqa: BLE001
        return False
