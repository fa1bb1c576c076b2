"""Training jobs in worker processes (``train.workers``): the seeds of a run, and a pipeline's entity and
relation models, are independent, so N processes of ``cores // N`` torch threads each train them side by
side. On a 2-core CPU two 1-thread processes do 2.0x the work of one, one 2-thread process 1.5x.

Each job is a module-level function and its arguments (pickled into a spawned process: no fork of a
process holding torch's thread pool). A failed job cancels the jobs not yet started and raises its
error in the caller; the runs it leaves behind resume like any interrupted run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)
Job = tuple[Callable[..., Any], tuple[Any, ...]]


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, threads: int = 0) -> int:
    """``threads`` when given, else an equal share of the cores (at least 1)."""
    return threads or max(1, cores() // max(1, workers))


def _init_worker(threads: int, level: int) -> None:
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=level, stream=sys.stderr, force=True, datefmt="%H:%M:%S",
                        format="[%(asctime)s] %(levelname)-8s %(processName)s: %(message)s")


def run_jobs(jobs: list[Job], workers: int, threads: int) -> list[Any]:
    """Run ``fn(*args)`` for every job in at most ``workers`` processes with ``threads`` torch threads
    each; the results in the jobs' order. One worker (or one job) runs them here, in order."""
    if workers <= 1 or len(jobs) <= 1:
        return [fn(*args) for fn, args in jobs]
    n = min(workers, len(jobs))
    log.info("%d jobs in %d worker processes of %d torch threads each", len(jobs), n, threads)
    pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads, logging.getLogger().getEffectiveLevel()))
    futures: list[Future] = []
    try:
        futures = [pool.submit(fn, *args) for fn, args in jobs]
        return [f.result() for f in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
