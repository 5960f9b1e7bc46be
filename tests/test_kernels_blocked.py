"""The blocked output layers (four dot products at a time) and the loss from the sigmoid's exp.

``hs_update`` and ``ns_update`` compute the dot products of four path nodes / targets before
applying their updates (exact because the rows are distinct; ``ns_update`` falls back to one
target at a time when a noise word repeats), and the loss as ``log`` of a product of
``1 + exp(-f)`` factors (``_loss_term``).  Checked here against the float64 references of
``test_kernels.py`` on paths and target lists long enough to use the blocks and their
remainders, and on dot products large enough to take the loss's exact fallback (``f <= -69``).
"""

import math

import numpy as np
import pytest

from w2v_dist.kernels import build_huffman, hs_update, ns_update
from w2v_dist.kernels.ns import _loss_term, softplus64

from test_kernels import path_lists, ref_hs, ref_ns


def long_paths(V=24):
    counts = (2.0 ** np.arange(V, 0, -1)).astype(np.int64)  # geometric: path lengths 1 .. V-1
    return build_huffman(counts)


@pytest.mark.parametrize("scale", [0.5, 12.0])
def test_hs_update_blocked_matches_reference_on_every_path_length(scale):
    V, D = 24, 13
    points, codes, codelens = long_paths(V)
    assert codelens.max() >= 9 and set(range(1, 10)) <= set(codelens.tolist())
    rng = np.random.default_rng(7)
    syn0 = ((rng.random((V, D)) - 0.5) * scale).astype(np.float32)
    path = path_lists(points, codes, codelens)
    big = 0
    for word in range(V):
        syn1 = ((rng.random((V - 1, D)) - 0.5) * scale).astype(np.float32)
        W2 = syn1.astype(np.float64)
        l1 = syn0[3].astype(np.float64)
        big += sum(float(l1 @ W2[p]) * (1 - 2 * c) <= -69 for p, c in zip(path[0][word], path[1][word]))
        rt2 = set()
        ref_e, ref_loss = ref_hs(l1.copy(), W2, path, word, 0.05, rt2)
        neu1e = np.zeros(D, np.float32)
        t2 = np.zeros(V - 1, np.uint8)
        loss = hs_update(syn0, 3, syn1, points, codes, codelens, word, 0.05, neu1e, t2, 1)
        tol = dict(rtol=1e-5, atol=1e-6 * max(1.0, scale ** 2))
        np.testing.assert_allclose(neu1e, ref_e, **tol)
        np.testing.assert_allclose(syn1, W2, **tol)
        assert set(np.flatnonzero(t2).tolist()) == rt2
        assert loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    if scale > 1:
        assert big > 0  # the exact fallback of _loss_term was taken


@pytest.mark.parametrize("targets", [
    [3, 1, 2, 5, 6, 7, 8, 9],      # distinct: two blocks of four
    [3, 1, 2, 5, 6, 7],            # distinct: a block and a remainder of two
    [3, 1, 3, 5, 6, 3, 8],         # the positive again (skipped), inside a block
    [3, 1, 2, 1, 6, 7, 8, 9],      # a noise word twice: one target at a time
    [3, 9, 8, 7, 6, 5, 4, 2, 1, 2],
])
@pytest.mark.parametrize("scale", [0.5, 12.0])
def test_ns_update_blocked_matches_reference(targets, scale):
    V, D = 10, 11
    rng = np.random.default_rng(len(targets))
    syn0 = ((rng.random((V, D)) - 0.5) * scale).astype(np.float32)
    syn1 = ((rng.random((V, D)) - 0.5) * scale).astype(np.float32)
    W1 = syn1.astype(np.float64)
    start = syn1.copy()
    t = np.array(targets, np.int32)
    rt1 = set()
    ref_e, ref_loss = ref_ns(syn0[4].astype(np.float64), W1, t, 0.05, rt1)
    neu1e = np.zeros(D, np.float32)
    t1 = np.zeros(V, np.uint8)
    loss = ns_update(syn0, 4, syn1, t, 0.05, neu1e, t1, 1)
    tol = dict(rtol=1e-5, atol=1e-6 * max(1.0, scale ** 2))
    np.testing.assert_allclose(neu1e, ref_e, **tol)
    np.testing.assert_allclose(syn1, W1, **tol)
    assert set(np.flatnonzero(t1).tolist()) == rt1
    assert loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    # the loss flag changes nothing else (bit for bit)
    again, e2 = start.copy(), np.zeros(D, np.float32)
    assert ns_update(syn0, 4, again, t, 0.05, e2, np.zeros(V, np.uint8), 0) == 0.0
    np.testing.assert_array_equal(again, syn1)
    np.testing.assert_array_equal(e2, neu1e)

def test_loss_term_is_softplus_over_the_whole_range():
    fs = np.array([-200.0, -88.0, -70.0, -68.9, -20.0, -1.0, 0.0, 0.5, 3.0, 30.0, 100.0, 200.0],
                  np.float32)
    prod, loss = 1.0, 0.0
    want = 0.0
    for rep in range(30):  # 360 terms: the product is folded into the sum on the way
        for k, f in enumerate(fs):
            negated = (k + rep) % 2 == 1
            e = np.float32(np.exp(np.float32(-f))) if f > -88.7 else np.float32(np.inf)
            prod, loss = _loss_term(f, e, negated, prod, loss)
            x = float(f) if negated else -float(f)
            want += max(x, 0.0) + math.log1p(math.exp(-abs(x)))  # softplus(x), exact
            assert math.isfinite(prod) and prod <= 1e231
    got = loss + math.log(prod)
    assert got == pytest.approx(want, rel=1e-6)
    assert softplus64(np.float32(-70.0)) == pytest.approx(math.log1p(math.exp(-70.0)), rel=1e-12)
