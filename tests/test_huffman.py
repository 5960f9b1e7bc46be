"""Tests of the Huffman tree for hierarchical softmax (w2v_dist.kernels.huffman).

The reference is an independent re-implementation of gensim 4's
``_build_heap`` + ``_assign_binary_codes`` with ``heapq`` on ``(count, index)``,
and gensim itself.
"""

import heapq
import itertools

import numpy as np
import pytest

from w2v_dist.kernels import MAX_CODE_LENGTH, build_huffman


def heapq_codes(counts):
    """gensim's algorithm: returns per-word (codes list, points list)."""
    V = len(counts)
    heap = [(int(c), i, None, None) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    for i in range(V - 1):
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        heapq.heappush(heap, (a[0] + b[0], V + i, a, b))
    out = {}
    stack = [(heap[0], [], [])]
    while stack:
        node, code, point = stack.pop()
        if node[1] < V:
            out[node[1]] = (code, point)
        else:
            point = point + [node[1] - V]
            stack.append((node[2], code + [0], point))
            stack.append((node[3], code + [1], point))
    return [out[w] for w in range(V)]


def as_lists(points, codes, codelens):
    return [(codes[w, :codelens[w]].tolist(), points[w, :codelens[w]].tolist())
            for w in range(len(codelens))]


ZIPF12 = (1200 // np.arange(1, 13)).astype(np.int64)          # 1200, 600, 400, 300, ...
TABLES = [
    np.array([5, 3, 2, 2, 1]),
    ZIPF12,
    np.array([4, 4, 4, 4, 4, 4, 4]),                           # all ties
    np.array([9, 7, 7, 3, 3, 3, 2, 1, 1, 1]),                  # ties leaf vs inner node
]


@pytest.mark.parametrize("counts", TABLES, ids=["5321", "zipf12", "ties", "mixed"])
def test_codes_equal_heapq_reference(counts):
    points, codes, codelens = build_huffman(counts)
    V = len(counts)
    assert points.dtype == np.int32 and codes.dtype == np.uint8 and codelens.dtype == np.int32
    assert points.shape == codes.shape == (V, int(codelens.max()))
    assert as_lists(points, codes, codelens) == heapq_codes(counts)
    # points are inner nodes 0..V-2, root (V-2) first; every inner node is used
    assert (points[:, 0] == V - 2).all()
    used = {p for w in range(V) for p in points[w, :codelens[w]].tolist()}
    assert used == set(range(V - 1))
    # Kraft equality (full binary tree) and prefix-freeness
    assert sum(2.0 ** -int(n) for n in codelens) == 1.0
    words = ["".join(map(str, codes[w, :codelens[w]])) for w in range(V)]
    for a, b in itertools.permutations(words, 2):
        assert not b.startswith(a)
    # optimal: more frequent words never get longer codes
    for a in range(V):
        for b in range(V):
            if counts[a] > counts[b]:
                assert codelens[a] <= codelens[b]


def test_known_small_table():
    # counts [5, 3, 2, 2, 1], heap items (count, index); inner node i has index 5 + i:
    # pop (1, w4), (2, w2) -> n0 = (3, 5); pop (2, w3), (3, w1) -> n1 = (5, 6);
    # pop (3, n0), (5, w0) -> n2 = (8, 7)  [(5, 0) < (5, 6)]; pop n1, n2 -> root n3.
    # left child (first pop) = bit 0, right = bit 1; points root first.
    points, codes, codelens = build_huffman([5, 3, 2, 2, 1])
    got = as_lists(points, codes, codelens)
    assert got == [([1, 1], [3, 2]),        # w0: root -> n7 (right) -> w0 (right)
                   ([0, 1], [3, 1]),        # w1: root -> n6 (left) -> w1 (right)
                   ([1, 0, 1], [3, 2, 0]),  # w2: root -> n7 -> n5 (left) -> w2 (right)
                   ([0, 0], [3, 1]),        # w3
                   ([1, 0, 0], [3, 2, 0])]  # w4


def _gensim_model(counts):
    gensim = pytest.importorskip("gensim")
    words = [f"w{i}" for i in range(len(counts))]
    tokens = [w for w, c in zip(words, counts) for _ in range(int(c))]
    rng = np.random.default_rng(0)
    rng.shuffle(tokens)
    sentences = [tokens[i:i + 10] for i in range(0, len(tokens), 10)]
    return gensim.models.Word2Vec(sentences, vector_size=4, min_count=1, hs=1, negative=0,
                                  epochs=1, workers=1, seed=1)


@pytest.mark.parametrize("counts", [np.array([50, 30, 20, 19, 11, 7, 4, 3, 2, 1]), ZIPF12],
                         ids=["distinct", "zipf12"])
def test_codes_equal_gensim(counts):
    # Distinct counts, so that gensim's vocabulary order is w0, w1, ... (with
    # tied counts gensim's final index order of the tied words need not be
    # the one its tree was built on, so per-index codes are not comparable).
    assert (np.diff(counts) < 0).all()
    model = _gensim_model(counts)
    wv = model.wv
    keys = list(wv.index_to_key)
    assert keys == [f"w{i}" for i in range(len(counts))]
    assert [wv.get_vecattr(k, "count") for k in keys] == counts.tolist()
    points, codes, codelens = build_huffman(counts)
    for i, k in enumerate(keys):
        assert codes[i, :codelens[i]].tolist() == list(wv.get_vecattr(k, "code")), k
        assert points[i, :codelens[i]].tolist() == list(wv.get_vecattr(k, "point")), k
    assert model.syn1.shape[0] >= len(keys) - 1


def test_single_word_has_empty_code():
    points, codes, codelens = build_huffman(np.array([7]))
    assert codelens.tolist() == [0]
    assert points.shape == codes.shape == (1, 1)  # L = max(1, longest code)


def test_two_words():
    points, codes, codelens = build_huffman(np.array([3, 1]))
    assert codelens.tolist() == [1, 1]
    assert points[:, 0].tolist() == [0, 0]
    # heap pops (1, w1) first -> left (0); (3, w0) -> right (1)
    assert codes[:, 0].tolist() == [1, 0]
    # equal counts: the smaller index is popped first (left, code 0)
    _, codes, _ = build_huffman(np.array([2, 2]))
    assert codes[:, 0].tolist() == [0, 1]


def test_empty_counts_raise():
    with pytest.raises(ValueError):
        build_huffman(np.array([], dtype=np.int64))
    with pytest.raises(ValueError):
        build_huffman([])


def test_code_longer_than_max_raises():
    # Fibonacci counts give a maximally unbalanced tree: code length V - 1
    fib = [1, 1]
    while len(fib) < MAX_CODE_LENGTH + 2:
        fib.append(fib[-1] + fib[-2])
    ok = np.array(fib[:MAX_CODE_LENGTH + 1][::-1], dtype=np.int64)   # longest code 40
    assert build_huffman(ok)[2].max() == MAX_CODE_LENGTH
    bad = np.array(fib[:MAX_CODE_LENGTH + 2][::-1], dtype=np.int64)  # longest code 41
    with pytest.raises(ValueError, match="MAX_CODE_LENGTH"):
        build_huffman(bad)


def test_large_vocabulary_is_valid():
    V = 2_000_000
    counts = (10**7 // np.arange(1, V + 1)).astype(np.int64) + 1
    points, codes, codelens = build_huffman(counts)
    assert np.isclose(np.sum(np.ldexp(1.0, -codelens.astype(np.int64))), 1.0)
    # a strictly more frequent word never has a longer code (within tied
    # counts the smaller index is merged first and may be deeper)
    starts = np.flatnonzero(np.r_[True, np.diff(counts) != 0])   # count groups, descending
    gmax = np.maximum.reduceat(codelens, starts)
    gmin = np.minimum.reduceat(codelens, starts)
    assert (np.maximum.accumulate(gmax)[:-1] <= gmin[1:]).all()
    assert (points[:, 0] == V - 2).all()
