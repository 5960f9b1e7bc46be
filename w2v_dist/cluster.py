"""Getting a Dask client: a LocalCluster of the requested shape, or an existing scheduler.

The default local shape is one worker whose threads share one replica (Hogwild): the Numba
kernels release the GIL, so threads use every core with no merging at all.  ``workers=N`` gives N
worker processes, each with its own replica, merged every round.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from typing import Iterator


def default_threads(workers: int) -> int:
    """Threads per worker so that workers x threads = the machine's cores (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 1, threads_per_worker: int | None = None,
                processes: bool = True) -> Iterator["distributed.Client"]:  # noqa: F821
    """Yield a ``distributed.Client``; close what was started here on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``).  Default: the environment's
        ``DASK_SCHEDULER_ADDRESS``, else a new ``LocalCluster``.
    workers : int
        LocalCluster worker processes (ignored with a scheduler).
    threads_per_worker : int, optional
        Default :func:`default_threads`.
    processes : bool
        False runs the workers as threads of this process (tests; ``memory://`` needs it).

    Raises
    ------
    OSError
        The scheduler cannot be reached (distributed's own error, with the address).
    """
    from distributed import Client, LocalCluster

    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    dashboard = ":0" if importlib.util.find_spec("bokeh") else None
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker or default_threads(workers),
        processes=processes,
        dashboard_address=dashboard,
        silence_logs=logging.ERROR,
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()
