"""The parts of training that run on a Dask worker.

Each worker holds one *replica* of the parameters (``syn0``, and ``syn1neg`` and/or ``syn1``, float32) in
process memory between rounds, keyed by job id and worker address, so only changed rows travel.
The worker's threads share that replica (Hogwild, Recht et al. 2011): the Numba kernels release
the GIL, so T threads train one replica at T times the speed.

A round (:func:`train_round`) first applies the central rows the driver sends (the merged result
of the previous round), then trains the worker's slice of its partitions, then returns the rows it
changed as deltas against the round's starting point.  Nothing here knows about Dask beyond
``get_worker()``; the driver schedules these functions with ``workers=[address]`` so the encoded
partitions never leave the worker that encoded them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from ..kernels import train_slice, train_slice_shared, warmup
from . import shm
from .encoded import part_info, part_offsets, part_words, release_large_arrays, slice_arrays
from .hot import HotFiles, lookahead

_REPLICAS: dict[str, "Replica"] = {}
_LOCK = threading.Lock()


MATRICES = ("syn0", "syn1neg", "syn1")
"""The trained matrices, in the order used everywhere (updates, deltas, fetches)."""


@dataclass
class Replica:
    """One worker's copy of the parameters and the tables it trains with.

    Attributes
    ----------
    mats : list of float32 arrays [rows, D]
        ``syn0`` [V, D], ``syn1neg`` [V, D] (a [1, D] dummy when negative=0) and ``syn1``
        [V-1, D] (a [1, D] dummy when hs=0), trained in place by the worker's threads.
    bases : list of float32 arrays, or None
        The central copy as this worker last saw it (start of the current round), same shapes;
        deltas are ``mats[i] - bases[i]`` on the touched rows.  None with a partitioned central
        copy (:mod:`w2v_dist.training.partition`): the replica sends new values, split by owner.
    touched : list (per thread) of lists (per matrix) of uint8 arrays
        Rows each thread changed during the round.
    unsent : list of uint8 arrays [rows] per matrix, or None
        Rows changed and not yet sent to the driver (``rare_every`` > 1: a rare row is sent every
        ``tables["period<i>"][row]`` rounds; its change ``mats - bases`` adds up meanwhile).
    inflight : list of (round, rows, deltas)
        With overlapping rounds: the changes this replica sent that the central copy it last
        received does not hold yet (rows int64 [n] and deltas float32 [n, D] per matrix).
    tables : dict
        ``keep_prob`` uint32 [V], ``cum_table`` int64 [V], ``points`` int32 [V, L],
        ``codes`` uint8 [V, L], ``codelens`` int32 [V] (see :mod:`w2v_dist.vocab`,
        :mod:`w2v_dist.kernels.huffman`); with hot rows ``hot<i>`` int64 (the hot rows of matrix
        i); with ``rare_every`` > 1 ``period<i>`` uint8 [rows] (rounds between sends of a row).
    params : dict
        ``sg``, ``cbow_mean``, ``window``, ``negative``, ``hs``, ``compute_loss``,
        ``shared_negatives`` (0 or absent: exact :func:`train_slice`; N >= 1: fast mode,
        :func:`~w2v_dist.kernels.train_slice_shared`).
    """

    mats: list
    bases: list
    tables: dict
    params: dict
    threads: int
    touched: list = field(default_factory=list)
    pool: ThreadPoolExecutor | None = None
    inflight: list = field(default_factory=list)
    pieces: dict = field(default_factory=dict)  # partitioned: owner -> per-matrix (rows, values)
    hot_ahead: list | None = None  # hot rows: the look-ahead of the last round's final merge (_train_hot)
    hot_files: Any = None  # hot rows exchanged through files (hot.HotFiles), its own C and M
    hot_pending: Any = None  # hot rows: the last round's last slice, sent and not yet taken (_train_hot)
    unsent: list | None = None  # per matrix, uint8 [rows]: changed rows not yet sent (rare_every)


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _key(job_id: str, address: str | None = None) -> str:
    return f"{job_id}@{address or _worker_address()}"


def init_replica(job_id: str, mats: tuple, tables: dict, params: dict, threads: int, *, bases: bool = True,
                 copy: bool = True) -> str:
    """Create this worker's replica for ``job_id`` from the central copy; compile the kernels it
    will run (only the variant of ``params``).

    ``mats`` are the central ``(syn0, syn1neg, syn1)``; they are copied (with an in-process
    cluster the scattered arrays are shared objects) unless ``copy`` is false (arrays made on this
    worker for it).  ``bases=False``: keep no base copy (partitioned central copy, see
    :mod:`w2v_dist.training.partition`).

    Returns
    -------
    str
        The worker's address.
    """
    warmup(sg=params["sg"], hs=params["hs"], negative=params["negative"],
           shared_negatives=int(params.get("shared_negatives", 0)) if params["negative"] > 0 else 0)
    _warm_rows()
    release_large_arrays()
    copies = [np.array(m, dtype=np.float32, order="C", copy=True) if copy else np.ascontiguousarray(m, np.float32)
              for m in mats]
    rep = Replica(
        mats=copies,
        bases=[m.copy() for m in copies] if bases else None,
        tables={k: np.ascontiguousarray(v) for k, v in tables.items()},
        params=dict(params),
        threads=max(1, int(threads)),
    )
    rep.touched = [[np.zeros(m.shape[0], dtype=np.uint8) for m in copies] for _ in range(rep.threads)]
    if rep.threads > 1:
        rep.pool = ThreadPoolExecutor(rep.threads, thread_name_prefix="w2v-hogwild")
    with _LOCK:
        old = _REPLICAS.pop(_key(job_id), None)
        _REPLICAS[_key(job_id)] = rep
    if old is not None and old.pool is not None:
        old.pool.shutdown(wait=False)
    return _worker_address()


def init_shared_replica(job_id: str, files: shm.Files, tables: dict, params: dict, threads: int) -> str:
    """Create this worker's replica on matrices shared by every worker of this machine.

    ``files`` are the driver's ``.npy`` files of ``(syn0, syn1neg, syn1)`` (float32 [rows, D]
    each) in shared memory (:mod:`w2v_dist.training.shm`); they are mapped read-write, so the
    kernels of every worker process that maps them train the same matrices, with no locks
    (Hogwild, Recht et al. 2011, as the threads of one worker do), and the driver reads the model
    from the files.  The replica keeps no base copy and sends no rows (``collect`` is false).

    Returns
    -------
    str
        The worker's address.

    Raises
    ------
    OSError
        A file cannot be mapped (gone, or the folder is not visible here).
    """
    mats = [np.asarray(np.load(p, mmap_mode="r+")) for p in files.paths]  # plain ndarrays on the maps
    return init_replica(job_id, mats, tables, params, threads, bases=False, copy=False)


def drop_replica(job_id: str, dask_worker=None) -> bool:
    """Free this worker's replica of ``job_id``; True when there was one (``Client.run`` passes ``dask_worker``)."""
    with _LOCK:
        rep = _REPLICAS.pop(_key(job_id, dask_worker.address if dask_worker is not None else None), None)
    if rep is not None and rep.pool is not None:
        rep.pool.shutdown(wait=False)
    return rep is not None


def drop_job(job_prefix: str, dask_worker=None) -> int:
    """Free every replica of this process whose job id starts with ``job_prefix``, and remove the
    jobs' encoded-corpus cache folders (:func:`~w2v_dist.training.encoded.drop_cache`); how many replicas."""
    from .encoded import drop_cache

    drop_cache(job_prefix, dask_worker)
    with _LOCK:
        keys = [k for k in _REPLICAS if k.startswith(job_prefix)]
        reps = [_REPLICAS.pop(k) for k in keys]
    for rep in reps:
        if rep.pool is not None:
            rep.pool.shutdown(wait=False)
    return len(reps)


def fetch_replica(job_id: str) -> list[np.ndarray]:
    """Copies of this worker's matrices (:data:`MATRICES` order, float32), for the driver."""
    rep = _REPLICAS[_key(job_id)]
    return [m.copy() for m in rep.mats]


def encode_shard(shard, storage_options, vocab_words, tokenize_options: dict,
                 on_bad_shard: str = "error") -> tuple[np.ndarray, np.ndarray, dict]:
    """Read, tokenize and encode one shard on the worker.

    Parameters
    ----------
    on_bad_shard : {"error", "skip"}
        ``"skip"``: a shard that cannot be read (:class:`~w2v_dist.errors.CorpusError`) becomes an
        empty partition, and its error is reported in the returned ``info``.

    Returns
    -------
    ids : int32 [N]
        Word ids of the in-vocabulary tokens, sentence after sentence.
    offsets : int64 [S + 1]
        Sentence boundaries into ``ids``.
    info : dict
        ``url``, ``invalid_utf8`` (int, U+FFFD characters that replaced invalid bytes) and
        ``error`` (None, or the one-line message of a skipped shard).

    Raises
    ------
    CorpusError
        The shard cannot be read and ``on_bad_shard`` is ``"error"``.
    """
    from ..corpus import read_tokenize
    from ..errors import CorpusError
    from ..vocab import encode

    stats = {"invalid_utf8": 0}
    try:
        sentences = read_tokenize(shard, storage_options, stats=stats, **tokenize_options)
    except CorpusError as exc:
        if on_bad_shard != "skip":
            raise
        return (np.zeros(0, np.int32), np.zeros(1, np.int64),
                {"url": shard.url, "invalid_utf8": 0, "error": str(exc)})
    ids, offsets = encode(sentences, vocab_words)
    return ids, offsets, {"url": shard.url, "invalid_utf8": int(stats["invalid_utf8"]), "error": None}


def partition_words(part) -> int:
    """Number of in-vocabulary words (ids) of an encoded partition (a tuple or an ``EncodedPart``)."""
    return part_words(part)


def partition_info(part) -> dict:
    """``words`` (in-vocabulary ids) and the ``info`` dict of an encoded partition (:func:`encode_shard`)."""
    return part_info(part)


def _plan(parts, word_lo: int, word_hi: int, threads: int):
    """Cut the words [word_lo, word_hi) of the worker's stream into per-thread sentence ranges.

    The stream is the worker's partitions one after another; a sentence belongs to the range
    when its first word does.  Returns, per thread, a list of ``(part index, sent_lo, sent_hi,
    words)``.
    """
    plans: list[list[tuple[int, int, int, int]]] = [[] for _ in range(threads)]
    start = 0
    for p, part in enumerate(parts):
        n = part_words(part)
        if not (max(word_lo - start, 0) < min(word_hi - start, n)):
            start += n
            continue
        offsets = part_offsets(part)
        lo, hi = max(word_lo - start, 0), min(word_hi - start, n)
        if lo < hi:
            starts = offsets[:-1]
            s_lo = int(np.searchsorted(starts, lo, "left"))
            s_hi = int(np.searchsorted(starts, hi, "left"))
            if s_hi > s_lo:
                w_lo, w_hi = int(offsets[s_lo]), int(offsets[s_hi])
                cuts = [s_lo] + [int(np.searchsorted(starts, w_lo + (w_hi - w_lo) * t // threads, "left"))
                                 for t in range(1, threads)] + [s_hi]
                for t in range(threads):
                    a, b = cuts[t], max(cuts[t], cuts[t + 1])
                    if b > a:
                        plans[t].append((p, a, b, int(offsets[b] - offsets[a])))
        start += n
    return plans


def _run_thread(rep: Replica, parts, plan, alpha_start: float, alpha_end: float, seed: int, t: int):
    total = sum(w for *_, w in plan)
    done = 0
    raw = eff = 0
    loss = 0.0
    p = rep.params
    tb = rep.tables
    syn0, syn1neg, syn1 = rep.mats
    t0, t1, t2 = rep.touched[t]
    shared = int(p.get("shared_negatives", 0)) if p["negative"] > 0 else 0
    for i, (pi, s_lo_part, s_hi_part, words) in enumerate(plan):
        ids, offsets, s_lo, s_hi = slice_arrays(parts[pi], s_lo_part, s_hi_part)
        a0 = alpha_start + (alpha_end - alpha_start) * done / max(total, 1)
        done += words
        a1 = alpha_start + (alpha_end - alpha_start) * done / max(total, 1)
        args = (
            syn0, syn1neg, syn1, ids, offsets, s_lo, s_hi, tb["keep_prob"], tb["cum_table"],
            tb["points"], tb["codes"], tb["codelens"], p["sg"], p["cbow_mean"], p["window"],
            p["negative"], p["hs"], a0, a1,
            int((seed + 0x9E3779B97F4A7C15 * (i + 1)) & 0xFFFFFFFFFFFF),  # int64, as warmup() compiled
            t0, t1, t2, p["compute_loss"],
        )
        if shared > 0:
            r, e, l = train_slice_shared(*args, shared)
        else:
            r, e, l = train_slice(*args)
        raw += int(r)
        eff += int(e)
        loss += float(l)
    return raw, eff, loss


@njit(nogil=True, cache=True)
def _take_deltas(m, b, rows, out):  # pragma: no cover - compiled
    """``out[i] = m[rows[i]] - b[rows[i]]``, then ``b[rows[i]] = m[rows[i]]``: one pass (float32)."""
    D = m.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(D):
            v = m[r, j]
            out[i, j] = v - b[r, j]
            b[r, j] = v


@njit(nogil=True, cache=True)
def _set_rows(m, b, rows, vals, with_base):  # pragma: no cover - compiled
    """``m[rows[i]] = vals[i]``; ``with_base``: ``m[r] = vals[i] + (m[r] - b[r])`` and ``b[r] = vals[i]``,
    so a change this replica has not sent yet (``rare_every``) stays on top of the new central row
    (``m[r] - b[r]`` is 0.0 for every sent or untouched row, which then gets ``vals[i]`` exactly)."""
    D = m.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(D):
            v = vals[i, j]
            if with_base:
                m[r, j] = v + (m[r, j] - b[r, j])
                b[r, j] = v
            else:
                m[r, j] = v


@njit(nogil=True, cache=True)
def _due_rows(unsent, touched, period, rnd, flush):  # pragma: no cover - compiled
    """Rows to send this round: ``unsent |= touched``, then every unsent row ``r`` with
    ``flush`` or ``(rnd + r) % period[r] == 0`` (int64, ascending), cleared from ``unsent``.
    The phase ``rnd + r`` spreads the rows of one period evenly over its rounds."""
    out = np.empty(unsent.shape[0], dtype=np.int64)
    n = 0
    for r in range(unsent.shape[0]):
        if touched[r]:
            unsent[r] = 1
        if unsent[r] and (flush or (rnd + r) % period[r] == 0):
            out[n] = r
            n += 1
            unsent[r] = 0
    return out[:n].copy()


def _warm_rows() -> None:
    """Compile (or load from Numba's cache) the row kernels for every array kind they meet."""
    m = np.zeros((1, 1), np.float32)
    rows = np.zeros(0, np.int64)
    vals = np.zeros((0, 1), np.float32)
    _take_deltas(m, m.copy(), rows, vals.copy())
    _set_rows(m, m, rows, vals, True)
    _add_back(m, m, rows, rows, vals)
    _due_rows(np.zeros(1, np.uint8), np.zeros(1, np.uint8), np.ones(1, np.uint8), 0, False)
    vals.setflags(write=False)  # update values mapped read-only from a file (shm.py)
    _set_rows(m, m, rows, vals, True)


def _apply_update(rep: Replica, update, update_round: int) -> int:
    """Set the central rows of ``update``, then add back this replica's changes they do not hold yet.

    ``update`` is the central copy after the merge of round ``update_round``; changes this replica
    sent for later rounds (``rep.inflight``, overlapping rounds) are not in it, so they are added
    to both the replica and its base: the replica becomes ``central + its own unmerged changes``,
    and those changes are not sent twice.  Returns the bytes received.
    """
    bytes_in = 0
    if isinstance(update, shm.Files):  # rows and values by file name (shared memory, shm.py)
        arrays = shm.read(update)
        update = [(np.asarray(arrays[2 * i]), arrays[2 * i + 1]) for i in range(len(arrays) // 2)]
    for m, b, (rows, vals) in zip(rep.mats, rep.bases or [None] * len(rep.mats), update):
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if rows.size:
            _set_rows(m, m if b is None else b, rows, np.ascontiguousarray(vals, dtype=np.float32), b is not None)
        bytes_in += rows.nbytes + vals.nbytes
    rep.inflight = [x for x in rep.inflight if x[0] > update_round]
    for _, rows_s, deltas_s in rep.inflight:
        for m, b, (rows, _vals), rs, ds in zip(rep.mats, rep.bases, update, rows_s, deltas_s):
            if rows.size and rs.size:
                _add_back(m, b, np.ascontiguousarray(rows, dtype=np.int64), rs, ds)
    return bytes_in


@njit(nogil=True, cache=True)
def _add_back(m, b, rows, rs, ds):  # pragma: no cover - compiled
    """``m[r] += ds[i]`` and ``b[r] += ds[i]`` for every ``r = rs[i]`` also in ``rows`` (both int64,
    sorted, unique: one merge pass; float32 rows)."""
    D = m.shape[1]
    j = 0
    for i in range(rs.shape[0]):
        r = rs[i]
        while j < rows.shape[0] and rows[j] < r:
            j += 1
        if j == rows.shape[0]:
            break
        if rows[j] == r:
            for c in range(D):
                m[r, c] += ds[i, c]
                b[r, c] += ds[i, c]


def _keep_pieces(rep: Replica, owners) -> dict:
    """Split the rows this round changed by owner (``owners``: per matrix, int64 bounds [K + 1]);
    keep the pieces in ``rep.pieces`` for :func:`take_piece`; return their sizes."""
    from .partition import split_by_owner

    K = len(owners[0]) - 1
    rep.pieces = {j: [] for j in range(K)}
    changed = []
    for i, (m, bounds) in enumerate(zip(rep.mats, owners)):
        touched = np.bitwise_or.reduce([flags[i] for flags in rep.touched])
        rows = np.flatnonzero(touched).astype(np.int64)
        changed.append(int(rows.size))
        for j, sl in enumerate(split_by_owner(rows, bounds)):
            rs = rows[sl]
            rep.pieces[j].append((rs, m[rs]))
    sizes = [sum(r.nbytes + v.nbytes for r, v in rep.pieces[j]) for j in range(K)]
    return {"rows": None, "deltas": None, "changed_rows": changed, "piece_bytes": sizes}


def take_piece(job_id: str, owner: int) -> list:
    """The rows of owner ``owner`` that this replica changed in its last round, per matrix
    ``(rows int64 [n], values float32 [n, D])``.

    The pieces stay until the replica's next round replaces them, so a task the scheduler runs
    again (its result was lost with the owner's worker) gets the same rows.
    """
    rep = _REPLICAS.get(_key(job_id))
    if rep is None or owner not in rep.pieces:
        raise RuntimeError(f"no piece for owner {owner} of {job_id} on {_worker_address()}")
    return rep.pieces[owner]


def _train_range(rep: Replica, parts, lo: int, hi: int, a0: float, a1: float, seed: int):
    """Train words [lo, hi) of the worker's stream with all its threads; per-thread (raw, effective,
    loss) and the wall seconds of the kernels."""
    plans = _plan(parts, lo, hi, rep.threads)
    t0 = time.perf_counter()
    args = [(rep, parts, plans[t], a0, a1, seed + 7919 * t, t) for t in range(rep.threads)]
    if rep.pool is None:
        results = [_run_thread(*a) for a in args]
    else:
        results = list(rep.pool.map(lambda a: _run_thread(*a), args))
    return results, time.perf_counter() - t0


def hot_indices(rep: Replica) -> list[np.ndarray]:
    """The hot rows of each matrix (int64, sorted; :mod:`w2v_dist.training.hot`), from the tables."""
    return [np.asarray(rep.tables.get(f"hot{i}", np.zeros(0, np.int64)), dtype=np.int64) for i in range(3)]


def _train_hot(rep: Replica, parts, lo: int, hi: int, a0: float, a1: float, seed: int, hot: dict):
    """Train words [lo, hi) in ``hot["subrounds"]`` slices, exchanging the hot rows after each.

    After slice j the replica sends the change of its hot rows since it last received them to
    the :class:`~w2v_dist.training.hot.HotRows` actor ``hot["actor"]`` as slice ``hot["gen"] + j``,
    then takes the merged rows of slice j - 1 (``C + mu M``, sent one slice earlier and merged
    while slice j trained; for slice 0 the look-ahead of the last round's final merge) plus its own
    change of slice j.  The last slice's exchange is waited for and gives ``C`` itself (and the
    look-ahead kept for the next round): every replica ends the round with the same hot rows.  Base rows
    follow (``bases[i][hot] = mats[i][hot]``), and the hot rows are taken out of ``touched``, so
    the round's deltas for the driver hold cold rows only.

    Returns per-thread results, kernel seconds, and the statistics ``hot_syncs``,
    ``hot_bytes_sent`` (bytes of changes sent, float32; as many come back), ``hot_wait_seconds``
    (waiting for the actor) and, when ``hot["report"]``, ``hot_values`` and ``hot_velocity`` (per
    matrix, the round's final hot rows ``C`` and block momentum ``M``, float32 [H_i, D]).
    ``hot["velocity"]`` (``M`` per matrix, given to a replica's first round): its look-ahead
    ``C + hot["mu"] M`` for slice 0, as the uninterrupted run's replicas hold it.  ``hot["files"]``
    (a folder, with ``hot["replicas"]``, K): every replica is on the driver's machine, so the
    changes go through files there instead of the actor (:class:`~w2v_dist.training.hot.HotFiles`,
    made in the replica's first round from its hot rows and ``hot["velocity"]``).

    Raises
    ------
    RuntimeError
        The actor did not answer within ``hot["timeout"]`` seconds (another replica was lost).
    """
    idx = hot_indices(rep)
    n = max(1, int(hot["subrounds"]))
    actor, gen0, timeout = hot["actor"], int(hot["gen"]), float(hot.get("timeout", 600.0))
    replica = int(hot["replica"])
    if hot.get("velocity") is not None:  # a new replica (start, resume, recovery): the look-ahead of M
        rep.hot_ahead = lookahead([b[ix] for b, ix in zip(rep.bases, idx)], hot["velocity"], hot["mu"])
        if hot.get("files"):  # every replica on the driver's machine: through files, its own C and M
            rep.hot_files = HotFiles(hot["files"], hot["replicas"], replica, [b[ix] for b, ix in zip(rep.bases, idx)],
                                     hot["velocity"], hot["mu"], first=gen0)
    if hot.get("files"):
        if rep.hot_files is None or rep.hot_files.folder != hot["files"]:
            raise RuntimeError(f"hot rows: replica {replica} has no exchange in {hot['files']} (not created "
                               f"with the job's block momentum)")
        actor = rep.hot_files
    results, compute, wait, sent = [], 0.0, 0.0, 0
    sync_end = bool(hot.get("sync_end", True))
    # (future, slice, want) of the last slice sent and not yet taken: the last round's, when it
    # ended without waiting (overlapping rounds), is taken after this round's first slice
    pending, rep.hot_pending = (None if hot.get("velocity") is not None else rep.hot_pending), None
    state = None  # (C, M) after a round's last slice, for the driver (hot["report"])

    def get(fut, what):
        try:
            return fut.result(timeout=timeout)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise RuntimeError(f"hot rows: no answer for slice {what} within {timeout:g} s "
                               f"(a replica was lost?)") from exc
        except Exception as exc:  # the actor's worker lost, or the actor aborted by a failed round
            raise RuntimeError(f"hot rows: slice {what}: {type(exc).__name__}: {exc}") from exc

    for j in range(n):
        s_lo, s_hi = lo + (hi - lo) * j // n, lo + (hi - lo) * (j + 1) // n
        b0 = a0 + (a1 - a0) * (s_lo - lo) / max(hi - lo, 1)
        b1 = a0 + (a1 - a0) * (s_hi - lo) / max(hi - lo, 1)
        res, c = _train_range(rep, parts, s_lo, s_hi, b0, b1, seed + 1_000_003 * j)
        results += res
        compute += c
        t = time.perf_counter()
        d = [m[ix] - b[ix] for m, b, ix in zip(rep.mats, rep.bases, idx)]
        sent += sum(x.nbytes for x in d)
        last = j == n - 1
        sync = last and sync_end
        want = "state" if last and (sync or hot.get("report")) else "lookahead"
        fut = actor.exchange(gen0 + j, replica, d, want=want)
        if pending is not None:
            p_fut, p_gen, p_want = pending
            got = get(p_fut, p_gen)
            if p_want == "state":  # the last round's last slice, sent without waiting: C then M
                state = (got[:len(idx)], got[len(idx):])
                ahead = lookahead(*state, hot["mu"])
            else:
                ahead = got
        else:  # slice 0: the look-ahead of the last round's final merge (none in a new replica)
            ahead = rep.hot_ahead
        if not sync:  # the merged rows of slice j - 1 (look-ahead), plus this replica's change of slice j
            for m, b, ix, dd, a in zip(rep.mats, rep.bases, idx, d, ahead or [None] * len(idx)):
                v = m[ix] if a is None else a + dd  # (the actor's arrays may be read-only or shared: never written)
                m[ix] = v
                b[ix] = v
            pending = (fut, gen0 + j, want)
        else:  # every replica ends the round with the same hot rows C
            got = get(fut, gen0 + j)
            for m, b, ix, v in zip(rep.mats, rep.bases, idx, got[:len(idx)]):
                m[ix] = v
                b[ix] = v
            state = (got[:len(idx)], got[len(idx):])
            rep.hot_ahead = lookahead(*state, hot["mu"])
            pending = None
        wait += time.perf_counter() - t
    rep.hot_pending = pending
    for flags in rep.touched:
        for f, ix in zip(flags, idx):
            f[ix] = 0
    stats = {"hot_syncs": n, "hot_bytes_sent": int(sent), "hot_wait_seconds": wait}
    if hot.get("report") and state is not None:
        stats["hot_values"] = [np.array(v, dtype=np.float32) for v in state[0]]
        stats["hot_velocity"] = [np.array(v, dtype=np.float32) for v in state[1]]
    return results, compute, stats


def train_round(job_id: str, spec: dict, update, *parts, after=None) -> dict[str, Any]:
    """Apply the driver's update, train this worker's slice of the round, return the changes.

    Parameters
    ----------
    job_id : str
    spec : dict
        ``word_lo``, ``word_hi`` (int, words of this worker's stream for the round),
        ``alpha_start``, ``alpha_end`` (learning rate at the two ends of the slice), ``seed``,
        ``collect`` (bool, default True): return the changed rows.  A lone replica needs no
        merging: the driver passes False and fetches the replica once at the end
        (:func:`fetch_replica`).  ``round`` (int) and ``update_rounds`` (list of int, the
        rounds whose merges ``update`` holds); ``keep_inflight`` (bool): rounds overlap, so remember the
        changes sent until an update that holds them arrives (:func:`_apply_update`).
        ``owners`` (per matrix, int64 row bounds [K + 1]): a partitioned central copy; the
        replica (created with ``bases=False``) keeps its changed rows' new values, split by
        owner, for :func:`take_piece`, and returns only their sizes.  ``shm_stem`` (str): write
        the changed rows and deltas as files ``<stem>.<i>.npy`` (:mod:`w2v_dist.training.shm`,
        rows of the three matrices, then their deltas) and return their names as ``files``.
        ``hot`` (dict: ``actor``, ``gen``, ``replica``, ``subrounds``, ``mu``, ``timeout``,
        ``report``, ``velocity``): exchange the
        hot rows with the other replicas ``subrounds`` times during the round (:func:`_train_hot`,
        :mod:`w2v_dist.training.hot`); the returned deltas then hold the cold rows only.
        ``flush`` (bool, default True): with ``period<i>`` tables (``rare_every``), send every
        changed row not sent yet; otherwise only those due this ``round`` (:func:`_due_rows`).
    update : list or None
        The merges not yet applied, in order, one per round of ``spec["update_rounds"]``: per
        matrix (:data:`MATRICES` order) ``(rows int64 [n], values float32 [n, D])``, the central
        rows that the merge of that round changed, after it; or an :class:`~w2v_dist.training.shm.Files`
        of those arrays (rows, values, per matrix in turn).
    *parts : (ids int32 [N], offsets int64 [S + 1], info dict) or EncodedPart
        This worker's encoded partitions (:func:`encode_shard`, or the disk cache's handles of
        :mod:`w2v_dist.training.encoded`, whose sentences are read per round), in stream order.
    after : any
        Ignored: the previous round's result future, passed so that Dask runs this replica's
        rounds in order when they are submitted ahead.

    Returns
    -------
    dict
        ``rows``/``deltas``: per matrix, the changed rows (int64 [n]) and their change during
        the round (float32 [n, D]); ``raw_words``,
        ``effective_words`` (int), ``loss`` (float, summed over pairs), ``compute_seconds``,
        ``bytes_in`` (update bytes received), ``apply_seconds`` (applying ``update``), with the
        changed rows returned ``task_seconds`` (the whole call, seconds); with ``hot``, ``hot_syncs``, ``hot_bytes_sent``,
        ``hot_wait_seconds`` and maybe ``hot_values``, ``hot_velocity`` (:func:`_train_hot`); with ``owners``, ``rows``/``deltas`` are None and
        ``changed_rows`` (per matrix) and ``piece_bytes`` (per owner) are given.
    """
    rep = _REPLICAS.get(_key(job_id))
    if rep is None:  # e.g. the worker process was restarted: the driver re-creates replicas
        raise RuntimeError(f"no replica of {job_id} on {_worker_address()}")
    t_task = time.perf_counter()
    bytes_in = 0
    for u, upd in zip(spec.get("update_rounds", []), update or []):
        bytes_in += _apply_update(rep, upd, u)
    t_applied = time.perf_counter()
    for flags in rep.touched:
        for f in flags:
            f[:] = 0
    seed = int(spec["seed"])
    lo, hi = int(spec["word_lo"]), int(spec["word_hi"])
    if spec.get("hot"):
        results, compute, hot_stats = _train_hot(rep, parts, lo, hi, spec["alpha_start"], spec["alpha_end"], seed,
                                                 spec["hot"])
    else:
        results, compute = _train_range(rep, parts, lo, hi, spec["alpha_start"], spec["alpha_end"], seed)
        hot_stats = {}
    stats = {
        "raw_words": sum(r[0] for r in results),
        "effective_words": sum(r[1] for r in results),
        "loss": sum(r[2] for r in results),
        "compute_seconds": compute,
        "bytes_in": bytes_in,
        "apply_seconds": t_applied - t_task,
        **hot_stats,
    }
    if not spec.get("collect", True):
        return {"rows": None, "deltas": None, **stats}
    if rep.bases is None:  # partitioned central copy: new values of the changed rows, kept here by owner
        return {**stats, **_keep_pieces(rep, spec["owners"])}
    rows_out, deltas_out = [], []
    periods = [rep.tables.get(f"period{i}") for i in range(len(rep.mats))]
    if rep.unsent is None and any(p is not None for p in periods):
        rep.unsent = [np.zeros(m.shape[0], dtype=np.uint8) for m in rep.mats]
    for i, (m, b) in enumerate(zip(rep.mats, rep.bases)):
        touched = np.bitwise_or.reduce([flags[i] for flags in rep.touched])
        if periods[i] is not None:  # rare rows every few rounds (rare_every), all of them when flushing
            rows = _due_rows(rep.unsent[i], touched, periods[i], int(spec.get("round", 0)),
                             bool(spec.get("flush", True)))
        else:
            rows = np.flatnonzero(touched).astype(np.int64)
        # the change m - b of each touched row; then, until the driver says otherwise, the
        # central copy holds our own change (exact for every rule with one replica; with
        # several, the next update overwrites these rows): b = m
        d = np.empty((rows.size, m.shape[1]), dtype=np.float32)
        _take_deltas(m, b, rows, d)
        deltas_out.append(d)
        rows_out.append(rows)
    if spec.get("keep_inflight"):
        rep.inflight.append((int(spec["round"]), rows_out, deltas_out))
    out = {"rows": rows_out, "deltas": deltas_out}
    if spec.get("shm_stem"):  # the driver is on this machine: by file name, not through Dask
        try:
            out = {"rows": None, "deltas": None, "files": shm.write(spec["shm_stem"], rows_out + deltas_out)}
        except OSError:  # e.g. the folder is full: through Dask
            pass
    return {**out, **stats, "task_seconds": time.perf_counter() - t_task}
