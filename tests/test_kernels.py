"""Tests of the Numba kernels (w2v_dist.kernels): negative sampling and
hierarchical softmax.

The references below are deliberately independent, slow float64 Python /
numpy code (own LCG with Python ints, ``bisect`` from the standard library).
"""

import bisect
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from w2v_dist.kernels import (build_huffman, cbow_hs_step, cbow_step, hs_update, ns_update,
                               sg_hs_pair_step, sg_pair_step, train_slice, warmup)
from w2v_dist.kernels import _rng
from w2v_dist.kernels.ns import dot32, dot32_pair, dot32_scalar
from w2v_dist.vocab import noise_cum_table

MASK48 = (1 << 48) - 1
KEEP_ALL = 2**32 - 1


# ----------------------------------------------------------------------------
# independent references
# ----------------------------------------------------------------------------

def py_lcg(state):
    return (state * 25214903917 + 11) & MASK48


def py_random_int32(state):
    return (state >> 16) & 0xFFFFFFFF, py_lcg(state)


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def ref_ns(l1, W1, targets, alpha, touched1):
    """Sequential NS update on float64 W1; returns (neu1e, loss)."""
    neu1e = np.zeros(W1.shape[1])
    loss = 0.0
    for d, t in enumerate(targets):
        t = int(t)
        if d > 0 and t == int(targets[0]):
            continue
        label = 1.0 if d == 0 else 0.0
        f = float(l1 @ W1[t])
        g = (label - sigmoid(f)) * alpha
        neu1e += g * W1[t]
        W1[t] += g * l1
        touched1.add(t)
        loss += -math.log(sigmoid(f)) if d == 0 else -math.log(sigmoid(-f))
    return neu1e, loss


def ref_hs(l1, W2, path, word, alpha, touched2):
    """HS update on float64 W2 along ``path = (points, codes)`` lists of each word."""
    neu1e = np.zeros(W2.shape[1])
    loss = 0.0
    points, codes = path
    for p, code in zip(points[word], codes[word]):
        f = float(l1 @ W2[p])
        g = (1.0 - code - sigmoid(f)) * alpha
        neu1e += g * W2[p]
        W2[p] += g * l1
        touched2.add(int(p))
        loss += -math.log(sigmoid(f)) if code == 0 else -math.log(sigmoid(-f))
    return neu1e, loss


def ref_output(l1, W1, targets, alpha, touched1, hs_ctx, negative=None):
    """HS (if ``hs_ctx = (W2, path, touched2)``) then NS into one neu1e."""
    neu1e = np.zeros(l1.shape[0])
    loss = 0.0
    if hs_ctx is not None:
        W2, path, touched2 = hs_ctx
        e, lo = ref_hs(l1, W2, path, int(targets[0]), alpha, touched2)
        neu1e += e
        loss += lo
    if negative is None or negative > 0:
        e, lo = ref_ns(l1, W1, targets, alpha, touched1)
        neu1e += e
        loss += lo
    return neu1e, loss


def ref_sg_step(W0, W1, context, targets, alpha, touched0, touched1, hs_ctx=None,
                negative=None):
    l1 = W0[context].copy()
    neu1e, loss = ref_output(l1, W1, targets, alpha, touched1, hs_ctx, negative)
    W0[context] += neu1e
    touched0.add(int(context))
    return loss


def ref_cbow_step(W0, W1, contexts, targets, alpha, cbow_mean, touched0, touched1, hs_ctx=None,
                  negative=None):
    l1 = np.zeros(W0.shape[1])
    for c in contexts:
        l1 += W0[c]
    if cbow_mean:
        l1 /= len(contexts)
    neu1e, loss = ref_output(l1, W1, targets, alpha, touched1, hs_ctx, negative)
    if not cbow_mean:
        neu1e /= len(contexts)
    for c in contexts:
        W0[c] += neu1e
        touched0.add(int(c))
    return loss


def ref_train_slice(syn0, syn1neg, ids, offsets, lo, hi, keep_prob, cum_table, sg, cbow_mean,
                    window, negative, alpha_start, alpha_end, seed, syn1=None, path=None):
    """Pure-Python re-implementation of train_slice (float64 weights).

    HS is on when ``syn1`` and ``path = (points, codes)`` (per-word lists) are
    given; returns W2 and touched2 then as well.
    """
    W0 = syn0.astype(np.float64)
    W1 = syn1neg.astype(np.float64)
    touched0, touched1 = set(), set()
    hs_ctx = None
    if syn1 is not None:
        W2, touched2 = syn1.astype(np.float64), set()
        hs_ctx = (W2, path, touched2)
    cum = [int(x) for x in cum_table]
    domain = cum[-1]
    state = seed & MASK48
    raw_total = int(offsets[hi] - offsets[lo])
    raw_done = eff = 0
    loss = 0.0

    def draw():
        nonlocal state
        t = bisect.bisect_left(cum, (state >> 16) % domain)
        state = py_lcg(state)
        return t

    for s in range(lo, hi):
        frac = raw_done / raw_total if raw_total else 0.0
        alpha = float(np.float32(alpha_start + (alpha_end - alpha_start) * frac))
        sent = []
        for w in ids[offsets[s]:offsets[s + 1]]:
            r, state = py_random_int32(state)
            if int(keep_prob[w]) < r:
                continue
            sent.append(int(w))
        raw_done += int(offsets[s + 1] - offsets[s])
        eff += len(sent)
        reduced = []
        for _ in sent:
            r, state = py_random_int32(state)
            reduced.append(r % window)
        n = len(sent)
        for i in range(n):
            b = reduced[i]
            j0 = max(i - window + b, 0)
            k = min(i + window + 1 - b, n)
            if sg:
                for j in range(j0, k):
                    if j == i:
                        continue
                    targets = [sent[i]] + [draw() for _ in range(negative)]
                    loss += ref_sg_step(W0, W1, sent[j], targets, alpha, touched0, touched1,
                                        hs_ctx, negative)
            else:
                ctx = [sent[j] for j in range(j0, k) if j != i]
                if not ctx:
                    continue
                targets = [sent[i]] + [draw() for _ in range(negative)]
                loss += ref_cbow_step(W0, W1, ctx, targets, alpha, cbow_mean, touched0, touched1,
                                      hs_ctx, negative)
    if hs_ctx is not None:
        return W0, W1, raw_done, eff, loss, touched0, touched1, W2, touched2
    return W0, W1, raw_done, eff, loss, touched0, touched1


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def rand_weights(rng, V, D, scale=0.5):
    syn0 = ((rng.random((V, D)) - 0.5) * scale).astype(np.float32)
    syn1 = ((rng.random((V, D)) - 0.5) * scale).astype(np.float32)
    return syn0, syn1


def make_cum_table(counts, power=0.75, domain=2**31 - 1):
    """gensim ``make_cum_table``: cumulative counts**power scaled to ``domain``."""
    p = np.asarray(counts, dtype=np.float64) ** power
    return np.round(np.cumsum(p) / p.sum() * domain).astype(np.int64)


def corpus_arrays(sentences):
    ids = np.array([w for s in sentences for w in s], dtype=np.int32)
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in sentences])
    return ids, offsets


def flags(V):
    return np.zeros(V, np.uint8), np.zeros(V, np.uint8)


def hs_dummies(D):
    """What the driver passes when hs == 0: (syn1, points, codes, codelens, touched2)."""
    return (np.zeros((1, D), np.float32), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.uint8),
            np.zeros(1, np.int32), np.zeros(1, np.uint8))


def ns_dummies(D):
    """What the driver passes when negative == 0: (syn1neg, cum_table, touched1)."""
    return np.zeros((1, D), np.float32), np.ones(1, np.int64), np.zeros(1, np.uint8)


def path_lists(points, codes, codelens):
    """Per-word python lists of the Huffman paths (for the references)."""
    return ([points[w, :codelens[w]].tolist() for w in range(len(codelens))],
            [codes[w, :codelens[w]].tolist() for w in range(len(codelens))])


def train_ns(syn0, syn1neg, ids, offsets, lo, hi, keep_prob, cum_table, sg, cbow_mean, window,
             negative, alpha_start, alpha_end, seed, touched0, touched1, compute_loss):
    """``train_slice`` with hs = 0 and the driver's HS dummies."""
    syn1, points, codes, codelens, touched2 = hs_dummies(syn0.shape[1])
    out = train_slice(syn0, syn1neg, syn1, ids, offsets, lo, hi, keep_prob, cum_table,
                      points, codes, codelens, sg, cbow_mean, window, negative, 0,
                      alpha_start, alpha_end, seed, touched0, touched1, touched2, compute_loss)
    assert not touched2.any() and not syn1.any()
    return out


def as_set(touched):
    return set(np.flatnonzero(touched).tolist())


# ----------------------------------------------------------------------------
# RNG and dot building blocks
# ----------------------------------------------------------------------------

def test_lcg_random_int32_and_bisect_match_python():
    state = np.uint64(123456789)
    py_state = 123456789
    for _ in range(50):
        v, state = _rng.random_int32(state)
        pv, py_state = py_random_int32(py_state)
        assert int(v) == pv
        assert int(state) == py_state
    cum = np.array([3, 3, 10, 25, 40], dtype=np.int64)
    for x in range(0, 42):
        assert _rng.bisect_left(cum, np.int64(x), np.int64(0), np.int64(5)) == \
            bisect.bisect_left(cum.tolist(), x)


@pytest.mark.parametrize("case", ["zipf", "tiny-domain", "one-word", "zero-counts"])
def test_indexed_noise_draw_equals_python_bisect(case):
    """``draw_negative_indexed`` gives gensim's draw (``bisect_left`` over the whole table) for
    every state, at bucket edges and table entries too, and advances the state the same way."""
    rng = np.random.default_rng(7)
    if case == "zipf":
        counts = (1e6 / np.arange(1, 5001) ** 1.1).astype(np.int64) + 1
        cum = noise_cum_table(counts, 0.75)
    elif case == "tiny-domain":
        cum = np.array([3, 3, 10, 25, 40], dtype=np.int64)  # fewer integers than buckets
    elif case == "one-word":
        cum = np.array([2**31 - 1], dtype=np.int64)
    else:
        counts = np.array([5, 0, 0, 7, 0, 1, 0, 0], dtype=np.int64)
        cum = noise_cum_table(counts, 0.75)
    index, shift = _rng.noise_index(cum)
    assert index.dtype == np.int32 and index.shape[0] <= 2**_rng.NOISE_INDEX_BITS + 1
    dom = int(cum[-1])
    xs = np.concatenate([rng.integers(0, dom, 20000), cum[cum < dom], np.maximum(cum - 1, 0),
                         (np.arange(index.shape[0] - 1) << int(shift)) % dom, [0, dom - 1]])
    expect = np.searchsorted(cum, xs, side="left")
    for x, e in zip(xs.tolist(), expect.tolist()):
        state = np.uint64(x << 16)  # (state >> 16) % dom == x
        t, new = _rng.draw_negative_indexed(cum, index, shift, state)
        t0, new0 = _rng.draw_negative(cum, state)
        assert int(t) == e == int(t0), (case, x)
        assert new == new0


@pytest.mark.parametrize("D", [1, 5, 8, 9, 21, 100])
def test_dot32_simd_equals_scalar_reference(D):
    rng = np.random.default_rng(D)
    a = rng.standard_normal((3, D)).astype(np.float32)
    b = rng.standard_normal((4, D)).astype(np.float32)
    for ia, ib in [(0, 0), (2, 3), (1, 2)]:
        got = dot32(a, ia, b, ib)
        assert got == dot32_scalar(a, ia, b, ib)  # bit-identical
        exact = float(a[ia].astype(np.float64) @ b[ib].astype(np.float64))
        assert abs(float(got) - exact) <= 1e-5 * max(1.0, np.abs(a[ia] * b[ib]).sum())
    for ia0, ia1, ib in [(0, 1, 0), (2, 0, 3), (1, 1, 2)]:
        f0, f1 = dot32_pair(a, ia0, ia1, b, ib)  # fast CBOW's two inputs against one noise row
        assert (f0, f1) == (dot32_scalar(a, ia0, b, ib), dot32_scalar(a, ia1, b, ib))


# ----------------------------------------------------------------------------
# 1. one skip-gram step
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("D", [5, 21])
def test_sg_pair_step_matches_reference(D):
    V = 7
    rng = np.random.default_rng(1)
    syn0, syn1 = rand_weights(rng, V, D, scale=1.0)
    context = 2
    # positive 4; noise 1 twice (sequential), 4 again (== positive: skipped), 6
    targets = np.array([4, 1, 1, 4, 6], dtype=np.int32)
    alpha = 0.5
    W0, W1 = syn0.astype(np.float64), syn1.astype(np.float64)
    rt0, rt1 = set(), set()
    ref_loss = ref_sg_step(W0, W1, context, targets, alpha, rt0, rt1)

    t0, t1 = flags(V)
    neu1e = np.zeros(D, np.float32)
    loss = sg_pair_step(syn0, syn1, context, targets, alpha, neu1e, t0, t1)

    np.testing.assert_allclose(syn0, W0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W1, rtol=1e-5, atol=1e-6)
    assert as_set(t0) == rt0 == {2}
    assert as_set(t1) == rt1 == {1, 4, 6}
    assert loss == pytest.approx(ref_loss, rel=1e-5)

    # the repeated target really is applied sequentially: a "batched" update
    # (both occurrences computed from the original row) gives another result
    B0, B1 = rand_weights(np.random.default_rng(1), V, D, scale=1.0)
    B0, B1 = B0.astype(np.float64), B1.astype(np.float64)
    l1 = B0[context].copy()
    f = l1 @ B1[1]
    g = (0.0 - sigmoid(f)) * alpha
    batched_row1 = B1[1] + 2 * g * l1
    assert not np.allclose(batched_row1, W1[1], rtol=1e-4, atol=1e-5)


def test_ns_update_accumulates_into_neu1e_and_respects_loss_flag():
    V, D = 6, 9
    rng = np.random.default_rng(2)
    syn0, syn1 = rand_weights(rng, V, D)
    targets = np.array([3, 0, 5], dtype=np.int32)
    t1 = np.zeros(V, np.uint8)
    neu1e = np.full(D, 0.25, np.float32)  # ns_update must add, not overwrite
    W0, W1 = syn0.astype(np.float64), syn1.astype(np.float64)
    ref_neu1e, _ = ref_ns(W0[1].copy(), W1, targets, 0.1, set())
    loss = ns_update(syn0, 1, syn1, targets, 0.1, neu1e, t1, 0)
    assert loss == 0.0
    np.testing.assert_allclose(neu1e, 0.25 + ref_neu1e, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W1, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(syn0, W0.astype(np.float32))  # input untouched
    assert as_set(t1) == {0, 3, 5}


# ----------------------------------------------------------------------------
# 2. one CBOW step
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("cbow_mean", [1, 0])
@pytest.mark.parametrize("D", [5, 21])
def test_cbow_step_matches_reference(cbow_mean, D):
    V = 7
    rng = np.random.default_rng(3 + cbow_mean)
    syn0, syn1 = rand_weights(rng, V, D, scale=1.0)
    contexts = np.array([0, 3, 3, 5], dtype=np.int32)  # 3 twice: gets the error twice
    targets = np.array([2, 6, 6, 2, 1], dtype=np.int32)
    alpha = 0.3
    W0, W1 = syn0.astype(np.float64), syn1.astype(np.float64)
    rt0, rt1 = set(), set()
    ref_loss = ref_cbow_step(W0, W1, contexts, targets, alpha, cbow_mean, rt0, rt1)

    t0, t1 = flags(V)
    neu1 = np.zeros((1, D), np.float32)
    neu1e = np.zeros(D, np.float32)
    loss = cbow_step(syn0, syn1, contexts, targets, alpha, cbow_mean, neu1, neu1e, t0, t1)

    np.testing.assert_allclose(syn0, W0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W1, rtol=1e-5, atol=1e-6)
    assert as_set(t0) == rt0 == {0, 3, 5}
    assert as_set(t1) == rt1 == {1, 2, 6}
    assert loss == pytest.approx(ref_loss, rel=1e-5)


def test_cbow_step_without_context_is_a_noop():
    V, D = 4, 3
    syn0, syn1 = rand_weights(np.random.default_rng(4), V, D)
    s0, s1 = syn0.copy(), syn1.copy()
    t0, t1 = flags(V)
    loss = cbow_step(syn0, syn1, np.zeros(0, np.int32), np.array([1, 2], np.int32), 0.1, 1,
                     np.zeros((1, D), np.float32), np.zeros(D, np.float32), t0, t1)
    assert loss == 0.0
    np.testing.assert_array_equal(syn0, s0)
    np.testing.assert_array_equal(syn1, s1)
    assert not t0.any() and not t1.any()


# ----------------------------------------------------------------------------
# 3. whole train_slice against the pure-Python loop
# ----------------------------------------------------------------------------

def tiny_corpus():
    V = 12
    sentences = [
        [0, 1, 2, 3, 0, 4, 5, 1, 6, 0],
        [7],                      # one word: CBOW has no context here
        [],                       # empty sentence
        [8, 9, 0, 1, 10, 11, 2, 0],
        [3, 3, 4, 0, 5, 6, 7, 1, 0],
    ]
    ids, offsets = corpus_arrays(sentences)
    counts = np.bincount(ids, minlength=V) + 1
    cum_table = make_cum_table(counts)
    keep_prob = np.full(V, KEEP_ALL, dtype=np.uint32)
    keep_prob[0] = int(0.4 * 2**32)   # frequent words subsampled
    keep_prob[1] = int(0.6 * 2**32)
    keep_prob[3] = int(0.8 * 2**32)
    return V, ids, offsets, keep_prob, cum_table


@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
@pytest.mark.parametrize("lo,hi", [(0, 5), (1, 4)])
def test_train_slice_matches_python_reference(sg, cbow_mean, lo, hi):
    V, ids, offsets, keep_prob, cum_table = tiny_corpus()
    D, window, negative = 6, 2, 3
    syn0, syn1 = rand_weights(np.random.default_rng(5), V, D)
    seed = 987654321
    W0, W1, raw, eff, ref_loss, rt0, rt1 = ref_train_slice(
        syn0, syn1, ids, offsets, lo, hi, keep_prob, cum_table, sg, cbow_mean,
        window, negative, 0.05, 0.01, seed)

    t0, t1 = flags(V)
    got_raw, got_eff, loss = train_ns(syn0, syn1, ids, offsets, lo, hi, keep_prob, cum_table,
                                         sg, cbow_mean, window, negative, 0.05, 0.01, seed,
                                         t0, t1, 1)
    assert got_raw == raw == offsets[hi] - offsets[lo]
    assert got_eff == eff
    assert eff < raw or hi - lo < 3  # subsampling dropped something
    np.testing.assert_allclose(syn0, W0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W1, rtol=1e-5, atol=1e-6)
    assert as_set(t0) == rt0 and as_set(t1) == rt1
    assert len(rt1) > 0
    assert loss == pytest.approx(ref_loss, rel=1e-5)


def test_train_slice_loss_flag_does_not_change_updates():
    V, ids, offsets, keep_prob, cum_table = tiny_corpus()
    a0, a1 = rand_weights(np.random.default_rng(6), V, 6)
    b0, b1 = a0.copy(), a1.copy()
    r1 = train_ns(a0, a1, ids, offsets, 0, 5, keep_prob, cum_table, 1, 1, 2, 3, 0.05, 0.01,
                     7, *flags(V), 1)
    r0 = train_ns(b0, b1, ids, offsets, 0, 5, keep_prob, cum_table, 1, 1, 2, 3, 0.05, 0.01,
                     7, *flags(V), 0)
    assert r0[2] == 0.0 and r1[2] > 0.0
    assert r0[:2] == r1[:2]
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(a1, b1)


def test_train_slice_empty_range():
    V, ids, offsets, keep_prob, cum_table = tiny_corpus()
    syn0, syn1 = rand_weights(np.random.default_rng(7), V, 6)
    s0 = syn0.copy()
    t0, t1 = flags(V)
    assert train_ns(syn0, syn1, ids, offsets, 2, 2, keep_prob, cum_table, 1, 1, 2, 3,
                       0.05, 0.01, 1, t0, t1, 1) == (0, 0, 0.0)
    np.testing.assert_array_equal(syn0, s0)
    assert not t0.any()


# ----------------------------------------------------------------------------
# 4. learning on a corpus with structure
# ----------------------------------------------------------------------------

def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
def test_training_separates_groups_and_reduces_loss(sg, cbow_mean):
    rng = np.random.default_rng(8)
    G, V, D = 10, 20, 16
    sentences = []
    for s in range(300):
        base = 0 if s % 2 == 0 else G  # group A: 0..9, group B: 10..19
        sentences.append((base + rng.integers(0, G, 12)).tolist())
    ids, offsets = corpus_arrays(sentences)
    cum_table = make_cum_table(np.bincount(ids, minlength=V))
    keep_prob = np.full(V, KEEP_ALL, dtype=np.uint32)
    syn0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)  # gensim-style init
    syn1 = np.zeros((V, D), np.float32)
    t0, t1 = flags(V)
    epochs, alpha0 = 8, 0.05
    losses = []
    S = len(sentences)
    for e in range(epochs):
        a_start = alpha0 * (1 - e / epochs) + 1e-4
        a_end = alpha0 * (1 - (e + 1) / epochs) + 1e-4
        raw, eff, loss = train_ns(syn0, syn1, ids, offsets, 0, S, keep_prob, cum_table, sg,
                                     cbow_mean, 3, 5, a_start, a_end, 1000 + e, t0, t1, 1)
        assert raw == eff == len(ids)
        losses.append(loss / eff)
    # the loss floor is high here (within a group the center word is uniform),
    # so only a clear, not a dramatic, decrease is expected
    assert losses[-1] < 0.93 * losses[0]
    assert max(losses[1:]) < losses[0]
    # Cosines of mean-centred vectors: all rows share a common component
    # (it acts as a bias; large for CBOW-sum, gensim shows the same), which
    # would hide the group structure in raw cosines.
    X = syn0 - syn0.mean(axis=0)
    within = [_cos(X[a], X[b]) for g in (0, G) for a in range(g, g + G)
              for b in range(a + 1, g + G)]
    across = [_cos(X[a], X[b]) for a in range(G) for b in range(G, V)]
    assert np.mean(within) > 0.3 and np.mean(across) < -0.2
    assert np.mean(within) > np.mean(across) + 0.7
    assert np.isfinite(syn0).all() and np.isfinite(syn1).all()
    assert t0.all() and t1.all()


# ----------------------------------------------------------------------------
# 5. Hogwild threads
# ----------------------------------------------------------------------------

def test_two_threads_on_shared_matrices():
    rng = np.random.default_rng(9)
    V, D = 200, 32
    sentences = [rng.integers(0, V, rng.integers(5, 40)).tolist() for _ in range(400)]
    ids, offsets = corpus_arrays(sentences)
    cum_table = make_cum_table(np.bincount(ids, minlength=V) + 1)
    keep_prob = np.full(V, KEEP_ALL, dtype=np.uint32)
    syn0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
    syn1 = np.zeros((V, D), np.float32)
    init0 = syn0.copy()
    S = len(sentences)
    touched = [flags(V) for _ in range(2)]

    def run(k):
        lo, hi = (0, S // 2) if k == 0 else (S // 2, S)
        return train_ns(syn0, syn1, ids, offsets, lo, hi, keep_prob, cum_table, k, 1, 5, 5,
                           0.025, 0.0001, 11 + k, touched[k][0], touched[k][1], 1)

    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(run, [0, 1]))
    assert sum(r[0] for r in results) == len(ids)
    assert sum(r[1] for r in results) == len(ids)
    assert all(np.isfinite(r[2]) and r[2] > 0 for r in results)
    assert np.isfinite(syn0).all() and np.isfinite(syn1).all()
    assert not np.array_equal(syn0, init0) and np.abs(syn1).sum() > 0
    for t0, t1 in touched:
        assert t0.any() and t1.any()


def test_warmup_runs():
    warmup()


def test_warmup_compiles_only_the_variant_of_the_job():
    """A worker compiles the one kernel variant its job runs (a cold compile of all ten took
    minutes): in a fresh process, warmup for exact SG-NS and fast CBOW-NS leaves every other
    variant uncompiled."""
    import subprocess
    import sys

    code = ("from w2v_dist.kernels import warmup, ns\n"
            "warmup(sg=1, hs=0, negative=5)\n"
            "warmup(sg=0, hs=0, negative=5, shared_negatives=2)\n"
            "print(sorted(k for k, v in vars(ns).items() if k.startswith(('_slice_', '_shared_')) "
            "and hasattr(v, 'signatures') and v.signatures))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "['_shared_cbow_ns', '_slice_sg_ns']"


def test_dispatchers_refuse_nothing_to_train():
    from w2v_dist.kernels import train_slice_shared

    V, D = 4, 3
    z = np.zeros((V, D), np.float32)
    args = (z, z, z, np.zeros(2, np.int32), np.array([0, 2], np.int64), 0, 1, np.full(V, KEEP_ALL, np.uint32),
            np.ones(V, np.int64), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.uint8), np.zeros(1, np.int32),
            1, 1, 2, 0, 0, 0.025, 0.0001, 1, np.zeros(V, np.uint8), np.zeros(V, np.uint8), np.zeros(1, np.uint8), 0)
    with pytest.raises(ValueError, match="hs=0 and negative=0"):
        train_slice(*args)
    with pytest.raises(ValueError, match="negative >= 1"):
        train_slice_shared(*args, 2)


# ----------------------------------------------------------------------------
# 6. hierarchical softmax
# ----------------------------------------------------------------------------

HS_COUNTS = np.array([20, 11, 7, 5, 3, 2], dtype=np.int64)  # V = 6, codes of length 1..4


def hs_setup(D=5, seed=20):
    V = len(HS_COUNTS)
    points, codes, codelens = build_huffman(HS_COUNTS)
    rng = np.random.default_rng(seed)
    syn0, syn1neg = rand_weights(rng, V, D, scale=1.0)
    syn1 = ((rng.random((V - 1, D)) - 0.5)).astype(np.float32)
    return V, points, codes, codelens, syn0, syn1neg, syn1


def test_hs_update_matches_reference_and_accumulates():
    V, points, codes, codelens, syn0, _, syn1 = hs_setup()
    D = syn0.shape[1]
    word = V - 1  # deepest path
    assert codelens[word] >= 3
    W0, W2 = syn0.astype(np.float64), syn1.astype(np.float64)
    rt2 = set()
    ref_e, ref_loss = ref_hs(W0[2].copy(), W2, path_lists(points, codes, codelens), word, 0.4, rt2)
    neu1e = np.full(D, 0.5, np.float32)
    t2 = np.zeros(V - 1, np.uint8)
    loss = hs_update(syn0, 2, syn1, points, codes, codelens, word, 0.4, neu1e, t2, 1)
    np.testing.assert_allclose(neu1e, 0.5 + ref_e, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(syn0, W0.astype(np.float32))
    assert as_set(t2) == rt2 == set(points[word, :codelens[word]].tolist())
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    # loss = -log P(word) where the P(w) over all words sum to 1 (a proper softmax)
    l1 = W0[2]
    pts, cds = path_lists(points, codes, codelens)
    probs = []
    for w in range(V):
        pr = 1.0
        for p, c in zip(pts[w], cds[w]):
            f = float(l1 @ W2[p])
            pr *= sigmoid(f) if c == 0 else sigmoid(-f)
        probs.append(pr)
    assert sum(probs) == pytest.approx(1.0, rel=1e-9)
    assert hs_update(syn0, 2, syn1, points, codes, codelens, word, 0.4, neu1e, t2, 0) == 0.0


@pytest.mark.parametrize("negative", [0, 3])
def test_sg_hs_pair_step_matches_reference(negative):
    V, points, codes, codelens, syn0, syn1neg, syn1 = hs_setup()
    D = syn0.shape[1]
    path = path_lists(points, codes, codelens)
    targets = np.array([4, 1, 4, 0][:negative + 1], dtype=np.int32)
    if negative == 0:
        syn1neg, _, t1 = ns_dummies(D)
    else:
        t1 = np.zeros(V, np.uint8)
    W0, W1, W2 = (x.astype(np.float64) for x in (syn0, syn1neg, syn1))
    rt0, rt1, rt2 = set(), set(), set()
    ref_loss = ref_sg_step(W0, W1, 3, targets, 0.3, rt0, rt1, (W2, path, rt2), negative)
    t0, t2 = np.zeros(V, np.uint8), np.zeros(V - 1, np.uint8)
    loss = sg_hs_pair_step(syn0, syn1neg, syn1, points, codes, codelens, 3, targets, 1,
                           negative, 0.3, np.zeros(D, np.float32), t0, t1, t2)
    np.testing.assert_allclose(syn0, W0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1neg, W1, rtol=1e-5, atol=1e-6)
    assert as_set(t0) == rt0 == {3}
    assert as_set(t2) == rt2 == set(path[0][4])
    assert as_set(t1) == rt1 == ({0, 1, 4} if negative else set())
    assert loss == pytest.approx(ref_loss, rel=1e-5)


@pytest.mark.parametrize("negative", [0, 2])
@pytest.mark.parametrize("cbow_mean", [1, 0])
def test_cbow_hs_step_matches_reference(cbow_mean, negative):
    V, points, codes, codelens, syn0, syn1neg, syn1 = hs_setup(seed=21 + cbow_mean)
    D = syn0.shape[1]
    path = path_lists(points, codes, codelens)
    contexts = np.array([0, 3, 3, 1], dtype=np.int32)
    targets = np.array([5, 2, 5][:negative + 1], dtype=np.int32)
    if negative == 0:
        syn1neg, _, t1 = ns_dummies(D)
    else:
        t1 = np.zeros(V, np.uint8)
    W0, W1, W2 = (x.astype(np.float64) for x in (syn0, syn1neg, syn1))
    rt0, rt1, rt2 = set(), set(), set()
    ref_loss = ref_cbow_step(W0, W1, contexts, targets, 0.2, cbow_mean, rt0, rt1,
                             (W2, path, rt2), negative)
    t0, t2 = np.zeros(V, np.uint8), np.zeros(V - 1, np.uint8)
    loss = cbow_hs_step(syn0, syn1neg, syn1, points, codes, codelens, contexts, targets, 1,
                        negative, 0.2, cbow_mean, np.zeros((1, D), np.float32),
                        np.zeros(D, np.float32), t0, t1, t2)
    np.testing.assert_allclose(syn0, W0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1neg, W1, rtol=1e-5, atol=1e-6)
    assert as_set(t0) == rt0 == {0, 1, 3}
    assert as_set(t2) == rt2 == set(path[0][5])
    assert as_set(t1) == rt1 == ({2, 5} if negative else set())
    assert loss == pytest.approx(ref_loss, rel=1e-5)


@pytest.mark.parametrize("negative", [0, 3])
@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
def test_train_slice_hs_matches_python_reference(sg, cbow_mean, negative):
    V, ids, offsets, keep_prob, cum_table = tiny_corpus()
    D, window = 6, 2
    counts = np.bincount(ids, minlength=V) + 1
    points, codes, codelens = build_huffman(counts)
    rng = np.random.default_rng(30)
    syn0, syn1neg = rand_weights(rng, V, D)
    syn1 = ((rng.random((V - 1, D)) - 0.5) * 0.5).astype(np.float32)
    t0, t2 = np.zeros(V, np.uint8), np.zeros(V - 1, np.uint8)
    if negative == 0:
        syn1neg, cum_table, t1 = ns_dummies(D)
    else:
        t1 = np.zeros(V, np.uint8)
    seed = 555
    W0, W1, raw, eff, ref_loss, rt0, rt1, W2, rt2 = ref_train_slice(
        syn0, syn1neg, ids, offsets, 0, 5, keep_prob, cum_table, sg, cbow_mean, window,
        negative, 0.05, 0.01, seed, syn1=syn1, path=path_lists(points, codes, codelens))
    got = train_slice(syn0, syn1neg, syn1, ids, offsets, 0, 5, keep_prob, cum_table,
                      points, codes, codelens, sg, cbow_mean, window, negative, 1,
                      0.05, 0.01, seed, t0, t1, t2, 1)
    assert got[:2] == (raw, eff) and eff < raw
    np.testing.assert_allclose(syn0, W0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, W2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1neg, W1, rtol=1e-5, atol=1e-6)
    assert as_set(t0) == rt0 and as_set(t2) == rt2 and as_set(t1) == rt1
    assert len(rt2) > 0 and (len(rt1) > 0) == (negative > 0)
    assert got[2] == pytest.approx(ref_loss, rel=1e-5)
    if negative == 0:
        assert not syn1neg.any() and not t1.any()


def test_train_slice_hs_does_not_change_the_ns_random_stream():
    """hs=1 + negative: the NS part draws exactly the negatives of hs=0 (same
    syn1neg rows touched, same subsampling: same raw/effective counts)."""
    V, ids, offsets, keep_prob, cum_table = tiny_corpus()
    D = 6
    points, codes, codelens = build_huffman(np.bincount(ids, minlength=V) + 1)
    a0, a1 = rand_weights(np.random.default_rng(31), V, D)
    b0, b1 = a0.copy(), a1.copy()
    ta = flags(V)
    ra = train_ns(a0, a1, ids, offsets, 0, 5, keep_prob, cum_table, 1, 1, 2, 3, 0.05, 0.01, 9,
                  *ta, 1)
    tb0, tb1 = flags(V)
    t2 = np.zeros(V - 1, np.uint8)
    rb = train_slice(b0, b1, np.zeros((V - 1, D), np.float32), ids, offsets, 0, 5, keep_prob,
                     cum_table, points, codes, codelens, 1, 1, 2, 3, 1, 0.05, 0.01, 9,
                     tb0, tb1, t2, 1)
    assert ra[:2] == rb[:2]
    assert as_set(ta[1]) == as_set(tb1) and t2.any()
    assert rb[2] > ra[2]  # HS loss added


@pytest.mark.parametrize("negative", [0, 5])
@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
def test_hs_training_separates_groups(sg, cbow_mean, negative):
    rng = np.random.default_rng(40)
    G, V, D = 10, 20, 16
    sentences = []
    for s in range(300):
        base = 0 if s % 2 == 0 else G
        sentences.append((base + rng.integers(0, G, 12)).tolist())
    ids, offsets = corpus_arrays(sentences)
    counts = np.bincount(ids, minlength=V)
    order = np.argsort(-counts, kind="stable")          # vocabulary order: most frequent first
    remap = np.empty(V, np.int64)
    remap[order] = np.arange(V)
    ids = remap[ids].astype(np.int32)
    group = (order >= G)                                  # group of new id
    points, codes, codelens = build_huffman(counts[order])
    keep_prob = np.full(V, KEEP_ALL, dtype=np.uint32)
    syn0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
    syn1 = np.zeros((V - 1, D), np.float32)
    t0, t2 = np.zeros(V, np.uint8), np.zeros(V - 1, np.uint8)
    if negative:
        syn1neg, cum_table, t1 = np.zeros((V, D), np.float32), make_cum_table(counts[order]), \
            np.zeros(V, np.uint8)
    else:
        syn1neg, cum_table, t1 = ns_dummies(D)
    epochs, alpha0 = 8, 0.05
    losses = []
    S = len(sentences)
    for e in range(epochs):
        a_start = alpha0 * (1 - e / epochs) + 1e-4
        a_end = alpha0 * (1 - (e + 1) / epochs) + 1e-4
        raw, eff, loss = train_slice(syn0, syn1neg, syn1, ids, offsets, 0, S, keep_prob,
                                     cum_table, points, codes, codelens, sg, cbow_mean, 3,
                                     negative, 1, a_start, a_end, 2000 + e, t0, t1, t2, 1)
        assert raw == eff == len(ids)
        losses.append(loss / eff)
    assert losses[-1] < 0.95 * losses[0]
    X = syn0 - syn0.mean(axis=0)
    ids_a, ids_b = np.flatnonzero(~group), np.flatnonzero(group)
    within = [_cos(X[a], X[b]) for g in (ids_a, ids_b) for i, a in enumerate(g) for b in g[i + 1:]]
    across = [_cos(X[a], X[b]) for a in ids_a for b in ids_b]
    assert np.mean(within) > np.mean(across) + 0.5
    assert np.isfinite(syn0).all() and np.isfinite(syn1).all()
    assert t0.all() and t2.all()
    if not negative:
        assert not syn1neg.any() and not t1.any()


def test_hs_two_threads_on_shared_matrices():
    rng = np.random.default_rng(41)
    V, D = 200, 32
    sentences = [rng.integers(0, V, rng.integers(5, 40)).tolist() for _ in range(400)]
    ids, offsets = corpus_arrays(sentences)
    points, codes, codelens = build_huffman(np.bincount(ids, minlength=V) + 1)
    keep_prob = np.full(V, KEEP_ALL, dtype=np.uint32)
    syn0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
    syn1 = np.zeros((V - 1, D), np.float32)
    syn1neg, cum_table, _ = ns_dummies(D)
    S = len(sentences)

    def run(k):
        lo, hi = (0, S // 2) if k == 0 else (S // 2, S)
        t1 = np.zeros(1, np.uint8)
        return train_slice(syn0, syn1neg, syn1, ids, offsets, lo, hi, keep_prob, cum_table,
                           points, codes, codelens, k, 1, 5, 0, 1, 0.025, 0.0001, 11 + k,
                           np.zeros(V, np.uint8), t1, np.zeros(V - 1, np.uint8), 1)

    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(run, [0, 1]))
    assert sum(r[1] for r in results) == len(ids)
    assert all(np.isfinite(r[2]) and r[2] > 0 for r in results)
    assert np.isfinite(syn0).all() and np.abs(syn1).sum() > 0 and not syn1neg.any()
