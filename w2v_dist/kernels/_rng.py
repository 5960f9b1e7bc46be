"""Random-number helpers shared by the Numba training kernels.

The generator is the 48-bit linear congruential generator of word2vec.c and
gensim's ``word2vec_inner.pyx`` (the constants of Java's ``java.util.Random``)::

    next = (next * 25214903917 + 11) & (2**48 - 1)

The state is a ``np.uint64`` scalar passed by value; every function that
consumes randomness returns the advanced state next to its result (Numba has
no pointers, so ``random_int32(&next_random)`` of gensim becomes
``value, state = random_int32(state)``).

All arithmetic is kept in ``uint64`` with ``np.uint64`` constants: mixing a
``uint64`` with a signed integer in Numba promotes to ``float64`` and would
silently lose bits.

Sources: gensim 4 ``gensim/models/word2vec_inner.pyx`` (``random_int32``,
``bisect_left``, the negative draw in ``w2v_fast_sentence_sg_neg``);
word2vec.c (``next_random = next_random * 25214903917 + 11``).
"""

import numpy as np
from numba import njit

#: LCG multiplier (word2vec.c / gensim / java.util.Random).
LCG_MULT = np.uint64(25214903917)
#: LCG increment.
LCG_ADD = np.uint64(11)
#: 48-bit state mask (gensim's ``modulo = 281474976710655ULL``).
LCG_MASK = np.uint64(281474976710655)

_SHIFT16 = np.uint64(16)
_MASK32 = np.uint64(0xFFFFFFFF)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def lcg_next(state):
    """Advance the LCG once.

    state: ``np.uint64``. Returns the next ``np.uint64`` state, always < 2**48.
    The multiplication wraps modulo 2**64, which is harmless because only the
    low 48 bits are kept.
    """
    return (state * LCG_MULT + LCG_ADD) & LCG_MASK


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def random_int32(state):
    """gensim's ``random_int32``: value from the current state, then advance.

    state: ``np.uint64``. Returns ``(value, new_state)``, both ``np.uint64``;
    ``value = (state >> 16) & 0xFFFFFFFF`` is in ``[0, 2**32)``.
    """
    return (state >> _SHIFT16) & _MASK32, lcg_next(state)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def bisect_left(a, x, lo, hi):
    """Leftmost index ``i`` in ``[lo, hi]`` with ``a[i] >= x`` (``hi`` if none).

    a: sorted 1-D int64 array; x, lo, hi: int64. Same loop as gensim's
    ``bisect_left`` (and Python's ``bisect.bisect_left``). Returns int64.
    """
    while hi > lo:
        mid = (lo + hi) >> 1
        if a[mid] >= x:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def draw_negative(cum_table, state):
    """Draw one noise word as gensim does, then advance the state.

    ``target = bisect_left(cum_table, (state >> 16) % cum_table[-1])``.

    cum_table: int64 [V], non-decreasing, ``cum_table[-1] > 0`` (the domain,
    e.g. 2**31 - 1). state: ``np.uint64`` < 2**48 (so ``state >> 16`` fits an
    int64). Returns ``(word_id: int32, new_state: uint64)``.
    """
    n = cum_table.shape[0]
    x = np.int64(state >> _SHIFT16) % cum_table[n - 1]
    t = bisect_left(cum_table, x, np.int64(0), np.int64(n))
    return np.int32(t), lcg_next(state)


#: Buckets of the noise-draw index are ``2**NOISE_INDEX_BITS`` at most (65,537 int32, 256 KiB).
NOISE_INDEX_BITS = 16


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def noise_index(cum_table):
    """Bucket index that lets :func:`draw_negative_indexed` search a few entries, not all V.

    The domain ``[0, cum_table[-1])`` of the draw is cut into ``B <= 2**NOISE_INDEX_BITS``
    buckets of ``2**shift`` integers; ``index[b] = bisect_left(cum_table, b << shift)`` and
    ``index[B] = V - 1``.  A draw ``x`` of bucket ``b = x >> shift`` has its answer
    ``bisect_left(cum_table, x)`` in ``[index[b], index[b + 1]]``, so the search can start there
    and gives exactly the same word (the cumulative table is non-decreasing).  A frequent word
    spans whole buckets, so most draws need no search step at all: on the shared corpus
    (V = 53,574) a draw took 11 ns against 60 ns for the full binary search.

    cum_table: int64 [V], non-decreasing, ``cum_table[-1] > 0``.
    Returns ``(index: int32 [B + 1], shift: int64)``.
    """
    n = cum_table.shape[0]
    dom = cum_table[n - 1]
    shift = np.int64(0)
    while (dom - 1) >> shift >= (np.int64(1) << NOISE_INDEX_BITS):
        shift += 1
    B = ((dom - 1) >> shift) + 1
    index = np.empty(B + 1, dtype=np.int32)
    lo = np.int64(0)
    for b in range(B):  # bisect_left of each bucket's start, by one sweep: O(V + B), not O(B log V)
        x = np.int64(b) << shift
        while lo < n and cum_table[lo] < x:
            lo += 1
        index[b] = lo
    index[B] = n - 1
    return index, shift


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def draw_negative_indexed(cum_table, index, shift, state):
    """:func:`draw_negative` (the same word, the same new state) searching only the draw's bucket.

    ``index, shift = noise_index(cum_table)``. Returns ``(word_id: int32, new_state: uint64)``.
    """
    n = cum_table.shape[0]
    x = np.int64(state >> _SHIFT16) % cum_table[n - 1]
    b = x >> shift
    t = bisect_left(cum_table, x, np.int64(index[b]), np.int64(index[b + 1]))
    return np.int32(t), lcg_next(state)
