"""Where the runs of a sweep (or a comparison) execute: in this process, or on Dask distributed.

A task is a pure, importable function and its arguments (a resolved scenario as a plain mapping, a
seed, ...), under an explicit key; it returns something small (a summary row, a few histograms),
never a run's ledger. The engine hands back ``(task, result, error)`` as tasks finish, in any
order; the caller puts them in order. What a task returns does not depend on the engine, so a
sweep's rows are the same in-process, on a ``LocalCluster`` of any size, or on a cluster of
machines.

- ``InProcess``: one task after another in this process (``--workers 0``; debugging, tests).
- ``DaskEngine``: ``Client.submit`` with the task's key, results collected with
  ``as_completed`` (docs.dask.org, "Futures"). Without a scheduler address it starts a
  ``LocalCluster`` of ``workers`` single-threaded worker processes (the model is pure Python: one
  thread per process) and stops it at the end; with ``scheduler="tcp://HOST:PORT"`` it uses that
  cluster and leaves it running.

A task that raises is reported with its traceback and does not stop the others; so is a task
whose worker died (Dask's ``KilledWorker``). Tasks with the same key are run once.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    key: str
    fn: Callable
    args: tuple


Outcome = tuple[Task, object, str | None]  # (task, result or None, error text or None)


def default_workers() -> int:
    """The machine's cores (those this process may use)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Engine:
    """Runs tasks; use as a context manager."""

    description = ""
    workers = 1

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        raise NotImplementedError


class InProcess(Engine):
    """Every task in this process, in order."""

    description = "in-process"

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        done: set[str] = set()
        for t in tasks:
            if t.key in done:
                continue
            done.add(t.key)
            try:
                res = t.fn(*t.args)
            except Exception:
                yield t, None, traceback.format_exc()
                continue
            yield t, res, None


class DaskEngine(Engine):
    """Tasks on a Dask distributed cluster: a LocalCluster started here, or an existing one."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="10s")
            self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
            self.description = f"Dask cluster at {scheduler} ({self.workers} worker(s))"
        else:
            n = workers or default_workers()
            self.cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
            self.workers = n
            self.description = f"Dask LocalCluster, {n} worker process(es)"

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        from distributed import as_completed

        by_key: dict[str, Task] = {}
        for t in tasks:
            by_key.setdefault(t.key, t)
        futures = [
            self.client.submit(t.fn, *t.args, key=t.key, pure=False, retries=0)
            for t in by_key.values()
        ]
        try:
            for fut in as_completed(futures):
                t = by_key[fut.key]
                try:
                    res = fut.result()
                except Exception as e:  # the task raised, or its worker died
                    err = "".join(traceback.format_exception(e)) or repr(e)
                    yield t, None, err
                else:
                    yield t, res, None
                fut.release()
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self.client.cancel(pending)


def open_engine(workers: int | None = None, scheduler: str | None = None) -> Engine:
    """``InProcess`` for ``workers == 0`` (and no scheduler), else a ``DaskEngine``."""
    if not scheduler and workers == 0:
        return InProcess()
    return DaskEngine(workers, scheduler)
