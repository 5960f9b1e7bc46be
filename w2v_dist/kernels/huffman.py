"""Huffman tree for hierarchical softmax (codes and inner-node paths per word).

:func:`build_huffman` reproduces gensim 4 exactly
(``gensim/models/word2vec.py``: ``_build_heap`` + ``_assign_binary_codes``),
so that a gensim user gets the same codes / points for the same vocabulary:

* gensim pushes ``(count, index)`` items on a ``heapq`` (leaves: ``index`` =
  word id ``0..V-1``), pops the two smallest ``min1, min2`` ``V - 1`` times
  and pushes the inner node ``(min1.count + min2.count, V + i)`` whose left
  child is ``min1`` and right child ``min2``. Ties in ``count`` are thus
  broken by the smaller index; a leaf always wins a tie against an inner
  node (leaf indices < V <= inner indices), and older inner nodes win over
  newer ones.
* Walking down from the root (the last inner node), the left child (``min1``)
  appends code bit 0 and the right child (``min2``) bit 1; ``point`` is the
  list of inner nodes on the path, root first, numbered ``index - V`` (so in
  ``0..V-2``, the root being ``V - 2``): exactly the rows of ``syn1``.

Instead of a heap this module uses the equivalent two-queue merge of
word2vec.c's ``CreateBinaryTree`` (O(V) after one stable sort): the leaves
sorted by ``(count, index)`` form one queue and the inner nodes, created
with non-decreasing counts and increasing indices, form the other; taking
the smaller ``(count, index)`` head each time (the leaf on equal counts) pops
exactly the items ``heapq`` would pop, in the same order, since
``(count, index)`` is a total order. (word2vec.c itself assumes the counts
are sorted descending and breaks ties the other way: for tied counts its
codes may differ from gensim's; only gensim's tie-breaking is followed
here.) The merge and the path extraction are small Numba loops, so
V = 2M takes well under a second (plus a one-off compilation, cached).

Edge cases: V == 1 has no inner node: its code is empty (codelen 0), as in
gensim. The returned arrays always have at least one column
(``L = max(1, longest code)``) so they keep a fixed 2-D C layout; entries at
``d >= codelens[w]`` are 0 padding and never read by the kernels.
"""

import numpy as np
from numba import njit

#: word2vec.c's ``MAX_CODE_LENGTH``: codes must be shorter than or equal to this.
MAX_CODE_LENGTH = 40


@njit(cache=True, nogil=True)
def _merge(sorted_counts, order):
    """Two-queue Huffman merge; returns (parent, bit) for the 2V-1 nodes.

    Node ids: leaves ``0..V-1`` (word ids), inner node ``i`` -> ``V + i``.
    ``parent[node]`` is the inner node id above it (-1 for the root),
    ``bit[node]`` its code bit (0 = left = first popped).
    """
    V = sorted_counts.shape[0]
    n_nodes = 2 * V - 1
    parent = np.full(n_nodes, -1, dtype=np.int64)
    bit = np.zeros(n_nodes, dtype=np.uint8)
    inner_count = np.zeros(max(V - 1, 1), dtype=np.int64)
    li = 0  # next leaf (position in the sorted order)
    ii = 0  # next inner node not yet popped
    for i in range(V - 1):
        for side in range(2):
            # leaf wins ties: its index (< V) is smaller than any inner index
            if li < V and (ii >= i or sorted_counts[li] <= inner_count[ii]):
                node = order[li]
                c = sorted_counts[li]
                li += 1
            else:
                node = V + ii
                c = inner_count[ii]
                ii += 1
            parent[node] = V + i
            bit[node] = side
            inner_count[i] += c
    return parent, bit


@njit(cache=True, nogil=True)
def _depths(parent, V):
    """Depth (code length) of every node; inner nodes are created bottom-up,
    so walking them from the root (the last) downwards sees parents first."""
    n_nodes = parent.shape[0]
    depth = np.zeros(n_nodes, dtype=np.int64)
    for node in range(n_nodes - 2, V - 1, -1):  # inner nodes, root excluded
        depth[node] = depth[parent[node]] + 1
    for node in range(V):
        if parent[node] >= 0:
            depth[node] = depth[parent[node]] + 1
    return depth


@njit(cache=True, nogil=True)
def _fill(parent, bit, depth, V, L):
    points = np.zeros((V, L), dtype=np.int32)
    codes = np.zeros((V, L), dtype=np.uint8)
    codelens = np.zeros(V, dtype=np.int32)
    for w in range(V):
        n = depth[w]
        codelens[w] = n
        node = w
        for d in range(n - 1, -1, -1):
            codes[w, d] = bit[node]
            node = parent[node]
            points[w, d] = node - V
    return points, codes, codelens


def build_huffman(counts):
    """Huffman codes of a vocabulary, as gensim 4's ``_assign_binary_codes``.

    Parameters
    ----------
    counts : array-like of int, shape [V], V >= 1
        Word counts in vocabulary order (normally most frequent first; any
        order is accepted, ties are broken by the smaller word id as gensim).

    Returns
    -------
    points : int32 [V, L]
        ``points[w, :codelens[w]]``: inner nodes (rows of ``syn1``, in
        ``0..V-2``) on the path of word ``w``, root (``V - 2``) first.
    codes : uint8 [V, L]
        ``codes[w, :codelens[w]]``: the branch bits (0 = left, 1 = right).
    codelens : int32 [V]
        Code lengths (0 for the single word of a V == 1 vocabulary).
    ``L = max(1, codelens.max())``; entries beyond ``codelens[w]`` are 0.

    Raises
    ------
    ValueError
        If ``counts`` is empty or not 1-D, or a code would be longer than
        :data:`MAX_CODE_LENGTH` (40, word2vec.c's cap).
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ValueError("build_huffman: counts must be a non-empty 1-D array")
    counts = counts.astype(np.int64)
    V = counts.shape[0]
    # stable sort == order by (count, index), heapq's order on the leaves
    order = np.argsort(counts, kind="stable").astype(np.int64)
    parent, bit = _merge(counts[order], order)
    depth = _depths(parent, V)
    longest = int(depth[:V].max())
    if longest > MAX_CODE_LENGTH:
        raise ValueError(
            f"build_huffman: a Huffman code of length {longest} exceeds "
            f"MAX_CODE_LENGTH = {MAX_CODE_LENGTH}")
    return _fill(parent, bit, depth, V, max(longest, 1))
