"""Vocabulary: distributed word counting, the final vocabulary, and word2vec's derived tables.

Counting is a Dask stage (:func:`build_vocab`): each partition is read, tokenized and counted on a
worker (:func:`count_tokens`); the per-partition count tables are summed in a tree reduction
(:func:`merge_counts`).  Only count tables (one row per distinct word) leave the workers.

Count tables are ``pyarrow.Table`` with columns ``word`` (string) and ``count`` (int64).  Their
schema metadata carries two integers: ``w2v.corpus_words``, the number of tokens counted (kept
exact even when pruning drops words), and ``w2v.min_reduce``, the pruning threshold reached so far
(see :func:`merge_counts`).

:class:`Vocab` orders words by count, descending, ties by word ascending (Unicode codepoint order,
which is the byte order of UTF-8), so a vocabulary is reproducible whatever the partitioning.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .corpus import DEFAULT_TOKEN_PATTERN, Shard, read_tokenize
from .errors import ConfigError, CorpusError
from .storage import read_parquet_table, write_parquet_table

__all__ = [
    "count_tokens",
    "merge_counts",
    "Vocab",
    "build_vocab",
    "encode",
    "keep_probabilities",
    "noise_cum_table",
]

_CORPUS_WORDS = b"w2v.corpus_words"
_MIN_REDUCE = b"w2v.min_reduce"
COUNT_SCHEMA = pa.schema([("word", pa.string()), ("count", pa.int64())])


# --------------------------------------------------------------------------------------------
# count tables


def _meta_int(table: pa.Table, key: bytes) -> int | None:
    md = table.schema.metadata or {}
    return int(md[key]) if key in md else None


def _with_meta(table: pa.Table, corpus_words: int, min_reduce: int) -> pa.Table:
    return table.replace_schema_metadata({_CORPUS_WORDS: str(int(corpus_words)), _MIN_REDUCE: str(int(min_reduce))})


def _empty_counts() -> pa.Table:
    return _with_meta(COUNT_SCHEMA.empty_table(), 0, 1)


def _flat_tokens(sentences) -> pa.Array:
    if isinstance(sentences, pa.ChunkedArray):
        sentences = sentences.combine_chunks() if sentences.num_chunks != 1 else sentences.chunk(0)
    if not (pa.types.is_list(sentences.type) or pa.types.is_large_list(sentences.type)):
        raise TypeError(f"sentences: expected a list<string> array, got {sentences.type}")
    values = pc.list_flatten(sentences)
    if values.null_count:
        values = pc.drop_null(values)
    return values


def _string_column(col) -> pa.ChunkedArray | pa.Array:
    return col if col.type == pa.string() else col.cast(pa.string())


def count_tokens(sentences: pa.ListArray) -> pa.Table:
    """Count the tokens of tokenized sentences.

    Parameters
    ----------
    sentences : pyarrow.ListArray or ChunkedArray of list<string>
        E.g. the output of :func:`~w2v_dist.corpus.tokenize`.  Null tokens are ignored.

    Returns
    -------
    pyarrow.Table
        Columns ``word`` (string) and ``count`` (int64), one row per distinct token, in order of
        first appearance; metadata ``w2v.corpus_words`` = number of tokens (int).

    Raises
    ------
    TypeError
        ``sentences`` is not a list array.
    """
    values = _flat_tokens(sentences)
    if len(values) == 0:
        return _empty_counts()
    vc = pc.value_counts(values)
    table = pa.table({"word": _string_column(vc.field("values")), "count": vc.field("counts").cast(pa.int64())})
    return _with_meta(table, len(values), 1)


def _normalize(table: pa.Table) -> pa.Table:
    names = table.column_names
    if "word" not in names or "count" not in names:
        raise CorpusError(f"count table needs columns word and count, has: {', '.join(names)}")
    return pa.table({"word": _string_column(table.column("word")),
                     "count": table.column("count").cast(pa.int64())})


def _kth_largest(counts: np.ndarray, k: int) -> int:
    """The k-th largest value (k >= 1) of a non-empty int64 array."""
    return int(np.partition(counts, counts.size - k)[counts.size - k])


def _sum_by_word(table: pa.Table) -> pa.Table:
    """Sum ``count`` per distinct ``word`` (first-appearance order), exactly in int64.

    ``dictionary_encode`` + ``np.add.at`` rather than an Acero ``group_by``: tables that travelled
    through Dask arrive with unaligned buffers, which Acero warns about on every call.
    """
    words = table.column("word").combine_chunks()
    counts = table.column("count").combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    encoded = pc.dictionary_encode(words)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    sums = np.zeros(len(encoded.dictionary), dtype=np.int64)
    np.add.at(sums, indices, counts)
    return pa.table({"word": encoded.dictionary, "count": pa.array(sums, type=pa.int64())})


def merge_counts(tables: Sequence[pa.Table], max_vocab_size: int | None = None) -> pa.Table:
    """Sum count tables word by word (associative and commutative: usable in a tree reduction).

    Parameters
    ----------
    tables : sequence of pyarrow.Table
        Count tables (``word``, ``count``), e.g. from :func:`count_tokens` or earlier merges.
    max_vocab_size : int, optional
        Bound on the number of words of the result, as gensim's ``max_vocab_size``.  When the sum
        has more words, it is pruned as gensim's ``prune_vocab`` does during its scan: words with
        ``count < min_reduce`` are dropped, and ``min_reduce`` is raised by 1, repeatedly until the
        table fits.  ``min_reduce`` starts at the largest value recorded in the inputs' metadata
        (1 for fresh tables) and the next value is recorded in the result, so later merges prune
        at least that much.  Pruning makes the result depend on the partitioning: a word dropped
        from one partial table loses those occurrences, so counts of rare words become
        underestimates and words frequent only in aggregate may be dropped altogether (exactly the
        approximation of gensim's and word2vec.c's ``max_vocab_size``).  The metadata
        ``w2v.corpus_words`` stays exact.

    Returns
    -------
    pyarrow.Table
        Columns ``word`` (string) and ``count`` (int64), one row per distinct word (not sorted),
        with metadata ``w2v.corpus_words`` (sum over the inputs, counting pruned tokens too) and
        ``w2v.min_reduce``.

    Raises
    ------
    ConfigError
        ``max_vocab_size < 1``.
    CorpusError
        A table lacks the ``word`` or ``count`` column.
    """
    if max_vocab_size is not None and max_vocab_size < 1:
        raise ConfigError(f"max_vocab_size={max_vocab_size!r}: must be >= 1 (or None for no limit)")
    tables = list(tables)
    if not tables:
        return _empty_counts()
    min_reduce = 1
    corpus_words = 0
    parts = []
    for t in tables:
        min_reduce = max(min_reduce, _meta_int(t, _MIN_REDUCE) or 1)
        part = _normalize(t)
        known = _meta_int(t, _CORPUS_WORDS)
        corpus_words += known if known is not None else int(pc.sum(part.column("count")).as_py() or 0)
        parts.append(part)
    combined = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if combined.num_rows == 0:
        return _with_meta(COUNT_SCHEMA.empty_table(), corpus_words, min_reduce)
    merged = _sum_by_word(combined)
    if max_vocab_size is not None and merged.num_rows > max_vocab_size:
        counts = merged.column("count").to_numpy()
        # The loop "drop count < t; t += 1" stops at the first t >= min_reduce for which at most
        # max_vocab_size words have count >= t, i.e. t > the (max_vocab_size + 1)-th largest count.
        threshold = max(min_reduce, _kth_largest(counts, max_vocab_size + 1) + 1)
        merged = merged.filter(pa.array(counts >= threshold))
        min_reduce = threshold + 1
    return _with_meta(merged, corpus_words, min_reduce)


# --------------------------------------------------------------------------------------------
# vocabulary


@dataclass(eq=False)
class Vocab:
    """The final vocabulary.

    Attributes
    ----------
    words : list of str
        [V] words, by count descending, ties by word ascending (codepoint order).
    counts : numpy.ndarray
        int64 [V], count of each word in the corpus.
    corpus_words : int
        All tokens seen, before ``min_count`` (and before any ``max_vocab_size`` pruning).
    """

    words: list[str]
    counts: np.ndarray
    corpus_words: int
    _words_array: pa.Array | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.words = list(self.words)
        self.counts = np.ascontiguousarray(self.counts, dtype=np.int64)
        self.corpus_words = int(self.corpus_words)
        if self.counts.ndim != 1 or self.counts.shape[0] != len(self.words):
            raise ValueError(f"Vocab: {len(self.words)} words but counts has shape {self.counts.shape}")

    @classmethod
    def from_counts(cls, table: pa.Table, *, min_count: int = 5, max_final_vocab: int | None = None) -> "Vocab":
        """Select and order the vocabulary from a count table.

        Parameters
        ----------
        table : pyarrow.Table
            Count table (``word``, ``count``), e.g. from :func:`merge_counts`; a word may appear
            in several rows (they are summed).  ``corpus_words`` is taken from the metadata
            ``w2v.corpus_words`` when present, else the sum of the counts.
        min_count : int
            Keep words with ``count >= min_count``.
        max_final_vocab : int, optional
            As gensim: when more than ``max_final_vocab`` words would be kept, ``min_count`` is
            raised to one more than the count of the ``(max_final_vocab + 1)``-th most frequent
            word, so at most ``max_final_vocab`` words are kept (fewer when counts tie there).

        Returns
        -------
        Vocab

        Raises
        ------
        CorpusError
            ``"corpus is empty: no tokens found"`` when the table counts no tokens at all.
        ConfigError
            ``"vocabulary is empty after min_count=N (D distinct words, most frequent has C)"``
            when no word is frequent enough; ``min_count < 0`` or ``max_final_vocab < 1``.
        """
        if min_count < 0:
            raise ConfigError(f"min_count={min_count!r}: must be >= 0")
        if max_final_vocab is not None and max_final_vocab < 1:
            raise ConfigError(f"max_final_vocab={max_final_vocab!r}: must be >= 1 (or None for no limit)")
        merged = merge_counts([table])
        corpus_words = _meta_int(merged, _CORPUS_WORDS) or 0
        counts = merged.column("count").to_numpy()
        if merged.num_rows == 0 or corpus_words == 0 or int(counts.max()) == 0:
            raise CorpusError("corpus is empty: no tokens found")
        effective = min_count
        if max_final_vocab is not None and max_final_vocab < merged.num_rows:
            effective = max(min_count, _kth_largest(counts, max_final_vocab + 1) + 1)
        keep = counts >= effective
        if not keep.any():
            what = f"min_count={min_count}"
            if effective != min_count:
                what += f" and max_final_vocab={max_final_vocab} (effective min_count {effective})"
            raise ConfigError(f"vocabulary is empty after {what} ({merged.num_rows} distinct words, "
                              f"most frequent has {int(counts.max())})")
        kept = merged.filter(pa.array(keep))
        order = pc.sort_indices(kept, sort_keys=[("count", "descending"), ("word", "ascending")])
        kept = kept.take(order)
        vocab = cls(kept.column("word").to_pylist(), kept.column("count").to_numpy(), corpus_words)
        vocab._words_array = kept.column("word").combine_chunks()
        return vocab

    def __len__(self) -> int:
        return len(self.words)

    @property
    def train_words(self) -> int:
        """Total count of the vocabulary words: in-vocabulary words per epoch before subsampling.

        Returns
        -------
        int
            ``counts.sum()``.
        """
        return int(self.counts.sum())

    def words_array(self) -> pa.Array:
        """The words as a pyarrow array, the value set of :func:`encode` (built once, then cached).

        Returns
        -------
        pyarrow.StringArray
            [V] words in vocabulary order.
        """
        if self._words_array is None:
            self._words_array = pa.array(self.words, type=pa.string())
        return self._words_array

    def to_table(self) -> pa.Table:
        """The vocabulary as a table.

        Returns
        -------
        pyarrow.Table
            [V] rows in vocabulary order, columns ``word`` (string) and ``count`` (int64); schema
            metadata ``w2v.corpus_words`` holds :attr:`corpus_words`.
        """
        table = pa.table({"word": self.words_array(), "count": pa.array(self.counts, type=pa.int64())})
        return table.replace_schema_metadata({_CORPUS_WORDS: str(self.corpus_words)})

    def write_parquet(self, url: str, storage_options: dict | None = None) -> None:
        """Write :meth:`to_table` as a Parquet file.

        Parameters
        ----------
        url : str
            Destination file, any fsspec URL or local path (overwritten if it exists).
        storage_options : dict, optional
            Passed to fsspec.

        Raises
        ------
        W2VError
            The file cannot be written (message names ``url``).
        """
        write_parquet_table(url, self.to_table(), storage_options, "vocabulary")

    @classmethod
    def read_parquet(cls, url: str, storage_options: dict | None = None) -> "Vocab":
        """Read a vocabulary written by :meth:`write_parquet` (order kept as stored).

        Parameters
        ----------
        url : str
            Parquet file with columns ``word`` and ``count``, any fsspec URL or local path.
        storage_options : dict, optional
            Passed to fsspec.

        Returns
        -------
        Vocab
            ``corpus_words`` from the file's metadata, else the sum of the counts.

        Raises
        ------
        CorpusError
            The file cannot be read or lacks the ``word`` / ``count`` columns (message names ``url``).
        """
        table = read_parquet_table(url, storage_options, "vocabulary")
        if "word" not in table.column_names or "count" not in table.column_names:
            raise CorpusError(f"{url}: not a vocabulary file (needs columns word, count; has {', '.join(table.column_names)})")
        words = _string_column(table.column("word")).combine_chunks()
        counts = table.column("count").cast(pa.int64()).to_numpy()
        known = _meta_int(table, _CORPUS_WORDS)
        vocab = cls(words.to_pylist(), counts, known if known is not None else int(counts.sum()))
        vocab._words_array = words
        return vocab


# --------------------------------------------------------------------------------------------
# Dask stage


def _count_shard(shard: Shard, storage_options, tokenize_options: dict, max_vocab_size,
                 skip_bad: bool = False) -> pa.Table:
    """Worker task: read, tokenize and count one partition (only the count table is returned).

    With ``skip_bad`` an unreadable partition counts as empty (the training job reports it).
    """
    try:
        table = count_tokens(read_tokenize(shard, storage_options, **tokenize_options))
    except CorpusError:
        if not skip_bad:
            raise
        return _empty_counts()
    if max_vocab_size is not None and table.num_rows > max_vocab_size:
        table = merge_counts([table], max_vocab_size)
    return table


def build_vocab(shards: Sequence[Shard], storage_options: dict | None = None, *,
                token_pattern: str = DEFAULT_TOKEN_PATTERN, lowercase: bool = True, max_sentence_length: int = 10000,
                min_count: int = 5, max_vocab_size: int | None = None, max_final_vocab: int | None = None,
                split_every: int = 8, client=None, progress: bool = False, phrases=None,
                on_bad_shard: str = "error") -> Vocab:
    """Count the words of all partitions with Dask and build the vocabulary.

    One ``dask.delayed`` task per partition reads, tokenizes and counts it (pruned to
    ``max_vocab_size`` if set); the count tables are summed by :func:`merge_counts`
    ``split_every`` at a time in a tree; the final table becomes a :class:`Vocab` on the caller.

    Parameters
    ----------
    shards : sequence of Shard
        Partitions from :func:`~w2v_dist.corpus.discover_shards`.
    storage_options : dict, optional
        Passed to fsspec on the workers.
    token_pattern, lowercase, max_sentence_length
        Tokenization, as :func:`~w2v_dist.corpus.tokenize`.
    min_count, max_final_vocab
        Vocabulary selection, as :meth:`Vocab.from_counts`.
    max_vocab_size : int, optional
        Prune partial counts to at most this many words, as :func:`merge_counts` (approximate).
    split_every : int
        Fan-in of the reduction tree (>= 2).
    client : distributed.Client, optional
        Run on this cluster with ``client.compute``; default: dask's current scheduler.
    progress : bool
        With a client, show distributed's text progress bar of the counting tasks on stdout.
    phrases : PhraseModel, optional
        Join phrases after tokenizing (:class:`w2v_dist.phrases.PhraseModel`), so phrase
        tokens are counted as words.
    on_bad_shard : {"error", "skip"}
        ``"skip"``: a partition that cannot be read (corrupt compressed stream or Parquet data)
        contributes no words instead of raising.

    Returns
    -------
    Vocab

    Raises
    ------
    CorpusError
        No partitions, a partition cannot be read (names its URL), or the corpus has no tokens.
    ConfigError
        A parameter is out of range, or the vocabulary is empty after ``min_count``.
    """
    import dask

    shards = list(shards)
    if not shards:
        raise CorpusError("no input partitions to count")
    if split_every < 2:
        raise ConfigError(f"split_every={split_every!r}: must be >= 2")
    if max_vocab_size is not None and max_vocab_size < 1:
        raise ConfigError(f"max_vocab_size={max_vocab_size!r}: must be >= 1 (or None for no limit)")
    if min_count < 0:
        raise ConfigError(f"min_count={min_count!r}: must be >= 0")
    if max_final_vocab is not None and max_final_vocab < 1:
        raise ConfigError(f"max_final_vocab={max_final_vocab!r}: must be >= 1 (or None for no limit)")
    # Check the tokenization options once here rather than in every task.
    from .corpus import tokenize as _tokenize

    tok = {"token_pattern": token_pattern, "lowercase": lowercase, "max_sentence_length": max_sentence_length}
    _tokenize(pa.array([], pa.string()), **tok)
    if phrases is not None:
        tok["phrases"] = phrases

    from .storage import StorageOptions

    so = StorageOptions(storage_options)  # values hidden from task reprs (worker error logs)
    job = uuid.uuid4().hex[:12]  # unique task keys: several jobs may share a cluster
    count = dask.delayed(_count_shard, pure=False)
    merge = dask.delayed(merge_counts, pure=False)
    skip = on_bad_shard == "skip"
    level = [count(s, so, tok, max_vocab_size, skip, dask_key_name=f"w2v-count-{job}-{i}") for i, s in enumerate(shards)]
    depth = 0
    while len(level) > 1:
        depth += 1
        level = [merge(level[i:i + split_every], max_vocab_size, dask_key_name=f"w2v-merge-{job}-{depth}-{j}")
                 for j, i in enumerate(range(0, len(level), split_every))]
    final = level[0]
    if client is not None:
        fut = client.compute(final)
        if progress:
            from distributed import progress as show_progress

            show_progress(fut)
        table = fut.result()
    else:
        (table,) = dask.compute(final)
    return Vocab.from_counts(table, min_count=min_count, max_final_vocab=max_final_vocab)


# --------------------------------------------------------------------------------------------
# encoding and derived tables


def encode(sentences: pa.ListArray, vocab_words: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Replace tokens by vocabulary ids, dropping out-of-vocabulary tokens (as word2vec does).

    Parameters
    ----------
    sentences : pyarrow.ListArray or ChunkedArray of list<string>
        Tokenized sentences [S0].
    vocab_words : pyarrow string Array [V]
        The vocabulary (:meth:`Vocab.words_array`); a word's id is its position.

    Returns
    -------
    ids : numpy.ndarray
        int32 [N], ids of the in-vocabulary tokens, sentence after sentence.
    offsets : numpy.ndarray
        int64 [S + 1], sentence ``s`` is ``ids[offsets[s]:offsets[s + 1]]``; only the S sentences
        with at least one in-vocabulary token remain; ``offsets[0] == 0``, ``offsets[-1] == N``.

    Raises
    ------
    TypeError
        ``sentences`` is not a list array.
    """
    if isinstance(sentences, pa.ChunkedArray):
        sentences = sentences.combine_chunks() if sentences.num_chunks != 1 else sentences.chunk(0)
    if not (pa.types.is_list(sentences.type) or pa.types.is_large_list(sentences.type)):
        raise TypeError(f"sentences: expected a list<string> array, got {sentences.type}")
    if isinstance(vocab_words, pa.ChunkedArray):
        vocab_words = vocab_words.combine_chunks()
    elif not isinstance(vocab_words, pa.Array):
        vocab_words = pa.array(list(vocab_words), type=pa.string())
    values = pc.list_flatten(sentences)
    if values.type != vocab_words.type:
        values = values.cast(vocab_words.type)
    ids = pc.index_in(values, value_set=vocab_words)
    parents = pc.list_parent_indices(sentences).to_numpy()
    if ids.null_count:
        valid = ids.is_valid().to_numpy(zero_copy_only=False)
        ids = pc.drop_null(ids)
        parents = parents[valid]
    ids_np = np.ascontiguousarray(ids.to_numpy(), dtype=np.int32)
    per_sentence = np.bincount(parents.astype(np.int64, copy=False), minlength=len(sentences))
    per_sentence = per_sentence[per_sentence > 0]
    offsets = np.zeros(per_sentence.size + 1, dtype=np.int64)
    np.cumsum(per_sentence, out=offsets[1:])
    return ids_np, offsets


def keep_probabilities(counts, sample: float) -> np.ndarray:
    """Subsampling keep probabilities as uint32 thresholds, as gensim's ``sample_int``.

    word2vec.c (``ran = (sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn``)
    keeps a word occurrence when ``ran`` exceeds a uniform random number; gensim 4
    (``Word2Vec.prepare_vocab``) stores it as an integer.  With ``threshold = sample * counts.sum()``
    (gensim: for ``sample >= 1``, ``threshold = int(sample * (3 + sqrt(5)) / 2)``),
    ``p = min(1, (sqrt(c / threshold) + 1) * threshold / c)`` and the result is
    ``uint32(p * (2**32 - 1))`` (truncated).  A word is kept when a uniform uint32 draw is below it.

    Parameters
    ----------
    counts : array-like of int
        [V] vocabulary counts (int64).
    sample : float
        Subsampling parameter (>= 0); 0 disables subsampling (every entry ``2**32 - 1``).

    Returns
    -------
    numpy.ndarray
        uint32 [V].

    Raises
    ------
    ConfigError
        ``sample < 0``.
    """
    c = np.asarray(counts, dtype=np.int64)
    if sample < 0:
        raise ConfigError(f"sample={sample!r}: must be >= 0")
    if c.size == 0:
        return np.zeros(0, dtype=np.uint32)
    if not sample:
        return np.full(c.shape, 2**32 - 1, dtype=np.uint32)
    total = int(c.sum())
    threshold = sample * total if sample < 1.0 else int(sample * (3 + np.sqrt(5)) / 2)
    cf = c.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.sqrt(cf / threshold) + 1) * (threshold / cf)
    p = np.where(p < 1.0, p, 1.0)  # also for NaN/inf (count 0)
    return (p * (2**32 - 1)).astype(np.uint32)


def noise_cum_table(counts, ns_exponent: float = 0.75, domain: int = 2**31 - 1) -> np.ndarray:
    """Cumulative noise distribution for negative sampling, as gensim's ``make_cum_table``.

    ``table[i] = round(cumsum(c ** ns_exponent)[i] / sum(c ** ns_exponent) * domain)`` (round
    half to even, like Python's ``round``), computed in float64 with sequential sums as gensim's
    loop (and numpy's power, as gensim's counts are numpy integers); word2vec.c's
    ``InitUnigramTable`` samples the same distribution (``power = 0.75``).  A negative is drawn as
    the insertion point of a uniform integer in ``[0, domain)`` (``bisect_left``, as gensim).

    Parameters
    ----------
    counts : array-like of int
        [V] vocabulary counts, in vocabulary order.
    ns_exponent : float
        Exponent of the unigram distribution (0.75 in word2vec; 0 gives uniform, 1 unigram).
    domain : int
        Value of the last entry.

    Returns
    -------
    numpy.ndarray
        int64 [V], non-decreasing, last value ``domain`` (empty for V = 0).

    Raises
    ------
    ConfigError
        ``domain < 1``.
    """
    if domain < 1:
        raise ConfigError(f"domain={domain!r}: must be >= 1")
    c = np.asarray(counts, dtype=np.int64)
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    cumulative = np.cumsum(c.astype(np.float64) ** float(ns_exponent))
    return np.round(cumulative / cumulative[-1] * domain).astype(np.int64)
