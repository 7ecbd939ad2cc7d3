"""Batch work on a running Dask distributed cluster (``--scheduler ADDRESS``).

One task per file, submitted to the scheduler at ``ADDRESS`` (``tcp://host:8786``) or described
by a scheduler file (``dask scheduler --scheduler-file FILE``). Workers need chromatool installed
and the files on a shared filesystem. Each task writes its output atomically, so a worker that
dies mid-task leaves nothing half-written; the scheduler gives its tasks to other workers (up to
Dask's ``distributed.scheduler.allowed-failures`` times per task). Dask is imported only here,
only when a scheduler is given: ``pip install "chromatool[cluster]"``.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import ChromatoolError

#: Times a task that raised an unexpected error is run again on another worker before it fails.
RETRIES: int = 2


def connect(scheduler: str):
    """A Dask client of the scheduler at ``scheduler`` (an address or a scheduler file)."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise ChromatoolError('scheduler needs Dask\'s distributed scheduler: pip install "chromatool[cluster]"') from exc
    try:
        if Path(scheduler).is_file():
            return Client(scheduler_file=scheduler, timeout="20s", set_as_default=False)
        return Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ChromatoolError(f"scheduler={scheduler!r}: cannot reach the Dask scheduler ({exc})") from exc


def map_on_cluster(fn: Callable[..., Any], items: Sequence[Any], *, scheduler: str,
                   on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """:func:`chromatool.batch.map_items` on the cluster: results in order, a ``ChromatoolError``
    in place of each item that failed (including one whose workers kept dying)."""
    from dask.distributed import as_completed
    from distributed import KilledWorker

    from .batch import _guarded, warm_numba_caches

    results: list[Any] = [None] * len(items)
    if not items:
        return results
    with connect(scheduler) as client:
        for worker in client.ncores():  # one at a time (batch.LIBROSA_NUMBA_MODULES)
            client.run(warm_numba_caches, workers=[worker], on_error="ignore")
        futures = client.map(functools.partial(_guarded, fn), [_retryable(t) for t in items], pure=False,
                             retries=RETRIES)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut, result in as_completed(futures, with_results=True, raise_errors=False):
            i = index[fut.key]
            if fut.status == "error":
                if not isinstance(result, KilledWorker):
                    raise result
                results[i] = ChromatoolError(f"{items[i]}: the workers running it died ({result})")
            else:
                results[i] = result
            if on_done:
                on_done(i, results[i])
            fut.release()
    return results


def _retryable(task: Any) -> Any:
    """A task that may replace its own outputs. A worker can die after writing a file and before
    reporting it, and the task then runs again elsewhere and finds that file; the batch's plan
    has already refused (or skipped) every output that existed before the run, so an output the
    task finds now is its own earlier attempt's."""
    if dataclasses.is_dataclass(task) and any(f.name == "overwrite" for f in dataclasses.fields(task)):
        return dataclasses.replace(task, overwrite=True)
    return task
