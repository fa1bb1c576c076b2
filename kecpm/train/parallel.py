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
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
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


def run_jobs(jobs: list[Job], workers: int, threads: int, before: list[list[Job]] | None = None) -> list[Any]:
    """Run ``fn(*args)`` for every job in at most ``workers`` processes with ``threads`` torch threads each,
    each job once its own ``before`` jobs have finished (those first, side by side with any other job);
    the jobs' results in their order. One worker runs everything here, in order."""
    before = before or [[] for _ in jobs]
    total = len(jobs) + sum(map(len, before))
    if workers <= 1 or total <= 1:
        results = []
        for (fn, args), pre in zip(jobs, before, strict=True):
            for first_fn, first_args in pre:
                first_fn(*first_args)
            results.append(fn(*args))
        return results
    n = min(workers, total)
    log.info("%d jobs in %d worker processes of %d torch threads each", total, n, threads)
    pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads, logging.getLogger().getEffectiveLevel()))
    try:
        first = [[pool.submit(fn, *args) for fn, args in pre] for pre in before]
        main: list[Future | None] = [None] * len(jobs)
        while None in main:
            for i, fs in enumerate(first):
                if main[i] is None and all(f.done() for f in fs):
                    for f in fs:
                        f.result()  # a failed job raises here
                    main[i] = pool.submit(jobs[i][0], *jobs[i][1])
            waiting = [f for fs, m in zip(first, main, strict=True) if m is None for f in fs]
            if waiting:
                wait(waiting, return_when=FIRST_COMPLETED)
        return [f.result() for f in main if f is not None]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
