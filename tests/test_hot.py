"""Hot rows (training/hot.py): the block-momentum merge against a numpy reference, the worker's
slice-late exchange against a reference built from the kernel and that merge, and a run on a
Dask cluster that reports what travelled."""

import asyncio
import threading

import numpy as np
import pytest

from w2v_dist.config import Config
from w2v_dist.errors import ConfigError
from w2v_dist.training import worker as W
from w2v_dist.training.driver import SUM_ROUND_WORDS, initial_weights, training_tables
from w2v_dist.training.hot import HotFiles, HotRows, abort_files, choose_hot_rows


class LoopActor:
    """An in-process stand-in for the Dask actor handle: ``exchange`` returns a future with
    ``result(timeout)``, the coroutine running on its own event loop (as on the actor's worker)."""

    def __init__(self, obj):
        self.obj = obj
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def exchange(self, *args, **kwargs):
        return asyncio.run_coroutine_threadsafe(self.obj.exchange(*args, **kwargs), self.loop)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


def _bmuf_reference(C, M, deltas, K, mu):
    """One step of Chen and Huo (2016) with block learning rate 1, float32 in the actor's order."""
    acc = deltas[0].copy()
    for d in deltas[1:]:
        acc += d
    M = M * mu + acc * np.float32(1.0 / K)
    return C + M, M


def test_hot_rows_merge_is_block_momentum():
    rng = np.random.default_rng(0)
    K, H, D = 3, 5, 4
    C0 = [rng.standard_normal((H, D)).astype(np.float32), rng.standard_normal((2, D)).astype(np.float32)]
    actor = LoopActor(HotRows(C0, K))
    mu = np.float32(1 - 1 / K)
    C, M = [c.copy() for c in C0], [np.zeros_like(c) for c in C0]
    try:
        for gen in range(3):
            ds = [[rng.standard_normal(c.shape).astype(np.float32) for c in C0] for _ in range(K)]
            wants = ["current", "lookahead", "state"]
            futs = [actor.exchange(gen, k, ds[k], want=wants[k]) for k in (2, 0, 1)]  # any order
            futs = [futs[1], futs[2], futs[0]]
            got = [f.result(timeout=30) for f in futs]
            assert [len(x) for x in got] == [2, 2, 4]
            for i in range(2):
                C[i], M[i] = _bmuf_reference(C[i], M[i], [ds[k][i] for k in range(K)], K, mu)
                np.testing.assert_allclose(got[0][i], C[i], rtol=0, atol=1e-6)
                np.testing.assert_allclose(got[1][i], C[i] + mu * M[i], rtol=0, atol=1e-6)  # the look-ahead
                np.testing.assert_allclose(got[2][i], C[i], rtol=0, atol=1e-6)
                np.testing.assert_allclose(got[2][2 + i], M[i], rtol=0, atol=1e-6)  # "state": C then M
        with pytest.raises(RuntimeError, match="slice 1 was merged already"):
            actor.exchange(1, 0, ds[0]).result(timeout=30)
        with pytest.raises(ValueError, match="shapes"):
            actor.exchange(3, 0, [np.zeros((1, D), np.float32)] * 2).result(timeout=30)
        with pytest.raises(ValueError, match="want"):
            actor.exchange(3, 0, ds[0], want="all").result(timeout=30)
        with pytest.raises(ValueError, match="replica 3 of 3"):
            actor.exchange(3, 3, ds[0]).result(timeout=30)
        waiting = actor.exchange(4, 0, ds[0])  # waits for the others: never answered here
        with pytest.raises(ValueError, match="replica 0 sent slice 4 twice"):
            actor.exchange(4, 0, ds[0]).result(timeout=30)
        # a failed round: the replicas still waiting are freed, and later slices refused
        assert asyncio.run_coroutine_threadsafe(actor.obj.abort("lost a replica"), actor.loop).result(30) == 1
        with pytest.raises(RuntimeError, match="lost a replica"):
            waiting.result(timeout=30)
        with pytest.raises(RuntimeError, match="lost a replica"):
            actor.exchange(5, 1, ds[1]).result(timeout=30)
    finally:
        actor.close()


def test_one_replica_applies_its_own_change_plainly():
    """K = 1: no momentum (mu = 0), the merged rows are the replica's own."""
    C0 = [np.ones((2, 3), np.float32)]
    actor = LoopActor(HotRows(C0, 1))
    try:
        d = [np.full((2, 3), 0.5, np.float32)]
        np.testing.assert_array_equal(actor.exchange(0, 0, d).result(timeout=30)[0], C0[0] + d[0])
    finally:
        actor.close()


def test_choose_hot_rows_takes_the_most_updated():
    rng = np.random.default_rng(1)
    n = [rng.random(50), rng.random(50), np.zeros(1)]
    hot = choose_hot_rows(n, 7, [50, 50, 1])
    for h, x in zip(hot[:2], n[:2]):
        assert h.dtype == np.int64 and np.all(np.diff(h) > 0)
        assert set(h) == set(np.argsort(-x)[:7])
    assert hot[2].size == 0  # a dummy matrix has no hot rows
    assert [h.size for h in choose_hot_rows(n, 0, [50, 50, 1])] == [0, 0, 0]
    assert choose_hot_rows([np.array([3.0, 0.0, 1.0])], 5, [3])[0].tolist() == [0, 2]  # never-updated rows are not hot


def _corpus(seed=0, V=120, N=24_000, L=20):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, V + 1)
    ids = rng.choice(V, size=N, p=p / p.sum()).astype(np.int32)
    counts = np.bincount(ids, minlength=V).astype(np.int64)
    order = np.argsort(-counts, kind="stable")  # ids by frequency, as a Vocab numbers them
    ids = np.argsort(order).astype(np.int32)[ids]
    return ids, np.arange(0, N + 1, L, dtype=np.int64), counts[order]


@pytest.mark.parametrize("sync_first_end", [True, False])
def test_worker_exchange_matches_a_reference_of_the_kernel_and_the_merge(sync_first_end):
    """Two replicas train two rounds of 3 slices through ``train_round``; a reference trains the
    same slices with the same kernel calls and applies the slice-late look-ahead by hand.  With
    ``sync_first_end`` False the first round ends without waiting (overlapping rounds): its last
    slice is taken one slice late, after the next round's first, like every other slice."""
    ids, offsets, counts = _corpus()
    K, D, n_sub, rounds = 2, 8, 3, 2
    cfg = Config(sg=1, negative=5, window=3, vector_size=D, sample=0, min_count=1)
    tables = training_tables(counts, cfg)
    params = {"sg": 1, "cbow_mean": 1, "window": 3, "negative": 5, "hs": 0, "compute_loss": 0, "shared_negatives": 0}
    mats = initial_weights(counts.size, D, 3, negative=5, hs=0)
    hot = choose_hot_rows([counts.astype(float), counts.astype(float), np.zeros(1)], 10, [m.shape[0] for m in mats])
    tables = {**tables, **{f"hot{i}": h for i, h in enumerate(hot)}}
    part = (ids, offsets, {"url": "mem", "invalid_utf8": 0, "error": None})
    words = ids.size
    specs = [{"word_lo": k * words // K, "word_hi": (k + 1) * words // K, "alpha_start": 0.025, "alpha_end": 0.02,
              "seed": 11 + k, "collect": True, "round": 0, "update_rounds": []} for k in range(K)]
    # the run under test: two replicas, two threads, one actor
    jobs = [f"hot-test-{k}" for k in range(K)]
    for j in jobs:
        W.init_replica(j, mats, tables, params, 1)
    actor = LoopActor(HotRows([m[ix] for m, ix in zip(mats, hot)], K))
    out = [None] * K

    def run(k, rnd):
        spec = {**specs[k], "seed": specs[k]["seed"] + 100 * rnd,
                "hot": {"actor": actor, "gen": rnd * n_sub, "replica": k, "subrounds": n_sub, "mu": 0.5,
                        "sync_end": sync_first_end or rnd == rounds - 1,
                        "velocity": [np.zeros((h.size, D), np.float32) for h in hot] if rnd == 0 else None, "report": k == 0, "timeout": 60}}
        out[k] = W.train_round(jobs[k], spec, None, part)

    try:
        for rnd in range(rounds):
            out = [None] * K
            ths = [threading.Thread(target=run, args=(k, rnd)) for k in range(K)]
            for t in ths:
                t.start()
            for t in ths:
                t.join(120)
            assert all(o is not None for o in out), "a replica did not finish its round"
        got = [W.fetch_replica(j) for j in jobs]
    finally:
        actor.close()
        for j in jobs:
            W.drop_replica(j)
    # the reference
    W.init_replica("hot-ref", mats, tables, params, 1)
    ref = [W._REPLICAS[W._key("hot-ref")]]
    reps = [[m.copy() for m in mats] for _ in range(K)]
    C = [m[ix].copy() for m, ix in zip(mats, hot)]
    M = [np.zeros_like(c) for c in C]
    mu = np.float32(1 - 1 / K)
    base = [[c.copy() for c in C] for _ in range(K)]
    prev = [c + mu * m for c, m in zip(C, M)]  # the look-ahead of the last merge (M = 0 at the start)
    try:
        for g in range(rounds * n_sub):
            rnd, j = divmod(g, n_sub)
            deltas = []
            for k in range(K):
                lo, hi = specs[k]["word_lo"], specs[k]["word_hi"]
                s_lo, s_hi = lo + (hi - lo) * j // n_sub, lo + (hi - lo) * (j + 1) // n_sub
                a0 = 0.025 + (0.02 - 0.025) * (s_lo - lo) / (hi - lo)
                a1 = 0.025 + (0.02 - 0.025) * (s_hi - lo) / (hi - lo)
                r = ref[0]
                r.mats = reps[k]
                r.touched = [[np.zeros(m.shape[0], np.uint8) for m in reps[k]]]
                W._train_range(r, [part], s_lo, s_hi, a0, a1, specs[k]["seed"] + 100 * rnd + 1_000_003 * j)
                deltas.append([reps[k][i][hot[i]] - base[k][i] for i in range(3)])
            for i in range(3):
                C[i], M[i] = _bmuf_reference(C[i], M[i], [deltas[k][i] for k in range(K)], K, mu)
            last = j == n_sub - 1 and (sync_first_end or rnd == rounds - 1)
            for k in range(K):
                for i in range(3):
                    if last:
                        v = C[i]
                    else:
                        v = prev[i] + deltas[k][i]
                    reps[k][i][hot[i]] = v
                    base[k][i] = v.copy()
            prev = [c + mu * m for c, m in zip(C, M)]
    finally:
        W.drop_replica("hot-ref")
    for k in range(K):
        for i in range(2):
            np.testing.assert_allclose(got[k][i], reps[k][i], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(got[k][0][hot[0]], got[0][0][hot[0]])  # the same hot rows at the end
        assert not np.isin(out[k]["rows"][0], hot[0]).any()  # the driver gets cold rows only
        assert out[k]["hot_syncs"] == n_sub and out[k]["hot_bytes_sent"] == n_sub * sum(h.size for h in hot) * D * 4
    np.testing.assert_array_equal(out[0]["hot_values"][1], got[0][1][hot[1]])
    assert "hot_values" not in out[1]


def test_hot_rows_on_a_cluster_report_what_travelled(small_corpus):
    import w2v_dist
    from w2v_dist.cluster import dask_client

    common = dict(sg=1, epochs=1, vector_size=8, min_count=5, seed=2, replicas="worker", sync_total=12_000)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        res = w2v_dist.train([str(small_corpus)], client=client, hot_rows=40, hot_subrounds=3, **common)
        off = w2v_dist.train([str(small_corpus)], client=client, hot_rows=0, **common).metrics
        # rounds longer than SUM_ROUND_WORDS: the cold rows' sum diverged at 8 replicas, auto damps them
        long = w2v_dist.train([str(small_corpus)], client=client, hot_rows=40, hot_subrounds=3,
                              **dict(common, sync_total=SUM_ROUND_WORDS + 2)).metrics
    assert long["merge"] == "scaled-sum" and long["hot_rows"] == [40, 40, 0]
    m = res.metrics
    assert m["hot_rows"] == [40, 40, 0] and m["hot_subrounds"] == 3
    per_slice = 2 * 40 * 8 * 4  # syn0 and syn1neg, float32
    assert {s["hot_syncs"] for s in m["round_stats"]} == {3}
    assert {s["hot_bytes_sent"] for s in m["round_stats"]} == {2 * 3 * per_slice}  # two workers
    assert np.isfinite(res.wv.vectors).all()
    assert off["hot_rows"] == [0, 0, 0] and "hot_syncs" not in off["round_stats"][0]
    assert m["merge"] == "sum" and off["merge"] == "scaled-sum"  # merge="auto"
    # the driver's cold rows travel as before, the hot ones no longer through it
    assert m["round_stats"][0]["bytes_to_driver"] < off["round_stats"][0]["bytes_to_driver"]


@pytest.mark.parametrize("workers", [2, 8])
def test_hot_subrounds_by_default_follow_the_replicas(small_corpus, workers):
    """hot_subrounds=0 (the default): 5 hot exchanges a round below 8 replicas, 10 from 8
    (default_subrounds, measured in benchmarks/README.md); each round does that many."""
    import w2v_dist
    from w2v_dist.cluster import dask_client
    from w2v_dist.training.hot import default_subrounds

    want = 10 if workers >= 8 else 5
    with dask_client(workers=workers, threads_per_worker=1, processes=False) as client:
        m = w2v_dist.train([str(small_corpus)], client=client, sg=1, epochs=1, vector_size=8, min_count=5, seed=2,
                           replicas="worker", sync_total=4_000 * workers, hot_rows=40).metrics
    assert m["workers"] == workers and m["hot_subrounds"] == want == default_subrounds(workers)
    assert {s["hot_syncs"] for s in m["round_stats"]} == {want}
    with pytest.raises(ValueError, match="replicas"):
        default_subrounds(0)


def test_files_and_the_actor_train_the_same_vectors(small_corpus):
    """On one machine the hot rows go through files (HotFiles: every replica merges the K changes
    itself); with exchange="dask" through the actor.  The same sums in the same order: the same
    vectors bit for bit, with and without overlapping rounds."""
    import w2v_dist
    from w2v_dist.cluster import dask_client

    common = dict(sg=1, epochs=1, vector_size=8, min_count=5, seed=2, replicas="worker", sync_total=12_000,
                  hot_rows=40, hot_subrounds=3)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        for overlap in (False, True):
            files = w2v_dist.train([str(small_corpus)], client=client, exchange="auto", overlap=overlap, **common)
            actor = w2v_dist.train([str(small_corpus)], client=client, exchange="dask", overlap=overlap, **common)
            assert files.metrics["round_stats"][0]["workers_by_file"] == 2
            assert actor.metrics["round_stats"][0]["workers_by_file"] == 0
            np.testing.assert_array_equal(files.wv.vectors, actor.wv.vectors)
            np.testing.assert_array_equal(files.syn1neg, actor.syn1neg)
            assert {s["hot_syncs"] for s in files.metrics["round_stats"]} == {3}


def test_hot_files_merge_is_the_actors(tmp_path):
    """HotFiles, one per replica, against the actor's BMUF step (the numpy reference), in any order
    of sending; old files are removed; an ABORT file ends a wait."""
    rng = np.random.default_rng(5)
    K, D = 3, 4
    C0 = [rng.normal(size=(5, D)).astype(np.float32), rng.normal(size=(2, D)).astype(np.float32),
          np.zeros((0, D), np.float32)]
    M0 = [np.zeros_like(c) for c in C0]
    ex = [HotFiles(str(tmp_path), K, k, C0, M0, 0.5) for k in range(K)]
    C, M = [c.copy() for c in C0], [m.copy() for m in M0]
    for gen in range(4):
        deltas = [[rng.normal(size=c.shape).astype(np.float32) for c in C0] for _ in range(K)]
        pend = [ex[k].exchange(gen, k, deltas[k], want="state" if gen == 3 else "lookahead") for k in (2, 0, 1)]
        for i in range(3):
            C[i], M[i] = _bmuf_reference(C[i], M[i], [deltas[k][i] for k in range(K)], K, np.float32(0.5))
        for p in pend:
            got = p.result(timeout=10)
            want = C + M if gen == 3 else [c + np.float32(0.5) * m for c, m in zip(C, M)]
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)
    assert sorted(f.name for f in tmp_path.iterdir()) == [f"{g}-{k}.npy" for g in (2, 3) for k in range(K)]
    lone = ex[0].exchange(4, 0, [np.zeros_like(c) for c in C0])
    abort_files(str(tmp_path), "round failed")
    with pytest.raises(RuntimeError, match="round failed"):
        lone.result(timeout=10)
    with pytest.raises(ValueError, match="replica 1"):
        ex[0].exchange(5, 1, [np.zeros_like(c) for c in C0])


@pytest.mark.parametrize("bad", [dict(hot_rows=-1), dict(hot_subrounds=-1), dict(hot_timeout=0)])
def test_bad_hot_parameters_are_named(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        Config(**bad).validate()


def test_a_failed_replica_does_not_hold_the_others(small_corpus, monkeypatch):
    """One replica's round raises (a bug, not a lost worker): the run raises it at once, and the
    other replica, waiting for the failed one's hot rows, is freed then, not after hot_timeout."""
    import time

    import w2v_dist
    from w2v_dist.cluster import dask_client

    real = W._train_hot
    calls = []

    def failing(rep, parts, lo, hi, a0, a1, seed, hot):
        calls.append(hot["replica"])
        if hot["replica"] == 0 and hot["gen"] > 0:
            raise ValueError("boom in replica 0")
        return real(rep, parts, lo, hi, a0, a1, seed, hot)

    monkeypatch.setattr(W, "_train_hot", failing)
    common = dict(sg=1, epochs=1, vector_size=8, min_count=5, seed=2, replicas="worker", sync_total=12_000,
                  hot_rows=20, hot_timeout=300)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        t0 = time.monotonic()
        with pytest.raises(ValueError, match="boom in replica 0"):
            w2v_dist.train([str(small_corpus)], client=client, **common)
        # the survivor's thread is free: another job runs at once
        res = w2v_dist.train([str(small_corpus)], client=client, **dict(common, hot_rows=0))
        assert time.monotonic() - t0 < 120 and res.metrics["rounds"] > 1
