"""The encoded corpus on the workers: one read of each shard, and a cache on the worker's disk.

Single pass.  Each shard is read and tokenized once, on the worker that will train it
(:func:`encode_local`; the driver runs :func:`encode_local_group`, one task per worker thread for
its shards, whose dictionary and counts cover all of them): its tokens are dictionary-encoded
against a *local* dictionary (the distinct tokens in order of first appearance, with their
counts).  The count tables (local dictionary + counts) are summed in a tree reduction into the
vocabulary; then
:func:`finish_part` maps each shard's local ids to vocabulary ids with one ``numpy`` take through
``pc.index_in(local dictionary, vocabulary)`` (out-of-vocabulary tokens dropped, sentences left
without a token dropped), which gives exactly what :func:`w2v_dist.vocab.encode` gives on the
tokenized shard, without reading or tokenizing it a second time.  With the default tokenization
the read and the local encoding are one Numba scan (:mod:`w2v_dist.corpus.fasttok`); with a
custom ``token_pattern`` or phrases the shard is tokenized by pyarrow and encoded with
``pc.dictionary_encode``.

Disk cache (``cache="disk"``, the default).  The local encoding (int32 ids, int64 sentence
offsets, local dictionary and counts) and then the final encoding (int32 vocabulary ids, int64
offsets) are ``.npy`` files under the worker's local directory (``distributed``'s
``Worker.local_directory``, else the system's temporary directory), in a folder per job
(``w2v-encoded-<job>``).  The driver holds only small :class:`EncodedPart` handles; a training
round maps the files and copies the sentences it trains (:func:`slice_arrays`), so a worker's
memory holds the vocabulary-sized replica plus one round's slice, whatever the size of its share
of the corpus.  The folder is removed when the job ends, also on failure
(:func:`drop_cache`, called by the driver through ``Client.run``).  ``cache="memory"`` keeps
the arrays in the workers' memory instead (``(ids, offsets, info)`` tuples, about 4.4 bytes a
token): no disk needed, memory grows with the corpus.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from dataclasses import dataclass, field

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .shm import load_npy

__all__ = ["release_large_arrays", "EncodedPart", "LocalPart", "LocalGroup", "encode_local", "encode_local_group",
           "finish_part", "finish_group", "group_item", "group_infos", "encode_shard_once", "slice_arrays",
           "part_words", "part_info", "cache_dir", "drop_cache", "CACHE_MODES"]

CACHE_MODES = ("disk", "memory")
_PREFIX = "w2v-encoded-"


_MALLOC_SET = False


def release_large_arrays() -> None:
    """Make glibc give the memory of freed large arrays back to the system (once per process).

    glibc serves an allocation from ``mmap`` only above a threshold that it raises up to 32 MiB
    after each large free (``M_MMAP_THRESHOLD``, dynamic by default), so the many short-lived
    arrays of the single read and of the rounds end up on the heap, between long-lived objects,
    and the heap's resident size grows with the number of shards read.  A fixed 1 MiB threshold
    (``mallopt(M_MMAP_THRESHOLD, 1 MiB)``) keeps every array of 1 MiB or more in its own mapping,
    unmapped when freed.  Does nothing where glibc is not the C library.
    """
    global _MALLOC_SET
    if _MALLOC_SET:
        return
    _MALLOC_SET = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _local_directory() -> str:
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError, AttributeError):
        return tempfile.gettempdir()


def cache_dir(job: str, create: bool = True) -> str:
    """This process's cache folder of ``job``: ``<worker local directory>/w2v-encoded-<job>``."""
    path = os.path.join(_local_directory(), f"{_PREFIX}{job}")
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def drop_cache(job_prefix: str, dask_worker=None) -> int:
    """Remove this process's cache folders of the jobs whose id starts with ``job_prefix``.

    Returns the number of folders removed (``Client.run`` passes ``dask_worker``).
    """
    root = dask_worker.local_directory if dask_worker is not None else _local_directory()
    n = 0
    for path in glob.glob(os.path.join(glob.escape(root), f"{_PREFIX}{glob.escape(job_prefix)}*")):
        shutil.rmtree(path, ignore_errors=True)
        n += 1
    return n


@dataclass(frozen=True)
class EncodedPart:
    """A shard encoded with vocabulary ids, in ``.npy`` files on its worker's disk.

    Attributes
    ----------
    ids_path, offsets_path : str
        int32 [N] vocabulary ids and int64 [S + 1] sentence offsets (``offsets[0] == 0``,
        ``offsets[-1] == N``), as :func:`w2v_dist.vocab.encode` returns them.
    words, sentences : int
        N and S.
    info : dict
        ``url``, ``invalid_utf8``, ``error`` (see :func:`w2v_dist.training.worker.encode_shard`).
    """

    ids_path: str
    offsets_path: str
    words: int
    sentences: int
    info: dict = field(default_factory=dict)


@dataclass(eq=False)
class LocalPart:
    """A shard encoded against its own dictionary (between the read and the vocabulary).

    ``idx`` int32 [n] and ``offsets`` int64 [S + 1] are arrays (memory) or None with ``path``
    set (files ``<path>.idx.npy``, ``<path>.off.npy``); ``words`` [D] is the local dictionary
    (pyarrow strings; None when on disk: ``<path>.words.npy`` / ``<path>.wordoff.npy`` hold its
    bytes and offsets).  ``n_tokens`` = n.
    """

    n_tokens: int
    info: dict
    path: str | None = None
    idx: np.ndarray | None = None
    offsets: np.ndarray | None = None
    words: pa.Array | None = None


def _string_buffers(words: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    words = words.cast(pa.large_string())
    off = np.frombuffer(words.buffers()[1], dtype=np.int64)[words.offset:words.offset + len(words) + 1]
    data = words.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8)[off[0]:off[-1]] if data is not None else np.zeros(0, np.uint8)
    return raw, off - off[0]


def _strings(raw: np.ndarray, off: np.ndarray) -> pa.Array:
    typ, ot = (pa.string(), np.int32) if off[-1] < 2**31 - 1 else (pa.large_string(), np.int64)
    return pa.Array.from_buffers(typ, off.size - 1, [None, pa.py_buffer(off.astype(ot)), pa.py_buffer(raw)])


def _save(path: str, arr: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def _fast(tokenize_options: dict, source=None) -> bool:
    """Whether the shard is read with the Numba tokenizer (default tokenization, no phrases)."""
    from ..corpus import DEFAULT_TOKEN_PATTERN

    pattern = tokenize_options.get("token_pattern")
    return source is None and tokenize_options.get("phrases") is None and (
        pattern is None or pattern == DEFAULT_TOKEN_PATTERN)


def _tokens(shard, storage_options, tokenize_options: dict, stats: dict, source=None, encoder=None):
    """(local dictionary [D], idx int32 [n], offsets int64 [S + 1], counts int64 [D]) of a shard.

    With ``encoder`` (a :class:`~w2v_dist.corpus.fasttok.TokenEncoder`, fast path only):
    ``(None, idx, offsets, None)``, ``idx`` in the encoder's dictionary.
    """
    from ..corpus import read_lines, read_tokenize
    from ..corpus.fasttok import tokenize_encode

    tok = dict(tokenize_options)
    if source is not None:  # the shard as learn_phrases kept it: only its last pass remains to apply
        model = tok["phrases"]
        sentences = model.apply(source, start=len(model.passes) - 1)
    elif _fast(tok):
        # the lines keep their newline bytes (separators to the tokenizer): no copy of the text
        if encoder is not None:
            return (None,) + encoder.encode(read_lines(shard, storage_options, stats, newlines=True)) + (None,)
        return tokenize_encode(read_lines(shard, storage_options, stats, newlines=True),
                               lowercase=tok.get("lowercase", True),
                               max_sentence_length=tok.get("max_sentence_length", 10000))
    else:
        sentences = read_tokenize(shard, storage_options, stats=stats, **tok)
    if isinstance(sentences, pa.ChunkedArray):
        sentences = sentences.combine_chunks()
    values = pc.list_flatten(sentences)
    offsets = np.asarray(sentences.offsets).astype(np.int64)
    offsets = offsets - offsets[0]
    if len(values) == 0:
        return pa.array([], pa.string()), np.zeros(0, np.int32), offsets, np.zeros(0, np.int64)
    enc = pc.dictionary_encode(values)
    idx = np.asarray(enc.indices).astype(np.int32, copy=False)
    words = enc.dictionary.cast(pa.string()) if enc.dictionary.type != pa.string() else enc.dictionary
    return words, idx, offsets, np.bincount(idx, minlength=len(words)).astype(np.int64)


def encode_local(shard, storage_options, tokenize_options: dict, on_bad_shard: str, job: str, index: int,
                 cache: str = "disk", max_vocab_size: int | None = None, source=None) -> tuple[LocalPart, pa.Table]:
    """Worker task: read, tokenize and locally encode one shard; return it and its count table.

    Parameters
    ----------
    shard : Shard
    storage_options : dict
    tokenize_options : dict
        ``lowercase``, ``max_sentence_length``, optionally ``token_pattern`` and ``phrases``.
    on_bad_shard : {"error", "skip"}
        ``"skip"``: an unreadable shard becomes an empty partition whose ``info["error"]`` says why.
    job : str
        Job id (names the cache folder).
    index : int
        The shard's position in the job's shard list (names its files).
    cache : {"disk", "memory"}
        Where the local encoding waits for the vocabulary.
    max_vocab_size : int, optional
        Prune the count table as :func:`w2v_dist.vocab.merge_counts` (approximate counts).
    source : kept partition, optional
        The shard as :func:`w2v_dist.phrases.learn_phrases` kept it (``keep_partitions``): used
        instead of reading the shard; the phrase model's last pass is applied to it.

    Returns
    -------
    (LocalPart, pyarrow.Table)
        The part, and its count table (``word``, ``count``; metadata ``w2v.corpus_words``).

    Raises
    ------
    CorpusError
        The shard cannot be read and ``on_bad_shard`` is ``"error"``.
    """
    from ..errors import CorpusError
    from ..vocab import _empty_counts, _with_meta, merge_counts

    release_large_arrays()
    stats = {"invalid_utf8": 0}
    try:
        words, idx, offsets, counts = _tokens(shard, storage_options, tokenize_options, stats, source)
        info = {"url": shard.url, "invalid_utf8": int(stats["invalid_utf8"]), "error": None}
    except CorpusError as exc:
        if on_bad_shard != "skip":
            raise
        words, idx, offsets, counts = pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(1, np.int64), \
            np.zeros(0, np.int64)
        info = {"url": shard.url, "invalid_utf8": 0, "error": str(exc)}
    table = _with_meta(pa.table({"word": words, "count": pa.array(counts, pa.int64())}), int(idx.size), 1) \
        if len(words) else _empty_counts()
    if max_vocab_size is not None and table.num_rows > max_vocab_size:
        table = merge_counts([table], max_vocab_size)
    if cache == "memory":
        return LocalPart(int(idx.size), info, idx=idx, offsets=offsets, words=words), table
    path = os.path.join(cache_dir(job), f"local-{index}")
    raw, woff = _string_buffers(words)
    for ext, arr in ((".idx.npy", idx), (".off.npy", offsets), (".words.npy", raw), (".wordoff.npy", woff)):
        _save(path + ext, arr)
    return LocalPart(int(idx.size), info, path=path), table


@dataclass(eq=False)
class LocalGroup:
    """Several shards of one worker encoded against one dictionary (:func:`encode_local_group`).

    ``parts`` are the shards' :class:`LocalPart` (their ``idx`` index ``words``; their own
    ``words`` are None); ``words`` [D] is the group's dictionary (pyarrow strings), or None with
    ``path`` set (files ``<path>.words.npy`` / ``<path>.wordoff.npy``: its bytes and offsets).
    """

    parts: list
    path: str | None = None
    words: pa.Array | None = None


def _merge_dictionaries(words_list: list, counts_list: list):
    """One dictionary for several local dictionaries.

    Returns ``(words [D], maps, counts int64 [D])``: ``maps[j]`` int32 [D_j] is the position in
    ``words`` of each word of ``words_list[j]``; ``counts`` sums ``counts_list`` word by word
    (``pc.dictionary_encode`` of the concatenated dictionaries, first-appearance order).
    """
    if len(words_list) == 1:
        return words_list[0], [np.arange(len(words_list[0]), dtype=np.int32)], counts_list[0]
    total = sum(w.nbytes for w in words_list)
    typ = pa.large_string() if total >= 2**31 - 1 else pa.string()
    allw = pa.concat_arrays([w.cast(typ) if w.type != typ else w for w in words_list])
    enc = pc.dictionary_encode(allw)
    ind = np.asarray(enc.indices).astype(np.int32, copy=False)
    counts = np.zeros(len(enc.dictionary), dtype=np.int64)
    np.add.at(counts, ind, np.concatenate(counts_list).astype(np.int64, copy=False))
    cuts = np.cumsum([len(w) for w in words_list])[:-1]
    words = enc.dictionary.cast(pa.string()) if typ == pa.string() else enc.dictionary
    return words, np.split(ind, cuts), counts


def encode_local_group(shards: list, storage_options, tokenize_options: dict, on_bad_shard: str, job: str,
                       indices: list, cache: str = "disk", max_vocab_size: int | None = None,
                       sources: list | None = None) -> tuple[LocalGroup, pa.Table]:
    """Worker task: :func:`encode_local` of several shards, with one dictionary and one count table.

    One task for the shards a worker thread reads (rather than one per shard) and their counts
    summed on the worker: fewer tasks to schedule, one count table per group to send and merge.
    With the default tokenization the shards are encoded one after the other by one
    :class:`~w2v_dist.corpus.fasttok.TokenEncoder` (one dictionary as they are read); otherwise
    each is tokenized as :func:`encode_local` does, then the local dictionaries are merged into
    one (:func:`_merge_dictionaries`) and each shard's ids mapped to it.

    Parameters
    ----------
    shards : list of Shard
    storage_options, tokenize_options, on_bad_shard, job, cache, max_vocab_size
        As :func:`encode_local` (``max_vocab_size`` prunes the group's table).
    indices : list of int
        Each shard's position in the job's shard list (names its files).
    sources : list, optional
        Per shard, as ``source`` of :func:`encode_local`.

    Returns
    -------
    (LocalGroup, pyarrow.Table)
        The group (``parts[j]`` is shard ``j``'s), and the count table of all its shards.

    Raises
    ------
    CorpusError
        A shard cannot be read and ``on_bad_shard`` is ``"error"``.
    """
    from ..corpus.fasttok import TokenEncoder
    from ..errors import CorpusError
    from ..vocab import _empty_counts, _with_meta, merge_counts

    release_large_arrays()
    # default tokenization: one dictionary for all the shards as they are read (no merge afterwards)
    encoder = TokenEncoder(lowercase=tokenize_options.get("lowercase", True),
                           max_sentence_length=tokenize_options.get("max_sentence_length", 10000)) \
        if _fast(tokenize_options) and not sources else None
    # each shard's ids go to disk as soon as it is read (disk cache): the group never holds its corpus
    parts, dicts = [], []
    for j, shard in enumerate(shards):
        stats = {"invalid_utf8": 0}
        try:
            words_j, idx, offsets, counts_j = _tokens(shard, storage_options, tokenize_options, stats,
                                                      sources[j] if sources else None, encoder)
            info = {"url": shard.url, "invalid_utf8": int(stats["invalid_utf8"]), "error": None}
        except CorpusError as exc:
            if on_bad_shard != "skip":
                raise
            words_j, idx, offsets, counts_j = (pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(1, np.int64),
                                               np.zeros(0, np.int64))
            info = {"url": shard.url, "invalid_utf8": 0, "error": str(exc)}
        if encoder is None:
            dicts.append((words_j, counts_j))
        if cache == "memory":
            parts.append(LocalPart(int(idx.size), info, idx=idx, offsets=offsets))
        else:
            path = os.path.join(cache_dir(job), f"local-{indices[j]}")
            _save(path + ".idx.npy", idx)
            _save(path + ".off.npy", offsets)
            parts.append(LocalPart(int(idx.size), info, path=path))
        del idx, offsets
    if encoder is not None:
        words, counts = encoder.words(), encoder.counts()
    else:
        words, maps, counts = _merge_dictionaries([d[0] for d in dicts], [d[1] for d in dicts])
        del dicts
        if len(shards) > 1:  # local ids -> the group's ids, one shard at a time
            for part, m in zip(parts, maps):
                if part.n_tokens == 0:
                    continue
                if part.path is None:
                    part.idx = m[part.idx]
                else:
                    _save(part.path + ".idx.npy", m[load_npy(part.path + ".idx.npy")])
    n_tokens = sum(p.n_tokens for p in parts)
    table = _with_meta(pa.table({"word": words, "count": pa.array(counts, pa.int64())}), n_tokens, 1) \
        if len(words) else _empty_counts()
    if max_vocab_size is not None and table.num_rows > max_vocab_size:
        table = merge_counts([table], max_vocab_size)
    if cache == "memory":
        return LocalGroup(parts, words=words), table
    path = os.path.join(cache_dir(job), f"dict-{indices[0]}")
    raw, woff = _string_buffers(words)
    _save(path + ".words.npy", raw)
    _save(path + ".wordoff.npy", woff)
    return LocalGroup(parts, path=path), table


def finish_group(group: LocalGroup, vocab_words: pa.Array, job: str, indices: list, cache: str = "disk") -> list:
    """Worker task: :func:`finish_part` of each shard of a :class:`LocalGroup` (one dictionary lookup).

    Returns
    -------
    list
        Per shard, in order, what :func:`finish_part` returns; the local files are removed.
    """
    if group.path is None:
        words = group.words
    else:
        words = _strings(load_npy(group.path + ".words.npy"), load_npy(group.path + ".wordoff.npy"))
    table = _vocab_table(words, vocab_words) if len(words) else np.zeros(0, np.int32)
    del words
    out = []
    for part, index in zip(group.parts, indices):
        if part.path is None:
            idx, offsets = part.idx, part.offsets
        else:
            idx, offsets = load_npy(part.path + ".idx.npy"), load_npy(part.path + ".off.npy")
        ids, off = _apply_table(table, idx, offsets)
        del idx
        if part.path is not None:
            _remove(part.path, (".idx.npy", ".off.npy"))
        out.append(_store_part(ids, off, dict(part.info), job, index, cache))
    if group.path is not None:
        _remove(group.path, (".words.npy", ".wordoff.npy"))
    return out


def _store_part(ids: np.ndarray, off: np.ndarray, info: dict, job: str, index: int, cache: str):
    """A finished shard as a training task takes it: ``(ids, off, info)`` in memory, or an
    :class:`EncodedPart` whose ``part-<index>`` files hold ids (int32) and offsets (int64)."""
    if cache == "memory":
        return ids, off, info
    path = os.path.join(cache_dir(job), f"part-{index}")
    _save(path + ".ids.npy", ids)
    _save(path + ".off.npy", off)
    return EncodedPart(path + ".ids.npy", path + ".off.npy", int(ids.size), int(off.size - 1), info)


def _remove(stem: str, exts) -> None:
    """Remove the files ``stem + ext`` that exist (a temporary file of a group task)."""
    for ext in exts:
        try:
            os.remove(stem + ext)
        except OSError:
            pass


def group_item(results: list, j: int):
    """Item ``j`` of a :func:`finish_group` result (one future per shard for the driver)."""
    return results[j]


def group_infos(results: list) -> list:
    """:func:`part_info` of each item of a :func:`finish_group` result."""
    return [part_info(r) for r in results]


def local_table(pair) -> pa.Table:
    """The count table of an :func:`encode_local` result."""
    return pair[1]


def local_part(pair) -> LocalPart:
    """The part of an :func:`encode_local` result."""
    return pair[0]


def _vocab_table(words: pa.Array, vocab_words: pa.Array) -> np.ndarray:
    """int32 [D]: the vocabulary id of each local dictionary word, -1 when out of the vocabulary."""
    if words.type != vocab_words.type:
        words = words.cast(vocab_words.type)
    return np.asarray(pc.index_in(words, value_set=vocab_words).fill_null(-1)).astype(np.int32)


@numba.njit(nogil=True, cache=True)
def _apply_table_kernel(table, idx, offsets, ids, out):
    """One pass of :func:`_apply_table`: returns (N, S); ``ids[:N]``, ``out[:S + 1]`` are filled."""
    n = 0
    s = 0
    out[0] = 0
    for k in range(offsets.shape[0] - 1):
        for t in range(offsets[k], offsets[k + 1]):
            w = table[idx[t]]
            if w >= 0:
                ids[n] = w
                n += 1
        if n > out[s]:
            s += 1
            out[s] = n
    return n, s


def _apply_table(table: np.ndarray, idx: np.ndarray, offsets: np.ndarray):
    """Local ids -> vocabulary ids through ``table`` (OOV dropped, empty sentences dropped).

    ``table`` int32 [D] (-1: out of the vocabulary), ``idx`` int32 [n], ``offsets`` int64 [S + 1];
    returns (ids int32 [N], offsets int64 [S' + 1]).  One Numba pass, no temporaries.
    """
    if idx.size == 0:
        return np.zeros(0, np.int32), np.zeros(1, np.int64)
    ids = np.empty(idx.size, dtype=np.int32)
    out = np.empty(offsets.size, dtype=np.int64)
    n, s = _apply_table_kernel(np.ascontiguousarray(table, dtype=np.int32), np.ascontiguousarray(idx, dtype=np.int32),
                               np.ascontiguousarray(offsets, dtype=np.int64), ids, out)
    return ids[:n], out[:s + 1]


def _remap(words: pa.Array, idx: np.ndarray, offsets: np.ndarray, vocab_words: pa.Array):
    """Local ids -> vocabulary ids (OOV dropped, empty sentences dropped), as :func:`w2v_dist.vocab.encode`."""
    if len(words) == 0 or idx.size == 0:
        return np.zeros(0, np.int32), np.zeros(1, np.int64)
    return _apply_table(_vocab_table(words, vocab_words), idx, offsets)


def finish_part(local: LocalPart, vocab_words: pa.Array, job: str, index: int, cache: str = "disk"):
    """Worker task: vocabulary ids of a locally encoded shard (one take through the local dictionary).

    Returns
    -------
    EncodedPart (``cache="disk"``; the local files are removed) or (ids int32 [N], offsets int64 [S + 1], info)
    """
    if local.path is None:
        words, idx, offsets = local.words, local.idx, local.offsets
    else:
        idx = load_npy(local.path + ".idx.npy")
        offsets = load_npy(local.path + ".off.npy")
        words = _strings(load_npy(local.path + ".words.npy"), load_npy(local.path + ".wordoff.npy"))
    ids, off = _remap(words, idx, offsets, vocab_words)
    del idx, words
    if local.path is not None:
        _remove(local.path, (".idx.npy", ".off.npy", ".words.npy", ".wordoff.npy"))
    return _store_part(ids, off, dict(local.info), job, index, cache)


def encode_shard_once(shard, storage_options, vocab_words, tokenize_options: dict, on_bad_shard: str, job: str,
                      index: int, cache: str = "disk"):
    """Worker task: read and encode one shard with a known vocabulary (resume, a lost worker's shards).

    Same result as :func:`encode_local` then :func:`finish_part`.
    """
    local, _ = encode_local(shard, storage_options, tokenize_options, on_bad_shard, job, index, "memory")
    ids, off, info = finish_part(local, vocab_words, job, index, "memory")
    return _store_part(ids, off, info, job, index, cache)


def part_words(part) -> int:
    """In-vocabulary words N of an encoded part (either form)."""
    return part.words if isinstance(part, EncodedPart) else int(part[0].shape[0])


def part_info(part) -> dict:
    """``info`` of an encoded part (either form) with ``words`` added."""
    info = dict(part.info if isinstance(part, EncodedPart) else (part[2] if len(part) > 2 else {}))
    info["words"] = part_words(part)
    return info


def part_offsets(part) -> np.ndarray:
    """int64 [S + 1] sentence offsets of a part (memory-mapped for an :class:`EncodedPart`)."""
    if isinstance(part, EncodedPart):
        return load_npy(part.offsets_path, mmap_mode="r")
    return part[1]


def part_ids(part) -> np.ndarray:
    """int32 [N] word ids of a part (memory-mapped for an :class:`EncodedPart`)."""
    if isinstance(part, EncodedPart):
        return load_npy(part.ids_path, mmap_mode="r")
    return part[0]


def slice_arrays(part, s_lo: int, s_hi: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The arrays a kernel needs for sentences ``[s_lo, s_hi)`` of a part.

    Returns ``(ids, offsets, lo, hi)`` such that training sentences ``lo .. hi-1`` of
    ``(ids, offsets)`` trains exactly sentences ``s_lo .. s_hi-1`` of the part: the part's own
    arrays for a part in memory; for an :class:`EncodedPart`, copies of just those sentences
    (int32 ids, int64 offsets rebased to 0) read through a memory map that is closed again, so
    only the slice stays resident.
    """
    if not isinstance(part, EncodedPart):
        return part[0], part[1], s_lo, s_hi
    off_map = load_npy(part.offsets_path, mmap_mode="r")
    off = np.array(off_map[s_lo:s_hi + 1], dtype=np.int64)
    del off_map
    ids_map = load_npy(part.ids_path, mmap_mode="r")
    ids = np.array(ids_map[off[0]:off[-1]], dtype=np.int32)
    del ids_map
    off -= off[0]
    return ids, off, 0, s_hi - s_lo
