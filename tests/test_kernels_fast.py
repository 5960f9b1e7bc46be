"""Fast mode (``shared_negatives``): the HogBatch-style kernels against float64 numpy
references, their touched flags and random stream, and training quality against exact mode
through the public API.

The references are written from the update rule (Ji et al. 2016, sec. 3): the gradient of the
batch loss at the weights before the step, applied once.
"""

import bisect
import math

import numpy as np
import pytest

from w2v_dist.kernels import (build_huffman, cbow_shared_step, sg_shared_step, train_slice,
                               train_slice_shared)

MASK48 = (1 << 48) - 1
KEEP_ALL = 2**32 - 1


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def ref_ns_batch(inp, pos, negs, W1, alpha, touched1):
    """float64 reference of ns_shared_batch: returns (err [B, D], loss); updates W1 in place."""
    B, D = inp.shape
    err = np.zeros((B, D))
    dW1 = np.zeros_like(W1)
    loss = 0.0
    for b in range(B):
        cols = [(int(pos[b]), 1.0)] + [(int(t), 0.0) for t in negs if int(t) != int(pos[b])]
        for t, label in cols:
            f = float(inp[b] @ W1[t])
            g = (label - sig(f)) * alpha
            err[b] += g * W1[t]
            dW1[t] += g * inp[b]
            touched1.add(t)
            loss += -math.log(sig(f)) if label else -math.log(sig(-f))
    W1 += dW1
    return err, loss


def ref_hs_rows(inp, words, W2, points, codes, codelens, alpha, touched2):
    """Exact HS per input row, sequential (row b sees syn1 after rows < b), into err."""
    err = np.zeros(inp.shape)
    loss = 0.0
    for b, w in enumerate(words):
        for d in range(codelens[w]):
            p, code = int(points[w, d]), int(codes[w, d])
            f = float(inp[b] @ W2[p])
            g = (1.0 - code - sig(f)) * alpha
            err[b] += g * W2[p]
            W2[p] += g * inp[b]
            touched2.add(p)
            loss += -math.log(sig(f)) if code == 0 else -math.log(sig(-f))
    return err, loss


def ref_sg_shared(W0, W1, contexts, center, negs, alpha, hs=None):
    t0, t1, t2 = set(), set(), set()
    inp = W0[contexts].copy()
    err = np.zeros(inp.shape)
    loss = 0.0
    if hs is not None:
        W2, points, codes, codelens = hs
        err, loss = ref_hs_rows(inp, [center] * len(contexts), W2, points, codes, codelens, alpha, t2)
    e, lo = ref_ns_batch(inp, [center] * len(contexts), negs, W1, alpha, t1)
    for b, w in enumerate(contexts):
        W0[w] += err[b] + e[b]
        t0.add(int(w))
    return loss + lo, t0, t1, t2


def ref_cbow_shared(W0, W1, ctx_lists, centers, negs, alpha, cbow_mean, hs=None):
    t0, t1, t2 = set(), set(), set()
    inp = np.array([W0[c].sum(axis=0) / (len(c) if cbow_mean else 1) for c in ctx_lists])
    err = np.zeros(inp.shape)
    loss = 0.0
    if hs is not None:
        W2, points, codes, codelens = hs
        err, loss = ref_hs_rows(inp, centers, W2, points, codes, codelens, alpha, t2)
    e, lo = ref_ns_batch(inp, centers, negs, W1, alpha, t1)
    err = err + e
    dW0 = np.zeros_like(W0)
    for m, c in enumerate(ctx_lists):
        for w in c:
            dW0[w] += err[m] if cbow_mean else err[m] / len(c)
            t0.add(int(w))
    W0 += dW0
    return loss + lo, t0, t1, t2


def weights(V, D, seed):
    rng = np.random.default_rng(seed)
    return ((rng.random((V, D)) - 0.5) * 0.8).astype(np.float32), \
        ((rng.random((V, D)) - 0.5) * 0.8).astype(np.float32)


def as_set(flags):
    return set(np.flatnonzero(flags).tolist())


def scratch(rows, D, K):
    return (np.zeros((rows, D), np.float32), np.zeros(rows, np.int32), np.zeros((rows, K + 1), np.float32),
            np.zeros((rows, D), np.float32), np.zeros(D, np.float32))


COUNTS = np.array([20, 11, 7, 5, 3, 2, 2, 1], dtype=np.int64)  # V = 8


def hs_arrays(D, seed, hs):
    if not hs:
        return (np.zeros((1, D), np.float32), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.uint8),
                np.zeros(1, np.int32), np.zeros(1, np.uint8))
    points, codes, codelens = build_huffman(COUNTS)
    syn1 = ((np.random.default_rng(seed).random((len(COUNTS) - 1, D)) - 0.5) * 0.8).astype(np.float32)
    return syn1, points, codes, codelens, np.zeros(len(COUNTS) - 1, np.uint8)


@pytest.mark.parametrize("hs", [0, 1])
@pytest.mark.parametrize("D", [10, 16])
def test_sg_shared_step_matches_reference(hs, D):
    V = len(COUNTS)
    syn0, syn1neg = weights(V, D, 1 + D + hs)
    syn1, points, codes, codelens, t2 = hs_arrays(D, 5, hs)
    contexts = np.array([1, 2, 2, 6], np.int32)       # a context word twice in the window
    center = 3
    negs = np.array([0, 5, 3, 5, 7], np.int32)        # the center drawn as noise (skipped), 5 twice
    W0, W1, W2 = syn0.astype(np.float64), syn1neg.astype(np.float64), syn1.astype(np.float64)
    ref_loss, r0, r1, r2 = ref_sg_shared(W0, W1, list(contexts), center, negs, 0.3,
                                         (W2, points, codes, codelens) if hs else None)
    t0, t1 = np.zeros(V, np.uint8), np.zeros(V, np.uint8)
    inp, pos, G, err, neu1e = scratch(10, D, 5)
    loss = sg_shared_step(syn0, syn1neg, syn1, points, codes, codelens, contexts, center, negs, hs,
                          0.3, inp, pos, G, err, neu1e, t0, t1, t2, True)
    np.testing.assert_allclose(syn0, W0, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(syn1neg, W1, rtol=2e-5, atol=2e-6)
    if hs:
        np.testing.assert_allclose(syn1, W2, rtol=2e-5, atol=2e-6)
        assert as_set(t2) == r2 and r2
    else:
        assert not t2.any() and not syn1.any()
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert as_set(t0) == r0 == {1, 2, 6}
    assert as_set(t1) == r1 == {3, 0, 5, 7}
    # without the loss: same updates, loss 0
    s0, s1 = weights(V, D, 1 + D + hs)
    sy1 = hs_arrays(D, 5, hs)[0]
    u0, u1 = np.zeros(V, np.uint8), np.zeros(V, np.uint8)
    assert sg_shared_step(s0, s1, sy1, points, codes, codelens, contexts, center, negs, hs, 0.3,
                          inp, pos, G, err, neu1e, u0, u1, np.zeros_like(t2), False) == 0.0
    np.testing.assert_array_equal(s0, syn0)
    np.testing.assert_array_equal(s1, syn1neg)


@pytest.mark.parametrize("cbow_mean", [1, 0])
@pytest.mark.parametrize("hs", [0, 1])
def test_cbow_shared_step_matches_reference(cbow_mean, hs):
    V, D = len(COUNTS), 12
    syn0, syn1neg = weights(V, D, 7 + cbow_mean + 2 * hs)
    syn1, points, codes, codelens, t2 = hs_arrays(D, 9, hs)
    ctx_lists = [[1, 2], [0, 2, 4, 4], [2, 3, 5]]
    centers = np.array([0, 3, 4], np.int32)
    negs = np.array([6, 4, 1, 6, 7], np.int32)        # 4 is center 2's own word; 6 drawn twice
    ctx = np.array([w for c in ctx_lists for w in c], np.int32)
    off = np.concatenate([[0], np.cumsum([len(c) for c in ctx_lists])]).astype(np.int64)
    W0, W1, W2 = syn0.astype(np.float64), syn1neg.astype(np.float64), syn1.astype(np.float64)
    ref_loss, r0, r1, r2 = ref_cbow_shared(W0, W1, ctx_lists, list(centers), negs, 0.2, cbow_mean,
                                           (W2, points, codes, codelens) if hs else None)
    t0, t1 = np.zeros(V, np.uint8), np.zeros(V, np.uint8)
    inp, _, G, err, neu1e = scratch(3, D, 5)
    loss = cbow_shared_step(syn0, syn1neg, syn1, points, codes, codelens, ctx, off, centers, negs, hs,
                            0.2, cbow_mean, inp, G, err, neu1e, t0, t1, t2, True)
    np.testing.assert_allclose(syn0, W0, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(syn1neg, W1, rtol=2e-5, atol=2e-6)
    if hs:
        np.testing.assert_allclose(syn1, W2, rtol=2e-5, atol=2e-6)
        assert as_set(t2) == r2
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert as_set(t0) == r0 == {0, 1, 2, 3, 4, 5}
    assert as_set(t1) == r1 == {0, 3, 4, 6, 1, 7}


@pytest.mark.parametrize("cbow_mean", [1, 0])
@pytest.mark.parametrize("centers,negs", [([0, 3], [6, 1, 7, 5]),   # two inputs, all rows distinct
                                          ([2], [6, 1, 7, 5]),      # one input: general passes
                                          ([0, 3], [6, 3, 7, 5])])  # center 1's word drawn: general passes
def test_cbow_shared_step_one_pass_per_row_matches_reference(cbow_mean, centers, negs):
    """Groups of two centers whose output rows are all distinct take the one-pass route of
    ns_shared_batch; it must give the reference's step too, as the general passes do."""
    V, D = len(COUNTS), 21
    syn0, syn1neg = weights(V, D, 11 + cbow_mean)
    syn1, points, codes, codelens, t2 = hs_arrays(D, 9, 0)
    ctx_lists = [[1, 2, 4], [0, 2, 4, 5]][:len(centers)]
    ctx = np.array([w for c in ctx_lists for w in c], np.int32)
    off = np.concatenate([[0], np.cumsum([len(c) for c in ctx_lists])]).astype(np.int64)
    W0, W1 = syn0.astype(np.float64), syn1neg.astype(np.float64)
    ref_loss, r0, r1, _ = ref_cbow_shared(W0, W1, ctx_lists, centers, np.array(negs), 0.2, cbow_mean)
    t0, t1 = np.zeros(V, np.uint8), np.zeros(V, np.uint8)
    inp, _, G, err, neu1e = scratch(len(centers), D, len(negs))
    loss = cbow_shared_step(syn0, syn1neg, syn1, points, codes, codelens, ctx, off, np.array(centers, np.int32),
                            np.array(negs, np.int32), 0, 0.2, cbow_mean, inp, G, err, neu1e, t0, t1, t2, True)
    np.testing.assert_allclose(syn0, W0, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(syn1neg, W1, rtol=2e-5, atol=2e-6)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert as_set(t0) == r0 and as_set(t1) == r1 == set(centers) | set(negs)


def ref_train_slice_shared(syn0, syn1neg, ids, offsets, keep_prob, cum_table, sg, cbow_mean, window,
                           negative, alpha, seed, shared):
    """Python re-implementation of train_slice_shared (constant alpha: alpha_start == alpha_end)."""
    W0, W1 = syn0.astype(np.float64), syn1neg.astype(np.float64)
    cum, state = [int(x) for x in cum_table], seed & MASK48
    t0, t1 = set(), set()
    loss = 0.0

    def rnd():
        nonlocal state
        r = (state >> 16) & 0xFFFFFFFF
        state = (state * 25214903917 + 11) & MASK48
        return r

    def draw():
        nonlocal state
        t = bisect.bisect_left(cum, (state >> 16) % cum[-1])
        state = (state * 25214903917 + 11) & MASK48
        return t

    for s in range(len(offsets) - 1):
        sent = [int(w) for w in ids[offsets[s]:offsets[s + 1]] if not int(keep_prob[w]) < rnd()]
        n = len(sent)
        red = [rnd() % window for _ in sent]
        if n < 2:
            continue
        groups = [list(range(g, min(g + shared, n))) for g in range(0, n, shared)]
        draws = [[draw() for _ in range(negative)] for _ in groups]
        for grp, negs in zip(groups, draws):
            # every center its own reduced window (CBOW pairs sum their common rows once: the same sums)
            win = [[j for j in range(max(i - window + red[i], 0), min(i + window + 1 - red[i], n)) if j != i]
                   for i in grp]
            if sg:
                for i, js in zip(grp, win):
                    lo, a, b, _ = ref_sg_shared(W0, W1, [sent[j] for j in js], sent[i], negs, alpha)
                    loss += lo
                    t0 |= a
                    t1 |= b
            else:
                lo, a, b, _ = ref_cbow_shared(W0, W1, [[sent[j] for j in js] for js in win],
                                              [sent[i] for i in grp], negs, alpha, cbow_mean)
                loss += lo
                t0 |= a
                t1 |= b
    return W0, W1, loss, t0, t1


@pytest.mark.parametrize("sg,shared,cbow_mean", [(1, 1, 1), (1, 3, 1), (0, 1, 1), (0, 2, 1), (0, 2, 0),
                                                 (0, 3, 1)])
def test_train_slice_shared_matches_python_reference(sg, shared, cbow_mean):
    """Whole slices: subsampling, windows, grouping of centers and the order of the draws (CBOW
    with shared=2 also: pairs of centers summing and updating their common context rows once)."""
    rng = np.random.default_rng(30 + sg + shared + 7 * cbow_mean)
    V, D = len(COUNTS), 9
    sentences = [rng.integers(0, V, L).tolist() for L in (7, 1, 0, 12, 2, 5, 3, 26)]
    sentences[3][2:6] = [0, 0, 0, 0]
    ids = np.array([w for s in sentences for w in s], np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    keep = np.full(V, KEEP_ALL, np.uint32)
    keep[0] = KEEP_ALL // 2  # subsample the most frequent word
    p = COUNTS ** 0.75
    cum = np.round(np.cumsum(p) / p.sum() * (2**31 - 1)).astype(np.int64)
    syn0, syn1neg = weights(V, D, 3)
    W0, W1, ref_loss, r0, r1 = ref_train_slice_shared(syn0, syn1neg, ids, offsets, keep, cum, sg, cbow_mean, 3,
                                                      4, 0.05, 12345, shared)
    syn1, points, codes, codelens, t2 = hs_arrays(D, 0, 0)
    for compute_loss in (1, 0):
        s0, s1 = syn0.copy(), syn1neg.copy()
        t0, t1 = np.zeros(V, np.uint8), np.zeros(V, np.uint8)
        raw, eff, loss = train_slice_shared(s0, s1, syn1, ids, offsets, 0, len(sentences), keep, cum,
                                            points, codes, codelens, sg, cbow_mean, 3, 4, 0, 0.05, 0.05, 12345,
                                            t0, t1, t2, compute_loss, shared)
        assert raw == len(ids) and 0 < eff < raw
        np.testing.assert_allclose(s0, W0, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(s1, W1, rtol=1e-4, atol=1e-5)
        assert loss == (pytest.approx(ref_loss, rel=1e-4) if compute_loss else 0.0)
        assert as_set(t0) == r0 and as_set(t1) == r1


def test_fast_mode_is_not_exact_mode_and_exact_is_untouched():
    """shared_negatives changes the draws (fewer), so the result differs from train_slice; and
    train_slice itself is what it was (same result twice from the same start)."""
    rng = np.random.default_rng(4)
    V, D = len(COUNTS), 8
    sentences = [rng.integers(0, V, 9).tolist() for _ in range(20)]
    ids = np.array([w for s in sentences for w in s], np.int32)
    offsets = np.arange(0, 9 * 21, 9, dtype=np.int64)
    keep = np.full(V, KEEP_ALL, np.uint32)
    cum = np.cumsum(COUNTS).astype(np.int64)
    syn1, points, codes, codelens, t2 = hs_arrays(D, 0, 0)
    out = []
    for fn, extra in ((train_slice, ()), (train_slice, ()), (train_slice_shared, (1,))):
        s0, s1 = weights(V, D, 5)
        fn(s0, s1, syn1, ids, offsets, 0, 20, keep, cum, points, codes, codelens, 1, 1, 3, 5, 0, 0.05, 0.01, 9,
           np.zeros(V, np.uint8), np.zeros(V, np.uint8), t2, 1, *extra)
        out.append(s0)
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.allclose(out[0], out[2])


def _neighbours(wv, words, k=10):
    X = wv.vectors / np.linalg.norm(wv.vectors, axis=1, keepdims=True)
    idx = [wv.key_to_index[w] for w in words]
    sims = X[idx] @ X.T
    sims[np.arange(len(idx)), idx] = -np.inf
    return [set(np.argsort(-row)[:k].tolist()) for row in sims]


@pytest.mark.parametrize("sg,shared", [(1, 1), (0, 4)])
def test_fast_mode_trains_like_exact_mode(small_corpus, sg, shared):
    """Through w2v_dist.train on a LocalCluster: fast mode's nearest neighbours of the frequent
    words agree with exact mode's about as well as exact mode agrees with itself under another
    seed, and its training loss falls and ends close to exact mode's."""
    import w2v_dist
    from w2v_dist.cluster import dask_client

    common = dict(sg=sg, epochs=4, min_count=5, vector_size=50, alpha=0.025 if sg else 0.05)
    with dask_client(workers=1, threads_per_worker=1, processes=False) as client:
        exact1 = w2v_dist.train([str(small_corpus)], client=client, seed=1, **common)
        exact2 = w2v_dist.train([str(small_corpus)], client=client, seed=2, **common)
        fast = w2v_dist.train([str(small_corpus)], client=client, seed=1, shared_negatives=shared, **common)
    assert fast.metrics["config"]["shared_negatives"] == shared
    assert fast.wv.index_to_key == exact1.wv.index_to_key
    words = exact1.wv.index_to_key[20:120]  # frequent, past the function words
    n1, n2, nf = (_neighbours(r.wv, words) for r in (exact1, exact2, fast))
    seed_overlap = np.mean([len(a & b) for a, b in zip(n1, n2)])
    fast_overlap = np.mean([len(a & b) for a, b in zip(n1, nf)])
    print(f"top-10 overlap with exact seed 1: exact seed 2 {seed_overlap:.2f}, fast {fast_overlap:.2f}")
    assert fast_overlap > 0.75 * seed_overlap and fast_overlap > 2.0, (fast_overlap, seed_overlap)

    def per_word(m, e):
        rs = [r for r in m["round_stats"] if r["epoch"] == e]
        return sum(r["loss"] for r in rs) / sum(r["effective_words"] for r in rs)

    lf = [per_word(fast.metrics, e) for e in range(4)]
    le = per_word(exact1.metrics, 3)
    assert lf[3] < 0.95 * lf[0], lf
    assert abs(lf[3] - le) / le < 0.08, (lf[3], le)


def test_config_validates_shared_negatives():
    from w2v_dist.config import Config
    from w2v_dist.errors import ConfigError

    Config(shared_negatives=4).validate()
    with pytest.raises(ConfigError, match="shared_negatives=-1"):
        Config(shared_negatives=-1).validate()
    with pytest.raises(ConfigError, match="needs negative>0"):
        Config(shared_negatives=1, hs=1, negative=0).validate()


def test_cli_rejects_shared_negatives_without_negative_sampling(tmp_path, capsys, small_corpus):
    from w2v_dist.cli import main

    out = tmp_path / "o"
    code = main(["train", str(small_corpus), "--output", str(out), "--hs", "1", "--negative", "0",
                 "--shared-negatives", "1"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1
    assert err[0].startswith("w2v-dist: error: ") and "shared_negatives=1" in err[0]
    assert not out.exists()
