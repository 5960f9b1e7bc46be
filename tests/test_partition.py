"""A central copy partitioned by row ranges across the workers (training/partition.py): the same
initial rows, owners split at their range boundaries, the same trained vectors and outputs as the
driver-held central copy, and checkpoints by range that resume to the uninterrupted result."""

import numpy as np
import pytest

import w2v_dist
from w2v_dist.cluster import dask_client
from w2v_dist.config import Config
from w2v_dist.errors import ConfigError
from w2v_dist.training import checkpoint as ckpt
from w2v_dist.training import partition as P
from w2v_dist.training.driver import initial_weights, train_vectors
from test_robust import _kill_soon  # the driver-held path's kill helper (tests/ is on sys.path)

# solo_round=0: several rounds with one worker too; hot_rows=0: a partitioned central copy merges
# every row once a round (no hot rows there yet), and the driver-held runs here must train the same
FAST = dict(sg=1, replicas="worker", epochs=2, vector_size=24, sync_every=5_000, solo_round=0, min_count=3, seed=5,
            hot_rows=0)


@pytest.fixture(scope="module")
def text(small_corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("part")
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    (d / "a.txt").write_text("\n".join(lines[:3000]) + "\n", encoding="utf-8")
    return str(d / "a.txt")


@pytest.fixture(scope="module")
def two():
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        yield client


@pytest.fixture(scope="module")
def one():
    with dask_client(workers=1, threads_per_worker=1, processes=False) as client:
        yield client


def test_initial_rows_are_the_rows_of_initial_weights():
    V, D, seed = 1003, 7, 11  # D odd: rows start at odd and even 32-bit draws
    full = initial_weights(V, D, seed, negative=5, hs=1)
    for lo, hi in [(0, 1), (1, 2), (2, 500), (501, 1003), (1002, 1003), (400, 400)]:
        for i in range(3):
            n = full[i].shape[0]
            a, b = min(lo, n), min(hi, n)
            np.testing.assert_array_equal(P.initial_rows(i, a, b, D, seed), full[i][a:b])


def test_rows_split_by_owner_at_range_boundaries():
    bounds = P.row_bounds(10, 3)
    assert list(bounds) == [0, 3, 6, 10]
    rows = np.array([0, 2, 3, 5, 6, 9], dtype=np.int64)  # each range's first and last row
    got = [rows[s].tolist() for s in P.split_by_owner(rows, bounds)]
    want = [[r for r in rows.tolist() if bounds[j] <= r < bounds[j + 1]] for j in range(3)]
    assert got == want == [[0, 2], [3, 5], [6, 9]]
    # empty ranges (fewer rows than owners) and row ids past 2**31
    assert [rows[s].tolist() for s in P.split_by_owner(np.array([0], np.int64), P.row_bounds(1, 2))] == [[], [0]]
    big = np.array([2**31 - 1, 2**31, 3 * 2**31], dtype=np.int64)
    b = np.array([0, 2**31, 2**33], dtype=np.int64)
    assert [big[s].tolist() for s in P.split_by_owner(big, b)] == [[2**31 - 1], [2**31, 3 * 2**31]]


def test_rows_read_from_range_pieces(tmp_path):
    rng = np.random.default_rng(0)
    m = rng.random((50, 6), dtype=np.float32)
    pieces = []
    for lo, hi in [(0, 17), (17, 18), (18, 50)]:
        url = str(tmp_path / P.piece_name(0, lo, hi))
        P.write_npy(url, m[lo:hi])
        pieces.append((lo, hi, url))
    for lo, hi in [(0, 50), (16, 19), (17, 18), (20, 49), (5, 5)]:
        np.testing.assert_array_equal(P.read_rows(pieces, lo, hi, 6), m[lo:hi])
    with pytest.raises(ValueError, match="cover"):
        P.read_rows(pieces[:1], 10, 20, 6)


def test_central_partition_bytes_is_validated():
    with pytest.raises(ConfigError, match="central_partition_bytes"):
        Config(central_partition_bytes=-1).validate()


@pytest.mark.parametrize("workers", [1, 2])
def test_partitioned_run_gives_the_driver_held_vectors(text, one, two, tmp_path, eval_dir, workers):
    client = one if workers == 1 else two
    ev = dict(word_pairs=[str(eval_dir / "wordsim353.tsv")], analogies=str(eval_dir / "questions-words.txt"))
    held = w2v_dist.train([text], client=client, output=str(tmp_path / "held"), central_partition_bytes=None,
                          export="sum", rare_every=1, **ev, **FAST)  # a partitioned copy sends every row
    part = w2v_dist.train([text], client=client, output=str(tmp_path / "part"), central_partition_bytes=0,
                          export="sum", **ev, **FAST)
    # evaluated on the restrict_vocab most frequent words: here the whole (small) vocabulary
    assert part.metrics["evaluation"]["vocabulary_evaluated"] == len(held.wv) < 30000
    for key, value in held.metrics["evaluation"].items():
        if isinstance(value, float):
            assert part.metrics["evaluation"][key] == pytest.approx(value, abs=1e-6), key
    m = part.metrics
    assert m["central"]["partitioned"] and not held.metrics["central"]["partitioned"]
    assert m["rounds"] == held.metrics["rounds"] > 2
    assert m["effective_words"] == held.metrics["effective_words"]
    if workers == 2:  # rows went to their owners and back, none to the driver
        assert all(s["bytes_to_driver"] == 0 and s["bytes_to_owners"] > 0 and s["bytes_from_owners"] > 0
                   for s in m["round_stats"])
        ref = [(s["bytes_to_driver"], s["bytes_from_driver"]) for s in held.metrics["round_stats"]]
        assert [(s["bytes_to_owners"], s["bytes_from_owners"]) for s in m["round_stats"]] == ref
    # the written sum export is syn0 + syn1neg of the driver-held run; the binary file matches too
    want = held.syn0 + held.syn1neg
    assert part.wv.index_to_key == held.wv.index_to_key
    np.testing.assert_allclose(held.wv.vectors, want, rtol=0, atol=0)
    np.testing.assert_allclose(part.wv.vectors, want, rtol=0, atol=1e-6)
    on_disk = w2v_dist.WordVectors.load_word2vec_format(str(tmp_path / "part" / "vectors.bin"))
    np.testing.assert_array_equal(on_disk.vectors, part.wv.vectors)
    pq = w2v_dist.WordVectors.load_parquet(str(tmp_path / "part" / "vectors.parquet"))
    np.testing.assert_array_equal(pq.vectors, part.wv.vectors)
    txt = w2v_dist.WordVectors.load_word2vec_format(str(tmp_path / "part" / "vectors.txt"))
    np.testing.assert_array_equal(txt.vectors, part.wv.vectors)


class _Stop(Exception):
    pass



def test_partitioned_checkpoint_resumes_to_the_uninterrupted_result(text, two, tmp_path):
    cfg = dict(FAST, checkpoint_every=4, central_partition_bytes=0)
    clean = train_vectors(two, [text], Config(**cfg), progress=False, checkpoint_url=str(tmp_path / "c0"))
    clean_rows = clean.central.fetch(0, 0, clean.central.rows[0])
    clean.central.close()

    def stop(stats):
        if stats["round"] == 5:
            raise _Stop

    url = str(tmp_path / "c1")
    with pytest.raises(_Stop):
        train_vectors(two, [text], Config(**cfg), progress=False, on_round=stop, checkpoint_url=url)
    saved = ckpt.latest(url, load_mats=False)
    assert saved.state["rounds_done"] == 4
    names = sorted(f for _, _, f in saved.state["pieces"]["syn0"])
    V = len(saved.vocab)
    assert names == [P.piece_name(0, 0, V // 2), P.piece_name(0, V // 2, V)]  # one file per owner
    res = train_vectors(two, [text], Config(**cfg), progress=False, checkpoint_url=url, resume=True)
    try:
        assert res.metrics["resumed_from_round"] == 4 and res.metrics["rounds"] == clean.metrics["rounds"]
        np.testing.assert_allclose(res.central.fetch(0, 0, V), clean_rows, rtol=0, atol=1e-5)
        # the driver-held path resumes from the same pieces too
        assert np.array_equal(ckpt.latest(url).mats[0].shape, (V, FAST["vector_size"]))
    finally:
        res.central.close()


def test_killed_worker_process_goes_back_to_the_last_checkpoint(tmp_path, small_corpus):
    """A worker process (nanny restarts it) killed after round 5 takes its range of the central
    copy with it: the run goes back to the checkpoint after round 4, re-creates every replica and
    range from its pieces and ends with the uninterrupted run's vectors."""
    cfg = Config(**dict(FAST, checkpoint_every=4, central_partition_bytes=0))
    with dask_client(workers=2, threads_per_worker=1, processes=True) as client:
        clean = train_vectors(client, [str(small_corpus)], cfg, progress=False, checkpoint_url=str(tmp_path / "c0"))
        want = clean.central.fetch(0, 0, clean.central.rows[0])
        clean.central.close()
        victim = sorted(client.scheduler_info()["workers"])[-1]
        killed = []

        def on_round(stats):
            if stats["round"] == 5 and not killed:
                killed.append(victim)
                _kill_soon(client, victim)

        res = train_vectors(client, [str(small_corpus)], cfg, progress=False, on_round=on_round,
                            checkpoint_url=str(tmp_path / "c1"))
        try:
            assert victim not in client.scheduler_info()["workers"]
            assert res.metrics["recovered_failures"] >= 1 and res.metrics["rounds"] == clean.metrics["rounds"]
            assert len(res.metrics["round_stats"]) == res.metrics["rounds"]
            np.testing.assert_allclose(res.central.fetch(0, 0, res.central.rows[0]), want, rtol=0, atol=1e-5)
        finally:
            res.central.close()


def test_block_writers_write_the_files_of_the_whole_matrix(tmp_path):
    """BlockVectors (a few rows at a time) writes byte for byte the word2vec text, binary and .npy
    files that WordVectors writes from the whole matrix; its Parquet reads back the same."""
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(53)] + ["naïve", "don't"]
    vec = rng.standard_normal((len(words), 9)).astype(np.float32)
    counts = np.arange(len(words), 0, -1)
    wv = w2v_dist.WordVectors(words, vec, counts)
    bv = P.BlockVectors(words, counts, 9, lambda lo, hi: vec[lo:hi], block_rows=7)
    for obj, d in ((wv, tmp_path / "whole"), (bv, tmp_path / "blocks")):
        obj.save_word2vec_format(str(d / "v.txt"))
        obj.save_word2vec_format(str(d / "v.bin.gz"), binary=True)
        obj.save(str(d / "native"))
        obj.save_parquet(str(d / "v.parquet"))
    import gzip

    for name in ("v.txt", "native/vectors.npy", "native/vectors.json"):
        assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert gzip.decompress((tmp_path / "blocks" / "v.bin.gz").read_bytes()) == \
        gzip.decompress((tmp_path / "whole" / "v.bin.gz").read_bytes())
    back = w2v_dist.WordVectors.load_parquet(str(tmp_path / "blocks" / "v.parquet"))
    assert back.index_to_key == words
    np.testing.assert_array_equal(back.vectors, vec)
    loaded = w2v_dist.WordVectors.load(str(tmp_path / "blocks" / "native"))
    assert loaded.counts.tolist() == counts.tolist()
    np.testing.assert_array_equal(bv.head(5).vectors, vec[:5])
