"""Tokenizing and dictionary-encoding lines in one Numba pass (the default tokenization only).

:func:`tokenize_encode` gives exactly what ``pc.dictionary_encode`` of the flattened
:func:`~w2v_dist.corpus.tokenize` output gives (same tokens, same sentences, same dictionary in
order of first appearance), about 10x faster, because the bytes are scanned once and each token
is looked up in a hash table as it is found, instead of building a ``list<string>`` array first.

How the default rules are reproduced exactly: the rules are per code point (lowercase, ``’`` to
``'``, "is a letter, mark, digit or apostrophe"), so they are tabulated once per process for every
code point (:func:`code_point_tables`) by running the very pyarrow functions that
:func:`~w2v_dist.corpus.tokenize` uses (``utf8_lower``, which maps one code point to one code point,
and an RE2 match of the class ``[\\p{L}\\p{M}\\p{N}']``) on an array of all 1,112,064 code points.
The kernel then decodes UTF-8, maps each code point through the tables, cuts tokens at code points
outside the class, trims ``'`` from both ends, drops empty tokens, cuts sentences longer than
``max_sentence_length`` and drops lines without tokens, as the module docstring of
:mod:`w2v_dist.corpus.tokenize` says.  A custom ``token_pattern`` has no tabulated form: callers use
the pyarrow path for it.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["code_point_tables", "tokenize_encode", "TokenEncoder"]

_N_CP = 0x110000
_CLASS = r"^[\p{L}\p{M}\p{N}']$"


@functools.lru_cache(maxsize=2)
def code_point_tables(lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-code-point tables of the default tokenization, made with pyarrow itself.

    Parameters
    ----------
    lowercase : bool
        Whether tokens are lowercased (``utf8_lower``) before splitting.

    Returns
    -------
    mapped : numpy.ndarray
        int32 [0x110000]: the code point a code point becomes (lowercased if ``lowercase``,
        then U+2019 becomes ``'``); surrogates map to themselves.
    keep : numpy.ndarray
        uint8 [0x110000]: 1 when the mapped code point is a letter, mark, digit or ``'`` (part of a
        token), 0 when it separates tokens; 0 for surrogates.

    Raises
    ------
    RuntimeError
        pyarrow's ``utf8_lower`` maps some code point to more or fewer than one code point (it
        does not in the pyarrow versions this was written for); the tables would be wrong.
    """
    cps = np.concatenate([np.arange(0xD800, dtype=np.uint32), np.arange(0xE000, _N_CP, dtype=np.uint32)])
    text = cps.astype("<u4").tobytes().decode("utf-32-le").encode("utf-8")
    nbytes = np.where(cps < 0x80, 1, np.where(cps < 0x800, 2, np.where(cps < 0x10000, 3, 4))).astype(np.int32)
    offsets = np.zeros(cps.size + 1, dtype=np.int32)
    np.cumsum(nbytes, out=offsets[1:])
    arr = pa.Array.from_buffers(pa.string(), cps.size, [None, pa.py_buffer(offsets), pa.py_buffer(text)])
    low = pc.utf8_lower(arr) if lowercase else arr
    if lowercase and not (np.asarray(pc.utf8_length(low)) == 1).all():
        raise RuntimeError("pyarrow utf8_lower changes the number of code points of some code point")
    low = low.cast(pa.large_string())  # one code point per element: the values, concatenated, in order
    off = np.frombuffer(low.buffers()[1], dtype=np.int64)[low.offset:low.offset + len(low) + 1]
    raw = np.frombuffer(low.buffers()[2], dtype=np.uint8)[off[0]:off[-1]]
    mapped_cps = np.frombuffer(raw.tobytes().decode("utf-8").encode("utf-32-le"), dtype="<u4").astype(np.int32)
    # ’ is not in the class: the code points that become ’ are kept, and become '
    keep_vals = np.asarray(pc.match_substring_regex(low, _CLASS).cast(pa.uint8())) | (mapped_cps == 0x2019)
    mapped_cps[mapped_cps == 0x2019] = 0x27
    mapped = np.arange(_N_CP, dtype=np.int32)
    mapped[cps] = mapped_cps
    keep = np.zeros(_N_CP, dtype=np.uint8)
    keep[cps] = keep_vals.astype(np.uint8)
    return mapped, keep


@functools.lru_cache(maxsize=2)
def _ascii_table(lowercase: bool = True) -> np.ndarray:
    """uint8 [128]: the byte an ASCII byte becomes in a token (from :func:`code_point_tables`), 0 if it separates."""
    mapped, keep = code_point_tables(lowercase)
    m = mapped[:128]
    if (m[keep[:128] == 1] >= 0x80).any() or (m[keep[:128] == 1] == 0).any():
        raise RuntimeError("an ASCII token character maps outside ASCII")
    return np.where(keep[:128] == 1, m, 0).astype(np.uint8)


@numba.njit(nogil=True, cache=True, inline="always")
def _put_utf8(buf, n, cp):
    if cp < 0x80:
        buf[n] = cp
        return n + 1
    if cp < 0x800:
        buf[n] = 0xC0 | (cp >> 6)
        buf[n + 1] = 0x80 | (cp & 0x3F)
        return n + 2
    if cp < 0x10000:
        buf[n] = 0xE0 | (cp >> 12)
        buf[n + 1] = 0x80 | ((cp >> 6) & 0x3F)
        buf[n + 2] = 0x80 | (cp & 0x3F)
        return n + 3
    buf[n] = 0xF0 | (cp >> 18)
    buf[n + 1] = 0x80 | ((cp >> 12) & 0x3F)
    buf[n + 2] = 0x80 | ((cp >> 6) & 0x3F)
    buf[n + 3] = 0x80 | (cp & 0x3F)
    return n + 4


@numba.njit(nogil=True, cache=True)
def _decode(data, pos, end):
    """(code point, bytes) of the UTF-8 sequence at ``pos`` (valid input; (-1, 1) otherwise)."""
    b = data[pos]
    if b < 0x80:
        return np.int64(b), 1
    if b >= 0xF0 and pos + 3 < end:
        return (((np.int64(b) & 0x07) << 18) | ((np.int64(data[pos + 1]) & 0x3F) << 12)
                | ((np.int64(data[pos + 2]) & 0x3F) << 6) | (np.int64(data[pos + 3]) & 0x3F)), 4
    if b >= 0xE0 and pos + 2 < end:
        return (((np.int64(b) & 0x0F) << 12) | ((np.int64(data[pos + 1]) & 0x3F) << 6)
                | (np.int64(data[pos + 2]) & 0x3F)), 3
    if b >= 0xC0 and pos + 1 < end:
        return ((np.int64(b) & 0x1F) << 6) | (np.int64(data[pos + 1]) & 0x3F), 2
    return np.int64(-1), 1


_GOLD = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: Fibonacci hashing (Knuth, TAOCP 3, 6.4)


@numba.njit(nogil=True, cache=True)
def _log2(size):
    bits = 0
    while (1 << bits) < size:
        bits += 1
    return bits


@numba.njit(nogil=True, cache=True)
def _rehash(slots, keys, n_words):
    """Insert words ``0 .. n_words-1`` into the empty slot table ``slots`` (see the kernel)."""
    mask = slots.shape[0] - 1
    shift = np.uint64(64 - _log2(slots.shape[0]))
    for w in range(n_words):
        s = np.int64((keys[2 * w] * _GOLD) >> shift)
        while slots[s] >= 0:
            s = (s + 1) & mask
        slots[s] = w


# state: 0 line, 1 byte position, 2 tokens, 3 sentences, 4 tokens in the current sentence, 5 words
@numba.njit(nogil=True, cache=True)
def _tokenize_encode_kernel(data, line_off, mapped, keep, asc, max_len, scratch, idx, sent_off, slots, keys,
                            counts, word_off, word_bytes, state):
    """Scan the lines ``data[line_off[i]:line_off[i+1]]`` from ``state`` on; see :func:`tokenize_encode`.

    Tokens.  ASCII bytes go through ``asc`` (the mapped byte of a token byte, 0 for a separator),
    other code points are decoded and go through ``mapped`` / ``keep``; leading apostrophes are
    not written, trailing ones are cut after the token ends.

    Dictionary.  Open addressing with linear probing in ``slots`` (int32 [size], a word id or -1,
    size a power of two, kept at most half full); word ``w``'s key is ``keys[2w]`` and its length
    in bytes ``keys[2w + 1]`` (next to each other, and words in order of first appearance, so the
    frequent words' keys share few cache lines).  The key of a token of at most 8 bytes is its
    bytes packed little-endian (no token byte is 0, so key and length identify the token and no
    byte compare is needed); a longer token's key is its 64-bit FNV-1a hash, confirmed by
    comparing the bytes.  The slot is the top bits of ``key * 2**64/phi`` (Fibonacci hashing).

    The arrays are not reallocated here (a Numba loop that reassigns arrays pays reference
    counting on every iteration): when one is full, the state is left at the start of the
    current token and a code is returned, 1: the per-word arrays (``hashes``, ``counts``,
    ``word_off``), 2: ``word_bytes``, 3: ``slots``; the caller grows it and calls again.  0: done.
    """
    n_lines = line_off.shape[0] - 1
    li = state[0]
    pos = state[1]
    n_tok = state[2]
    n_sent = state[3]
    in_sent = state[4]
    n_words = state[5]
    size = slots.shape[0]
    mask = size - 1
    shift = np.uint64(64 - _log2(size))
    code = 0
    while li < n_lines:
        end = line_off[li + 1]
        if pos < line_off[li]:
            pos = line_off[li]
        while pos < end:
            start = pos
            n = 0
            key = np.uint64(0)
            sep = 0
            while pos < end:  # the token: a run of kept code points, mapped, as UTF-8 into scratch
                b = data[pos]
                if b < 0x80:
                    t = asc[b]
                    if t == 0:
                        sep = 1
                        break
                    pos += 1
                    if t == 0x27 and n == 0:
                        continue
                    scratch[n] = t
                    if n < 8:
                        key |= np.uint64(t) << np.uint64(8 * n)
                    n += 1
                else:
                    cp, step = _decode(data, pos, end)
                    if cp < 0 or cp >= 0x110000 or keep[cp] == 0:
                        sep = step
                        break
                    pos += step
                    m = mapped[cp]
                    if m == 0x27 and n == 0:
                        continue
                    n2 = _put_utf8(scratch, n, m)
                    while n < n2:
                        if n < 8:
                            key |= np.uint64(scratch[n]) << np.uint64(8 * n)
                        n += 1
            z = n
            while z > 0 and scratch[z - 1] == 0x27:  # trailing apostrophes
                z -= 1
            if z == 0:
                pos += sep
                continue
            if z < 8:
                key &= (np.uint64(1) << np.uint64(8 * z)) - np.uint64(1)
            elif z > 8:
                key = np.uint64(0xCBF29CE484222325)  # FNV-1a
                for k in range(z):
                    key = (key ^ np.uint64(scratch[k])) * np.uint64(0x100000001B3)
            s = np.int64((key * _GOLD) >> shift)
            wid = -1
            while True:
                w = slots[s]
                if w < 0:
                    break
                if keys[2 * w] == key and keys[2 * w + 1] == z:
                    if z <= 8:
                        wid = w
                        break
                    lo = word_off[w]
                    if word_off[w + 1] - lo == z:
                        same = True
                        for k in range(z):
                            if word_bytes[lo + k] != scratch[k]:
                                same = False
                                break
                        if same:
                            wid = w
                            break
                s = (s + 1) & mask
            if wid < 0:
                lo = word_off[n_words]
                if 2 * n_words >= keys.shape[0]:
                    code = 1
                elif lo + z > word_bytes.shape[0]:
                    code = 2
                elif 2 * (n_words + 1) > size:
                    code = 3
                if code:
                    pos = start
                    break
                wid = n_words
                for k in range(z):
                    word_bytes[lo + k] = scratch[k]
                word_off[wid + 1] = lo + z
                keys[2 * wid] = key
                keys[2 * wid + 1] = z
                slots[s] = wid
                n_words += 1
            counts[wid] += 1
            if in_sent == max_len:  # cut a long line into pieces of max_len tokens
                n_sent += 1
                sent_off[n_sent] = n_tok
                in_sent = 0
            idx[n_tok] = wid
            n_tok += 1
            in_sent += 1
            pos += sep
        if code:
            break
        if in_sent > 0:
            n_sent += 1
            sent_off[n_sent] = n_tok
        in_sent = 0
        li += 1
        pos = end
    state[0] = li
    state[1] = pos
    state[2] = n_tok
    state[3] = n_sent
    state[4] = in_sent
    state[5] = n_words
    return code


def _grow(a: np.ndarray, size: int, fill=0) -> np.ndarray:
    out = np.full(size, fill, dtype=a.dtype) if fill else np.zeros(size, dtype=a.dtype)
    out[:a.shape[0]] = a
    return out


def tokenize_encode(lines: pa.Array, *, lowercase: bool = True, max_sentence_length: int = 10000):
    """Tokenize lines with the default rules and dictionary-encode the tokens, in one pass.

    Parameters
    ----------
    lines : pyarrow.StringArray or LargeStringArray
        Valid UTF-8 lines (e.g. from :func:`~w2v_dist.corpus.read_lines`); nulls count as empty.
    lowercase : bool
        As :func:`~w2v_dist.corpus.tokenize`.
    max_sentence_length : int
        As :func:`~w2v_dist.corpus.tokenize` (>= 1).

    Returns
    -------
    words : pyarrow.StringArray
        [D] the distinct tokens, in order of first appearance (``pc.dictionary_encode``'s order).
    idx : numpy.ndarray
        int32 [N], each token's position in ``words``, sentence after sentence.
    offsets : numpy.ndarray
        int64 [S + 1], sentence ``s`` is ``idx[offsets[s]:offsets[s + 1]]``; the sentences of
        ``tokenize(lines, lowercase=..., max_sentence_length=...)``.
    counts : numpy.ndarray
        int64 [D], occurrences of each word (``bincount(idx)``).
    """
    enc = TokenEncoder(lowercase=lowercase, max_sentence_length=max_sentence_length)
    idx, offsets = enc.encode(lines)
    return enc.words(), idx, offsets, enc.counts()


class TokenEncoder:
    """:func:`tokenize_encode` over several arrays of lines with one dictionary (e.g. a worker's shards).

    Parameters
    ----------
    lowercase, max_sentence_length
        As :func:`tokenize_encode`.

    Each :meth:`encode` call tokenizes its lines and returns their ids in the dictionary built
    so far (new words are appended in order of first appearance); :meth:`words` and
    :meth:`counts` are those of all the lines encoded so far.  Encoding ``a`` then ``b`` gives
    the ids ``tokenize_encode`` gives on the lines of ``a`` followed by those of ``b``.
    """

    def __init__(self, *, lowercase: bool = True, max_sentence_length: int = 10000):
        self.lowercase = bool(lowercase)
        self.max_sentence_length = int(max_sentence_length)
        words0 = 1 << 14
        self._slots = np.full(4 * words0, -1, dtype=np.int32)
        self._keys = np.zeros(2 * words0, dtype=np.uint64)
        self._counts = np.zeros(words0, dtype=np.int64)
        self._woff = np.zeros(words0 + 1, dtype=np.int64)
        self._wbytes = np.zeros(8 * words0, dtype=np.uint8)
        self._n_words = 0

    def encode(self, lines: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Tokenize and encode ``lines``: (idx int32 [N] dictionary ids, offsets int64 [S + 1]).

        ``lines`` as :func:`tokenize_encode`'s.
        """
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks() if lines.num_chunks != 1 else lines.chunk(0)
        if lines.null_count:
            lines = lines.fill_null("")
        n = len(lines)
        if n == 0:
            return np.zeros(0, np.int32), np.zeros(1, np.int64)
        off_type = np.int64 if pa.types.is_large_string(lines.type) else np.int32
        bufs = lines.buffers()
        off = np.frombuffer(bufs[1], dtype=off_type)[lines.offset:lines.offset + n + 1].astype(np.int64)
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
        mapped, keep = code_point_tables(self.lowercase)
        asc = _ascii_table(self.lowercase)
        max_line = int(np.diff(off).max()) if n else 0
        n_bytes = int(off[-1] - off[0])
        scratch = np.empty(2 * max_line + 8, dtype=np.uint8)  # a mapped code point grows at most 2 -> 3 bytes
        idx = np.empty(n_bytes // 2 + 1, dtype=np.int32)  # a token takes a byte and a separator
        # a sentence is a line, or a piece of max_sentence_length tokens of a longer line
        sent_off = np.zeros(n + (n_bytes // 2 + 1) // self.max_sentence_length + 2, dtype=np.int64)
        state = np.zeros(6, dtype=np.int64)
        state[5] = self._n_words
        slots, keys, counts, woff, wbytes = self._slots, self._keys, self._counts, self._woff, self._wbytes
        while True:
            code = _tokenize_encode_kernel(data, off, mapped, keep, asc, self.max_sentence_length, scratch, idx,
                                           sent_off, slots, keys, counts, woff, wbytes, state)
            if code == 0:
                break
            if code == 1:
                m = 2 * counts.shape[0]
                keys, counts, woff = _grow(keys, 2 * m), _grow(counts, m), _grow(woff, m + 1)
            elif code == 2:
                wbytes = _grow(wbytes, 2 * wbytes.shape[0] + 2 * max_line + 8)
            else:
                slots = np.full(2 * slots.shape[0], -1, dtype=np.int32)
                _rehash(slots, keys, int(state[5]))
        self._slots, self._keys, self._counts, self._woff, self._wbytes = slots, keys, counts, woff, wbytes
        self._n_words = int(state[5])
        n_tok, n_sent = int(state[2]), int(state[3])
        return idx[:n_tok].copy(), sent_off[:n_sent + 1].copy()

    def __len__(self) -> int:
        return self._n_words

    def counts(self) -> np.ndarray:
        """int64 [D]: occurrences of each dictionary word in all the lines encoded so far (a copy)."""
        return self._counts[:self._n_words].copy()

    def words(self) -> pa.Array:
        """pyarrow.StringArray [D] (LargeStringArray beyond 2 GiB): the dictionary, in order of first appearance."""
        woff = self._woff[:self._n_words + 1]
        wbytes = self._wbytes[:int(woff[-1])].copy()
        if woff[-1] < 2**31 - 1:
            return pa.Array.from_buffers(pa.string(), woff.size - 1, [None, pa.py_buffer(woff.astype(np.int32)),
                                                                       pa.py_buffer(wbytes)])
        return pa.Array.from_buffers(pa.large_string(), woff.size - 1, [None, pa.py_buffer(woff.copy()),
                                                                         pa.py_buffer(wbytes)])
