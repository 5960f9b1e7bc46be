"""Splitting lines into sentences of tokens, vectorized with pyarrow.compute and numpy.

Default tokenization (``token_pattern=DEFAULT_TOKEN_PATTERN``)
--------------------------------------------------------------
1. Lowercase with ``utf8_lower`` (if ``lowercase``).
2. The typographic apostrophe ’ (U+2019) becomes ``'``.
3. Split on runs of anything that is not a letter, a combining mark, a digit or an apostrophe
   (the RE2 regex :data:`DEFAULT_TOKEN_PATTERN`, ``[^\\p{L}\\p{M}\\p{N}']+``): accented letters are
   letters (``"Natásha"`` -> ``natásha``, also when written with a combining accent), digits are
   kept (``"1812"`` -> ``1812``), ``"don’t"`` -> ``don't``; punctuation, symbols and whitespace
   separate tokens.
4. Strip leading and trailing apostrophes from each token (quotes: ``'yes'`` -> ``yes``) and drop
   the tokens that end up empty.

A custom ``token_pattern`` replaces the whole of steps 2-4: it is an RE2 regex of what SEPARATES
tokens, and the tokens are exactly the non-empty pieces between its matches (lowercasing still
applies).  For example ``token_pattern=r"\\s+", lowercase=False`` gives Python's
``line.split()`` on ASCII-whitespace-separated text.  The pattern must not match the empty
string; a pattern that can match empty in some context (``\\b``) splits there too.  With a custom
pattern the NUL character also separates tokens.

Sentences
---------
Each input line is one sentence (word2vec's and gensim's ``LineSentence`` convention).  Lines
without tokens are dropped.  A sentence longer than ``max_sentence_length`` tokens is cut into
consecutive pieces of at most that many tokens, as word2vec.c (``MAX_SENTENCE_LENGTH``) and gensim
(``max_sentence_length``, 10000) do.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from .sources import Shard, read_lines

__all__ = ["DEFAULT_TOKEN_PATTERN", "tokenize", "read_tokenize"]

#: RE2 regex of what separates tokens: runs of anything but letters, marks, digits and ``'``.
DEFAULT_TOKEN_PATTERN = r"[^\p{L}\p{M}\p{N}']+"

_SENTINEL = "\x00"


@functools.lru_cache(maxsize=64)
def _check_pattern(pattern) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"token_pattern={pattern!r}: must be a non-empty RE2 regex")
    try:
        matches_empty = pc.match_substring_regex(pa.array([""], pa.string()), pattern)[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        msg = " ".join(str(exc).split())
        raise ConfigError(f"token_pattern={pattern!r}: invalid RE2 regex ({msg})") from None
    if matches_empty:
        raise ConfigError(f"token_pattern={pattern!r}: matches the empty string; it must match what "
                          "separates tokens, e.g. r'\\s+'")


def _as_lines(lines) -> pa.Array:
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks() if lines.num_chunks != 1 else lines.chunk(0)
    elif not isinstance(lines, pa.Array):
        lines = pa.array(lines, type=pa.string())
    t = lines.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return lines
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t):
        return lines.cast(pa.string())
    raise TypeError(f"lines: expected a string array, got {t}")


def _value_lengths(values: pa.Array) -> np.ndarray:
    """Byte length of each string of a (possibly sliced) string array, int64, from its offsets."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    off_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=off_type)[values.offset:values.offset + len(values) + 1]
    return np.diff(offsets).astype(np.int64, copy=False)


def _to_list_array(values: pa.Array, offsets: np.ndarray) -> pa.Array:
    """list<string> from flattened values and int64 offsets (large types only beyond 2**31)."""
    if pa.types.is_large_string(values.type) and values.nbytes < 2**31 - 1 - 8 * len(values):
        values = values.cast(pa.string())
    if offsets[-1] < 2**31 - 1:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values)


def _sentence_offsets(parents: np.ndarray, n_lines: int, max_len: int) -> np.ndarray:
    """Offsets int64 [S + 1] of the non-empty sentences, lines longer than ``max_len`` cut.

    ``parents`` (int64 [N], non-decreasing) is the line of each kept token.
    """
    n_tokens = parents.size
    per_line = np.bincount(parents, minlength=n_lines).astype(np.int64, copy=False)
    per_line = per_line[per_line > 0]
    ends = np.cumsum(per_line)
    starts = ends - per_line
    if per_line.size and per_line.max() > max_len:
        pieces = (per_line + max_len - 1) // max_len
        line_of_piece = np.repeat(np.arange(per_line.size), pieces)
        first_piece = np.cumsum(pieces) - pieces
        k = np.arange(line_of_piece.size, dtype=np.int64) - first_piece[line_of_piece]
        starts = starts[line_of_piece] + k * max_len
    offsets = np.empty(starts.size + 1, dtype=np.int64)
    offsets[:-1] = starts
    offsets[-1] = n_tokens
    return offsets


def tokenize(lines, *, token_pattern: str = DEFAULT_TOKEN_PATTERN, lowercase: bool = True,
             max_sentence_length: int = 10000) -> pa.ListArray:
    """Split lines into sentences of tokens (see the module docstring for the rules).

    Parameters
    ----------
    lines : pyarrow string / large_string Array or ChunkedArray, or sequence of str
        One sentence per element; nulls are treated as empty lines.
    token_pattern : str
        RE2 regex of what separates tokens; :data:`DEFAULT_TOKEN_PATTERN` (or None) selects the
        default tokenization with apostrophe handling.
    lowercase : bool
        Lowercase (Unicode, ``utf8_lower``) before splitting.
    max_sentence_length : int
        Longer sentences are cut into consecutive pieces of at most this many tokens.

    Returns
    -------
    pyarrow.ListArray
        ``list<string>``, one element per non-empty sentence (piece), in input order; no empty
        tokens.  ``LargeListArray`` / ``large_string`` only beyond 2**31 tokens or bytes.

    Raises
    ------
    ConfigError
        ``max_sentence_length < 1``; ``token_pattern`` is not a valid RE2 regex or matches the
        empty string.
    TypeError
        ``lines`` is not made of strings.
    """
    if not isinstance(max_sentence_length, (int, np.integer)) or max_sentence_length < 1:
        raise ConfigError(f"max_sentence_length={max_sentence_length!r}: must be an integer >= 1")
    default = token_pattern is None or token_pattern == DEFAULT_TOKEN_PATTERN
    if not default:
        _check_pattern(token_pattern)
    arr = _as_lines(lines)
    n_lines = len(arr)
    if lowercase:
        arr = pc.utf8_lower(arr)
    if default:
        arr = pc.replace_substring(arr, "\u2019", "'")
        parts = pc.split_pattern_regex(arr, DEFAULT_TOKEN_PATTERN)
    else:
        # replace + literal split: unlike split_pattern_regex, never loops on empty matches.
        parts = pc.split_pattern(pc.replace_substring_regex(arr, token_pattern, _SENTINEL), _SENTINEL)
    del arr
    values = pc.list_flatten(parts)
    parents = pc.list_parent_indices(parts).to_numpy()
    del parts
    if default:
        values = pc.utf8_trim(values, "'")
    if values.null_count:
        values = values.fill_null("")
    keep = _value_lengths(values) > 0
    if not keep.all():
        values = values.filter(pa.array(keep))
        parents = parents[keep]
    offsets = _sentence_offsets(parents.astype(np.int64, copy=False), n_lines, int(max_sentence_length))
    return _to_list_array(values, offsets)


def read_tokenize(shard: Shard, storage_options: dict | None = None, *, token_pattern: str = DEFAULT_TOKEN_PATTERN,
                  lowercase: bool = True, max_sentence_length: int = 10000, phrases=None,
                  stats: dict | None = None) -> pa.ListArray:
    """Read one partition and tokenize it: ``tokenize(read_lines(shard, storage_options), ...)``.

    Parameters
    ----------
    shard : Shard
        A partition from :func:`~w2v_dist.corpus.discover_shards`.
    storage_options : dict, optional
        Passed to fsspec.
    token_pattern, lowercase, max_sentence_length
        As for :func:`tokenize`.
    phrases : object with an ``apply(sentences)`` method, optional
        Applied to the tokenized sentences, e.g. a :class:`w2v_dist.phrases.PhraseModel`
        (joins detected phrases into single tokens).
    stats : dict, optional
        Passed to :func:`~w2v_dist.corpus.read_lines` (counts invalid UTF-8 replacements).

    Returns
    -------
    pyarrow.ListArray
        ``list<string>``, one element per non-empty sentence of the partition.

    Raises
    ------
    CorpusError
        The partition cannot be read (the message names its URL).
    ConfigError
        A tokenization parameter is invalid (see :func:`tokenize`).
    """
    if not isinstance(max_sentence_length, (int, np.integer)) or max_sentence_length < 1:
        raise ConfigError(f"max_sentence_length={max_sentence_length!r}: must be an integer >= 1")
    if not (token_pattern is None or token_pattern == DEFAULT_TOKEN_PATTERN):
        _check_pattern(token_pattern)
    sentences = tokenize(read_lines(shard, storage_options, stats), token_pattern=token_pattern, lowercase=lowercase,
                         max_sentence_length=max_sentence_length)
    return sentences if phrases is None else phrases.apply(sentences)
