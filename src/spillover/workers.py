"""Worker processes for independent calculations of one job (funnel candidates), one thread each.

``SPILLOVER_WORKERS`` (``spillover run --workers N``) sets how many; the default is one per core.
Workers are started with ``spawn`` (torch does not survive ``fork`` after it has made threads) and
kept for the life of the process, so the model is loaded once per worker, not once per task; a
change of the ``SPILLOVER_*`` environment (another database, scratch or preset path) starts new
ones. With one worker, or one task, everything runs in this process.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from spillover.errors import InputError

WORKERS_ENV = "SPILLOVER_WORKERS"
#: Most workers one job may start.
MAX_WORKERS = 64

T = TypeVar("T")
R = TypeVar("R")
_pool: tuple[tuple, ProcessPoolExecutor] | None = None


def worker_count() -> int:
    """Workers from ``$SPILLOVER_WORKERS``, else one per core (at most :data:`MAX_WORKERS`)."""
    text = os.environ.get(WORKERS_ENV)
    if text is None or text == "":
        return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
    try:
        value = int(text)
    except ValueError:
        raise InputError(WORKERS_ENV, f"must be a whole number, got {text[:40]!r}", f"1..{MAX_WORKERS}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise InputError(WORKERS_ENV, f"{value} is out of range", f"1..{MAX_WORKERS}")
    return value


def _one_thread() -> None:
    # One torch/BLAS thread per worker unless the user chose otherwise: workers share the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    except ImportError:  # pragma: no cover - torch comes with the ml extra
        pass


def _environment() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SPILLOVER_") or k == "OMP_NUM_THREADS"))


def _executor(workers: int) -> ProcessPoolExecutor:
    global _pool
    key = (workers, _environment())
    if _pool is not None and _pool[0] == key:
        return _pool[1]
    shutdown()
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_one_thread)
    _pool = (key, executor)
    return executor


def shutdown() -> None:
    """Stop the worker processes (started again when needed)."""
    global _pool
    if _pool is not None:
        _pool[1].shutdown(wait=True, cancel_futures=True)
        _pool = None


atexit.register(shutdown)


def map_tasks(fn: Callable[[T], R], tasks: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(t) for t in tasks]``, in order, on ``workers`` processes (``fn`` must be importable).

    Parameters
    ----------
    fn
        A module-level function (pickled by name).
    tasks
        Its arguments, each picklable.
    workers
        Processes to use; None: :func:`worker_count`. The first exception of a task is raised here.
    """
    tasks = list(tasks)
    workers = worker_count() if workers is None else workers
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    try:
        return list(_executor(workers).map(fn, tasks))
    except BrokenProcessPool:
        shutdown()  # a dead pool fails every later task: the next call starts a new one
        raise


__all__ = ["WORKERS_ENV", "map_tasks", "shutdown", "worker_count"]
