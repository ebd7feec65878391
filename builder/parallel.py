"""Decode ahead of the encoders: the one process pool that both `index` and `synth` use.

Decoding (PyAV, numpy) runs in worker processes while the caller runs the encoders in
its own process, so the two overlap; results come back in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from musechat_tui.config import Settings

T = TypeVar("T")
R = TypeVar("R")


def map_ahead(
    fn: Callable[[T, Settings], R], items: list[T], settings: Settings, workers: int
) -> Iterator[tuple[T, R]]:
    """(item, fn(item, settings)) in input order. With workers >= 1, `fn` (a module-level
    function, so it pickles) runs in that many processes, 2 * workers items ahead of the
    caller; with 0 it runs inline."""
    if workers <= 0:
        for item in items:
            yield item, fn(item, settings)
        return
    import multiprocessing

    # forkserver: workers never inherit the encoders' threads or onnxruntime state.
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: list[tuple[T, Future[R]]] = []
        it = iter(items)
        for item in it:
            pending.append((item, pool.submit(fn, item, settings)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            item, future = pending.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(fn, nxt, settings)))
            yield item, future.result()
