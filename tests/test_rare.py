"""Rare rows sent every few rounds (``rare_every``): which rows are due, against a Python
reference; a replica that holds its rare rows back trains the same model as one that sends every
row (one replica, the driver's sum done by hand); and a cluster run sends fewer bytes a round and
everything before the end."""

import numpy as np
import pytest

from w2v_dist.config import Config
from w2v_dist.errors import ConfigError
from w2v_dist.training import worker as W
from w2v_dist.training.driver import initial_weights, training_tables
from w2v_dist.training.merge import row_periods

from test_hot import _corpus  # tests/ is on sys.path


def test_row_periods_send_about_rare_every_updates_at_a_time():
    n = np.array([0.0, 0.1, 0.5, 1.0, 3.0, 4.0, 7.9, 8.0, 50.0])
    p = row_periods([n, np.zeros(1)], 8, [n.size, 1])
    assert p[1] is None  # the dummy of an unused matrix: nothing to hold back
    assert p[0].dtype == np.uint8
    # min(P, floor(P / n)), at least 1: n >= P every round, never-updated rows every P rounds
    assert p[0].tolist() == [8, 8, 8, 8, 2, 2, 1, 1, 1]
    assert all(x.tolist() == [1] * n.size for x in row_periods([n], 1, [n.size]))
    assert row_periods(None, 4, [3]) == []


def test_due_rows_match_a_python_reference():
    rng = np.random.default_rng(3)
    V, rounds = 300, 14
    period = rng.integers(1, 6, size=V).astype(np.uint8)
    unsent = np.zeros(V, np.uint8)
    ref_unsent = set()
    touched_ever, sent_ever = set(), set()
    for rnd in range(rounds):
        touched = (rng.random(V) < 0.2).astype(np.uint8)
        flush = rnd in (6, rounds - 1)
        got = W._due_rows(unsent, touched, period, rnd, flush)
        ref_unsent |= set(np.flatnonzero(touched).tolist())
        touched_ever |= set(np.flatnonzero(touched).tolist())
        want = sorted(r for r in ref_unsent if flush or (rnd + r) % int(period[r]) == 0)
        ref_unsent -= set(want)
        assert got.dtype == np.int64 and got.tolist() == want
        assert set(np.flatnonzero(unsent).tolist()) == ref_unsent
        sent_ever |= set(want)
        # a row waits at most its period after its last change
        for r in ref_unsent:
            assert int(period[r]) > 1
    assert sent_ever == touched_ever and not unsent.any()  # the last flush leaves nothing behind


def test_a_replica_holding_rare_rows_back_trains_the_same_model():
    """One replica, 6 rounds, the driver's sum merge by hand (central += deltas; the merged rows
    back next round).  With periods the replica sends fewer rows in the middle rounds, keeps the
    rest as ``mats - bases`` on top of the central rows it receives, and after the last round
    (a flush) the central copy is the one of the run that sent every row, up to float rounding."""
    ids, offsets, counts = _corpus(V=400, N=30_000)
    D, rounds = 8, 6
    cfg = Config(sg=1, negative=5, window=3, vector_size=D, sample=0, min_count=1)
    tables = training_tables(counts, cfg)
    params = {"sg": 1, "cbow_mean": 1, "window": 3, "negative": 5, "hs": 0, "compute_loss": 0, "shared_negatives": 0}
    mats = initial_weights(counts.size, D, 3, negative=5, hs=0)
    rng = np.random.default_rng(5)
    periods = {f"period{i}": rng.integers(1, 5, size=m.shape[0]).astype(np.uint8) for i, m in enumerate(mats[:2])}
    part = (ids, offsets, {"url": "mem", "invalid_utf8": 0, "error": None})
    per = ids.size // rounds
    results = {}
    for name, extra in (("every", {}), ("rare", periods)):
        job = f"rare-test-{name}"
        W.init_replica(job, mats, {**tables, **extra}, params, 1)
        central = [m.copy() for m in mats]
        update, sent_rows = None, []
        try:
            for rnd in range(rounds):
                spec = {"word_lo": rnd * per, "word_hi": (rnd + 1) * per, "alpha_start": 0.025,
                        "alpha_end": 0.025 - 0.003 * (rnd + 1), "seed": 17 + rnd, "collect": True,
                        "round": rnd, "update_rounds": [rnd - 1] if update else [], "flush": rnd == rounds - 1}
                out = W.train_round(job, spec, [update] if update else None, part)
                update = []
                for c, rows, d in zip(central, out["rows"], out["deltas"]):
                    c[rows] += d
                    update.append((rows, c[rows].copy()))
                sent_rows.append(sum(r.size for r in out["rows"]))
            replica = W.fetch_replica(job)
        finally:
            W.drop_replica(job)
        results[name] = (central, replica, sent_rows)
    ce, re_, se = results["every"]
    cr, rr, sr = results["rare"]
    assert sum(sr[:-1]) < 0.8 * sum(se[:-1])  # rows held back in the middle rounds
    for i in range(2):
        np.testing.assert_allclose(cr[i], ce[i], rtol=0, atol=2e-6)  # the same model, nothing lost
        np.testing.assert_allclose(rr[i], cr[i], rtol=0, atol=2e-6)  # the flush left nothing on the replica
        assert not np.array_equal(ce[i], mats[i])


def test_a_cluster_run_sends_rare_rows_less_often(small_corpus):
    import w2v_dist
    from w2v_dist.cluster import dask_client

    common = dict(sg=1, epochs=2, vector_size=8, min_count=5, seed=2, replicas="worker", sync_total=6_000,
                  hot_rows=20)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        every = w2v_dist.train([str(small_corpus)], client=client, rare_every=1, **common)
        rare = w2v_dist.train([str(small_corpus)], client=client, rare_every=32, **common)
    m, e = rare.metrics, every.metrics
    assert m["rare_every"] == 32 and e["rare_every"] == 1 and m["rounds"] == e["rounds"]
    R = m["rounds_per_epoch"]
    middle = [r for r in range(m["rounds"]) if (r + 1) % R]  # rounds that do not end an epoch
    got = sum(m["round_stats"][r]["bytes_to_driver"] for r in middle)
    full = sum(e["round_stats"][r]["bytes_to_driver"] for r in middle)
    assert got < 0.7 * full
    assert np.isfinite(rare.wv.vectors).all()
    # same data, same seeds: the vectors stay close to the run that sends every row
    a, b = rare.wv.vectors, every.wv.vectors
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert np.median(cos) > 0.9


@pytest.mark.parametrize("bad", [0, 256])
def test_bad_rare_every_is_named(bad):
    with pytest.raises(ConfigError, match="rare_every"):
        Config(rare_every=bad).validate()
