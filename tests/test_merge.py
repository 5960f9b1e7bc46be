"""Merge rules on hand-made examples, against values worked out by hand."""

import numpy as np
import pytest

from w2v_dist.training.merge import MERGE_RULES, get_merge_rule


def _example():
    central = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], dtype=np.float32)
    # replica 0 changed rows 0 and 2, replica 1 changed rows 2 and 3
    rows = [np.array([0, 2]), np.array([2, 3])]
    deltas = [np.array([[1, 0], [0, 2]], dtype=np.float32), np.array([[0, 4], [-1, -1]], dtype=np.float32)]
    return central, rows, deltas


def test_sum_adds_every_replicas_delta():
    central, rows, deltas = _example()
    changed = get_merge_rule("sum")(central, rows, deltas)
    np.testing.assert_array_equal(changed, [0, 2, 3])
    np.testing.assert_array_equal(central, [[1, 0], [1, 1], [2, 8], [2, 2]])


def test_mean_divides_by_number_of_replicas():
    central, rows, deltas = _example()
    changed = get_merge_rule("mean")(central, rows, deltas)
    np.testing.assert_array_equal(changed, [0, 2, 3])
    np.testing.assert_allclose(central, [[0.5, 0], [1, 1], [2, 5], [2.5, 2.5]])


def test_touched_mean_divides_by_replicas_that_touched_the_row():
    central, rows, deltas = _example()
    changed = get_merge_rule("touched-mean")(central, rows, deltas)
    np.testing.assert_array_equal(changed, [0, 2, 3])
    # row 0: only replica 0 -> full delta; row 2: both -> mean of (0,2) and (0,4); row 3: only replica 1
    np.testing.assert_allclose(central, [[1, 0], [1, 1], [2, 5], [2, 2]])


@pytest.mark.parametrize("name", sorted(MERGE_RULES))
def test_one_replica_every_rule_applies_its_delta(name):
    central, rows, deltas = _example()
    expected = central.copy()
    expected[rows[0]] += deltas[0]
    get_merge_rule(name)(central, rows[:1], deltas[:1])
    np.testing.assert_array_equal(central, expected)


def test_unknown_rule():
    with pytest.raises(KeyError):
        get_merge_rule("median")


def test_scaled_sum_between_sum_and_mean():
    from w2v_dist.training.merge import merge_scaled_sum

    for scale, rule in ((np.ones(4, np.float32), "sum"), (np.full(4, 0.5, np.float32), "mean")):
        a, rows, deltas = _example()
        b = a.copy()
        merge_scaled_sum(a, rows, deltas, scale=scale)
        get_merge_rule(rule)(b, rows, deltas)
        np.testing.assert_allclose(a, b)
    central, rows, deltas = _example()
    changed = merge_scaled_sum(central, rows, deltas, scale=np.array([1, 1, 0.25, 0.5], np.float32))
    np.testing.assert_array_equal(changed, [0, 2, 3])
    np.testing.assert_allclose(central, [[1, 0], [1, 1], [2, 3.5], [2.5, 2.5]])


def test_row_scales_is_the_geometric_series_over_replicas():
    from w2v_dist.training.merge import row_scales

    n = np.array([0.0, 1.0, 10.0, 1e3, 1e7])
    for K in (2, 4, 8):
        got = row_scales(n, alpha=0.025, replicas=K, c=0.1)
        q = np.exp(-0.1 * 0.025 * n)
        ref = np.array([sum(qi**k for k in range(K)) / K for qi in q])  # K steps, each q times the last
        np.testing.assert_allclose(got, ref, rtol=1e-5)
        assert got[0] == 1.0 and abs(got[-1] - 1.0 / K) < 1e-6  # an idle row: sum; a busy row: mean


def test_expected_updates_against_a_direct_count():
    """syn0 / syn1neg / syn1 expectations, recomputed word by word and node by node."""
    from w2v_dist.kernels import build_huffman
    from w2v_dist.training.merge import expected_updates
    from w2v_dist.vocab import keep_probabilities

    counts = np.array([500, 300, 120, 50, 20, 10], np.int64)
    keep = keep_probabilities(counts, 1e-2)
    points, codes, codelens = build_huffman(counts)
    S_raw, window, negative = 1000.0, 5, 3
    for sg in (0, 1):
        got = expected_updates(counts, keep, S_raw, sg=sg, window=window, negative=negative, ns_exponent=0.75,
                               hs=1, points=points, codelens=codelens)
        kept = [c * k / (2**32 - 1) for c, k in zip(counts.tolist(), keep.tolist())]
        S = S_raw * sum(kept) / counts.sum()
        pairs = window + 1
        m = pairs if sg else 1
        u = [c**0.75 for c in counts.tolist()]
        for w in range(len(counts)):
            share = kept[w] / sum(kept)
            assert got[0][w] == pytest.approx(share * S * pairs)
            assert got[1][w] == pytest.approx(share * S * m + S * m * negative * u[w] / sum(u))
        node = [0.0] * (len(counts) - 1)
        for w in range(len(counts)):
            for d in range(codelens[w]):
                node[points[w, d]] += kept[w] / sum(kept) * S * m
        np.testing.assert_allclose(got[2], node)
        assert got[2][len(counts) - 2] == pytest.approx(S * m)  # the root is on every path


@pytest.mark.parametrize("partitioned", [False, True])
def test_row_scales_use_the_initial_learning_rate(monkeypatch, small_corpus, tmp_path, partitioned):
    """Every merge (driver-held and owner-partitioned) computes its row scales from ``config.alpha``,
    not from the round's decayed rate (with which late rounds summed nearly every row)."""
    import w2v_dist
    from w2v_dist.cluster import dask_client
    from w2v_dist.training import merge as M
    from w2v_dist.training import partition as P

    seen, real = [], M.row_scales

    def spy(n_updates, alpha, replicas, c=0.1):
        seen.append(float(alpha))
        return real(n_updates, alpha, replicas, c)

    monkeypatch.setattr(M, "row_scales", spy)
    monkeypatch.setattr(P, "row_scales", spy)
    lines = small_corpus.read_text(encoding="utf-8").splitlines()[:1500]
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        res = w2v_dist.train([str(tmp_path / "a.txt")], client=client, output=str(tmp_path / "out"),
                             sg=1, epochs=2, vector_size=16, sync_every=3000, min_count=3, seed=3,
                             alpha=0.03, min_alpha=0.0001, merge="scaled-sum", replicas="worker",
                             central_partition_bytes=0 if partitioned else None)
    rounds = res.metrics["round_stats"]
    assert len(rounds) > 4 and rounds[-1]["alpha_start"] < 0.02  # the rate did decay
    assert len(seen) >= len(rounds) and set(seen) == {0.03}


def test_compiled_merges_equal_the_numpy_reference_bit_for_bit():
    """sum, mean and scaled-sum (a Numba loop, training/merge.py) against numpy's fancy-index
    ``central[r] += d * s`` on random replicas: the same float32 values, the same union of rows."""
    from w2v_dist.training.merge import merge_mean, merge_scaled_sum, merge_sum

    rng = np.random.default_rng(7)
    V, D = 300, 17
    for K in (1, 2, 5):
        central = rng.standard_normal((V, D)).astype(np.float32)
        rows = [np.sort(rng.choice(V, int(rng.integers(0, V)), replace=False)).astype(np.int64) for _ in range(K)]
        deltas = [rng.standard_normal((r.size, D)).astype(np.float32) * 0.01 for r in rows]
        scale = rng.uniform(1 / K, 1, V).astype(np.float32)
        union = np.unique(np.concatenate(rows))
        for fn, kw, s_of in ((merge_sum, {}, lambda r: np.float32(1)),
                             (merge_mean, {}, lambda r: np.float32(1.0 / K)),
                             (merge_scaled_sum, {"scale": scale}, lambda r: scale[r][:, None])):
            want = central.copy()
            for r, d in zip(rows, deltas):
                want[r] += d * s_of(r)
            got = central.copy()
            changed = fn(got, rows, deltas, **kw)
            np.testing.assert_array_equal(changed, union)
            assert changed.dtype == np.int64
            np.testing.assert_array_equal(got, want)
