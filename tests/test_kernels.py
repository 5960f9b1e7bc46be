"""Tests of the Numba negative-sampling kernels (w2v_dist.kernels).

The references below are deliberately independent, slow float64 Python /
numpy code (own LCG with Python ints, ``bisect`` from the standard library).
"""

import bisect
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from w2v_dist.kernels import cbow_step, ns_update, sg_pair_step, train_slice, warmup
from w2v_dist.kernels import _rng
from w2v_dist.kernels.ns import dot32, dot32_scalar

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


def ref_sg_step(W0, W1, context, targets, alpha, touched0, touched1):
    l1 = W0[context].copy()
    neu1e, loss = ref_ns(l1, W1, targets, alpha, touched1)
    W0[context] += neu1e
    touched0.add(int(context))
    return loss


def ref_cbow_step(W0, W1, contexts, targets, alpha, cbow_mean, touched0, touched1):
    l1 = np.zeros(W0.shape[1])
    for c in contexts:
        l1 += W0[c]
    if cbow_mean:
        l1 /= len(contexts)
    neu1e, loss = ref_ns(l1, W1, targets, alpha, touched1)
    if not cbow_mean:
        neu1e /= len(contexts)
    for c in contexts:
        W0[c] += neu1e
        touched0.add(int(c))
    return loss


def ref_train_slice(syn0, syn1neg, ids, offsets, lo, hi, keep_prob, cum_table, sg, cbow_mean,
                    window, negative, alpha_start, alpha_end, seed):
    """Pure-Python re-implementation of train_slice (float64 weights)."""
    W0 = syn0.astype(np.float64)
    W1 = syn1neg.astype(np.float64)
    touched0, touched1 = set(), set()
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
                    loss += ref_sg_step(W0, W1, sent[j], targets, alpha, touched0, touched1)
            else:
                ctx = [sent[j] for j in range(j0, k) if j != i]
                if not ctx:
                    continue
                targets = [sent[i]] + [draw() for _ in range(negative)]
                loss += ref_cbow_step(W0, W1, ctx, targets, alpha, cbow_mean, touched0, touched1)
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
    got_raw, got_eff, loss = train_slice(syn0, syn1, ids, offsets, lo, hi, keep_prob, cum_table,
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
    r1 = train_slice(a0, a1, ids, offsets, 0, 5, keep_prob, cum_table, 1, 1, 2, 3, 0.05, 0.01,
                     7, *flags(V), 1)
    r0 = train_slice(b0, b1, ids, offsets, 0, 5, keep_prob, cum_table, 1, 1, 2, 3, 0.05, 0.01,
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
    assert train_slice(syn0, syn1, ids, offsets, 2, 2, keep_prob, cum_table, 1, 1, 2, 3,
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
        raw, eff, loss = train_slice(syn0, syn1, ids, offsets, 0, S, keep_prob, cum_table, sg,
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
        return train_slice(syn0, syn1, ids, offsets, lo, hi, keep_prob, cum_table, k, 1, 5, 5,
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
