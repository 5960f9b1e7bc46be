"""A round's exchange through files in shared memory, for workers on the driver's machine.

Through Dask, the rows a replica changed in a round (about 20 MB at 100,000 words, ``syn0`` and
``syn1neg``) are pickled, sent over loopback TCP to the driver and unpickled, and the merged rows
(about 26 MB) go back the same way to every worker: about 1 ns per byte, a quarter to a third of
an SG-NS round and more of a CBOW one (benchmarks/README.md, "Scaling past this machine").  When a
worker shares a file system in memory with the driver (``/dev/shm``: the same machine, and the same
container), each side instead writes its arrays as ``.npy`` files there and passes their names;
the other side maps them.  What Dask then carries is a few hundred bytes a task.

Which workers can: :func:`probe` on each, at every (re)creation of the replicas; the others go on
through Dask (``exchange = "dask"`` sends everyone through Dask).  The files of a job live in one
folder (:func:`create`), removed at the job's end (:func:`drop`); a replica's result files are
removed once merged, an update's once every replica has applied it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass

import numpy as np


def _root() -> str:
    """``/dev/shm`` where it is a writable folder, else the temporary folder (disk, page cache)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()


def folder_of(job: str) -> str:
    """The job's folder (made by :func:`create`)."""
    return os.path.join(_root(), f"w2v-exchange-{job}")


def create(job: str) -> tuple[str, str]:
    """Make the job's folder with a token file in it; returns ``(folder, token)``."""
    folder = folder_of(job)
    os.makedirs(folder, exist_ok=True)
    token = uuid.uuid4().hex
    with open(os.path.join(folder, "token"), "w") as fh:
        fh.write(token)
    return folder, token


def probe(folder: str, token: str) -> bool:
    """On a worker: is the driver's ``folder`` (with its ``token``) visible here, and writable?"""
    try:
        with open(os.path.join(folder, "token")) as fh:
            if fh.read() != token:
                return False
        return os.access(folder, os.W_OK)
    except OSError:
        return False


def drop(folder: str | None) -> None:
    """Remove the job's folder and every file left in it."""
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Files:
    """Arrays passed by file name: ``paths[i]`` holds array ``i`` (``.npy``)."""

    paths: tuple


def write(stem: str, arrays) -> Files:
    """Write ``arrays`` as ``<stem>.<i>.npy``.

    Raises
    ------
    OSError
        The folder is full or gone (the caller falls back to Dask or fails the round).
    """
    paths = []
    try:
        for i, a in enumerate(arrays):
            p = f"{stem}.{i}.npy"
            paths.append(p)
            np.save(p, np.ascontiguousarray(a))
    except OSError:
        remove(Files(tuple(paths)))  # no half-written set left behind
        raise
    return Files(tuple(paths))


def write_rows(stem: str, mats, rows_list) -> Files:
    """Write, per matrix, ``rows`` (int64 [n]) and ``mat[rows]`` (float32 [n, D]) as files
    ``<stem>.<2i>.npy`` and ``<stem>.<2i+1>.npy``.

    Written with ``write`` calls, not through a memory map: a full folder (a container's small
    ``/dev/shm``) is then an ``OSError`` here rather than a SIGBUS later.

    Raises
    ------
    OSError
        As :func:`write`.
    """
    arrays = []
    for m, rows in zip(mats, rows_list):
        arrays += [np.ascontiguousarray(rows, dtype=np.int64), np.take(m, rows, axis=0)]
    return write(stem, arrays)


_LOAD_LOCK = threading.Lock()


def read(files: Files) -> list[np.ndarray]:
    """The arrays of ``files``, memory-mapped read-only (no copy until used).

    The loads are serialised within a process: ``np.load`` parses each ``.npy`` header with
    ``ast.literal_eval``, and CPython 3.11 can fail two threads parsing at once with "SystemError:
    AST constructor recursion depth mismatch" (seen in CI: the two workers of an in-process
    cluster, whose rounds the hot-row exchanges keep in step, reading their updates together)."""
    return [load_npy(p, mmap_mode="r") for p in files.paths]


def load_npy(path: str, **kwargs) -> np.ndarray:
    """``np.load(path, **kwargs)``, one thread of this process at a time (see :func:`read`)."""
    with _LOAD_LOCK:
        return np.load(path, **kwargs)


def remove(files: Files) -> None:
    """Delete the files (a mapped array stays readable until it is released)."""
    for p in files.paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
