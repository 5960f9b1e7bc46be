"""The whole job on the real small corpus: Dask stages, distributed rounds, outputs, evaluation."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from w2v_dist.cli import main
from w2v_dist.cluster import dask_client
from w2v_dist.errors import ConfigError, W2VError
from w2v_dist.output import OUTPUT_FILES
from w2v_dist.evaluation import evaluate_word_pairs
from w2v_dist.vectors import WordVectors

gensim = pytest.importorskip("gensim")


@pytest.fixture(scope="module")
def inproc_client():
    """Two single-thread workers as threads of this process (fast start; memory:// visible)."""
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        yield client


def _random_spearman_max(wv, pairs, trials=5):
    rng = np.random.default_rng(0)
    best = -1.0
    for _ in range(trials):
        rnd = WordVectors(wv.index_to_key, rng.standard_normal(wv.vectors.shape).astype(np.float32))
        best = max(best, evaluate_word_pairs(rnd, pairs)["spearman"])
    return best


def test_cli_two_worker_processes_end_to_end(tmp_path, small_corpus, eval_dir, capsys):
    out = tmp_path / "model"
    ws = eval_dir / "wordsim353.tsv"
    code = main(["--quiet", "train", str(small_corpus), "--output", str(out), "--workers", "2",
                 "--threads-per-worker", "1", "--sg", "1", "--epochs", "5", "--sync-every", "50000",
                 "--word-pairs", str(ws), str(eval_dir / "simlex999.txt"),
                 "--analogies", str(eval_dir / "questions-words.txt")])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    m = json.loads((out / "metrics.json").read_text())
    for key in ("corpus_words", "vocab_size", "effective_words", "train_seconds", "words_per_second",
                "workers", "rounds", "config", "evaluation"):
        assert key in m, key
    assert m["workers"] == 2 and m["rounds"] >= 5 and m["config"]["sg"] == 1
    assert 0 < m["effective_words"] < 5 * m["corpus_words"]
    for key in ("analogy_accuracy", "wordsim353_spearman", "simlex999_spearman", "oov_ratio"):
        assert key in m["evaluation"], key

    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True)
    ours = WordVectors.load_word2vec_format(str(out / "vectors.txt"))
    assert len(kv) == m["vocab_size"] == len(ours)
    assert kv.index_to_key == ours.index_to_key
    np.testing.assert_allclose(kv.vectors, ours.vectors, rtol=1e-6, atol=1e-7)

    # gensim reads both word2vec files, and its top 10 neighbours are ours for 20 frequent words
    kv_txt = gensim.models.KeyedVectors.load_word2vec_format(str(out / "vectors.txt"), binary=False)
    native = WordVectors.load(str(out))
    for w in ours.index_to_key[10:30]:
        mine = native.most_similar(w, topn=10)
        for theirs in (kv.most_similar(w, topn=10), kv_txt.most_similar(w, topn=10)):
            assert [x for x, _ in theirs] == [x for x, _ in mine], w
            np.testing.assert_allclose([s for _, s in theirs], [s for _, s in mine], rtol=0, atol=1e-6)
    # the native format (memory-mapped) and the Parquet file hold exactly the same vectors
    assert native.index_to_key == ours.index_to_key and not native.vectors.flags.writeable
    np.testing.assert_array_equal(native.vectors, ours.vectors)
    assert native.counts.tolist() == pq.read_table(out / "vocab.parquet").column("count").to_pylist()
    assert native.metadata["export"] == "input"
    np.testing.assert_array_equal(WordVectors.load_parquet(str(out / "vectors.parquet")).vectors, ours.vectors)
    # the report: plots as inline PNG, per-section analogy table
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count('src="data:image/png;base64,') == 5
    for section in m["evaluation"]["analogy_sections"]:
        assert f"<td>{section['section']}</td>" in report

    trained = evaluate_word_pairs(ours, str(ws))["spearman"]
    assert trained == pytest.approx(m["evaluation"]["wordsim353_spearman"], abs=1e-6)

    # the evaluate and similar commands read the written vectors
    capsys.readouterr()
    assert main(["--quiet", "evaluate", str(out / "vectors.bin"), "--word-pairs", str(ws), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["wordsim353_spearman"] == pytest.approx(trained, abs=1e-6)
    assert main(["--quiet", "similar", str(out / "vectors.txt"), "the", "--topn", "3", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)
    assert [t["word"] for t in top] == [w for w, _ in kv.most_similar("the", topn=3)]
    assert main(["--quiet", "similar", str(out / "vectors.txt"), "zzzqqq"]) == 2


@pytest.mark.parametrize("replicas", ["worker", "host"])
def test_two_workers_match_one_and_beat_random(tmp_path, eval_dir, inproc_client, replicas):
    """On the 1.2M-token demo sample (the 200k-token small slice is too small for WordSim-353:
    gensim itself scores -0.10..0.03 there), 2 workers keep the quality of 1, whether as 2
    replicas merged every round (``worker``) or as one replica both train in shared memory
    (``host``), and both are clearly above random vectors."""
    import w2v_dist
    from w2v_dist.cluster import dask_client

    demo = str(Path(__file__).resolve().parents[1] / "data" / "demo" / "*.txt.gz")
    ws = str(eval_dir / "wordsim353.tsv")
    common = dict(sg=1, epochs=5, sync_every=25_000, word_pairs=[ws], seed=3)
    two = w2v_dist.train([demo], client=inproc_client, replicas=replicas, **common)
    assert two.metrics["shared_replica"] == (replicas == "host")
    with dask_client(workers=1, threads_per_worker=1, processes=False) as one_client:
        one = w2v_dist.train([demo], client=one_client, **common)
    assert two.metrics["workers"] == 2 and one.metrics["workers"] == 1
    assert two.metrics["rounds"] > 3
    assert two.wv.index_to_key == one.wv.index_to_key
    s1 = one.metrics["evaluation"]["wordsim353_spearman"]
    s2 = two.metrics["evaluation"]["wordsim353_spearman"]
    rnd = _random_spearman_max(two.wv, ws)
    assert s1 > rnd + 0.08 and s2 > rnd + 0.08, (s1, s2, rnd)
    print("wordsim 1 worker", s1, "2 workers", s2, "random", rnd)
    assert s2 > s1 - 0.06, (s1, s2)

    # training loss per effective word over the last epoch: the same within 5%
    def last_epoch_loss(m):
        rs = [r for r in m["round_stats"] if r["epoch"] == 4]
        return sum(r["loss"] for r in rs) / sum(r["effective_words"] for r in rs)

    l1, l2 = last_epoch_loss(one.metrics), last_epoch_loss(two.metrics)
    assert abs(l2 - l1) / l1 < 0.05, (l1, l2)


def test_memory_filesystem_in_and_out(inproc_client, small_corpus):
    import fsspec

    import w2v_dist

    fs = fsspec.filesystem("memory")
    fs.pipe("/e2e/in/a.txt", small_corpus.read_bytes()[:300_000])
    res = w2v_dist.train(["memory://e2e/in/*.txt"], client=inproc_client, epochs=1, output="memory://e2e/out")
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls("/e2e/out", detail=False)) == sorted(OUTPUT_FILES)
    back = WordVectors.load_word2vec_format("memory://e2e/out/vectors.bin")
    np.testing.assert_array_equal(back.vectors, res.wv.vectors)
    np.testing.assert_array_equal(WordVectors.load("memory://e2e/out").vectors, res.wv.vectors)


def test_empty_corpus(tmp_path, inproc_client):
    import w2v_dist

    f = tmp_path / "punct.txt"
    f.write_text("!!! ??? ...\n--- ;;;\n")
    with pytest.raises(W2VError, match="empty"):
        w2v_dist.train([str(f)], client=inproc_client, output=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_vocabulary_empty_after_min_count(tmp_path, inproc_client):
    import w2v_dist

    f = tmp_path / "few.txt"
    f.write_text("one two three\n")
    with pytest.raises(W2VError, match="min_count"):
        w2v_dist.train([str(f)], client=inproc_client, min_count=5, output=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("hs, negative", [(1, 0), (1, 3)])
def test_hierarchical_softmax_trains_on_two_replicas(small_corpus, inproc_client, sg, hs, negative):
    """HS alone and HS + NS, skip-gram and CBOW: syn1 [V-1, D] is trained, merged and the loss falls."""
    import w2v_dist

    res = w2v_dist.train([str(small_corpus)], client=inproc_client, sg=sg, hs=hs, negative=negative,
                         epochs=3, sync_every=40_000, min_count=5, replicas="worker")
    m = res.metrics
    V, D = len(res.wv), res.wv.vector_size
    assert res.syn1.shape == (V - 1, D) and np.abs(res.syn1).sum() > 0
    assert (res.syn1neg is None) == (negative == 0)
    assert m["workers"] == 2 and m["config"]["hs"] == 1
    per_word = [sum(r["loss"] for r in m["round_stats"] if r["epoch"] == e)
                / sum(r["effective_words"] for r in m["round_stats"] if r["epoch"] == e) for e in range(3)]
    assert per_word[2] < per_word[0], per_word
    assert all(r["bytes_to_driver"] > 0 for r in m["round_stats"])


def test_word2vec_api_exports_and_saves(tmp_path, small_corpus, inproc_client, eval_dir):
    """gensim-style entry point: parameters as attributes, syn1neg, export=sum, save and load."""
    import w2v_dist

    part = tmp_path / "part.txt"
    part.write_bytes(small_corpus.read_bytes()[:300_000])
    ws = str(eval_dir / "wordsim353.tsv")
    model = w2v_dist.Word2Vec(str(part), client=inproc_client, sg=1, epochs=1, window=3, export="sum",
                              word_pairs=[ws])
    assert model.window == 3 and model.sg == 1 and model.negative == 5
    V = len(model.wv)
    assert model.syn1neg.shape == model.syn0.shape == (V, 100) and np.abs(model.syn1neg).sum() > 0
    np.testing.assert_array_equal(model.wv.vectors, model.syn0 + model.syn1neg)
    assert model.corpus_total_words == model.metrics["corpus_words"] > 0
    loss = model.get_latest_training_loss()
    assert loss == pytest.approx(sum(model.metrics["loss"])) and loss > 0
    # the evaluation scored the exported vectors
    assert model.metrics["evaluation"]["wordsim353_spearman"] == pytest.approx(
        evaluate_word_pairs(model.wv, ws)["spearman"], abs=1e-12)
    model.save(str(tmp_path / "m"))
    back = w2v_dist.Word2Vec.load(str(tmp_path / "m"))
    assert back.wv.index_to_key == model.wv.index_to_key and back.config.export == "sum" and back.window == 3
    np.testing.assert_array_equal(back.wv.vectors, model.wv.vectors)
    np.testing.assert_array_equal(back.wv.counts, model.wv.counts)
    assert back.wv.metadata["export"] == "sum"
    with pytest.raises(W2VError, match="already holds a model"):
        model.save(str(tmp_path / "m"))

    concat = w2v_dist.Word2Vec(str(part), client=inproc_client, sg=1, epochs=1, window=3, export="concat")
    assert concat.wv.vector_size == 200
    np.testing.assert_array_equal(concat.wv.vectors, np.hstack([concat.syn0, concat.syn1neg]))


def test_word2vec_api_rejects_what_it_cannot_do():
    import w2v_dist
    from w2v_dist.errors import ConfigError

    with pytest.raises(ConfigError, match="corpus_file"):
        w2v_dist.Word2Vec(sentences=[["a", "b"]])
    with pytest.raises(ConfigError, match="export"):
        w2v_dist.Word2Vec(hs=1, negative=0, export="output")
    with pytest.raises(ConfigError, match="unknown parameter 'size'"):
        w2v_dist.Word2Vec(size=100)
    assert repr(w2v_dist.Word2Vec()) == "Word2Vec(untrained)"
    with pytest.raises(W2VError, match="not been trained"):
        w2v_dist.Word2Vec().save("memory://nothing")


def test_one_worker_rounds_are_solo_round_words(small_corpus, inproc_client):
    """A lone replica merges nothing, so its rounds are ``max(sync_every, solo_round)`` words, and
    so is one replica shared by two workers (``solo_round // 2`` words each); with two replicas
    ``solo_round`` plays no part and a round is ``sync_every`` words a worker."""
    import math

    import w2v_dist

    common = dict(sg=0, epochs=1, vector_size=8, min_count=5, sync_every=5_000, seed=2)
    with dask_client(workers=1, threads_per_worker=1, processes=False) as one:
        big = w2v_dist.train([str(small_corpus)], client=one, solo_round=40_000, **common).metrics
        small = w2v_dist.train([str(small_corpus)], client=one, solo_round=0, **common).metrics
    n = big["train_words"]
    assert n == small["train_words"] > 40_000
    assert big["rounds_per_epoch"] == big["rounds"] == math.ceil(n / 40_000)
    assert small["rounds_per_epoch"] == math.ceil(n / 5_000)
    assert len(big["loss"]) == big["rounds"]
    two = w2v_dist.train([str(small_corpus)], client=inproc_client, solo_round=40_000, replicas="worker",
                         **common).metrics
    assert two["workers"] == 2 and two["rounds_per_epoch"] >= math.ceil(n / 2 / 5_000)
    host = w2v_dist.train([str(small_corpus)], client=inproc_client, solo_round=40_000, replicas="host",
                          **common).metrics
    assert host["workers"] == 2 and host["shared_replica"] and host["round_words"] == 20_000
    assert host["rounds_per_epoch"] == math.ceil(max(host["replica_words"]) / 20_000) < two["rounds_per_epoch"]
    # dealt out (the default) in one stretch a round: merged replicas' rounds, the shared replica's
    assert two["dealt_stretches"] == two["rounds_per_epoch"] == math.ceil(math.ceil(n / 2) / 5_000)
    assert host["dealt_stretches"] == math.ceil(math.ceil(n / 2) / 20_000)


def test_sync_total_is_split_over_the_workers(small_corpus, inproc_client):
    """With ``sync_every = 0`` (the default) each of K workers trains ``sync_total // K`` words a
    round; an explicit ``sync_every`` is per worker, whatever K."""
    import math

    import w2v_dist
    from w2v_dist.config import Config

    assert [Config().round_words(k) for k in (1, 2, 4, 8)] == [100_000, 50_000, 25_000, 12_500]
    assert Config(sync_every=7).round_words(8) == 7 and Config(sync_total=3).round_words(8) == 1
    for bad in (dict(sync_every=-1), dict(sync_total=0)):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Config(**bad).validate()
    common = dict(sg=0, epochs=1, vector_size=8, min_count=5, seed=2, replicas="worker")
    m = w2v_dist.train([str(small_corpus)], client=inproc_client, sync_total=12_000, **common).metrics
    assert m["workers"] == 2 and m["round_words"] == 6_000
    assert m["config"]["sync_every"] == 0 and m["config"]["sync_total"] == 12_000
    # the larger stream sets the rounds: ceil(its words / 6,000); together they hold train_words
    assert m["rounds_per_epoch"] >= math.ceil(m["train_words"] / 2 / 6_000)
    assert all(s["words"] <= 2 * 6_000 + 1_000 for s in m["round_stats"])  # a sentence may overrun a slice
    fixed = w2v_dist.train([str(small_corpus)], client=inproc_client, sync_every=6_000, sync_total=1,
                           **common).metrics
    assert fixed["round_words"] == 6_000 and fixed["loss"] == m["loss"]
