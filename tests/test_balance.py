"""Streams balanced by words (training/balance.py): the plan against a direct count, the cut pieces
against the sentences they came from (both forms of an encoded shard), and runs in which every
sentence is trained once an epoch, equal shares within a sentence, also after a worker is lost; and
workers that join or leave, used or drained from the next round or epoch."""

import gzip

import numpy as np
import pytest

import w2v_dist
from w2v_dist.cluster import dask_client
from w2v_dist.config import Config
from w2v_dist.training import balance as B
from w2v_dist.training.driver import train_vectors
from w2v_dist.training import encoded as E
from w2v_dist.training.encoded import _store_part, part_words
from test_robust import _kill_soon  # tests/ is on sys.path

FAST = dict(sg=1, replicas="worker", epochs=2, vector_size=16, sync_every=4_000, solo_round=0, min_count=3, seed=5,
            deal=False)


def test_plan_moves_gives_each_worker_its_share_and_moves_only_the_surplus():
    rng = np.random.default_rng(0)
    for K in (2, 3, 5, 8):
        for _ in range(20):
            words = rng.integers(0, 1000, K).tolist()
            if rng.random() < 0.3:
                words[int(rng.integers(K))] = 0  # a worker with no shard
            keep, moves = B.plan_moves(words)
            T = B.targets(sum(words), K)
            assert sum(T) == sum(words) and max(T) - min(T) <= 1
            got = [keep[k] + sum(hi - lo for _, d, lo, hi in moves if d == k) for k in range(K)]
            assert got == T
            assert sum(hi - lo for *_, lo, hi in moves) == sum(max(0, w - t) for w, t in zip(words, T))
            for k in range(K):  # a source's pieces tile the end of its home stream
                mine = [(lo, hi) for s, _, lo, hi in moves if s == k]
                edges = [keep[k]] + [x for lo, hi in mine for x in (lo, hi)] + [words[k]]
                assert edges == sorted(edges) and all(a == b for a, b in zip(edges[0::2], edges[1::2]))
                assert not mine or all(d != k and words[d] < T[d] for s, d, *_ in moves if s == k)


def _parts(rng, n_parts, form, tmp_path, tag):
    """Encoded parts with random sentence lengths (some empty parts), and their sentences."""
    parts, sents = [], []
    for p in range(n_parts):
        lens = rng.integers(1, 30, int(rng.integers(0, 40)))
        off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        ids = rng.integers(0, 500, int(off[-1])).astype(np.int32)
        sents += [ids[off[i]:off[i + 1]].tolist() for i in range(lens.size)]
        if form == "memory":
            parts.append((ids, off, {}))
        else:
            parts.append(_store_part(ids, off, {}, f"baltest-{tag}", f"{p}", "disk"))
    return parts, sents


def _stream_sentences(parts, limit=None):
    """Sentences of a stream whose first word lies before ``limit`` words (all when None)."""
    from w2v_dist.training.encoded import part_offsets, part_words, slice_arrays

    out, start = [], 0
    for part in parts:
        off = np.asarray(part_offsets(part))
        ids, o, a, b = slice_arrays(part, 0, off.size - 1)
        for i in range(a, b):
            if limit is None or start + int(o[i] - o[a]) < limit:
                out.append(np.asarray(ids[o[i]:o[i + 1]]).tolist())
        start += part_words(part)
    return out


@pytest.mark.parametrize("form", ["memory", "disk"])
def test_pieces_hold_every_sentence_once(form, tmp_path, monkeypatch):
    """The balanced streams, rebuilt from the pieces as the driver does, hold each home stream's
    sentences once, in order, and each stream is within one sentence of its share."""
    monkeypatch.setattr(E, "_local_directory", lambda: str(tmp_path))  # disk form: files under tmp_path
    rng = np.random.default_rng(1)
    for trial in range(6):
        K = int(rng.integers(2, 6))
        homes, sents = zip(*[_parts(rng, int(rng.integers(1, 4)), form, tmp_path, f"{trial}-{k}")
                             for k in range(K)])
        words = [sum(len(s) for s in ss) for ss in sents]
        keep, moves = B.plan_moves(words)
        at = {}
        for k in range(K):
            asked = sorted({keep[k]} | {x for m in moves if m[0] == k for x in m[2:]})
            at[k] = dict(zip(asked, B.sentence_starts_at(homes[k], asked)))
        streams = {k: {"limit": at[k][keep[k]] if any(m[0] == k for m in moves) else None, "pieces": []}
                   for k in range(K)}
        for src, dst, lo, hi in moves:
            a, b = at[src][lo], at[src][hi]
            if b > a:
                piece = B.store_piece(B.cut_piece(a, b, *homes[src]), f"baltest-{trial}-p", f"{src}-{dst}-{a}", form)
                streams[dst]["pieces"].append((src, a, piece))
        # every sentence once: each source's kept prefix followed by its pieces in order is its home
        for k in range(K):
            rebuilt = _stream_sentences(homes[k], streams[k]["limit"])
            for dst in range(K):
                for src, a, piece in sorted(streams[dst]["pieces"], key=lambda x: x[1]):
                    if src == k:
                        rebuilt += _stream_sentences([piece])
            assert rebuilt == sents[k]
        longest = max((len(s) for ss in sents for s in ss), default=0)
        trained = [sum(len(s) for s in _stream_sentences(homes[k], streams[k]["limit"]))
                   + sum(part_words(p) for _, _, p in streams[k]["pieces"]) for k in range(K)]
        assert sum(trained) == sum(words)
        T = B.targets(sum(words), K)
        assert all(abs(t - w) <= longest * K for t, w in zip(trained, T)), (trained, T)


@pytest.mark.parametrize("form", ["memory", "disk"])
def test_dealt_streams_hold_every_sentence_once_a_stretch_at_a_time(form, tmp_path, monkeypatch):
    """Dealing out, as the driver does (deal_asks, sentence_starts_at, deal_segments, and a task of
    cut_pieces for each run of group_segments): read stretch by stretch and worker by worker, the
    dealt streams are the shards' sentences in input order, once; each piece is within a sentence
    of its share, and ``bounds`` counts them; a run is one home stream's, within its word cap."""
    monkeypatch.setattr(E, "_local_directory", lambda: str(tmp_path))
    rng = np.random.default_rng(2)
    for trial in range(12):
        K, S, n = int(rng.integers(2, 6)), int(rng.integers(1, 7)), int(rng.integers(1, 9))
        shards, sents = zip(*[_parts(rng, 1, form, tmp_path, f"d{trial}-{i}") for i in range(n)])
        owner = [int(x) for x in rng.integers(0, K, n)]
        homes = {k: [shards[i][0] for i in range(n) if owner[i] == k] for k in range(K)}
        words = [sum(len(x) for x in ss) for ss in sents]
        asks = B.deal_asks(words, owner, K, S)
        snapped = {src: dict(zip(v, B.sentence_starts_at(homes[src], v))) for src, v in asks.items()}
        segments, bounds = B.deal_segments(words, owner, K, S, snapped)
        cap = [1, 40, 10**9][trial % 3]  # a run of one segment, a few, or every consecutive one
        runs = {d: B.group_segments(segments[d], cap) for d in range(K)}
        streams = {d: [B.store_piece(B.cut_pieces(ranges, *homes[src]), f"dealtest-{trial}", f"{d}-{j}", form)
                       for j, (src, ranges) in enumerate(runs[d])] for d in range(K)}
        for d in range(K):
            assert [(src, lo, hi) for src, ranges in runs[d] for lo, hi in ranges] == segments[d]
            for src, ranges in runs[d]:
                assert len(ranges) == 1 or sum(hi - lo for lo, hi in ranges) <= cap
            if cap == 10**9:  # neighbouring runs come from different home streams
                assert all(a[0] != b[0] for a, b in zip(runs[d], runs[d][1:]))
        for d in range(K):
            assert len(bounds[d]) == S + 1 and bounds[d][-1] == B.stream_words(*streams[d])
            assert bounds[d] == sorted(bounds[d])
        # piece j of worker d: the sentences of its stream between bounds[d][j] and bounds[d][j + 1]
        flat = {d: _stream_sentences(streams[d]) for d in range(K)}
        starts = {d: np.cumsum([0] + [len(x) for x in flat[d]])[:-1].tolist() for d in range(K)}
        rebuilt = []
        for j in range(S):
            for d in range(K):
                rebuilt += [x for x, st in zip(flat[d], starts[d]) if bounds[d][j] <= st < bounds[d][j + 1]]
        assert rebuilt == [x for ss in sents for x in ss]
        longest = max((len(x) for ss in sents for x in ss), default=0)
        T = sum(words)
        for d in range(K):
            for j in range(S):
                assert abs(bounds[d][j + 1] - bounds[d][j] - T / (S * K)) <= longest + 1


@pytest.fixture(scope="module")
def uneven(small_corpus, tmp_path_factory):
    """Two gzip shards (not splittable) of 3,000 and 600 lines: one worker holds 5x the other's words."""
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    d = tmp_path_factory.mktemp("uneven")
    for name, sl in (("p0", lines[:3000]), ("p1", lines[3000:3600])):
        with gzip.open(d / f"{name}.txt.gz", "wt", encoding="utf-8") as fh:
            fh.write("\n".join(sl) + "\n")
    return [str(d / "*.txt.gz")]


@pytest.mark.parametrize("ranges", [[], [(10, 20), (15, 30)], [(20, 10)]])
def test_cut_pieces_names_ranges_out_of_order(ranges):
    part = (np.arange(40, dtype=np.int32), np.arange(0, 41, 5, dtype=np.int64), {})
    with pytest.raises(ValueError, match="ascending and disjoint"):
        B.cut_pieces(ranges, part)


@pytest.mark.parametrize("cache", ["disk", "memory"])
def test_a_balanced_run_trains_every_word_once_an_epoch(uneven, cache):
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        bal = w2v_dist.train(uneven, client=client, encoded_cache=cache, **FAST).metrics
        whole = w2v_dist.train(uneven, client=client, encoded_cache=cache, balance=False, **FAST).metrics
    n = bal["train_words"]
    assert whole["replica_words"] == whole["home_words"] and whole["balance_moved_words"] == 0
    assert max(whole["home_words"]) > 3 * min(whole["home_words"])  # the shards really are uneven
    assert bal["home_words"] == whole["home_words"] and sum(bal["replica_words"]) == n == whole["train_words"]
    assert abs(bal["replica_words"][0] - bal["replica_words"][1]) < 200  # within a sentence or so
    assert bal["balance_moved_words"] == max(bal["home_words"]) - max(bal["replica_words"]) > 0
    assert bal["rounds_per_epoch"] < whole["rounds_per_epoch"]
    assert bal["balance_seconds"] > 0 and whole["balance_seconds"] == 0
    for m in (bal, whole):  # every word trained once an epoch (raw words: before subsampling)
        for e in range(FAST["epochs"]):
            assert sum(s["raw_words"] for s in m["round_stats"] if s["epoch"] == e) == n


def test_a_dealt_run_trains_each_stretch_once_an_epoch(uneven):
    """deal=True: each worker trains half of every stretch (within a sentence), every word once an
    epoch, one stretch a round; the sentences of a round are those of one worker's run on the
    corpus in dealt order (the same rows of text, rounds of the same words)."""
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        m = w2v_dist.train(uneven, client=client, **dict(FAST, deal=True)).metrics
    n, R = m["train_words"], m["rounds_per_epoch"]
    assert m["dealt_stretches"] == R == -(-(-(-n // 2)) // FAST["sync_every"])
    assert sum(m["replica_words"]) == n and min(m["replica_words"]) > 0.45 * n  # (balanced a piece at a time)
    assert m["balance_moved_words"] > n // 4  # worker 0 holds 5/6 of the words, and gives half away
    # a worker's consecutive pieces from one home stream are cut in one task: 2 home streams, at most 2
    # runs a worker (a task a piece would make 2 R)
    assert R > 10 and m["balance_pieces"] <= 2 * 2
    for e in range(FAST["epochs"]):
        per = [s["raw_words"] for s in m["round_stats"] if s["epoch"] == e]
        assert len(per) == R and sum(per) == n
        assert all(abs(w - n / R) < 400 for w in per)  # every round one stretch: n / R words within a sentence


@pytest.mark.parametrize("deal", [False, True])
def test_killed_worker_the_balanced_streams_are_rebuilt(uneven, deal):
    """A worker process killed mid-run: its shards are encoded again, the same cuts are made, and
    the run ends with the clean run's vectors (synchronous rounds: the same training)."""
    cfg = dict(FAST, rare_every=1, deal=deal)  # every row every round: a redone round starts where the clean run was
    with dask_client(workers=2, threads_per_worker=1, processes=True) as client:
        clean = w2v_dist.train(uneven, client=client, **cfg)
        victim = sorted(client.scheduler_info()["workers"])[-1]
        killed = []

        def on_round(stats):
            if stats["round"] == 4 and not killed:
                killed.append(victim)
                _kill_soon(client, victim)

        res = train_vectors(client, uneven, Config(**cfg), progress=False, on_round=on_round)
    m, c = res.metrics, clean.metrics
    assert m["recovered_failures"] >= 1 and c["balance_moved_words"] > 0 and c["dealt_stretches"] == (
        c["rounds_per_epoch"] if deal else 0)
    assert m["replica_words"] == c["replica_words"] and m["rounds"] == c["rounds"]
    np.testing.assert_allclose(res.wv.vectors, clean.wv.vectors, atol=1e-4)


def _per_word(s: dict) -> float:
    return s["loss"] / max(s["effective_words"], 1)


@pytest.mark.parametrize("start,deal,replicas", [(2, False, "worker"), (2, True, "host"), (1, True, "worker")])
def test_a_worker_that_joins_is_used_from_the_next_epoch(uneven, start, deal, replicas):
    """A worker added to the cluster during epoch 0 gets a replica at epoch 1's start (merged replicas
    on balanced streams, one shared replica, a lone one; dealt merged replicas take it at once:
    the next test): the streams are dealt (or balanced) again over one more worker, every word is
    still trained once an epoch, and training goes on from the model (epoch 1 starts at epoch 0's
    learning rate and far below the untrained loss); the newcomer trains its share of the words."""
    cfg = dict(FAST, deal=deal, replicas=replicas, epochs=3)
    K = start + 1
    with dask_client(workers=start, threads_per_worker=1, processes=False) as client:
        grown = []

        def on_round(stats):
            if stats["round"] == 1 and not grown:
                grown.append(1)
                client.cluster.scale(K)
                client.wait_for_workers(K, timeout=60)

        m = train_vectors(client, uneven, Config(**cfg), progress=False, on_round=on_round).metrics
    n = m["train_words"]
    assert [(x["epoch"], x["workers_before"], x["workers"]) for x in m["reshapes"]] == [(1, start, K)]
    assert m["workers"] == K and len(set(m["reshapes"][0]["hosts"])) == K
    assert m["shared_replica"] == (replicas == "host")
    assert sum(m["replica_words"]) == n and min(m["replica_words"]) > 0.9 * n / K  # the newcomer's share
    if replicas == "worker":
        assert m["dealt_stretches"] == (m["rounds_per_epoch"] if deal else 0)
    stats = m["round_stats"]
    for e in range(cfg["epochs"]):
        ep = [s for s in stats if s["epoch"] == e]
        assert sum(s["raw_words"] for s in ep) == n  # every word once an epoch, before and after
        assert {s["replicas"] for s in ep} == ({start} if e == 0 else {K})
    assert len([s for s in stats if s["epoch"] == 2]) == m["rounds_per_epoch"] < len(
        [s for s in stats if s["epoch"] == 0])  # rounds of the same words a worker: fewer with more workers
    first0 = next(s for s in stats if s["epoch"] == 0)
    last0 = [s for s in stats if s["epoch"] == 0][-1]
    first1 = next(s for s in stats if s["epoch"] == 1)
    assert first1["alpha_start"] == pytest.approx(last0["alpha_end"])  # progress in words goes on
    assert _per_word(first1) < 0.5 * (_per_word(first0) + _per_word(last0)), [
        _per_word(x) for x in (first0, last0, first1)]  # the trained model goes on
    assert m["rounds"] == len(stats)


@pytest.mark.parametrize("rare_every", [8, 1])
def test_a_worker_that_joins_dealt_merged_replicas_is_used_from_the_next_round(uneven, monkeypatch, rare_every):
    """Merged replicas on a dealt corpus take a new worker inside the epoch: after the next round
    that sends every changed row (``rare_every`` > 1: the round after the join is seen; 1: every
    round does), the corpus is dealt again over three workers in the same stretches, so the epoch
    goes on at the same round with the same words a round as the 2-worker run, every word once an
    epoch, from the merged model at the same learning rate."""
    from w2v_dist.training import driver

    monkeypatch.setattr(driver, "_JOIN_CHECK_SECONDS", 0.0)
    cfg = dict(FAST, deal=True, rare_every=rare_every, epochs=2)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        clean = train_vectors(client, uneven, Config(**cfg), progress=False).metrics
        grown = []

        def on_round(stats):
            if stats["round"] == 1 and not grown:
                grown.append(1)
                client.cluster.scale(3)
                client.wait_for_workers(3, timeout=60)

        m = train_vectors(client, uneven, Config(**cfg), progress=False, on_round=on_round).metrics
    n, R = m["train_words"], m["rounds_per_epoch"]
    [shape] = m["reshapes"]
    j = 3 if rare_every > 1 else 2  # the join is seen before round 2; round 2 flushes the rare rows first
    assert (shape["epoch"], shape["round_of_epoch"], shape["workers_before"], shape["workers"]) == (0, j, 2, 3)
    assert R == clean["rounds_per_epoch"] == m["dealt_stretches"] > j
    stats, base = m["round_stats"], clean["round_stats"]
    assert [s["round"] for s in stats] == list(range(cfg["epochs"] * R))  # no round skipped or redone
    assert [s["words"] for s in stats] == [s["words"] for s in base]  # the same stretch a round
    assert [s["replicas"] for s in stats] == [2] * j + [3] * (cfg["epochs"] * R - j)
    for e in range(cfg["epochs"]):
        assert sum(s["raw_words"] for s in stats if s["epoch"] == e) == n  # every word once an epoch
    assert sum(m["replica_words"]) == n and min(m["replica_words"]) > 0.9 * n / 3  # the newcomer's share
    before, after = stats[j - 1], stats[j]
    assert after["alpha_start"] == pytest.approx(before["alpha_end"])  # progress in words goes on
    assert _per_word(after) < 0.5 * (_per_word(stats[0]) + _per_word(before)), [
        _per_word(x) for x in (stats[0], before, after)]  # from the merged model, not a new one


def test_replicas_doubled_up_after_a_loss_are_drained_at_the_next_epoch(uneven, monkeypatch):
    """A worker retired (no replacement) in epoch 0: its replica moves onto the survivor for the rest
    of the epoch, and from epoch 1 the survivor trains one replica with every word (a lone replica:
    nothing merged), from the merged model."""
    from w2v_dist.training import driver

    monkeypatch.setattr(driver, "_RESTART_WAIT_SECONDS", 0.5)
    cfg = dict(FAST, deal=True, rare_every=1)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        victim = sorted(client.scheduler_info()["workers"])[-1]

        def on_round(stats):
            if stats["round"] == 1 and len(client.scheduler_info()["workers"]) == 2:
                client.retire_workers([victim], close_workers=True)

        m = train_vectors(client, uneven, Config(**cfg), progress=False, on_round=on_round).metrics
    n = m["train_words"]
    assert m["recovered_failures"] >= 1
    assert [(x["epoch"], x["workers_before"], x["workers"]) for x in m["reshapes"]] == [(1, 2, 1)]
    assert victim not in m["reshapes"][0]["hosts"] and m["replica_words"] == [n]
    stats = m["round_stats"]
    for e in range(cfg["epochs"]):
        assert sum(s["raw_words"] for s in stats if s["epoch"] == e) == n
    assert {s["replicas"] for s in stats if s["epoch"] == 1} == {1}
    first0 = next(s for s in stats if s["epoch"] == 0)
    last0 = [s for s in stats if s["epoch"] == 0][-1]
    first1 = next(s for s in stats if s["epoch"] == 1)
    assert first1["alpha_start"] == pytest.approx(last0["alpha_end"])
    assert _per_word(first1) < 0.5 * (_per_word(first0) + _per_word(last0)), [
        _per_word(x) for x in (first0, last0, first1)]  # the trained model goes on
