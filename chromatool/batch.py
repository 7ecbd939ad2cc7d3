"""Running one function over many files: in parallel processes, reporting through a callback.

The library draws nothing: ``on_done(index, result_or_error)`` is called in the caller's process
as each item finishes, so the CLI can advance a progress bar.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from .errors import ChromatoolError, ParameterError

Callback = Callable[[int, Any], None]

#: librosa's modules with ``@numba.guvectorize(cache=True)`` functions, compiled on import.
#: Processes that compile one at the same moment can leave a mixed pair of cache files that
#: crashes (SIGSEGV) the next process to load it (numba issue 10128): :func:`warm_numba_caches`
#: imports them once, in one process, before workers start.
LIBROSA_NUMBA_MODULES: tuple[str, ...] = ("librosa.core.pitch", "librosa.core.audio", "librosa.util.utils",
                                          "librosa.beat")

#: Set by the CLI's --debug: a failing item stops the batch with its traceback (from the worker
#: process too) instead of becoming a ``failed:`` line.
DEBUG: bool = False


def map_items(fn: Callable[..., Any], items: Sequence[Any], *, jobs: int = 1,
              on_done: Callback | None = None, scheduler: str | None = None) -> list[Any]:
    """Apply ``fn`` to each item; return results in order, with a ``ChromatoolError`` in place
    of each item that failed with one (other exceptions propagate: they are bugs). With
    ``scheduler`` (a Dask scheduler's address) the items run on that cluster instead
    (:mod:`chromatool.cluster`); ``fn`` and the items must then pickle."""
    if jobs < 1:
        raise ParameterError(f"jobs must be at least 1, got {jobs}")
    if scheduler:
        from .cluster import map_on_cluster

        return map_on_cluster(fn, items, scheduler=scheduler, on_done=on_done)
    results: list[Any] = [None] * len(items)
    if jobs == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            try:
                results[i] = fn(item)
            except ChromatoolError as exc:
                if DEBUG:
                    raise
                results[i] = exc
            if on_done:
                on_done(i, results[i])
        return results
    warm_numba_caches()  # the forked workers inherit the compiled modules
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=ctx, initializer=_one_thread) as pool:
        futures = {pool.submit(_guarded, fn, item): i for i, item in enumerate(items)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if DEBUG and isinstance(results[i], ChromatoolError):
                raise results[i]
            if on_done:
                on_done(i, results[i])
    return results


def _one_thread() -> None:
    """A forked worker's torch runs its operators on one thread: the workers already fill the
    cores, and an OpenMP team inherited across the fork can hang the first parallel operator
    (seen in a worker building the int8 network after its parent had run torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def run_batch(fn: Callable[..., Any], items: Sequence[Any], *, jobs: int = 1,
              on_done: Callback | None = None, scheduler: str | None = None
              ) -> tuple[list[tuple[Any, Any]], list[tuple[Any, str]]]:
    """:func:`map_items`, split: the (item, result) pairs that worked and the (item, message)
    pairs that failed with a ``ChromatoolError`` — what every batch command reports."""
    results = map_items(fn, items, jobs=jobs, on_done=on_done, scheduler=scheduler)
    done = [(it, r) for it, r in zip(items, results) if not isinstance(r, ChromatoolError)]
    failed = [(it, str(r)) for it, r in zip(items, results) if isinstance(r, ChromatoolError)]
    return done, failed


def warm_numba_caches() -> None:
    """Import :data:`LIBROSA_NUMBA_MODULES` (their numba caches written, or read, by this process
    alone). Called before worker processes start; cheap once the caches exist."""
    import importlib

    for name in LIBROSA_NUMBA_MODULES:
        importlib.import_module(name)


def _guarded(fn: Callable[..., Any], item: Any) -> Any:
    try:
        return fn(item)
    except ChromatoolError as exc:
        if DEBUG:
            import traceback

            exc.add_note("in the worker process:\n" + traceback.format_exc())
        return exc
