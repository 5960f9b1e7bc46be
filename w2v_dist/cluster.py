"""Getting a Dask client: a LocalCluster of the requested shape, or an existing scheduler.

The default local shape is one worker whose threads share one replica (Hogwild): the Numba
kernels release the GIL, so threads use every core with no merging at all.  ``workers=N`` gives N
worker processes; being on the driver's machine, they too train one replica, mapped from shared
memory (``replicas = "host"``, the default); with ``replicas = "worker"`` each has its own, merged
every round, as workers on several machines always do.

An existing cluster is reached by its scheduler address (``--scheduler tcp://host:8786``, else
``$DASK_SCHEDULER_ADDRESS``), over TLS when certificate files are given (``tls://host:8786``).
Its workers must run the same w2v-dist version as the client: :func:`check_worker_versions`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from typing import Iterator

from .errors import ConfigError, W2VError

log = logging.getLogger("w2v_dist")



def cluster_workers(client) -> dict:
    """The scheduler's workers, fetched now: ``{address: info dict}`` (``nthreads``, ``name``, ...).

    Not ``client.scheduler_info()["workers"]``: the client refreshes that cached value every few
    seconds *without* per-worker entries (distributed >= 2025), so under load a call can return
    an empty worker list, which looked like every worker lost at once.

    Raises
    ------
    OSError
        The scheduler cannot be reached.
    """
    try:
        ident = client.sync(client.scheduler.identity, n_workers=-1)
    except TypeError:  # an older scheduler: identity() takes no n_workers and lists every worker
        ident = client.sync(client.scheduler.identity)
    return dict(ident.get("workers", {}))

def default_threads(workers: int) -> int:
    """Threads per worker so that workers x threads = the machine's cores (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def make_security(tls_ca_file: str | None = None, tls_cert: str | None = None, tls_key: str | None = None):
    """A ``distributed.Security`` for a TLS scheduler, or None when no file is given.

    Parameters
    ----------
    tls_ca_file : str, optional
        PEM file of the certificate authority that signed the scheduler's and workers' certificates.
    tls_cert, tls_key : str, optional
        PEM files of the client's certificate and private key (the key may sit in the cert file).

    Returns
    -------
    distributed.Security or None
        None lets distributed use its own configuration (``distributed.comm.tls.*``, e.g.
        ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``).

    Raises
    ------
    ConfigError
        A file is given but missing (``Config.validate`` checks the combination).
    """
    if not (tls_ca_file or tls_cert or tls_key):
        return None
    for name, path in (("tls_ca_file", tls_ca_file), ("tls_cert", tls_cert), ("tls_key", tls_key)):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{name}={path!r}: file not found")
    from distributed import Security

    return Security(tls_ca_file=tls_ca_file, tls_client_cert=tls_cert, tls_client_key=tls_key,
                    require_encryption=True)


def _make_probe():
    # A nested function is pickled by value (cloudpickle), so a worker that lacks w2v-dist can
    # still run it and answer None instead of failing to unpickle a reference to this module.
    def probe():
        try:
            import w2v_dist
        except ImportError:
            return None
        return getattr(w2v_dist, "__version__", "unknown")

    return probe


def check_worker_versions(client) -> dict[str, str | None]:
    """Check that every worker of ``client`` imports the same w2v-dist version as this process.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    dict
        Worker address -> version string.

    Raises
    ------
    W2VError
        Some workers lack w2v-dist, run another version, or could not answer; the message names
        each such worker with what it has, and the client's version.
    """
    from . import __version__

    answers = client.run(_make_probe(), on_error="return")
    names = {a: w.get("name") for a, w in cluster_workers(client).items()}
    bad = []
    for addr in sorted(answers):
        got = answers[addr]
        who = f"worker {names[addr]!s} at {addr}" if names.get(addr) not in (None, addr) else f"worker {addr}"
        if isinstance(got, BaseException):
            bad.append(f"{who} (cannot check: {type(got).__name__}: {' '.join(str(got).split())})")
        elif got is None:
            bad.append(f"{who} (w2v-dist not installed)")
        elif got != __version__:
            bad.append(f"{who} (w2v-dist {got})")
    if bad:
        raise W2VError(f"the Dask workers must run w2v-dist {__version__} like this client; "
                       f"{len(bad)} of {len(answers)} do not: {', '.join(bad)}; "
                       "install the same version in the workers' environment (see cluster/README.md)")
    return answers


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 1, threads_per_worker: int | None = None,
                processes: bool = True, security=None) -> Iterator["distributed.Client"]:  # noqa: F821
    """Yield a ``distributed.Client``; close what was started here on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``, ``tls://host:8786``).  Default:
        the environment's ``DASK_SCHEDULER_ADDRESS``, else a new ``LocalCluster``.
    workers : int
        LocalCluster worker processes (ignored with a scheduler).
    threads_per_worker : int, optional
        Default :func:`default_threads`.
    processes : bool
        False runs the workers as threads of this process (tests; ``memory://`` needs it).
    security : distributed.Security, optional
        TLS credentials for the scheduler (:func:`make_security`).

    Raises
    ------
    W2VError
        The scheduler cannot be reached (names the address and distributed's reason).
    ConfigError
        TLS credentials are given but no scheduler to use them with.
    """
    from distributed import Client, LocalCluster

    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if scheduler:
        try:
            client = Client(scheduler, security=security)
        except (OSError, TimeoutError, TypeError, ValueError) as exc:
            # TypeError/ValueError: distributed's complaint about a tls:// address without TLS files
            hint = ("; a tls:// scheduler needs --tls-ca-file, --tls-cert and --tls-key"
                    if scheduler.startswith("tls://") and security is None else "")
            raise W2VError(f"cannot connect to the Dask scheduler at {scheduler}: "
                           f"{' '.join(str(exc).split()) or type(exc).__name__}{hint}") from None
        with client:
            log.info("connected to the Dask scheduler at %s (%d workers)", scheduler,
                     len(cluster_workers(client)))
            yield client
        return
    if security is not None:
        raise ConfigError("tls_ca_file/tls_cert/tls_key: TLS options need a scheduler (--scheduler tls://HOST:PORT)")
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
