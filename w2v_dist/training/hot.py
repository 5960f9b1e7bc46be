"""Hot rows: the few most-updated rows, merged by block momentum many times a round.

Why.  Merging K replicas once a round fails in two directions at once (``../shared/evidence/
averaging.md``, and the quality table of benchmarks/README.md): the frequent rows settle within
a round, so K nearly parallel moves summed overshoot them, and averaged they learn at 1/K speed;
the rare rows barely move and rarely collide, so their moves add up.  Block momentum (BMUF, Chen
and Huo 2016, "Scalable training of deep learning machines by incremental block training with
intra-block parallel optimization and blockwise model-update filtering", ICASSP 2016) keeps
the frequent rows, but only when the replicas meet every few thousand words each: a scheduler
round trip that often would cost more than the training.  Frequent rows are few (the 1,000 most
frequent words are 68% of the shared corpus's tokens split on whitespace, before subsampling),
so this module syncs just them, often, outside the scheduler; the rest travel once a round
through the driver's merge (:mod:`w2v_dist.training.merge`) as before.  Intel's pWord2Vec (Ji et al. 2016) syncs its hot
rows in the same spirit.

How.  A round of ``n`` words a worker is cut into ``subrounds`` equal slices.  After each slice a
replica sends ``d_k``, the change of its hot rows since it last received them (float32 [H, D] a
matrix), to one :class:`HotRows` actor (a Dask actor on one of the workers: worker to worker, no
scheduler), which, once all K replicas of that slice have sent, applies (BMUF with block learning
rate 1 and the momentum ``mu = 1 - 1/K`` of the paper)::

    G = (1/K) sum_k d_k          M <- mu M + G          C <- C + M

The replica does not wait for that merge: it trains its next slice and then takes the *previous*
slice's result, ``C + mu M`` (the Nesterov look-ahead of the known part of the next step) plus
its own change of the slice just trained, so the exchange hides behind the compute.  In the
planning simulation (SG-NS, 8 replicas, 1,000 hot rows, 5,000 words a replica between hot syncs,
the rest summed every 25,000 words): synchronous 0.340 / 0.223 / 13.4% (WordSim-353 / SimLex-999
/ analogy), one slice late without the look-ahead 0.122 / -0.055 / 0.5%, with it 0.334 / 0.222 /
14.0%, against 0.317 / 0.212 / 13.7% trained sequentially (``benchmarks/sim_merge.py``;
benchmarks/README.md, "Hot rows").
The last slice of a round is exchanged synchronously, so every replica ends the round with the
same hot rows ``C``, which worker 0 returns to the driver for the central copy; the look-ahead
of that merge is kept for the first slice of the next round, so every slice but the last of a
round is taken one slice late with its look-ahead, as in the simulation.  With overlapping rounds
(``overlap``) the last slice is taken one slice late too, after the next round's first (worker 0
then reports that round's ``C`` and ``M`` a round later), except before a round that starts from
the full merge (an epoch's first, one after a checkpoint, and the end of training): the replicas
then drift apart by up to a slice instead of waiting for the slowest at every round's end.

Where.  One :class:`HotRows` actor on a worker serves every replica, through Dask; when every
replica is on the driver's machine (and ``exchange = "auto"``), :class:`HotFiles` instead: each
replica writes its change of a slice as a file in shared memory and merges the K files itself,
with the actor's arithmetic, so no worker process does the others' merging while it trains
(2 workers on a 2-core machine, SG-NS: about 33% of a round outside the kernels through the
actor, 30% through files; with overlapping rounds 17-25%, at the same words a second there:
benchmarks/README.md).  The cold rows are
merged by the configured rule (``merge``; ``"auto"``, the default, sums them, as the simulation
did: scaled-sum's damping of the mid-frequency rows cost WordSim-353 points there and on the whole
corpus).

Which rows are hot: per matrix, the ``H`` rows with the most expected updates a round
(:func:`w2v_dist.training.merge.expected_updates`): for syn0 and syn1neg the most frequent words,
for syn1 the Huffman nodes nearest the root.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Sequence

import numpy as np

from .shm import load_npy


def choose_hot_rows(n_updates: Sequence[np.ndarray], hot_rows: int, sizes: Sequence[int]) -> list[np.ndarray]:
    """The ``hot_rows`` most-updated rows of each matrix.

    Parameters
    ----------
    n_updates : per matrix, float64 [rows] expected updates a round (:func:`~w2v_dist.training.merge.expected_updates`)
    hot_rows : int, rows per matrix (H); 0: none
    sizes : per matrix, its number of rows; a matrix of one row (the dummy of an unused matrix) gets none

    Returns
    -------
    list of int64 arrays, sorted, at most ``hot_rows`` each (ties broken by the lower row id).
    """
    out = []
    for n, size in zip(n_updates, sizes):
        n = np.asarray(n, dtype=np.float64)
        if hot_rows <= 0 or size <= 1 or n.size != size or not np.any(n > 0):
            out.append(np.zeros(0, np.int64))
            continue
        h = min(int(hot_rows), int(np.count_nonzero(n > 0)))
        order = np.argsort(-n, kind="stable")[:h]
        out.append(np.sort(order).astype(np.int64))
    return out


HOT_VELOCITY = "hot_velocity"
"""Checkpoint name of the hot rows' block momentum ``M`` (:func:`w2v_dist.training.checkpoint.write` ``extra``)."""


def default_subrounds(replicas: int) -> int:
    """Hot-row exchanges a round when ``hot_subrounds`` is 0: 5 with fewer than 8 replicas, 10 with
    8 or more.

    Measured on the shared corpus (benchmarks/README.md, "The issue-8 table with `hot_subrounds`
    by workers"): with rounds of ``sync_total`` = 100,000 words of all workers, 5 exchanges a round
    keep SG-NS and CBOW-NS within a point of one worker at 2 and 4 replicas, while at 8 SG-NS lost
    1.04 WordSim-353 points over four seeds; with 10 it is +0.15 (four seeds) and every measure of
    both models is within a point. Past 8 replicas it is not measured: 10 is kept (the hot rows'
    traffic grows with the exchanges).

    Raises:
        ValueError: if ``replicas`` < 1.
    """
    if int(replicas) < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    return 10 if int(replicas) >= 8 else 5


def default_momentum(replicas: int) -> float:
    """BMUF's block momentum for K replicas, ``1 - 1/K`` (Chen and Huo 2016): 0 for one replica."""
    return 1.0 - 1.0 / max(int(replicas), 1)


def lookahead(C: Sequence[np.ndarray], M: Sequence[np.ndarray], mu) -> list[np.ndarray]:
    """``C + mu M`` per matrix, float32 (the Nesterov look-ahead of the next block step)."""
    mu = np.float32(mu)
    return [c + mu * m for c, m in zip(C, M)]


def bmuf_step(C: Sequence[np.ndarray], M: Sequence[np.ndarray], deltas_sum: Sequence[np.ndarray], replicas: int,
              mu) -> None:
    """One BMUF step in place (Chen and Huo 2016, block learning rate 1): ``M <- mu M + G`` and
    ``C <- C + M`` with ``G = deltas_sum / K``; float32 [H_i, D] per matrix.  The one arithmetic of
    :class:`HotRows` and :class:`HotFiles`, so both give the same rows bit for bit."""
    inv = np.float32(1.0 / replicas)
    mu = np.float32(mu)
    for c, m, s in zip(C, M, deltas_sum):
        m *= mu
        m += s * inv
        c += m


def _check_changes(deltas: Sequence[np.ndarray], C: Sequence[np.ndarray], want: str) -> None:
    """ValueError unless ``deltas`` has the hot rows' shapes and ``want`` is a known answer."""
    if want not in ("lookahead", "current", "state"):
        raise ValueError(f"hot rows: want={want!r}, expected lookahead, current or state")
    if len(deltas) != len(C) or any(np.shape(d) != c.shape for d, c in zip(deltas, C)):
        raise ValueError(f"hot rows: changes of shapes {[np.shape(d) for d in deltas]}, "
                         f"expected {[c.shape for c in C]}")


def _answer(C: Sequence[np.ndarray], M: Sequence[np.ndarray], mu, want: str) -> list:
    """What :meth:`HotRows.exchange` returns for ``want``, from ``C`` and ``M`` (arrays the caller
    will not change: the lists are returned as they are for ``current`` and ``state``)."""
    if want == "lookahead":
        return lookahead(C, M, mu)
    return list(C) if want == "current" else list(C) + list(M)


class HotRows:
    """The central copy of the hot rows, merged by block momentum (a Dask actor, one per job).

    Parameters
    ----------
    values : list of float32 arrays [H_i, D], the hot rows of each matrix (syn0, syn1neg, syn1) as
        the central copy holds them at the start.
    replicas : int, K, the replicas that send every slice.
    momentum : float, optional, ``mu`` in ``[0, 1)``; default ``1 - 1/K`` (Chen and Huo 2016).
    velocity : list of float32 arrays [H_i, D], optional, ``M`` to start from (a resumed or
        recovered run: the driver keeps the last round's, :meth:`exchange` with ``want="state"``);
        default zeros.

    Every replica must call :meth:`exchange` once for every slice, in order of ``gen``; a slice is
    merged when its K-th change arrives, so slices are merged in order.
    """

    def __init__(self, values: Sequence[np.ndarray], replicas: int, momentum: float | None = None,
                 velocity: Sequence[np.ndarray] | None = None):
        self.C = [np.array(v, dtype=np.float32, copy=True) for v in values]
        self.M = ([np.zeros_like(c) for c in self.C] if velocity is None
                  else [np.array(v, dtype=np.float32, copy=True) for v in velocity])
        self.K = int(replicas)
        self.mu = np.float32(default_momentum(self.K) if momentum is None else momentum)
        self.merged = -1  # the last merged slice
        self.aborted: str | None = None
        self._acc: dict[int, list] = {}  # slice -> per replica, its changes (None: not yet)
        self._done: dict[int, asyncio.Future] = {}
        self._read: dict[int, int] = {}  # slice -> replicas that have taken its result

    def _future(self, gen: int) -> asyncio.Future:
        fut = self._done.get(gen)
        if fut is None:
            fut = self._done[gen] = asyncio.get_running_loop().create_future()
        return fut

    def merge(self, deltas_sum: Sequence[np.ndarray]) -> None:
        """One BMUF step from the sum of the K replicas' changes (float32 [H_i, D] per matrix)."""
        bmuf_step(self.C, self.M, deltas_sum, self.K, self.mu)

    async def exchange(self, gen: int, replica: int, deltas: Sequence[np.ndarray], want: str = "lookahead") -> list:
        """Add one replica's change of slice ``gen``; return the hot rows after that slice's merge.

        Parameters
        ----------
        gen : int, the slice (counted over the whole job, from 0, the same for every replica)
        replica : int, the sender, ``0 <= replica < K``: the changes are summed in replica order,
            so a run gives the same rows whatever order they arrive in
        deltas : float32 [H_i, D] per matrix, the replica's change of its hot rows since it last
            received them
        want : ``"lookahead"``: ``C + mu M``, what the replica trains its next slice from when it
            takes this result one slice late; ``"current"``: ``C``; ``"state"``: ``C`` then ``M``
            (the end of a round: the replica computes the look-ahead itself, the driver keeps both)

        Returns
        -------
        list of float32 arrays [H_i, D], one per matrix; with ``"state"`` the two such lists
        concatenated.

        Raises
        ------
        RuntimeError
            ``gen`` was merged already (a stale task of a failed round), or the actor was aborted.
        ValueError
            This replica sent ``gen`` twice, ``replica`` is out of range, the shapes differ from
            the rows', or ``want`` is none of the three.
        """
        gen = int(gen)
        if self.aborted:
            raise RuntimeError(f"hot rows: {self.aborted}")
        _check_changes(deltas, self.C, want)
        if gen <= self.merged:  # a stale task of a failed round (RuntimeError: the round is redone)
            raise RuntimeError(f"hot rows: slice {gen} was merged already (last merged {self.merged})")
        if not 0 <= int(replica) < self.K:
            raise ValueError(f"hot rows: replica {replica} of {self.K}")
        got = self._acc.setdefault(gen, [None] * self.K)
        if got[replica] is not None:
            raise ValueError(f"hot rows: replica {replica} sent slice {gen} twice")
        got[replica] = [np.array(d, dtype=np.float32, copy=True) for d in deltas]
        fut = self._future(gen)
        if all(x is not None for x in got):
            del self._acc[gen]
            total = got[0]
            for x in got[1:]:
                for a, d in zip(total, x):
                    a += d
            self.merge(total)
            self.merged = gen
            fut.set_result(([c.copy() for c in self.C], [m.copy() for m in self.M]))
        C, M = await fut
        if gen in self._done and self._waiters_done(gen):
            del self._done[gen]
        return _answer(C, M, self.mu, want)

    def _waiters_done(self, gen: int) -> bool:
        # count the replicas that have read slice ``gen``; the last one frees its future
        self._read[gen] = self._read.get(gen, 0) + 1
        if self._read[gen] >= self.K:
            del self._read[gen]
            return True
        return False

    async def abort(self, reason: str) -> int:
        """Fail every waiting and later :meth:`exchange` with ``RuntimeError(reason)``, so replicas
        of a failed round stop waiting for one that was lost; returns how many were waiting."""
        self.aborted = str(reason)
        n = 0
        for fut in self._done.values():
            if not fut.done():
                fut.set_exception(RuntimeError(f"hot rows: {self.aborted}"))
                n += 1
        return n


class _Pending:
    """One slice sent through :class:`HotFiles`, merged when its result is taken."""

    def __init__(self, owner: "HotFiles", gen: int, want: str):
        self.owner, self.gen, self.want = owner, gen, want

    def result(self, timeout: float | None = None) -> list:
        return self.owner._take(self.gen, self.want, timeout)


class HotFiles:
    """The hot-row exchange of :class:`HotRows` through files in shared memory, for replicas that
    all run on the driver's machine (:mod:`w2v_dist.training.shm`).

    The actor lives in one worker process, whose event loop then unpickles, merges and answers
    2 K messages a slice while that worker also trains: on a small machine its replica falls
    behind and the others wait for it at every round's last exchange.  Here every replica writes
    its change of slice ``gen`` as one file ``<folder>/<gen>-<replica>.npy`` (float32 [sum H_i, D],
    the matrices' hot rows stacked) and, to take that slice's result, reads the K files and applies
    the same block-momentum step as the actor to its own copy of ``C`` and ``M``: the sum in
    replica order and the same float32 operations, so every replica holds the actor's rows bit for
    bit and nothing is merged twice in one place.  No process serves the others.

    Parameters
    ----------
    folder : str, the exchange's folder (one per set of replicas: a recovery starts a new one)
    replicas : int, K
    replica : int, this replica, ``0 <= replica < K``
    values : float32 [H_i, D] per matrix, the central hot rows at the start (``C``)
    velocity : float32 [H_i, D] per matrix, the block momentum at the start (``M``)
    momentum : float, ``mu``
    first : int, the first slice this exchange will merge (a resumed run starts past 0)

    Slices must be taken (``exchange(...).result()``) in the order they were sent, each once;
    a replica deletes its file of slice ``gen - 2`` once it has seen every file of ``gen`` (every
    other replica has then taken ``gen - 2``: it reads a slice only after sending the next).
    :func:`abort_files` (the driver, when a round fails) makes every wait raise ``RuntimeError``.
    """

    POLL_SECONDS = (5e-5, 1e-3)  # the first and the longest sleep between looks for a missing file

    def __init__(self, folder: str, replicas: int, replica: int, values: Sequence[np.ndarray],
                 velocity: Sequence[np.ndarray], momentum: float, first: int = 0):
        if not 0 <= int(replica) < int(replicas):
            raise ValueError(f"hot rows: replica {replica} of {replicas}")
        self.folder, self.K, self.replica = folder, int(replicas), int(replica)
        self.C = [np.array(v, dtype=np.float32, copy=True) for v in values]
        self.M = [np.array(v, dtype=np.float32, copy=True) for v in velocity]
        self.mu = np.float32(momentum)
        self.sizes = [c.shape[0] for c in self.C]
        self.merged = int(first) - 1  # the last slice merged

    def _path(self, gen: int, replica: int) -> str:
        return os.path.join(self.folder, f"{gen}-{replica}.npy")

    def exchange(self, gen: int, replica: int, deltas: Sequence[np.ndarray], want: str = "lookahead") -> _Pending:
        """Write this replica's change of slice ``gen`` (as :meth:`HotRows.exchange`); returns a
        handle whose ``result(timeout)`` gives what the actor would.

        Raises
        ------
        ValueError
            ``replica`` is not this object's, the shapes differ from the rows', or ``want`` is
            none of ``lookahead``, ``current``, ``state``.
        OSError
            The file cannot be written (e.g. the folder is full).
        """
        gen = int(gen)
        if int(replica) != self.replica:
            raise ValueError(f"hot rows: replica {replica} sent through replica {self.replica}'s exchange")
        _check_changes(deltas, self.C, want)
        stacked = np.concatenate([np.asarray(d, dtype=np.float32) for d in deltas], axis=0)
        path = self._path(gen, self.replica)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, stacked, allow_pickle=False)
        os.replace(tmp, path)  # whole or absent for a reader
        return _Pending(self, gen, want)

    def _take(self, gen: int, want: str, timeout: float | None) -> list:
        if gen != self.merged + 1:
            raise RuntimeError(f"hot rows: slice {gen} taken after slice {self.merged} (out of order)")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        nap = self.POLL_SECONDS[0]
        paths = [self._path(gen, k) for k in range(self.K)]
        abort = os.path.join(self.folder, "ABORT")
        while True:
            if all(os.path.exists(p) for p in paths):
                break
            if os.path.exists(abort):
                with open(abort) as fh:
                    raise RuntimeError(f"hot rows: {fh.read()}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"slice {gen}: {sum(not os.path.exists(p) for p in paths)} replica(s) missing")
            time.sleep(nap)
            nap = min(2 * nap, self.POLL_SECONDS[1])
        total = np.array(load_npy(paths[0]), dtype=np.float32)
        for p in paths[1:]:  # the sum in replica order, as the actor's
            total += load_npy(p)
        bmuf_step(self.C, self.M, np.split(total, np.cumsum(self.sizes)[:-1], axis=0), self.K, self.mu)
        self.merged = gen
        try:
            os.remove(self._path(gen - 2, self.replica))
        except OSError:
            pass
        if want == "lookahead":  # new arrays; the others are copies: C and M change with the next slice
            return _answer(self.C, self.M, self.mu, want)
        return _answer([c.copy() for c in self.C], [m.copy() for m in self.M], self.mu, want)


def abort_files(folder: str, reason: str) -> None:
    """Make every replica waiting in :class:`HotFiles` ``folder`` raise ``RuntimeError(reason)``."""
    try:
        tmp = os.path.join(folder, f"ABORT.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            fh.write(str(reason))
        os.replace(tmp, os.path.join(folder, "ABORT"))
    except OSError:
        pass
