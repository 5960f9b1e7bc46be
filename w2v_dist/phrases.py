"""Phrase detection: distributed bigram counting, gensim-compatible scoring and greedy joining.

As Mikolov et al. (2013, "Distributed Representations of Words and Phrases and their
Compositionality", section 4), word pairs that occur together often relative to their parts
become single tokens (``new york`` -> ``new_york``); N passes give phrases of up to 2**N words.
Every rule below is gensim 4's ``gensim.models.phrases`` (``Phrases._learn_vocab``,
``export_phrases``, ``FrozenPhrases`` / ``analyze_sentence``), so that on the same tokens and
parameters the phrases, their scores and the joined corpus are gensim's.

Counting.  Within a sentence, every token that is not a connector word is counted as a unigram,
and so is every *span* from one non-connector token to the next one, connector words in between
included, joined by ``delimiter`` (``bank of america`` counts ``bank``, ``america`` and
``bank_of_america``; ``of`` itself is not counted).  Unigrams and spans share one count table
keyed by the joined string, as gensim's single ``vocab`` dict; its number of rows is the
``len_vocab`` of the default scorer, and the number of all tokens read (connectors included) is
``corpus_word_count``.  :func:`count_phrase_candidates` builds that string-keyed table for one
partition (the reference).  :func:`learn_phrases` gets the same counts without merging strings:
first the words of all partitions are counted and merged into one global dictionary (word -> int
id); then each partition counts its spans as int64 keys of those ids (``a c_1 ... c_k b`` ->
``V + (a mx + m) V + b``, ``m`` the connectors' ranks in base ``#connectors + 1``, ``mx`` its range), so that the
merges are linear merges of sorted integer runs.  Keys that cannot be integers in this way -- any
key holding a token that itself contains the delimiter (e.g. the phrases of an earlier pass), and
spans with more connectors in a row than fit in 64 bits -- stay strings; a string key whose
delimiter-separated pieces form a valid integer span is counted under that integer key, so that
equal joined strings are always one key, exactly as gensim's dict.  Strings are made only for
those keys and for the final phrases.

Scoring (:func:`score_phrases`).  Every key of the table that contains ``delimiter`` is split on
it; its first and last pieces are ``a`` and ``b`` and the key's count is ``count(ab)``:

* ``default`` (gensim ``original_scorer``): ``(count(ab) - min_count) / (count(a) * count(b)) * len_vocab``;
* ``word2phrase`` (word2phrase.c): the same with ``corpus_word_count`` in place of ``len_vocab``,
  and, as word2phrase.c, a pair is never a phrase when ``count(a)`` or ``count(b)`` is below
  ``min_count`` (word2phrase.c computes in single precision; here float64);
* ``npmi`` (gensim ``npmi_scorer``, Bouma 2009): with ``p(x) = count(x) / corpus_word_count``,
  ``ln(p(ab) / (p(a) p(b))) / -ln(p(ab))`` when ``count(ab) >= min_count``.

A key is a phrase when ``count(a) > 0``, ``count(b) > 0`` and its score is ``> threshold``.

Applying (:meth:`PhraseModel.apply`).  gensim's greedy left-to-right rule, in a Numba kernel:
keep a *start* token (the last non-connector token not yet emitted) and the connector tokens after
it; at the next non-connector token, if the joined span is a phrase, emit it and forget the start;
otherwise emit the start and the connectors, and the new token becomes the start.  Connector tokens
with no start before them are emitted as they are.  Spans are matched on their joined string (a
hash of the bytes, then a byte comparison), exactly as gensim looks up the joined string, so tokens
that themselves contain the delimiter (the phrases of an earlier pass) behave as in gensim.  The
sentences are dictionary-encoded first, so each distinct word is hashed once, and the kernel walks
word ids; partitions kept by :func:`learn_phrases` are already encoded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .corpus import DEFAULT_TOKEN_PATTERN, Shard, read_tokenize
from .errors import ConfigError, CorpusError
from .storage import read_parquet_table, write_parquet_table
from .vocab import _CORPUS_WORDS, _MIN_REDUCE, _kth_largest, _meta_int, _with_meta, merge_counts

__all__ = [
    "ENGLISH_CONNECTOR_WORDS",
    "SCORINGS",
    "connector_set",
    "count_phrase_candidates",
    "score_phrases",
    "PhraseModel",
    "learn_phrases",
]

#: gensim's ``ENGLISH_CONNECTOR_WORDS``: articles, some prepositions and conjunctions.
ENGLISH_CONNECTOR_WORDS = frozenset(
    " a an the "
    " for of with without at from to in on by "
    " and or ".split()
)

#: The scoring functions: ``default`` (gensim / Mikolov), ``word2phrase`` and ``npmi``.
SCORINGS = ("default", "word2phrase", "npmi")

PHRASE_SCHEMA = pa.schema([("phrase", pa.string()), ("score", pa.float64()), ("count", pa.int64())])


def connector_set(spec) -> frozenset:
    """The set of connector words named by ``spec``.

    Parameters
    ----------
    spec : None, str or iterable of str
        None, ``""`` or ``"none"``: no connector words (gensim's default); ``"english"``:
        :data:`ENGLISH_CONNECTOR_WORDS`; another string: words separated by commas or whitespace;
        an iterable: those words.

    Returns
    -------
    frozenset of str
    """
    if spec is None:
        return frozenset()
    if isinstance(spec, str):
        s = spec.strip()
        if s.lower() in ("", "none"):
            return frozenset()
        if s.lower() == "english":
            return ENGLISH_CONNECTOR_WORDS
        return frozenset(w for w in s.replace(",", " ").split() if w)
    return frozenset(str(w) for w in spec)


def _check_params(min_count, threshold, scoring, delimiter, max_vocab_size=None) -> None:
    if scoring not in SCORINGS:
        raise ConfigError(f"phrase_scoring={scoring!r}: must be one of {', '.join(SCORINGS)}")
    if not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ConfigError(f"phrase_min_count={min_count!r}: must be an integer >= 1")
    if scoring == "npmi":
        if not -1 <= threshold <= 1:
            raise ConfigError(f"phrase_threshold={threshold!r}: must be in [-1, 1] for npmi scoring")
    elif not threshold > 0:
        raise ConfigError(f"phrase_threshold={threshold!r}: must be > 0 for {scoring} scoring")
    if not isinstance(delimiter, str) or not delimiter:
        raise ConfigError(f"phrase_delimiter={delimiter!r}: must be a non-empty string")
    if max_vocab_size is not None and max_vocab_size < 1:
        raise ConfigError(f"phrase_max_vocab_size={max_vocab_size!r}: must be >= 1 (or None for no limit)")


def _list_array(sentences) -> pa.Array:
    if isinstance(sentences, pa.ChunkedArray):
        sentences = sentences.combine_chunks() if sentences.num_chunks != 1 else sentences.chunk(0)
    if not (pa.types.is_list(sentences.type) or pa.types.is_large_list(sentences.type)):
        raise TypeError(f"sentences: expected a list<string> array, got {sentences.type}")
    return sentences


def _flatten(sentences) -> tuple[pa.Array, np.ndarray]:
    """Tokens (string, no nulls) and int64 [S + 1] sentence offsets into them."""
    sentences = _list_array(sentences)
    lengths = pc.list_value_length(sentences).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    values = pc.list_flatten(sentences)
    if values.null_count:
        raise TypeError("sentences: null tokens are not supported")
    if values.type != pa.string():
        values = values.cast(pa.string())
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return values, offsets


def _connector_mask(values: pa.Array, connectors: frozenset) -> np.ndarray:
    if not connectors or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    return pc.is_in(values, value_set=pa.array(sorted(connectors), pa.string())).to_numpy(zero_copy_only=False)


# --------------------------------------------------------------------------------------------
# counting


def count_phrase_candidates(sentences, connector_words: Iterable[str] = frozenset(), delimiter: str = "_") -> pa.Table:
    """Count unigrams and within-sentence spans, as gensim's ``Phrases._learn_vocab``.

    Vectorized: tokens are dictionary-encoded, spans of two and three tokens are counted as int64
    keys of their ids (``numpy.unique``) and only the distinct ones are joined into strings;
    longer spans are joined with ``binary_join`` and counted as strings.

    Parameters
    ----------
    sentences : pyarrow.ListArray or ChunkedArray of list<string>
        Tokenized sentences [S], e.g. from :func:`w2v_dist.corpus.tokenize`; no null tokens.
    connector_words : iterable of str
        Tokens that may sit inside a phrase but never start or end one (not counted as unigrams).
    delimiter : str
        Joins the tokens of a span.

    Returns
    -------
    pyarrow.Table
        Count table as :func:`w2v_dist.vocab.count_tokens` (``word`` string, ``count`` int64;
        metadata ``w2v.corpus_words`` = all tokens, connectors included).  A key may appear in
        more than one row (summed by :func:`w2v_dist.vocab.merge_counts`).

    Raises
    ------
    TypeError
        ``sentences`` is not a list array, or holds null tokens.
    """
    connectors = frozenset(connector_words)
    values, offsets = _flatten(sentences)
    n = len(values)
    schema = pa.schema([("word", pa.string()), ("count", pa.int64())])
    if n == 0:
        return _with_meta(schema.empty_table(), 0, 1)
    enc = pc.dictionary_encode(values)
    dictionary = enc.dictionary
    D = np.int64(len(dictionary))
    ids = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    nc_pos = np.flatnonzero(~_connector_mask(dictionary, connectors)[ids])
    parts = []

    def add(words, counts):
        parts.append(pa.table({"word": words, "count": pa.array(counts, pa.int64())}))

    # unigrams (non-connectors only)
    uni = np.bincount(ids[nc_pos], minlength=len(dictionary))
    present = np.flatnonzero(uni)
    add(dictionary.take(pa.array(present)), uni[present])
    # spans from one non-connector to the next in the same sentence (connectors in between)
    sentence_of = np.repeat(np.arange(offsets.size - 1, dtype=np.int64), np.diff(offsets))[nc_pos]
    same = sentence_of[1:] == sentence_of[:-1]
    starts, ends = nc_pos[:-1][same], nc_pos[1:][same]
    length = ends - starts + 1
    take = lambda a: dictionary.take(pa.array(a))  # noqa: E731
    pair = length == 2
    if pair.any():  # int64 keys, counted with a sort; strings only for the distinct pairs
        keys, counts = np.unique(ids[starts[pair]] * D + ids[ends[pair]], return_counts=True)
        add(pc.binary_join_element_wise(take(keys // D), take(keys % D), delimiter), counts)
    triple = length == 3
    if triple.any() and float(D) ** 3 < 2.0**62:
        s3 = starts[triple]
        keys, counts = np.unique((ids[s3] * D + ids[s3 + 1]) * D + ids[s3 + 2], return_counts=True)
        add(pc.binary_join_element_wise(take(keys // (D * D)), take(keys // D % D), take(keys % D), delimiter), counts)
        rest = length > 3
    else:
        rest = length > 2
    if rest.any():
        s, lengths = starts[rest], length[rest]
        span_off = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=span_off[1:])
        idx = np.repeat(s - span_off[:-1], lengths) + np.arange(span_off[-1], dtype=np.int64)
        tokens = values.take(pa.array(idx))
        lists = pa.ListArray.from_arrays(pa.array(span_off.astype(np.int32) if span_off[-1] < 2**31 else span_off),
                                         tokens)
        vc = pc.value_counts(pc.binary_join(lists, delimiter))
        add(vc.field("values"), vc.field("counts").cast(pa.int64()))
    return _with_meta(pa.concat_tables(parts), n, 1)


# --------------------------------------------------------------------------------------------
# scoring


def score_phrases(counts: pa.Table, *, min_count: int = 5, threshold: float = 10.0, scoring: str = "default",
                  delimiter: str = "_") -> pa.Table:
    """The phrases of a count table and their scores, as gensim's ``Phrases.export_phrases``.

    Parameters
    ----------
    counts : pyarrow.Table
        Count table from :func:`count_phrase_candidates` / :func:`w2v_dist.vocab.merge_counts`
        (summed here if a key appears twice); metadata ``w2v.corpus_words`` is the corpus word
        count (else the sum of the counts).
    min_count : int
        gensim's ``min_count`` (enters the formulas; see the module docstring).
    threshold : float
        A key is a phrase when its score is ``> threshold``.
    scoring : {"default", "word2phrase", "npmi"}
        The formula (module docstring).
    delimiter : str
        The string that joins the tokens of a key.

    Returns
    -------
    pyarrow.Table
        Columns ``phrase`` (string), ``score`` (float64), ``count`` (int64, the phrase's count),
        one row per phrase, by score descending, ties by phrase.

    Raises
    ------
    ConfigError
        A parameter is out of range (as gensim: ``min_count >= 1``; ``threshold > 0`` for
        default / word2phrase, in ``[-1, 1]`` for npmi).
    """
    _check_params(min_count, threshold, scoring, delimiter)
    merged = merge_counts([counts])
    fin = _finish(merged, min_count, delimiter)
    return _score(fin["candidates"], fin["plain"], fin["rows"], fin["corpus_words"], min_count=min_count,
                  threshold=threshold, scoring=scoring, delimiter=delimiter)


def _finish(merged: pa.Table, min_count: int, delimiter: str) -> dict:
    """What scoring needs from a summed count table (or one hash bucket of it).

    ``rows`` (distinct keys), ``corpus_words``, ``plain`` (keys without the delimiter: the only
    possible ends of a phrase) and ``candidates`` (keys with the delimiter and ``count >=
    min_count``: the only possible phrases).
    """
    words = merged.column("word").combine_chunks()
    has = pc.match_substring(words, delimiter).to_numpy(zero_copy_only=False) if len(words) else np.zeros(0, bool)
    cnt = merged.column("count").to_numpy()
    plain = merged.filter(pa.array(~has))
    cand = merged.filter(pa.array(has & (cnt >= min_count)))
    return {"rows": merged.num_rows, "corpus_words": _meta_int(merged, _CORPUS_WORDS) or 0,
            "plain": plain.replace_schema_metadata(None), "candidates": cand.replace_schema_metadata(None)}


def _score_arrays(ca, cb, bc, len_vocab: int, corpus_words: int, *, min_count: int, threshold: float,
                  scoring: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores (float64) and phrase mask of candidates with end counts ``ca``, ``cb`` and count ``bc``."""
    ok = (ca > 0) & (cb > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if scoring == "npmi":
            cwf = float(corpus_words)
            pa_, pb_, pab = ca / cwf, cb / cwf, bc / cwf
            score = np.log(pab / (pa_ * pb_)) / -np.log(pab)
            ok &= bc >= min_count
        else:
            scale = len_vocab if scoring == "default" else corpus_words
            score = (bc - min_count) / (ca * cb).astype(np.float64) * scale
            if scoring == "word2phrase":
                ok &= (ca >= min_count) & (cb >= min_count)
    return score, ok & (score > threshold)


def _score(candidates: pa.Table, plain: pa.Table, len_vocab: int, corpus_words: int, *, min_count: int,
           threshold: float, scoring: str, delimiter: str) -> pa.Table:
    """Score the candidate keys (module docstring); ``plain`` gives the counts of their ends."""
    if candidates.num_rows == 0:
        return PHRASE_SCHEMA.empty_table()
    cw = candidates.column("word").combine_chunks()
    bc = candidates.column("count").to_numpy()
    words = plain.column("word").combine_chunks()
    cnt = plain.column("count").to_numpy()
    pieces = pc.split_pattern(cw, delimiter)
    flat = pc.list_flatten(pieces)
    off = np.asarray(pieces.offsets, dtype=np.int64) - int(pieces.offsets[0].as_py())
    first, last = flat.take(pa.array(off[:-1])), flat.take(pa.array(off[1:] - 1))
    lookup = np.append(cnt, 0)  # a missing end counts 0 (pruned away, or a connector word)

    def count_of(x):
        i = pc.index_in(x, value_set=words).fill_null(len(words))
        return lookup[i.to_numpy(zero_copy_only=False)]

    ca, cb = count_of(first), count_of(last)
    score, keep = _score_arrays(ca, cb, bc, len_vocab, corpus_words, min_count=min_count, threshold=threshold,
                                scoring=scoring)
    table = pa.table({"phrase": cw.filter(pa.array(keep)), "score": pa.array(score[keep], pa.float64()),
                      "count": pa.array(bc[keep], pa.int64())})
    order = pc.sort_indices(table, sort_keys=[("score", "descending"), ("phrase", "ascending")])
    return table.take(order)


# --------------------------------------------------------------------------------------------
# applying: hash of joined strings + greedy kernel

_B = np.uint64(0x100000001B3)  # FNV prime as polynomial base (odd)
_MIX = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(nogil=True, cache=True)
def _hash_strings(data, offsets):
    """Polynomial hash of each string (mod 2**64) and B**len, from an Arrow string buffer."""
    n = offsets.shape[0] - 1
    h = np.empty(n, np.uint64)
    p = np.empty(n, np.uint64)
    for i in range(n):
        hh = np.uint64(0)
        pp = np.uint64(1)
        for k in range(offsets[i], offsets[i + 1]):
            hh = hh * _B + np.uint64(data[k]) + np.uint64(1)
            pp = pp * _B
        h[i] = hh
        p[i] = pp
    return h, p


@numba.njit(nogil=True, cache=True)
def _build_table(ph_hash, bits):
    size = 1 << bits
    table = np.full(size, -1, np.int32)
    mask = np.uint64(size - 1)
    shift = np.uint64(64 - bits)
    for i in range(ph_hash.shape[0]):
        slot = np.int64(((ph_hash[i] * _MIX) >> shift) & mask)
        while table[slot] >= 0:
            slot = (slot + 1) & (size - 1)
        table[slot] = i
    return table


@numba.njit(nogil=True, cache=True)
def _match_ids(s, e, idx, wh, wp, wdata, woff, dh, dp, dlen, delim, table, bits, ph_hash, ph_data, ph_off):
    """Index of the phrase equal to tokens ``s..e`` joined by the delimiter, or -1: their hash
    (combined from the words' hashes ``wh`` and ``B**len`` ``wp``), then a byte comparison.
    ``idx`` [n] word ids into the words' bytes ``wdata`` / offsets ``woff``."""
    w = idx[s]
    h = wh[w]
    length = woff[w + 1] - woff[w]
    for k in range(s + 1, e + 1):
        w = idx[k]
        h = h * dp + dh
        h = h * wp[w] + wh[w]
        length += dlen + woff[w + 1] - woff[w]
    size = 1 << bits
    slot = np.int64(((h * _MIX) >> np.uint64(64 - bits)) & np.uint64(size - 1))
    while True:
        p = table[slot]
        if p < 0:
            return -1
        if ph_hash[p] == h and ph_off[p + 1] - ph_off[p] == length:
            q = ph_off[p]
            same = True
            for k in range(s, e + 1):
                if k > s:
                    for c in range(dlen):
                        if ph_data[q] != delim[c]:
                            same = False
                            break
                        q += 1
                    if not same:
                        break
                w = idx[k]
                for c in range(woff[w], woff[w + 1]):
                    if ph_data[q] != wdata[c]:
                        same = False
                        break
                    q += 1
                if not same:
                    break
            if same:
                return p
        slot = (slot + 1) & (size - 1)


@numba.njit(nogil=True, cache=True)
def _apply_ids_kernel(idx, w_conn, wdata, woff, sent_off, delim, table, bits, ph_hash, ph_data, ph_off):
    """Greedy joining (gensim ``analyze_sentence``) over dictionary-encoded sentences.

    ``idx`` int32 [n] word ids into the words (``wdata``/``woff`` bytes, ``w_conn`` connector
    flags) [D].  Returns ``out`` int64 [M] (word id ``w < D``, or ``D + p`` for phrase ``p``) and
    ``out_off`` int64 [S + 1].
    """
    n = idx.shape[0]
    D = woff.shape[0] - 1
    wh, wp = _hash_strings(wdata, woff)
    dh = np.uint64(0)
    dp = np.uint64(1)
    for c in range(delim.shape[0]):
        dh = dh * _B + np.uint64(delim[c]) + np.uint64(1)
        dp = dp * _B
    dlen = delim.shape[0]
    out = np.empty(n, np.int64)
    S = sent_off.shape[0] - 1
    out_off = np.empty(S + 1, np.int64)
    m = 0
    out_off[0] = 0
    for si in range(S):
        start = -1
        for j in range(sent_off[si], sent_off[si + 1]):
            if not w_conn[idx[j]]:
                if start >= 0:
                    p = _match_ids(start, j, idx, wh, wp, wdata, woff, dh, dp, dlen, delim, table, bits, ph_hash,
                                   ph_data, ph_off)
                    if p >= 0:
                        out[m] = D + p
                        m += 1
                        start = -1
                    else:
                        for k in range(start, j):
                            out[m] = idx[k]
                            m += 1
                        start = j
                else:
                    start = j
            elif start < 0:
                out[m] = idx[j]
                m += 1
        if start >= 0:
            for k in range(start, sent_off[si + 1]):
                out[m] = idx[k]
                m += 1
        out_off[si + 1] = m
    return out[:m], out_off


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 data, int64 [n + 1] offsets) of a string array, zero-copy where possible."""
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1].astype(np.int64)
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
    return data, offs


class _PassTable:
    """Hash table of one pass's phrases, built once per process (not pickled)."""

    def __init__(self, phrases: pa.Array):
        self.phrases = phrases
        self.data, self.off = _string_buffers(phrases)
        self.hash, _ = _hash_strings(self.data, self.off)
        self.bits = max(4, int(np.ceil(np.log2(max(2 * len(phrases), 2)))))
        self.table = _build_table(self.hash, self.bits)


@dataclass(eq=False)
class PhraseModel:
    """A learned phrase model: the phrases of each pass and the parameters to apply them.

    Attributes
    ----------
    passes : list of pyarrow.Table
        One table per pass (``phrase`` string, ``score`` float64, ``count`` int64), applied in order.
    connector_words : frozenset of str
    delimiter : str
    scoring : str
    threshold : float
    min_count : int
    """

    passes: list = field(default_factory=list)
    connector_words: frozenset = frozenset()
    delimiter: str = "_"
    scoring: str = "default"
    threshold: float = 10.0
    min_count: int = 5
    _tables: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        self.connector_words = frozenset(self.connector_words)
        self.passes = [t.select(["phrase", "score", "count"]).cast(PHRASE_SCHEMA) for t in self.passes]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tables"] = {}
        return state

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.passes)

    def with_pass(self, table: pa.Table) -> "PhraseModel":
        """A copy with one more pass.

        Parameters
        ----------
        table : pyarrow.Table
            The new pass's phrases (``phrase``, ``score``, ``count``), as from :func:`score_phrases`.

        Returns
        -------
        PhraseModel
        """
        return PhraseModel(self.passes + [table], self.connector_words, self.delimiter, self.scoring,
                           self.threshold, self.min_count)

    def export_phrases(self, pass_index: int = -1) -> dict[str, float]:
        """The phrases of one pass and their scores, like gensim's ``Phrases.export_phrases()``.

        Parameters
        ----------
        pass_index : int
            Which pass (0-based; default the last).

        Returns
        -------
        dict of str to float
            ``{phrase: score}``.

        Raises
        ------
        IndexError
            No such pass.
        """
        t = self.passes[pass_index]
        return dict(zip(t.column("phrase").to_pylist(), t.column("score").to_pylist()))

    def _table(self, i: int) -> _PassTable:
        if i not in self._tables:
            self._tables[i] = _PassTable(self.passes[i].column("phrase").combine_chunks())
        return self._tables[i]

    def apply(self, sentences, passes: int | None = None, start: int = 0) -> pa.ListArray:
        """Join the phrases in tokenized sentences, pass after pass (gensim ``FrozenPhrases``).

        Parameters
        ----------
        sentences : pyarrow.ListArray or ChunkedArray of list<string>, or a kept partition
            [S] tokenized sentences (no null tokens); or one of the partitions kept by
            :func:`learn_phrases` (``keep_partitions``), with ``start`` the pass it was kept for.
        passes : int, optional
            Apply the passes before ``passes`` (default: all).
        start : int
            The first pass to apply (0-based; default 0).

        Returns
        -------
        pyarrow.ListArray
            list<string> [S]: the same sentences with each detected phrase as one token (the
            phrase string); same number of sentences, in order.

        Raises
        ------
        TypeError
            ``sentences`` is not a list array, or holds null tokens.
        """
        out = sentences if isinstance(sentences, _Encoded) else _list_array(sentences)
        for i in range(start, len(self.passes) if passes is None else passes):
            out = self._apply_pass(out, i)
        return out.sentences() if isinstance(out, _Encoded) else out

    def _apply_pass(self, sentences, i: int) -> pa.ListArray:
        if isinstance(sentences, _Encoded):
            words, idx, offsets = sentences.words, sentences.idx, sentences.offsets
        else:
            values, offsets = _flatten(sentences)
            if len(values) == 0:
                return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
            enc = pc.dictionary_encode(values)
            words, idx = enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)
        t = self._table(i)
        if len(idx) == 0 or len(t.phrases) == 0:
            tokens = words.take(pa.array(idx))
            return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), tokens)
        wdata, woff = _string_buffers(words)
        delim = np.frombuffer(self.delimiter.encode("utf-8"), dtype=np.uint8)
        out, out_off = _apply_ids_kernel(idx, _connector_mask(words, self.connector_words), wdata, woff, offsets, delim,
                                         t.table, t.bits, t.hash, t.data, t.off)
        tokens = pa.concat_arrays([words, t.phrases]).take(pa.array(out))
        if out_off[-1] < 2**31:
            return pa.ListArray.from_arrays(pa.array(out_off.astype(np.int32)), tokens)
        return pa.LargeListArray.from_arrays(pa.array(out_off), tokens)

    # ---- persistence

    def to_table(self) -> pa.Table:
        """All passes as one table: ``phrase``, ``score``, ``count`` and ``pass`` (int32, from 1).

        The parameters are in the schema metadata (``w2v.phrases.*``), so :meth:`from_table`
        restores the model.
        """
        parts = [t.append_column("pass", pa.array(np.full(t.num_rows, i + 1, np.int32)))
                 for i, t in enumerate(self.passes)]
        schema = PHRASE_SCHEMA.append(pa.field("pass", pa.int32()))
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        meta = {"w2v.phrases.delimiter": self.delimiter, "w2v.phrases.scoring": self.scoring,
                "w2v.phrases.threshold": repr(float(self.threshold)), "w2v.phrases.min_count": str(int(self.min_count)),
                "w2v.phrases.connector_words": "\n".join(sorted(self.connector_words)),
                "w2v.phrases.passes": str(len(self.passes))}
        return table.replace_schema_metadata(meta)

    @classmethod
    def from_table(cls, table: pa.Table, origin: str = "table") -> "PhraseModel":
        """Inverse of :meth:`to_table`.

        Raises
        ------
        CorpusError
            A column is missing (the message names ``origin``).
        """
        missing = [c for c in ("phrase", "score", "count") if c not in table.column_names]
        if missing:
            raise CorpusError(f"{origin}: not a phrase model (missing column {missing[0]})")
        md = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        n_passes = int(md.get("w2v.phrases.passes", 1))
        if "pass" in table.column_names:
            p = table.column("pass").to_numpy()
            n_passes = max(n_passes, int(p.max()) if p.size else 0)
            passes = [table.filter(pa.array(p == i + 1)) for i in range(n_passes)]
        else:
            passes = [table]
        conn = md.get("w2v.phrases.connector_words", "")
        return cls(passes, frozenset(w for w in conn.split("\n") if w), md.get("w2v.phrases.delimiter", "_"),
                   md.get("w2v.phrases.scoring", "default"), float(md.get("w2v.phrases.threshold", "10.0")),
                   int(md.get("w2v.phrases.min_count", "5")))

    def write_parquet(self, url: str, storage_options: dict | None = None) -> None:
        """Write :meth:`to_table` to ``url`` (``phrases.parquet``).

        Raises
        ------
        W2VError
            The file cannot be written (message names ``url``).
        """
        write_parquet_table(url, self.to_table(), storage_options, "phrases")

    @classmethod
    def read_parquet(cls, url: str, storage_options: dict | None = None) -> "PhraseModel":
        """Read a model written by :meth:`write_parquet`.

        Raises
        ------
        CorpusError
            The file cannot be read or is not a phrase model (message names ``url``).
        """
        table = read_parquet_table(url, storage_options, "phrases")
        return cls.from_table(table, origin=url)


# --------------------------------------------------------------------------------------------
# Dask stage: words first, then spans as integer keys


_INT64_MAX = 2**63 - 1
_KMAX_CAP = 64  # longest connector run kept as an integer key (longer runs: string keys)


@dataclass(eq=False)
class _Encoded:
    """One partition, dictionary-encoded on its worker: ``words`` [D] and int32 ``idx`` [n] into
    them, int64 [S + 1] sentence ``offsets``, int64 ``counts`` [D] of each word."""

    words: pa.Array
    idx: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray

    def sentences(self) -> pa.ListArray:
        """The partition as list<string> [S]."""
        tokens = self.words.take(pa.array(self.idx))
        if self.offsets[-1] < 2**31:
            return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), tokens)
        return pa.LargeListArray.from_arrays(pa.array(self.offsets), tokens)


@dataclass(eq=False)
class _Words:
    """The global word dictionary of a pass and what the span keys need of it.

    ``words`` [V] (every word kept, connectors included), ``counts`` int64 [V]; ``rank`` int32 [V]:
    a connector's rank among the connectors of ``words`` (-1 for other words); ``dirty`` bool [V]:
    the word contains the delimiter.  A span ``a c_1 ... c_k b`` (ids ``a``, ``b``, connector
    ranks ``r_i``) has the key ``V + (a mx + m) V + b`` with ``m = sum_i (r_i + 1) base**(i-1)``,
    ``base`` = number of connectors + 1, ``mx = base**kmax``; ``kmax`` is the longest connector
    run whose keys fit in int64 (``mx V**2 + V <= 2**63``).  Distinct keys are distinct joined strings, and back.
    """

    words: pa.Array
    counts: np.ndarray
    rank: np.ndarray
    dirty: np.ndarray
    base: int
    kmax: int
    corpus_words: int
    min_reduce: int
    conn_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def mx(self) -> int:
        """``base**kmax``: the range of ``m``."""
        return self.base ** self.kmax

    def bucket_keys(self, n: int) -> np.ndarray:
        """int64 [n + 1] key bounds of ``n`` buckets: ranges of the first word ``a``, cut where the
        cumulative ``count(a)**0.85`` (a proxy for the number of distinct spans ``a`` starts,
        which grows more slowly than its count) reaches ``i / n``."""
        V = len(self.words)
        cum = np.cumsum(self.unigram_counts ** 0.85)
        cuts = (np.searchsorted(cum, cum[-1] * np.arange(1, n) / n, side="right") if V
                else np.zeros(n - 1, np.int64))
        return np.concatenate(([0], V + cuts.astype(np.int64) * self.mx * V, [_INT64_MAX])).astype(np.int64)

    @property
    def unigram_counts(self) -> np.ndarray:
        """int64 [V]: count of each word as a key of its own (0 for connectors and delimiter words)."""
        return np.where((self.rank < 0) & ~self.dirty, self.counts, 0)


def _read_part(part, storage_options, tokenize_options: dict, model):
    if isinstance(part, Shard):
        return read_tokenize(part, storage_options, **tokenize_options, phrases=model)
    return part if model is None else model.apply(part)


def _encode_part(part, storage_options, tokenize_options: dict, model) -> _Encoded:
    """Worker task: (read and tokenize a Shard,) apply the earlier passes, dictionary-encode."""
    if isinstance(part, _Encoded):
        return part
    values, offsets = _flatten(_read_part(part, storage_options, tokenize_options, model))
    if len(values) == 0:
        return _Encoded(pa.array([], pa.string()), np.zeros(0, np.int32), offsets, np.zeros(0, np.int64))
    enc = pc.dictionary_encode(values)
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return _Encoded(enc.dictionary, idx, offsets, np.bincount(idx, minlength=len(enc.dictionary)).astype(np.int64))


def _word_table(enc: _Encoded, max_vocab_size) -> pa.Table:
    """Worker task: a partition's word counts (every token, connectors included)."""
    table = _with_meta(pa.table({"word": enc.words, "count": pa.array(enc.counts, pa.int64())}), len(enc.idx), 1)
    return table if max_vocab_size is None else merge_counts([table], max_vocab_size)


def _global_words(tables, max_vocab_size, connectors, delimiter) -> _Words:
    """Worker task: the last merge of the word tables, as a :class:`_Words`."""
    merged = merge_counts(tables, max_vocab_size)
    words = merged.column("word").combine_chunks()
    counts = merged.column("count").to_numpy().astype(np.int64)
    V = len(words)
    is_conn = _connector_mask(words, connectors)
    rank = np.full(V, -1, np.int32)
    conn_ids = np.flatnonzero(is_conn)
    rank[conn_ids] = np.arange(conn_ids.size, dtype=np.int32)
    dirty = (pc.match_substring(words, delimiter).to_numpy(zero_copy_only=False) if V
             else np.zeros(0, bool))
    base = conn_ids.size + 1
    kmax = 0
    if V and base > 1:
        room = (_INT64_MAX - V) // (V * V)
        while kmax < _KMAX_CAP and base ** (kmax + 1) <= room:
            kmax += 1
    return _Words(words, counts, rank, dirty, base, kmax, _meta_int(merged, _CORPUS_WORDS) or 0,
                  _meta_int(merged, _MIN_REDUCE) or 1, conn_ids.astype(np.int64))


@numba.njit(nogil=True, cache=True)
def _span_kernel(idx, gid, conn, dirt_w, sent_off, rank, V, base, kmax, mx):
    """Integer keys of a partition's spans (gensim ``_learn_vocab``'s joined tokens).

    ``idx`` int32 [n] the tokens' ids into the partition's words [D]; per word ``gid`` int32 [D]
    the global id (-1: pruned), ``conn`` / ``dirt_w`` bool [D] connector / contains the delimiter.
    Returns the int64 keys of the clean spans (no delimiter word, at most ``kmax`` connectors),
    and the [start, end] token positions of the *string* keys: spans with a delimiter word or
    too many connectors, and the delimiter words themselves (their unigram keys contain the
    delimiter).  Spans with a pruned word are not counted.
    """
    n = idx.shape[0]
    keys = np.empty(n, np.int64)
    ss = np.empty(2 * n, np.int64)
    se = np.empty(2 * n, np.int64)
    nk = 0
    ns = 0
    for si in range(sent_off.shape[0] - 1):
        start = -1
        for j in range(sent_off[si], sent_off[si + 1]):
            if conn[idx[j]]:
                continue
            if dirt_w[idx[j]] and gid[idx[j]] >= 0:
                ss[ns] = j
                se[ns] = j
                ns += 1
            if start >= 0:
                bad = False
                dirt = False
                for t in range(start, j + 1):
                    if gid[idx[t]] < 0:
                        bad = True
                        break
                    if dirt_w[idx[t]]:
                        dirt = True
                if not bad:
                    if dirt or j - start - 1 > kmax:
                        ss[ns] = start
                        se[ns] = j
                        ns += 1
                    else:
                        m = np.int64(0)
                        p = np.int64(1)
                        for t in range(start + 1, j):
                            m += (np.int64(rank[gid[idx[t]]]) + 1) * p
                            p *= base
                        keys[nk] = V + (np.int64(gid[idx[start]]) * mx + m) * V + np.int64(gid[idx[j]])
                        nk += 1
            start = j
    return keys[:nk], ss[:ns], se[:ns]


@numba.njit(nogil=True, cache=True)
def _canonical_kernel(piece_off, pid, rank, V, base, kmax, mx):
    """The integer key of each string key whose delimiter-separated pieces form a clean span
    (known words, non-connector ends, connectors between, at most ``kmax``), else -1."""
    n = piece_off.shape[0] - 1
    out = np.full(n, -1, np.int64)
    for i in range(n):
        s = piece_off[i]
        e = piece_off[i + 1]
        if e - s < 2 or e - s - 2 > kmax:
            continue
        ok = True
        for t in range(s, e):
            if pid[t] < 0:
                ok = False
                break
        if not ok or rank[pid[s]] >= 0 or rank[pid[e - 1]] >= 0:
            continue
        m = np.int64(0)
        p = np.int64(1)
        for t in range(s + 1, e - 1):
            if rank[pid[t]] < 0:
                ok = False
                break
            m += (np.int64(rank[pid[t]]) + 1) * p
            p *= base
        if ok:
            out[i] = V + (np.int64(pid[s]) * mx + m) * V + np.int64(pid[e - 1])
    return out


@numba.njit(nogil=True, cache=True)
def _merge_sorted(k1, c1, k2, c2):
    """Merge two sorted distinct-key runs, adding the counts of equal keys."""
    n1, n2 = k1.shape[0], k2.shape[0]
    k = np.empty(n1 + n2, np.int64)
    c = np.empty(n1 + n2, np.int64)
    i = j = m = 0
    while i < n1 and j < n2:
        if k1[i] < k2[j]:
            k[m] = k1[i]
            c[m] = c1[i]
            i += 1
        elif k2[j] < k1[i]:
            k[m] = k2[j]
            c[m] = c2[j]
            j += 1
        else:
            k[m] = k1[i]
            c[m] = c1[i] + c2[j]
            i += 1
            j += 1
        m += 1
    while i < n1:
        k[m] = k1[i]
        c[m] = c1[i]
        i += 1
        m += 1
    while j < n2:
        k[m] = k2[j]
        c[m] = c2[j]
        j += 1
        m += 1
    return k[:m], c[:m]


def _count_sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) and how often each occurs (int64)."""
    keys = np.sort(keys)
    if keys.size == 0:
        return keys, np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.diff(np.append(starts, keys.size)).astype(np.int64)


def _sum_int(tables) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum integer count tables ``(keys, counts, min_reduce)`` (keys sorted and distinct in each):
    sorted distinct keys, int64 counts, the largest ``min_reduce``.  Pairwise merges of the
    sorted runs, linear each."""
    tables = list(tables)
    min_reduce = max((t[2] for t in tables), default=1)
    runs = [(t[0], t[1]) for t in tables if t[0].size]
    if not runs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), min_reduce
    while len(runs) > 1:
        runs = [_merge_sorted(*runs[i], *runs[i + 1]) if i + 1 < len(runs) else runs[i]
                for i in range(0, len(runs), 2)]
    return runs[0][0], runs[0][1], min_reduce


def _prune_threshold(counts: np.ndarray, max_size, min_reduce: int) -> int | None:
    """merge_counts's rule: the smallest kept count when ``counts`` exceeds ``max_size``, else None."""
    if max_size is None or counts.size <= max_size:
        return None
    return max(min_reduce, _kth_largest(counts, max_size + 1) + 1)


def _merge_int(tables, bound) -> tuple:
    """Worker task: sum integer count tables, pruned to ``bound`` keys as :func:`merge_counts`."""
    k, c, mr = _sum_int(tables)
    t = _prune_threshold(c, bound, mr)
    if t is not None:
        keep = c >= t
        k, c, mr = k[keep], c[keep], t + 1
    return k, c, mr


def _count_spans(src, words: _Words, storage_options, tokenize_options: dict, model, connectors, delimiter,
                 max_vocab_size, split_out: int) -> list:
    """Worker task: a partition's span counts, as ``split_out`` integer tables (split by ranges
    of the key) and one string table (the keys not representable as integers)."""
    enc = _encode_part(src, storage_options, tokenize_options, model)
    V = len(words.words)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), 1)
    if len(enc.idx) == 0 or V == 0:
        return [empty] * split_out + [_with_meta(pa.table({"word": pa.array([], pa.string()),
                                                            "count": pa.array([], pa.int64())}), 0, 1)]
    gid = pc.index_in(enc.words, value_set=words.words).fill_null(-1).to_numpy(zero_copy_only=False)
    gid = gid.astype(np.int32, copy=False)
    local_conn = _connector_mask(enc.words, connectors)
    local_dirty = pc.match_substring(enc.words, delimiter).to_numpy(zero_copy_only=False)
    keys, ss, se = _span_kernel(enc.idx, gid, local_conn, local_dirty, enc.offsets, words.rank,
                                np.int64(V), np.int64(words.base), np.int64(words.kmax), np.int64(words.mx))
    ik, ic = _count_sorted(keys)
    ints = [(ik, ic, 1)]
    strings = pa.table({"word": pa.array([], pa.string()), "count": pa.array([], pa.int64())})
    if ss.size:
        lengths = se - ss + 1
        span_off = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=span_off[1:])
        pos = np.repeat(ss - span_off[:-1], lengths) + np.arange(span_off[-1], dtype=np.int64)
        tokens = enc.words.take(pa.array(enc.idx[pos]))
        lists = pa.ListArray.from_arrays(pa.array(span_off.astype(np.int32) if span_off[-1] < 2**31 else span_off),
                                         tokens)
        vc = pc.value_counts(pc.binary_join(lists, delimiter))
        sw, sc = vc.field("values"), vc.field("counts").to_numpy().astype(np.int64)
        ck = _canonical_keys(sw, words, delimiter)
        as_int = ck >= 0
        if as_int.any():  # sorted and summed: two string keys never share an integer key
            order = np.argsort(ck[as_int])
            ints.append((ck[as_int][order], sc[as_int][order], 1))
        strings = pa.table({"word": sw.filter(pa.array(~as_int)), "count": pa.array(sc[~as_int], pa.int64())})
    ik, ic, _ = _sum_int(ints)
    mr = 1
    t = _prune_threshold(np.concatenate([ic, strings.column("count").to_numpy()]), max_vocab_size, 1)
    if t is not None:
        keep = ic >= t
        ik, ic = ik[keep], ic[keep]
        strings = strings.filter(pc.greater_equal(strings.column("count"), t))
        mr = t + 1
    strings = _with_meta(strings, 0, mr)
    if split_out == 1:
        return [(ik, ic, mr), strings]
    bounds = np.searchsorted(ik, words.bucket_keys(split_out))  # key ranges: the slices stay sorted
    return [(ik[bounds[i]:bounds[i + 1]], ic[bounds[i]:bounds[i + 1]], mr) for i in range(split_out)] + [strings]


def _canonical_keys(strings: pa.Array, words: _Words, delimiter: str) -> np.ndarray:
    """int64 [n]: the integer key equal to each string key (:func:`_canonical_kernel`), or -1."""
    pieces = pc.split_pattern(strings, delimiter)
    flat = pc.list_flatten(pieces)
    off = np.asarray(pieces.offsets, dtype=np.int64) - int(pieces.offsets[0].as_py())
    pid = pc.index_in(flat, value_set=words.words).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return _canonical_kernel(off, pid, words.rank, np.int64(len(words.words)), np.int64(words.base),
                             np.int64(words.kmax), np.int64(words.mx))


def _finish_int(tables, bound, min_count) -> dict:
    """Worker task: the last merge of one bucket: its number of keys and its candidates
    (``count >= min_count``)."""
    k, c, _ = _merge_int(tables, bound)
    keep = c >= min_count
    return {"rows": int(k.size), "keys": k[keep], "counts": c[keep]}


def _finish_strings(tables, bound, min_count, delimiter) -> dict:
    return _finish(merge_counts(tables, bound), min_count, delimiter)


def _key_strings(keys: np.ndarray, words: _Words, delimiter: str) -> pa.Array:
    """The joined strings of integer span keys (inverse of the key formula of :class:`_Words`)."""
    V = np.int64(len(words.words))
    r = keys - V
    b, q = r % V, r // V
    a, m = q // words.mx, q % words.mx
    mids = []
    while (m > 0).any():
        digit = m % words.base
        mids.append(digit)
        m = m // words.base
    k = np.zeros(keys.size, np.int64)
    for d in mids:
        k += d > 0
    lengths = k + 2
    off = np.zeros(keys.size + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    seq = np.empty(off[-1], np.int64)
    seq[off[:-1]] = a
    seq[off[1:] - 1] = b
    for i, d in enumerate(mids):
        has = k > i
        seq[off[:-1][has] + 1 + i] = words.conn_ids[d[has] - 1]
    lists = pa.ListArray.from_arrays(pa.array(off.astype(np.int32) if off[-1] < 2**31 else off),
                                     words.words.take(pa.array(seq)))
    return pc.binary_join(lists, delimiter)


def _score_pass(words: _Words, int_parts: list, str_part: dict, *, min_count, threshold, scoring,
                delimiter) -> pa.Table:
    """Score a pass from the finished buckets (on the caller): integer candidates numerically,
    strings only for those that pass; string candidates as :func:`score_phrases`."""
    uni = words.unigram_counts
    n_uni = int(np.count_nonzero(uni))
    len_vocab = n_uni + sum(x["rows"] for x in int_parts) + str_part["rows"]
    keys = np.concatenate([x["keys"] for x in int_parts]) if int_parts else np.zeros(0, np.int64)
    bc = np.concatenate([x["counts"] for x in int_parts]) if int_parts else np.zeros(0, np.int64)
    V = np.int64(len(words.words))
    tables = []
    if keys.size:
        r = keys - V
        ca, cb = uni[r // V // words.mx], uni[r % V]
        score, keep = _score_arrays(ca, cb, bc, len_vocab, words.corpus_words, min_count=min_count,
                                    threshold=threshold, scoring=scoring)
        tables.append(pa.table({"phrase": _key_strings(keys[keep], words, delimiter),
                                "score": pa.array(score[keep], pa.float64()), "count": pa.array(bc[keep], pa.int64())}))
    plain_ids = np.flatnonzero(uni)
    plain = pa.table({"word": words.words.take(pa.array(plain_ids)), "count": pa.array(uni[plain_ids], pa.int64())})
    tables.append(_score(str_part["candidates"], plain, len_vocab, words.corpus_words, min_count=min_count,
                         threshold=threshold, scoring=scoring, delimiter=delimiter))
    table = pa.concat_tables([t.cast(PHRASE_SCHEMA) for t in tables])
    order = pc.sort_indices(table, sort_keys=[("score", "descending"), ("phrase", "ascending")])
    return table.take(order)


def learn_phrases(shards: Sequence, storage_options: dict | None = None, *, min_count: int = 5,
                  threshold: float = 10.0, scoring: str = "default", connector_words=frozenset(),
                  delimiter: str = "_", passes: int = 1, max_vocab_size: int | None = None,
                  token_pattern: str = DEFAULT_TOKEN_PATTERN, lowercase: bool = True,
                  max_sentence_length: int = 10000, split_every: int = 16, split_out: int = 4, client=None,
                  progress: bool = False, timings: dict | None = None,
                  keep_partitions: list | None = None) -> PhraseModel:
    """Learn a phrase model from all partitions with Dask (gensim ``Phrases`` semantics).

    Each pass is one Dask graph: a task per partition reads and tokenizes it (or takes it as it
    is), applies the passes learned so far and dictionary-encodes it; the word counts are summed
    in a tree of :func:`w2v_dist.vocab.merge_counts` into one global dictionary; then a task per
    partition counts its spans as int64 keys of the global ids (module docstring), splits them
    into ``split_out`` buckets by ranges of the key (of its first word) and a table of the string
    keys; each bucket is summed ``split_every`` tables at a time by linear merges of sorted integer runs (the
    buckets in parallel), the string keys by :func:`~w2v_dist.vocab.merge_counts`; the last merge
    of a bucket keeps only its number of keys and the keys with a count of at least
    ``min_count``, which the caller scores in numpy, making strings only for the phrases.

    Parameters
    ----------
    shards : sequence of Shard, or of tokenized partitions
        Partitions from :func:`~w2v_dist.corpus.discover_shards`, read and tokenized by the
        tasks; or partitions already tokenized (list<string> arrays, or Dask futures / delayed
        objects of them, e.g. persisted on the workers), used as they are.
    storage_options : dict, optional
        Passed to fsspec on the workers.
    min_count, threshold, scoring, delimiter
        As :func:`score_phrases` (gensim's defaults: 5, 10.0, "default", "_").
    connector_words : spec or iterable of str
        As :func:`connector_set` (e.g. ``"english"``).
    passes : int
        Learn-and-apply passes (2 gives phrases of up to 4 words).
    max_vocab_size : int, optional
        Bound on the rows of every partial count table, as gensim's ``max_vocab_size`` (gensim's
        default is 40M; here no bound by default).  The word dictionary is pruned to
        ``max_vocab_size`` words (each partition's word table, then each merge); each partition's
        span table (integer and string keys together) to ``max_vocab_size`` keys before it is
        split, and each bucket's merges (and the string keys' merges) to
        ``ceil(max_vocab_size / split_out)`` keys; so no table ever holds more than
        ``max_vocab_size`` keys.  Pruning is :func:`~w2v_dist.vocab.merge_counts`'s: keys with a
        count below a rising threshold ``min_reduce`` are dropped.  What pruning changes: counts of
        rare keys become underestimates or zero, so some phrases are lost, scores of surviving
        phrases can change (fewer rows means a smaller ``len_vocab`` for the default scorer) and
        the result depends on the partitioning (gensim's depends on sentence order the same way);
        words and spans are pruned separately (gensim prunes its one table), and a span holding a
        word pruned from the dictionary is not counted at all (its ends would count 0, so it could
        not be a phrase; it only no longer adds to ``len_vocab``).  Memory: without
        ``max_vocab_size`` the encoded partitions (int32 ids, about 4 bytes a token, plus each
        partition's own word list) are held on the workers between the two counting steps; with
        it, each partition is read (or taken) again for the span step instead, so a partition
        task holds one partition plus its own distinct keys (at most about two per token), a merge
        task holds at most ``split_every`` tables of at most ``max_vocab_size / split_out`` keys
        and their sum, and the memory of learning does not grow with the corpus (measured in
        ``benchmarks/README.md``).
    token_pattern, lowercase, max_sentence_length
        Tokenization, as :func:`~w2v_dist.corpus.tokenize`.
    split_every : int
        Fan-in of the reduction tree (>= 2).
    split_out : int
        Number of key-range buckets reduced in parallel (>= 1).
    client : distributed.Client, optional
        Run there (default: dask's current scheduler).
    progress : bool
        With a client, show distributed's progress bar.
    timings : dict, optional
        Filled with the wall seconds of each pass (``pass1``, ...).
    keep_partitions : list, optional
        If given, filled with the last pass's input partitions, dictionary-encoded, one per
        partition, as Dask futures held on the workers (with ``client``) or values: apply the
        model to them with ``model.apply(part, start=len(model.passes) - 1)`` instead of reading
        and tokenizing the corpus again.  Not with ``max_vocab_size`` (which does not hold them).

    Returns
    -------
    PhraseModel

    Raises
    ------
    ConfigError
        A parameter is out of range, or ``keep_partitions`` is given with ``max_vocab_size``.
    CorpusError
        No partitions, or a partition cannot be read.
    """
    import dask

    shards = list(shards)
    if not shards:
        raise CorpusError("no input partitions to learn phrases from")
    if split_every < 2:
        raise ConfigError(f"split_every={split_every!r}: must be >= 2")
    if not isinstance(passes, (int, np.integer)) or passes < 1:
        raise ConfigError(f"phrase_passes={passes!r}: must be an integer >= 1")
    _check_params(min_count, threshold, scoring, delimiter, max_vocab_size)
    connectors = connector_set(connector_words)
    tok = {"token_pattern": token_pattern, "lowercase": lowercase, "max_sentence_length": max_sentence_length}
    from .corpus import tokenize as _tokenize

    _tokenize(pa.array([], pa.string()), **tok)  # check the options once, on the caller
    so = dict(storage_options or {})
    model = PhraseModel([], connectors, delimiter, scoring, float(threshold), int(min_count))
    if split_out < 1:
        raise ConfigError(f"split_out={split_out!r}: must be >= 1")
    if keep_partitions is not None and max_vocab_size is not None:
        raise ConfigError("keep_partitions: not with max_vocab_size (partitions are not held then)")
    bucket_bound = None if max_vocab_size is None else -(-max_vocab_size // split_out)
    encode = dask.delayed(_encode_part, pure=False)
    word_table = dask.delayed(_word_table, pure=False)
    merge_words = dask.delayed(merge_counts, pure=False)
    global_words = dask.delayed(_global_words, pure=False)
    count = dask.delayed(_count_spans, pure=False, nout=split_out + 1)
    merge_int = dask.delayed(_merge_int, pure=False)
    merge_str = dask.delayed(merge_counts, pure=False)
    finish_int = dask.delayed(_finish_int, pure=False)
    finish_str = dask.delayed(_finish_strings, pure=False)

    def tree(level, merge, bound, name):
        depth = 0
        while len(level) > split_every:
            depth += 1
            level = [merge(level[i:i + split_every], bound, dask_key_name=f"{name}-{depth}-{j}")
                     for j, i in enumerate(range(0, len(level), split_every))]
        return level

    for p in range(passes):
        t0 = time.perf_counter()
        job = uuid.uuid4().hex[:12]
        prior = model if model.passes else None
        # 1. words: a dictionary per partition, merged into one global dictionary
        encoded = [encode(s, so, tok, prior, dask_key_name=f"w2v-phrase-encode-{job}-{i}")
                   for i, s in enumerate(shards)]
        wt = [word_table(e, max_vocab_size, dask_key_name=f"w2v-phrase-words-{job}-{i}")
              for i, e in enumerate(encoded)]
        words = global_words(tree(wt, merge_words, max_vocab_size, f"w2v-phrase-wmerge-{job}"), max_vocab_size,
                             connectors, delimiter, dask_key_name=f"w2v-phrase-dictionary-{job}")
        # 2. spans as integer keys of the global ids; with max_vocab_size the partitions are
        #    read again rather than held encoded, so memory does not grow with the corpus
        srcs = encoded if max_vocab_size is None else shards
        leaves = [count(src, words, so, tok, prior, connectors, delimiter, max_vocab_size, split_out,
                        dask_key_name=f"w2v-phrase-count-{job}-{i}") for i, src in enumerate(srcs)]
        finals = []
        for b in range(split_out):
            level = tree([leaf[b] for leaf in leaves], merge_int, bucket_bound, f"w2v-phrase-merge-{job}-{b}")
            finals.append(finish_int(level, bucket_bound, min_count, dask_key_name=f"w2v-phrase-final-{job}-{b}"))
        level = tree([leaf[split_out] for leaf in leaves], merge_str, bucket_bound, f"w2v-phrase-smerge-{job}")
        finals.append(finish_str(level, bucket_bound, min_count, delimiter, dask_key_name=f"w2v-phrase-sfinal-{job}"))
        keep = encoded if keep_partitions is not None and p == passes - 1 else []
        if client is not None:
            futs = client.compute([words] + finals + keep)
            if progress:
                from distributed import progress as show_progress

                show_progress(futs[:len(futs) - len(keep)])
            parts = client.gather(futs[:len(futs) - len(keep)])
            kept = futs[len(futs) - len(keep):]
        else:
            parts = list(dask.compute(words, *finals, *keep))
            kept = parts[len(parts) - len(keep):]
            parts = parts[:len(parts) - len(keep)]
        if keep:
            keep_partitions[:] = kept
        table = _score_pass(parts[0], parts[1:-1], parts[-1], min_count=min_count, threshold=threshold,
                            scoring=scoring, delimiter=delimiter)
        model = model.with_pass(table)
        if timings is not None:
            timings[f"pass{p + 1}"] = time.perf_counter() - t0
    return model
