"""Decode ahead of the encoders: the one process pool that both `index` and `synth` use.

Decoding (PyAV, numpy) runs in worker processes while the caller runs the encoders in
its own process, so the two overlap; results come back in input order.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import TypeVar

from musechat_tui.config import Settings

T = TypeVar("T")
R = TypeVar("R")


def die_with_parent(parent: int) -> None:
    """In a worker, at its start: have the kernel SIGKILL it when its parent dies, even by
    SIGKILL (Linux's PR_SET_PDEATHSIG; elsewhere the pool's own shutdown is all there is)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def map_ahead(
    fn: Callable[[T, Settings], R],
    items: list[T],
    settings: Settings,
    workers: int,
    timeout_s: float | None = None,
    on_timeout: Callable[[T, float], R] | None = None,
) -> Iterator[tuple[T, R]]:
    """(item, fn(item, settings)) in input order. With workers >= 1, `fn` (a module-level
    function, so it pickles) runs in that many processes, 2 * workers items ahead of the
    caller; with 0 it runs inline. With `timeout_s`, an item whose result has not come
    `timeout_s` after the caller started waiting for it gets `on_timeout(item, timeout_s)`
    instead: its worker is killed and the pool restarted with the items still to do."""
    if workers <= 0:
        for item in items:
            yield item, fn(item, settings)
        return
    todo = iter(items)
    pending: list[tuple[T, Future[R]]] = []
    pool = _pool(workers)
    try:
        while True:
            while len(pending) < 2 * workers and (item := next(todo, _END)) is not _END:
                pending.append((item, pool.submit(fn, item, settings)))  # type: ignore[arg-type]
            if not pending:
                return
            item, future = pending.pop(0)
            try:
                result = future.result(timeout=timeout_s)
            except FuturesTimeout:
                assert on_timeout is not None, "timeout_s needs on_timeout"
                _kill(pool)
                pool = _pool(workers)
                pending = [(i, pool.submit(fn, i, settings)) for i, _ in pending]
                result = on_timeout(item, timeout_s or 0.0)
            yield item, result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


_END = object()


def _pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing

    # spawn: workers never inherit the encoders' threads or onnxruntime state, and they are
    # the caller's own children, so the parent-death signal set at their start reaches them
    # (a forkserver would be their parent instead, and outlive a killed indexer).
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose worker hangs: its processes killed, nothing waited for."""
    for proc in list(getattr(pool, "_processes", {}).values()):
        proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
