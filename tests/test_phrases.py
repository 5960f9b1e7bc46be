"""Phrase detection against gensim Phrases / FrozenPhrases on the same tokens."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_dist.cli import main
from w2v_dist.config import Config
from w2v_dist.corpus import discover_shards, tokenize
from w2v_dist.errors import ConfigError
from w2v_dist.phrases import (
    ENGLISH_CONNECTOR_WORDS,
    PhraseModel,
    count_phrase_candidates,
    learn_phrases,
    score_phrases,
)
from w2v_dist.vocab import merge_counts

gensim_phrases = pytest.importorskip("gensim.models.phrases")
Phrases = gensim_phrases.Phrases

BLOCK = 200_000  # ~6 partitions of the small corpus: the tree merge is exercised


@pytest.fixture(scope="module")
def small_tokens(small_corpus):
    with open(small_corpus, encoding="utf-8") as fh:
        sents = tokenize(fh.read().splitlines())
    return sents, sents.to_pylist()


@pytest.fixture(scope="module")
def small_shards(small_corpus):
    shards = discover_shards([str(small_corpus)], blocksize=BLOCK)
    assert len(shards) > 2
    return shards


def _assert_same_phrases(ours: dict, theirs: dict):
    assert set(ours) == set(theirs)
    for k, v in theirs.items():
        assert ours[k] == pytest.approx(v, rel=1e-9), k


CASES = [("default", 10.0, frozenset()), ("default", 10.0, ENGLISH_CONNECTOR_WORDS),
         ("npmi", 0.5, frozenset()), ("npmi", 0.5, ENGLISH_CONNECTOR_WORDS)]


@pytest.mark.parametrize("scoring,threshold,connectors", CASES, ids=["default", "default-conn", "npmi", "npmi-conn"])
def test_phrases_and_joined_corpus_equal_gensim(small_tokens, small_shards, scoring, threshold, connectors):
    sents, toks = small_tokens
    ref = Phrases(toks, min_count=5, threshold=threshold, scoring=scoring, connector_words=connectors)
    ref_phrases = ref.export_phrases()
    assert len(ref_phrases) > 100
    model = learn_phrases(small_shards, min_count=5, threshold=threshold, scoring=scoring,
                          connector_words=connectors)
    _assert_same_phrases(model.export_phrases(), ref_phrases)
    counts = dict(zip(model.passes[0].column("phrase").to_pylist(), model.passes[0].column("count").to_pylist()))
    assert counts == {k: ref.vocab[k] for k in ref_phrases}
    frozen = ref.freeze()
    assert model.apply(sents).to_pylist() == [frozen[s] for s in toks]


def test_counts_equal_gensim_vocab(small_tokens):
    sents, toks = small_tokens
    ref = Phrases(toks, min_count=5, threshold=10.0, connector_words=ENGLISH_CONNECTOR_WORDS)
    parts = [count_phrase_candidates(sents[i:i + 1000], ENGLISH_CONNECTOR_WORDS) for i in range(0, len(sents), 1000)]
    merged = merge_counts(parts)
    ours = dict(zip(merged.column("word").to_pylist(), merged.column("count").to_pylist()))
    assert ours == ref.vocab
    assert int(merged.schema.metadata[b"w2v.corpus_words"]) == ref.corpus_word_count


def test_two_passes_equal_gensim(small_tokens, small_shards):
    sents, toks = small_tokens
    kw = dict(min_count=3, threshold=5.0, connector_words=ENGLISH_CONNECTOR_WORDS)
    bigram = Phrases(toks, **kw).freeze()
    btoks = [bigram[s] for s in toks]
    trigram = Phrases(btoks, **kw)
    kept = []
    model = learn_phrases(small_shards, passes=2, keep_partitions=kept, **kw)
    assert len(model.passes) == 2 and len(kept) == len(small_shards)
    _assert_same_phrases(model.export_phrases(0), bigram.phrasegrams)
    _assert_same_phrases(model.export_phrases(1), trigram.export_phrases())
    assert any(p.count("_") >= 2 for p in model.export_phrases(1))
    frozen = trigram.freeze()
    expected = [frozen[s] for s in btoks]
    assert model.apply(sents).to_pylist() == expected
    # the kept partitions are the second pass's input: applying that pass to them gives the same
    assert [s for part in kept for s in model.apply(part, start=1).to_pylist()] == expected


def test_word2phrase_scoring_uses_total_words(small_tokens):
    sents, toks = small_tokens
    ref = Phrases(toks, min_count=5, threshold=1.0)
    total = ref.corpus_word_count
    expected = {}
    for key, n in ref.vocab.items():
        parts = key.split("_")
        if len(parts) < 2:
            continue
        ca, cb = ref.vocab.get(parts[0], 0), ref.vocab.get(parts[-1], 0)
        if ca < 5 or cb < 5:
            continue
        score = (n - 5) / (ca * cb) * total
        if score > 200.0:
            expected[key] = score
    table = score_phrases(count_phrase_candidates(sents), min_count=5, threshold=200.0, scoring="word2phrase")
    assert len(expected) > 20
    _assert_same_phrases(dict(zip(table.column("phrase").to_pylist(), table.column("score").to_pylist())), expected)


def test_random_corpus_with_delimiter_in_tokens_equals_gensim():
    # planted multi-word units, some tokens holding the delimiter ("x_y"), connector words around
    rng = np.random.default_rng(3)
    units = [["new", "york"], ["x_y", "z"], ["x", "y_z"], ["x", "y", "z"], ["bank", "of", "america"], ["of"],
             ["the"], ["a"], ["b"], ["c"], ["the", "end", "of", "the", "road"], ["x", "of", "the", "y"]]
    units += [[f"w{i}"] for i in range(60)]
    toks = []
    for _ in range(3000):
        picks = rng.integers(0, len(units), size=rng.integers(1, 6))
        toks.append([t for k in picks for t in units[k]])
    conn = frozenset({"of", "the"})
    ref = Phrases(toks, min_count=2, threshold=0.5, connector_words=conn)
    assert any("_" in p for p in ref.export_phrases()) and any(p.count("_") > 2 for p in ref.export_phrases())
    sents = pa.array(toks, pa.list_(pa.string()))
    model = PhraseModel([score_phrases(count_phrase_candidates(sents, conn), min_count=2, threshold=0.5)], conn)
    _assert_same_phrases(model.export_phrases(), ref.export_phrases())
    frozen = ref.freeze()
    assert model.apply(sents).to_pylist() == [frozen[s] for s in toks]


@pytest.mark.parametrize("kmax_cap", [64, 1])
def test_learn_with_delimiter_in_tokens_equals_gensim(monkeypatch, kmax_cap):
    # integer span keys and string keys (delimiter words; with kmax_cap=1 also the spans with
    # two or more connectors) must add up to gensim's string-keyed counts, across partitions
    import w2v_dist.phrases as ph

    monkeypatch.setattr(ph, "_KMAX_CAP", kmax_cap)
    rng = np.random.default_rng(5)
    units = [["new", "york"], ["new_york"], ["x_y", "z"], ["x", "y_z"], ["x", "y", "z"], ["x_of_the", "y"],
             ["x", "of", "the", "y"], ["of"], ["the"], ["a", "of", "the", "of", "b"], ["a_of_the_of_b"]]
    units += [[f"w{i}"] for i in range(40)]
    toks = []
    for _ in range(4000):
        picks = rng.integers(0, len(units), size=rng.integers(1, 6))
        toks.append([t for k in picks for t in units[k]])
    conn = frozenset({"of", "the"})
    kw = dict(min_count=2, threshold=0.5, connector_words=conn)
    ref = Phrases(toks, **kw)
    sents = pa.array(toks, pa.list_(pa.string()))
    model = learn_phrases([sents[i:i + 700] for i in range(0, len(toks), 700)], split_every=2, split_out=3, **kw)
    assert any(p.count("_") > 2 for p in ref.export_phrases())
    _assert_same_phrases(model.export_phrases(), ref.export_phrases())
    frozen = ref.freeze()
    assert model.apply(sents).to_pylist() == [frozen[s] for s in toks]


def test_pruning_bounds_partial_tables(small_tokens, small_shards):
    from w2v_dist.phrases import _count_spans, _encode_part, _global_words, _word_table

    bound = 20_000
    exact = merge_counts([count_phrase_candidates(small_tokens[0], ENGLISH_CONNECTOR_WORDS)])
    enc = _encode_part(small_shards[0], None, {}, None)
    for mvs in (None, bound):
        words = _global_words([_word_table(enc, mvs)], mvs, ENGLISH_CONNECTOR_WORDS, "_")
        *ints, strings = _count_spans(small_shards[0], words, None, {}, None, ENGLISH_CONNECTOR_WORDS, "_", mvs, 4)
        rows = sum(k.size for k, _, _ in ints) + strings.num_rows
        assert len(words.words) <= bound and (rows > bound if mvs is None else rows <= bound)
    model = learn_phrases(small_shards, connector_words=ENGLISH_CONNECTOR_WORDS, max_vocab_size=bound, split_every=2)
    true = dict(zip(exact.column("word").to_pylist(), exact.column("count").to_pylist()))
    got = model.passes[0]
    assert got.num_rows > 0
    for p, c in zip(got.column("phrase").to_pylist(), got.column("count").to_pylist()):
        assert c <= true[p]


def test_parquet_round_trip(tmp_path, small_tokens):
    sents, _ = small_tokens
    model = PhraseModel([score_phrases(count_phrase_candidates(sents, ENGLISH_CONNECTOR_WORDS), threshold=5.0)],
                        ENGLISH_CONNECTOR_WORDS, threshold=5.0)
    url = str(tmp_path / "phrases.parquet")
    model.write_parquet(url)
    assert pq.read_table(url).column_names == ["phrase", "score", "count", "pass"]
    back = PhraseModel.read_parquet(url)
    assert back.connector_words == ENGLISH_CONNECTOR_WORDS and back.threshold == 5.0
    assert back.export_phrases() == model.export_phrases()
    assert back.apply(sents).equals(model.apply(sents))


@pytest.mark.parametrize("params,culprit", [({"phrase_scoring": "pmi"}, "phrase_scoring"),
                                            ({"phrase_scoring": "npmi", "phrase_threshold": 10.0}, "phrase_threshold"),
                                            ({"phrase_threshold": -1.0}, "phrase_threshold"),
                                            ({"phrase_min_count": 0}, "phrase_min_count"),
                                            ({"phrase_passes": 0}, "phrase_passes"),
                                            ({"phrase_delimiter": ""}, "phrase_delimiter")])
def test_config_validation(params, culprit):
    with pytest.raises(ConfigError, match=culprit):
        Config(**params).validate()


def test_cli_phrases_then_train_applies_them(tmp_path, small_corpus, small_tokens, capsys):
    sents, toks = small_tokens
    out = tmp_path / "ph"
    argv = ["--quiet", "phrases", str(small_corpus), "--output", str(out), "--phrase-connector-words", "english",
            "--workers", "1", "--threads-per-worker", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    model = PhraseModel.read_parquet(str(out / "phrases.parquet"))
    ref = Phrases(toks, min_count=5, threshold=10.0, connector_words=ENGLISH_CONNECTOR_WORDS)
    _assert_same_phrases(model.export_phrases(), ref.export_phrases())
    assert main(argv) == 2 and "phrases.parquet" in capsys.readouterr().err

    model_dir = tmp_path / "model"
    assert main(["--quiet", "train", str(small_corpus), "--output", str(model_dir), "--phrase-model",
                 str(out / "phrases.parquet"), "--epochs", "1", "--vector-size", "8", "--workers", "1",
                 "--threads-per-worker", "1"]) == 0, capsys.readouterr().err
    assert (model_dir / "phrases.parquet").exists()
    vocab = pq.read_table(model_dir / "vocab.parquet")
    frozen = ref.freeze()
    from collections import Counter

    expected = Counter(t for s in toks for t in frozen[s])
    expected = {w: c for w, c in expected.items() if c >= 5}
    assert dict(zip(vocab.column("word").to_pylist(), vocab.column("count").to_pylist())) == expected
    assert any("_" in w for w in expected)
    assert json.loads((model_dir / "metrics.json").read_text())["phrases"] == len(model)


def test_pipeline_phrases_section(tmp_path):
    from w2v_dist.config import load_pipeline

    toml = tmp_path / "p.toml"
    toml.write_text('[input]\nurls = ["x.txt"]\n[phrases]\nphrases = true\nphrase_threshold = 0.3\n'
                    'phrase_scoring = "npmi"\nphrase_connector_words = "english"\nphrase_passes = 2\n'
                    '[output]\nurl = "out"\n')
    cfg = load_pipeline(str(toml)).config.validate()
    assert (cfg.phrases, cfg.phrase_threshold, cfg.phrase_scoring, cfg.phrase_passes) == (True, 0.3, "npmi", 2)
    assert math.isclose(cfg.phrase_threshold, 0.3)


def test_train_with_phrases_counts_phrase_tokens(small_corpus, small_tokens):
    from collections import Counter

    import w2v_dist
    from w2v_dist.cluster import dask_client

    _, toks = small_tokens
    ref = Phrases(toks, min_count=5, threshold=0.4, scoring="npmi").freeze()
    expected = Counter(t for s in toks for t in ref[s])
    with dask_client(workers=1, threads_per_worker=2, processes=False) as client:
        res = w2v_dist.train([str(small_corpus)], client=client, phrases=True, phrase_scoring="npmi",
                             phrase_threshold=0.4, epochs=1, vector_size=8, min_count=5)
    assert res.phrases.export_phrases() == pytest.approx(ref.phrasegrams, rel=1e-9)
    assert dict(zip(res.vocab.words, res.vocab.counts.tolist())) == {w: c for w, c in expected.items() if c >= 5}
    assert res.metrics["phrases"] == len(ref.phrasegrams) and "phrases" in res.metrics["stage_seconds"]
    assert any("_" in w for w in res.wv.index_to_key)


def test_cli_missing_phrase_model_is_one_line_error(tmp_path, small_corpus, capsys):
    missing = tmp_path / "nope" / "phrases.parquet"
    code = main(["--quiet", "train", str(small_corpus), "--output", str(tmp_path / "m"), "--phrase-model", str(missing)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("w2v-dist: error: cannot read phrases") and str(missing) in err
    assert not (tmp_path / "m").exists()
