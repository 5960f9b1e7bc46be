"""A central copy too large for the driver: row ranges owned by the workers.

When the central matrices (``syn0`` and ``syn1neg`` and/or ``syn1``, float32) take more than
``Config.central_partition_bytes`` bytes, the driver never holds them.  Instead:

* **Ownership.**  Logical replica ``j`` (of K) also *owns* rows ``[bounds_i[j], bounds_i[j+1])`` of
  every matrix ``i``, with ``bounds_i = [n_i * j // K for j in 0..K]`` (:func:`row_bounds`): an
  :class:`Shard` in the worker's process memory, on the same worker as replica ``j``.
* **Initialisation on the owners.**  Each replica and each shard makes its rows itself:
  :func:`initial_rows` gives rows ``[lo, hi)`` of exactly what
  :func:`w2v_dist.training.driver.initial_weights` gives (the PCG64 stream is advanced to row
  ``lo``, :meth:`numpy.random.PCG64.advance`), so the partitioned run starts from the same
  vectors as the driver-held one.  A resumed run reads its rows from the checkpoint
  (:func:`read_rows`, any fsspec filesystem, only the byte range needed).
* **A round.**  Replicas keep no copy of the central rows (``bases``): without overlapping rounds
  a replica's rows equal the central copy at the start of every round, so a replica sends the
  *new values* of the rows it changed, split by owner (:func:`split_by_owner`), and the owner
  computes the deltas against its rows (bit-identical to the deltas a replica computes against its
  base).  The pieces go worker to worker as Dask futures (``take_piece`` runs on the replica's
  worker, ``shard_merge`` on the owner's, the data never passes through the driver), each owner
  merges its range with the job's merge rule (:mod:`w2v_dist.training.merge`, same function,
  local row ids) and its merged rows go to every replica at the start of the next round.  The
  driver only schedules and keeps per-round statistics.  Overlapping rounds (``overlap``) are not
  used on this path (a replica would need its base).
* **One worker.**  The replica is the model, as on the driver-held path: shard 0 is the replica's
  own matrices (no copy), nothing is merged.
* **Checkpoints** are written per range by the owners (``syn0.rows-LO-HI.npy``, see
  :mod:`w2v_dist.training.checkpoint`), and **outputs** are written by the driver one block of rows
  at a time (:class:`BlockVectors`), so its peak is one block, not V x D.
* **Failures.**  A lost worker loses its range, so the run goes back to the last checkpoint (or
  the start), as with one replica.

Memory per worker: its replica (every matrix, V x D each) plus its range (1/K of every matrix).
Row ids are int64 and byte offsets Python ints or numpy intp: no 2**31 limit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .merge import get_merge_rule, row_scales

MATRIX_NAMES = ("syn0", "syn1neg", "syn1")

_SHARDS: dict[str, "Shard"] = {}
_LOCK = threading.Lock()


# ------------------------------------------------------------------ layout (pure functions)

def matrix_rows(vocab_size: int, negative: int, hs: int) -> list[int]:
    """Rows of ``[syn0, syn1neg, syn1]`` as :func:`~w2v_dist.training.driver.initial_weights` makes them."""
    return [int(vocab_size), int(vocab_size) if negative > 0 else 1, max(int(vocab_size) - 1, 1) if hs else 1]


def central_nbytes(vocab_size: int, vector_size: int, negative: int, hs: int) -> int:
    """Bytes of the central copy (every matrix, float32), as a Python int (no overflow)."""
    return sum(matrix_rows(vocab_size, negative, hs)) * int(vector_size) * 4


def row_bounds(n_rows: int, parts: int) -> np.ndarray:
    """Contiguous balanced row ranges: int64 [parts + 1], range ``j`` is ``[b[j], b[j+1])``.

    ``b[j] = n_rows * j // parts`` (range sizes differ by at most one row; a range may be empty
    when ``n_rows < parts``).
    """
    j = np.arange(int(parts) + 1, dtype=np.int64)
    return (np.int64(n_rows) * j) // np.int64(parts)


def split_by_owner(rows: np.ndarray, bounds: np.ndarray) -> list[slice]:
    """Where each owner's rows sit in a sorted row array.

    Parameters
    ----------
    rows : int64 [n], sorted ascending
        Row ids (e.g. the rows a replica changed).
    bounds : int64 [K + 1]
        :func:`row_bounds`.

    Returns
    -------
    list of K slices
        ``rows[s[j]]`` are the rows in ``[bounds[j], bounds[j+1])``.
    """
    cut = np.searchsorted(np.asarray(rows, dtype=np.int64), np.asarray(bounds, dtype=np.int64), "left")
    return [slice(int(cut[j]), int(cut[j + 1])) for j in range(len(bounds) - 1)]


def initial_rows(matrix: int, lo: int, hi: int, vector_size: int, seed: int) -> np.ndarray:
    """Rows ``[lo, hi)`` of initial matrix ``matrix`` (0 syn0, 1 syn1neg, 2 syn1), float32 [hi-lo, D].

    Equal, bit for bit, to ``initial_weights(V, D, seed, ...)[matrix][lo:hi]``: syn0 is uniform in
    ``[-0.5/D, 0.5/D)`` from ``numpy.random.default_rng(seed)`` (one 32-bit draw per float32, so
    row ``lo`` starts at draw ``lo * D``: the PCG64 generator is advanced by ``lo * D // 2``
    64-bit steps and, when ``lo * D`` is odd, one float is drawn and dropped); syn1neg and syn1
    are zero.  Cost: O(hi - lo) whatever ``lo``.
    """
    D = int(vector_size)
    n = max(int(hi) - int(lo), 0)
    if matrix != 0:
        return np.zeros((n, D), dtype=np.float32)
    rng = np.random.default_rng(seed)
    start = int(lo) * D  # Python int: no overflow
    rng.bit_generator.advance(start // 2)
    if start % 2:
        rng.random(1, dtype=np.float32)
    out = rng.random((n, D), dtype=np.float32)
    out -= np.float32(0.5)
    out /= np.float32(D)
    return out


# ------------------------------------------------------------------ checkpoints by range

def piece_name(matrix: int, lo: int, hi: int) -> str:
    """File name of rows ``[lo, hi)`` of a matrix in a checkpoint: ``syn0.rows-LO-HI.npy``."""
    return f"{MATRIX_NAMES[matrix]}.rows-{int(lo):012d}-{int(hi):012d}.npy"


def _npy_header(f) -> tuple[tuple, int]:
    """(shape, data offset) of an open .npy file (float32, C order expected)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
        raise ValueError(f"expected a C-order float32 2-D array, found {dtype} {shape}"
                         f"{' (Fortran order)' if fortran else ''}")
    return shape, f.tell()


def read_rows(pieces: Sequence[tuple[int, int, str]], lo: int, hi: int, vector_size: int,
              storage_options: dict | None = None) -> np.ndarray:
    """Rows ``[lo, hi)`` of a checkpointed matrix stored as row-range ``.npy`` pieces.

    Parameters
    ----------
    pieces : list of (lo, hi, url)
        The pieces of one matrix that together hold its rows (a driver-held checkpoint has one:
        ``(0, n, ".../syn0.npy")``).  Only the bytes of the rows asked for are read.
    lo, hi : int
        Rows wanted.
    vector_size : int
        D.

    Returns
    -------
    float32 [hi - lo, D]

    Raises
    ------
    ValueError
        A piece is not a float32 [rows, D] array, or the pieces do not cover ``[lo, hi)``.
    """
    import fsspec

    D = int(vector_size)
    out = np.empty((max(hi - lo, 0), D), dtype=np.float32)
    covered = 0
    for plo, phi, url in pieces:
        a, b = max(lo, plo), min(hi, phi)
        if a >= b:
            continue
        with fsspec.open(url, "rb", **(storage_options or {})) as f:
            shape, offset = _npy_header(f)
            if tuple(shape) != (phi - plo, D):
                raise ValueError(f"{url}: holds {tuple(shape)}, expected ({phi - plo}, {D})")
            f.seek(offset + (a - plo) * D * 4)
            need = (b - a) * D * 4
            buf = f.read(need)
            if len(buf) != need:
                raise ValueError(f"{url}: truncated")
        out[a - lo:b - lo] = np.frombuffer(buf, dtype="<f4").reshape(b - a, D)
        covered += b - a
    if covered != hi - lo:
        raise ValueError(f"checkpoint pieces cover {covered} of rows [{lo}, {hi})")
    return out


def write_npy(url: str, arr: np.ndarray, storage_options: dict | None = None) -> int:
    """Write a float32 [n, D] array as ``.npy`` to any fsspec URL, streamed; return the bytes written."""
    import fsspec

    arr = np.ascontiguousarray(arr, dtype="<f4")
    with fsspec.open(url, "wb", **(storage_options or {})) as f:
        np.lib.format.write_array(f, arr, allow_pickle=False)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return int(fs.size(path))


# ------------------------------------------------------------------ worker side

@dataclass
class Shard:
    """Rows ``[lo[i], hi[i])`` of every central matrix ``i``, owned by one worker.

    Attributes
    ----------
    mats : list of float32 arrays [hi[i] - lo[i], D]
    lo, hi : list of int
    n_updates : list of float64 arrays [hi[i] - lo[i]] or None
        This range of :func:`~w2v_dist.training.merge.expected_updates` (for ``scaled-sum``).
    """

    mats: list
    lo: list
    hi: list
    n_updates: list | None = None


def _addr(dask_worker=None) -> str:
    if dask_worker is not None:
        return dask_worker.address
    from .worker import _worker_address

    return _worker_address()


def _shard_key(job: str, j: int, address: str | None = None) -> str:
    return f"{job}/{j}@{address or _addr()}"


def _source_rows(i: int, lo: int, hi: int, spec: dict, source: dict | None, storage_options) -> np.ndarray:
    if source is None:
        return initial_rows(i, lo, hi, spec["vector_size"], spec["seed"])
    return read_rows([tuple(p) for p in source[MATRIX_NAMES[i]]], lo, hi, spec["vector_size"], storage_options)


def init_replica_here(replica_id: str, spec: dict, source: dict | None, storage_options, tables: dict,
                      params: dict, threads: int) -> str:
    """Make this worker's replica (every row of every matrix) from the seed or a checkpoint.

    ``spec``: ``vector_size``, ``seed``, ``rows`` (rows of each matrix, :func:`matrix_rows`).
    ``source``: None (initial vectors) or ``{matrix name: [(lo, hi, url), ...]}`` (checkpoint
    pieces).  The replica keeps no base copy (see the module docstring).
    """
    from .worker import init_replica

    mats = [_source_rows(i, 0, n, spec, source, storage_options) for i, n in enumerate(spec["rows"])]
    return init_replica(replica_id, mats, tables, params, threads, bases=False, copy=False)


def init_shard(job: str, j: int, spec: dict, source: dict | None, storage_options,
               n_updates: list | None = None, replica_id: str | None = None, after=None) -> int:
    """Create owner ``j``'s shard on this worker; return its bytes.

    ``spec``: as :func:`init_replica_here`, plus ``bounds`` (per matrix, int64 [K + 1]).  With
    ``replica_id`` (one worker) the shard *is* that replica's matrices (no copy).  ``after``
    (ignored): the replica's creation, so that it exists first.
    """
    from .worker import _REPLICAS, _key

    lo = [int(b[j]) for b in spec["bounds"]]
    hi = [int(b[j + 1]) for b in spec["bounds"]]
    if replica_id is not None:
        rep = _REPLICAS[_key(replica_id)]
        mats = [m[a:b] for m, a, b in zip(rep.mats, lo, hi)]
    else:
        mats = [_source_rows(i, a, b, spec, source, storage_options) for i, (a, b) in enumerate(zip(lo, hi))]
    shard = Shard(mats=mats, lo=lo, hi=hi,
                  n_updates=[np.asarray(x, dtype=np.float64) for x in n_updates] if n_updates is not None else None)
    with _LOCK:
        _SHARDS[_shard_key(job, j)] = shard
    return int(sum(m.nbytes for m in mats))


def _get_shard(job: str, j: int) -> Shard:
    shard = _SHARDS.get(_shard_key(job, j))
    if shard is None:  # e.g. a restarted worker: the driver goes back to the last checkpoint
        from .worker import _worker_address

        raise RuntimeError(f"no replica of {job} range {j} on {_worker_address()}")
    return shard


def shard_merge(job: str, j: int, spec: dict, *pieces) -> list[tuple[np.ndarray, np.ndarray]]:
    """Merge the replicas' new values of owner ``j``'s rows into its shard; return the merged rows.

    Parameters
    ----------
    spec : dict
        ``merge`` (rule name), ``alpha`` (the job's initial learning rate, for
        ``scaled-sum``'s row scales; see :func:`w2v_dist.training.merge.row_scales`), ``replicas`` (K).
    *pieces : K lists (one per replica, in replica order) of per-matrix ``(rows int64 [n],
        values float32 [n, D])``
        Global row ids inside this owner's range, and the replica's values after its round.

    Returns
    -------
    list (per matrix) of (rows int64 [m], values float32 [m, D])
        The rows the merge changed (global ids) and their merged values.
    """
    shard = _get_shard(job, j)
    merge = get_merge_rule(spec["merge"])
    K = int(spec["replicas"])
    out = []
    for i, m in enumerate(shard.mats):
        lo = shard.lo[i]
        rows = [np.asarray(p[i][0], dtype=np.int64) - lo for p in pieces]
        deltas = [p[i][1] - m[r] for p, r in zip(pieces, rows)]  # replica value - central (its base)
        extra = {}
        if getattr(merge, "needs_row_scale", False) and shard.n_updates is not None:
            extra["scale"] = row_scales(shard.n_updates[i], spec["alpha"], K)
        changed = merge(m, rows, deltas, **extra)
        out.append((changed + lo, m[changed].copy()))
    return out


def payload_nbytes(payload) -> int:
    """Bytes of per-matrix ``(rows, values)`` pairs."""
    return int(sum(r.nbytes + v.nbytes for r, v in payload))


def fetch_rows(job: str, j: int, i: int, lo: int, hi: int) -> np.ndarray:
    """A copy of global rows ``[lo, hi)`` of matrix ``i`` from owner ``j``'s shard (inside its range)."""
    shard = _get_shard(job, j)
    a, b = lo - shard.lo[i], hi - shard.lo[i]
    if a < 0 or b > shard.mats[i].shape[0] or a > b:
        raise ValueError(f"rows [{lo}, {hi}) are not in range {j} [{shard.lo[i]}, {shard.hi[i]})")
    return shard.mats[i][a:b].copy()


def write_shard(job: str, j: int, prefix: str, storage_options=None) -> dict:
    """Write owner ``j``'s rows of every matrix into the checkpoint folder ``prefix`` (a URL).

    Returns
    -------
    dict
        ``{file name: (matrix index, lo, hi, bytes)}``.
    """
    shard = _get_shard(job, j)
    out = {}
    for i, m in enumerate(shard.mats):
        if shard.hi[i] <= shard.lo[i]:
            continue
        name = piece_name(i, shard.lo[i], shard.hi[i])
        out[name] = (i, shard.lo[i], shard.hi[i], write_npy(f"{prefix.rstrip('/')}/{name}", m, storage_options))
    return out


def drop_shards(job_prefix: str, dask_worker=None) -> int:
    """Free this process's shards of jobs starting with ``job_prefix``; how many (``Client.run``)."""
    with _LOCK:
        keys = [k for k in _SHARDS if k.startswith(job_prefix)]
        for k in keys:
            del _SHARDS[k]
    return len(keys)


# ------------------------------------------------------------------ driver side

class PartitionedCentral:
    """The driver's handle on a partitioned central copy: which worker owns which rows.

    Holds no matrix.  Rows are fetched one block at a time (:meth:`fetch`, :meth:`blocks`).

    Parameters
    ----------
    client : distributed.Client
    job : str
        Job id (shard keys).
    hosts : list of str
        ``hosts[j]`` is the address of owner ``j`` (the driver updates it after a recovery).
    rows : list of int
        Rows of ``[syn0, syn1neg, syn1]``.
    vector_size : int
    """

    def __init__(self, client, job: str, hosts: list, rows: list[int], vector_size: int):
        self.client = client
        self.job = job
        self.hosts = hosts
        self.rows = list(rows)
        self.vector_size = int(vector_size)
        self.bounds = [row_bounds(n, len(hosts)) for n in self.rows]
        self.closed = False

    def spec(self, seed: int) -> dict:
        return {"vector_size": self.vector_size, "seed": int(seed), "rows": self.rows, "bounds": self.bounds}

    def fetch(self, i: int, lo: int, hi: int) -> np.ndarray:
        """Rows ``[lo, hi)`` of matrix ``i`` (float32 [hi - lo, D]), gathered from their owners."""
        if self.closed:
            raise RuntimeError("the partitioned central copy was released")
        b = self.bounds[i]
        futs = []
        for j in range(len(self.hosts)):
            a, z = max(lo, int(b[j])), min(hi, int(b[j + 1]))
            if a < z:
                futs.append(self.client.submit(fetch_rows, self.job, j, i, a, z, workers=[self.hosts[j]],
                                               allow_other_workers=False, pure=False))
        parts = self.client.gather(futs)
        if not parts:
            return np.zeros((0, self.vector_size), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def blocks(self, i: int, block_rows: int, n: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(lo, hi, rows)`` for consecutive blocks of the first ``n`` rows of matrix ``i``."""
        n = self.rows[i] if n is None else n
        for lo in range(0, n, block_rows):
            hi = min(lo + block_rows, n)
            yield lo, hi, self.fetch(i, lo, hi)

    def close(self) -> None:
        """Free the shards on the workers (idempotent)."""
        if not self.closed:
            self.closed = True
            try:
                self.client.run(drop_shards, self.job)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass


_BLOCK_BYTES = 16 * 2**20


class BlockVectors:
    """Word vectors that are fetched a block of rows at a time: written without holding V x D.

    Has the attributes of :class:`~w2v_dist.vectors.WordVectors` that the writers need
    (``index_to_key``, ``counts``, ``vector_size``, ``len``) and its writers
    (:meth:`save_word2vec_format`, :meth:`save`, :meth:`save_parquet`), producing the same
    files; it has no queries (use :meth:`head` or load the written folder with
    ``WordVectors.load(url, mmap="r")``).

    Parameters
    ----------
    words : list of str [V]
    counts : int64 [V] or None
    vector_size : int
        D of the exported vectors.
    fetch : callable (lo, hi) -> float32 [hi - lo, D]
    block_rows : int, optional
        Rows per block (default: about 16 MiB of float32).
    """

    def __init__(self, words: Sequence[str], counts, vector_size: int, fetch: Callable[[int, int], np.ndarray],
                 block_rows: int | None = None):
        self.index_to_key = list(words)
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.vector_size = int(vector_size)
        self._fetch = fetch
        self.block_rows = int(block_rows or max(1, _BLOCK_BYTES // (4 * max(self.vector_size, 1))))
        self.metadata: dict = {}

    def __len__(self) -> int:
        return len(self.index_to_key)

    def blocks(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(lo, hi, vectors float32 [hi - lo, D])`` over all rows, in order."""
        for lo in range(0, len(self), self.block_rows):
            hi = min(lo + self.block_rows, len(self))
            v = np.ascontiguousarray(self._fetch(lo, hi), dtype=np.float32)
            if v.shape != (hi - lo, self.vector_size):
                raise ValueError(f"rows [{lo}, {hi}): got {v.shape}")
            yield lo, hi, v

    def head(self, n: int):
        """A :class:`~w2v_dist.vectors.WordVectors` of the first ``n`` words (the most frequent)."""
        from ..vectors import WordVectors

        n = min(int(n), len(self))
        return WordVectors(self.index_to_key[:n], self._fetch(0, n),
                           None if self.counts is None else self.counts[:n])

    def save_word2vec_format(self, url: str, binary: bool = False, storage_options: dict | None = None) -> None:
        """As :meth:`WordVectors.save_word2vec_format <w2v_dist.vectors.WordVectors.save_word2vec_format>`, block by block."""
        from ..errors import W2VError
        from ..vectors import _binary_rows, _text_rows, _write_atomically

        for w in self.index_to_key:
            if not w or " " in w or "\n" in w:
                raise W2VError(f"cannot write {url}: word {w!r} is empty or contains a space or newline")

        def payload(f):
            f.write(f"{len(self)} {self.vector_size}\n".encode("ascii"))
            for lo, hi, v in self.blocks():
                rows = (_binary_rows if binary else _text_rows)(self.index_to_key[lo:hi], v)
                f.write(rows)

        _write_atomically(url, payload, storage_options)

    def save(self, url: str, storage_options: dict | None = None, metadata: dict | None = None,
             write_vocab: bool = True) -> None:
        """As :meth:`WordVectors.save <w2v_dist.vectors.WordVectors.save>` (``vectors.npy`` written block by block)."""
        from ..vectors import _write_atomically, _write_native_meta

        base = str(url).rstrip("/")

        def payload(f):
            header = {"descr": "<f4", "fortran_order": False, "shape": (len(self), self.vector_size)}
            np.lib.format.write_array_header_1_0(f, header)
            for _, _, v in self.blocks():
                f.write(np.ascontiguousarray(v, dtype="<f4").tobytes())

        _write_atomically(f"{base}/vectors.npy", payload, storage_options)
        _write_native_meta(base, self.index_to_key, self.counts, self.vector_size, metadata, write_vocab,
                           storage_options)

    def save_parquet(self, url: str, storage_options: dict | None = None, row_group_size: int = 65536) -> None:
        """As :meth:`WordVectors.save_parquet <w2v_dist.vectors.WordVectors.save_parquet>`, one row group per block."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..vectors import _write_atomically

        dim = self.vector_size
        schema = pa.schema([("word", pa.string()), ("vector", pa.large_list(pa.float32()))])

        def payload(f):
            with pq.ParquetWriter(f, schema) as w:
                for lo, hi, v in self.blocks():
                    n = hi - lo
                    vec = pa.LargeListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int64)),
                                                        pa.array(v.reshape(-1), type=pa.float32()))
                    w.write_table(pa.table({"word": pa.array(self.index_to_key[lo:hi], type=pa.string()),
                                            "vector": vec}, schema=schema), row_group_size=row_group_size)

        _write_atomically(url, payload, storage_options)


def export_vectors(central: PartitionedCentral, words, counts, export: str = "input") -> BlockVectors:
    """The exported vectors (``Config.export``) of a partitioned central copy, as :class:`BlockVectors`.

    ``input``: syn0; ``output``: syn1neg; ``sum``: syn0 + syn1neg; ``concat``: [syn0, syn1neg]
    (D doubles), as :func:`w2v_dist.vectors.combine_vectors`.
    """
    D = central.vector_size
    if export == "input":
        return BlockVectors(words, counts, D, lambda lo, hi: central.fetch(0, lo, hi))
    if export == "output":
        return BlockVectors(words, counts, D, lambda lo, hi: central.fetch(1, lo, hi))
    if export == "sum":
        return BlockVectors(words, counts, D, lambda lo, hi: central.fetch(0, lo, hi) + central.fetch(1, lo, hi))
    if export == "concat":
        return BlockVectors(words, counts, 2 * D,
                            lambda lo, hi: np.hstack([central.fetch(0, lo, hi), central.fetch(1, lo, hi)]))
    raise ValueError(f"export={export!r}")


def create_all(client, central: PartitionedCentral, replica_ids: Sequence[str], tables: dict, params: dict,
               nthreads: dict, seed: int, source: dict | None, storage_options, n_updates: list | None) -> list:
    """Submit the creation of every replica and shard (on their workers); the futures to wait for."""
    hosts = central.hosts
    K = len(hosts)
    spec = central.spec(seed)
    reps = [client.submit(init_replica_here, replica_ids[k], spec, source, storage_options, tables[hosts[k]],
                          params, nthreads.get(hosts[k], 1), workers=[hosts[k]], allow_other_workers=False,
                          pure=False) for k in range(K)]
    out = []
    for j in range(K):
        nu = None
        if n_updates is not None:  # this range of the expected updates, sent once (not in the graph)
            nu = [x[int(b[j]):int(b[j + 1])] for x, b in zip(n_updates, central.bounds)]
            [nu] = client.scatter([nu], workers=[hosts[j]], hash=False)
        out.append(client.submit(init_shard, central.job, j, spec, source, storage_options, nu,
                                 replica_ids[0] if K == 1 else None, after=reps[j], workers=[hosts[j]],
                                 allow_other_workers=False, pure=False))
    return reps + out


def merge_round(client, central: PartitionedCentral, replica_ids: Sequence[str], r: int, merge: str,
                alpha: float, attempt: int) -> tuple[list, list]:
    """Submit one round's exchange: pieces to their owners, each owner's merge.

    Returns
    -------
    (merges, sizes) : two lists of K futures
        ``merges[j]``: owner ``j``'s merged rows (passed to every replica's next round);
        ``sizes[j]``: their bytes (int, small: what the driver gathers).
    """
    from .worker import take_piece

    hosts = central.hosts
    K = len(hosts)
    job = central.job
    pieces = [[client.submit(take_piece, replica_ids[k], j, workers=[hosts[k]], allow_other_workers=False,
                             pure=False, key=f"w2v-piece-{job}-{r}-{k}-{j}-{attempt}") for j in range(K)]
              for k in range(K)]
    spec = {"merge": merge, "alpha": float(alpha), "replicas": K}
    merges = [client.submit(shard_merge, job, j, spec, *[pieces[k][j] for k in range(K)], workers=[hosts[j]],
                            allow_other_workers=False, pure=False, key=f"w2v-merge-{job}-{r}-{j}-{attempt}")
              for j in range(K)]
    sizes = [client.submit(payload_nbytes, merges[j], workers=[hosts[j]], allow_other_workers=False, pure=False)
             for j in range(K)]
    return merges, sizes


def checkpoint_writer(client, central: PartitionedCentral, storage_options) -> Callable[[str], tuple[dict, dict]]:
    """For :func:`w2v_dist.training.checkpoint.write`: each owner writes its rows into the prefix.

    The returned callable takes the checkpoint folder URL and returns ``(files, pieces)``:
    ``{file name: bytes}`` and ``{matrix name: [[lo, hi, file name], ...]}``.
    """

    def write(prefix: str) -> tuple[dict, dict]:
        futs = [client.submit(write_shard, central.job, j, prefix, storage_options, workers=[h],
                              allow_other_workers=False, pure=False) for j, h in enumerate(central.hosts)]
        files: dict[str, int] = {}
        pieces: dict[str, list] = {name: [] for name in MATRIX_NAMES}
        for res in client.gather(futs):
            for name, (i, lo, hi, size) in res.items():
                files[name] = size
                pieces[MATRIX_NAMES[i]].append([lo, hi, name])
        for p in pieces.values():
            p.sort()
        return files, pieces

    return write


def describe(central: PartitionedCentral) -> dict[str, Any]:
    """The layout for ``metrics.json``: owners and their row ranges."""
    return {"partitioned": True, "owners": list(central.hosts),
            "row_bounds": {MATRIX_NAMES[i]: [int(x) for x in b] for i, b in enumerate(central.bounds)}}
