"""Counting, vocabulary selection, encoding and the word2vec tables (checked against gensim)."""

import collections

import numpy as np
import pyarrow as pa
import pytest

from w2v_dist.corpus import discover_shards, read_tokenize, tokenize
from w2v_dist.errors import ConfigError, CorpusError
from w2v_dist.vocab import (Vocab, build_vocab, count_tokens, encode, keep_probabilities, merge_counts,
                            noise_cum_table)


@pytest.fixture(scope="module")
def small_lines(small_corpus):
    lines = small_corpus.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


@pytest.fixture(scope="module")
def small_shards(small_corpus):
    shards = discover_shards(str(small_corpus), blocksize=150_000)
    assert len(shards) >= 5
    return shards


@pytest.fixture(scope="module")
def reference_counts(small_lines):
    return collections.Counter(t for sent in tokenize(small_lines).to_pylist() for t in sent)


def _as_dict(table):
    return dict(zip(table.column("word").to_pylist(), table.column("count").to_pylist()))


def _counts_table(d):
    return pa.table({"word": pa.array(list(d), pa.string()), "count": pa.array(list(d.values()), pa.int64())})


# ------------------------------------------------------------------------------------------------
# counting


def test_count_and_merge_equal_counter(small_shards, reference_counts):
    parts = [count_tokens(read_tokenize(s)) for s in small_shards]
    for t in parts:
        assert t.schema.field("word").type == pa.string() and t.schema.field("count").type == pa.int64()
        assert len(set(t.column("word").to_pylist())) == t.num_rows
    merged = merge_counts(parts)
    assert _as_dict(merged) == dict(reference_counts)
    # Associative: a tree of merges gives the same counts.
    tree = merge_counts([merge_counts(parts[:2]), merge_counts(parts[2:])])
    assert _as_dict(tree) == dict(reference_counts)
    assert merge_counts([]).num_rows == 0
    assert count_tokens(tokenize([])).num_rows == 0


def test_build_vocab_equals_counter(small_shards, reference_counts):
    vocab = build_vocab(small_shards, min_count=1, split_every=2)
    assert dict(zip(vocab.words, vocab.counts.tolist())) == dict(reference_counts)
    assert vocab.corpus_words == sum(reference_counts.values()) == vocab.train_words
    assert vocab.counts.dtype == np.int64


def test_build_vocab_whitespace_tokens_equal_raw_split(small_corpus, small_shards):
    raw = collections.Counter(w for line in small_corpus.read_text(encoding="utf-8").split("\n") for w in line.split())
    vocab = build_vocab(small_shards, token_pattern=r"\s+", lowercase=False, min_count=1)
    assert dict(zip(vocab.words, vocab.counts.tolist())) == dict(raw)
    assert vocab.corpus_words == sum(raw.values()) == 202_302  # README: small.txt has 202,302 tokens


def test_build_vocab_with_distributed_client(small_shards, reference_counts):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        vocab = build_vocab(small_shards, min_count=3, client=client)
    expected = {w: c for w, c in reference_counts.items() if c >= 3}
    assert dict(zip(vocab.words, vocab.counts.tolist())) == expected
    assert vocab.corpus_words == sum(reference_counts.values())


# ------------------------------------------------------------------------------------------------
# vocabulary selection and order


def test_vocab_order_and_min_count(small_shards, reference_counts):
    vocab = build_vocab(small_shards, min_count=5)
    expected = sorted(((w, c) for w, c in reference_counts.items() if c >= 5), key=lambda wc: (-wc[1], wc[0]))
    assert list(zip(vocab.words, vocab.counts.tolist())) == expected
    assert vocab.corpus_words == sum(reference_counts.values())
    assert vocab.train_words == sum(c for _, c in expected) < vocab.corpus_words
    assert len(vocab) == len(expected)


def test_vocab_tie_order_is_codepoint_order():
    table = _counts_table({"b": 2, "é": 2, "z": 2, "a": 2, "Z": 2, "top": 9, "x": 1})
    vocab = Vocab.from_counts(table, min_count=1)
    assert vocab.words == ["top", "Z", "a", "b", "z", "é", "x"]
    assert vocab.counts.tolist() == [9, 2, 2, 2, 2, 2, 1]
    # Duplicate rows are summed.
    dup = pa.concat_tables([table, _counts_table({"x": 10})])
    assert Vocab.from_counts(dup, min_count=1).words[0] == "x"


def test_vocab_errors():
    with pytest.raises(CorpusError, match="^corpus is empty"):
        Vocab.from_counts(count_tokens(tokenize(["...", ""])))
    table = _counts_table({"a": 3, "b": 4, "c": 1})
    with pytest.raises(ConfigError, match=r"^vocabulary is empty after min_count=5 \(3 distinct words, most frequent has 4\)$"):
        Vocab.from_counts(table, min_count=5)
    with pytest.raises(ConfigError, match="min_count=-1"):
        Vocab.from_counts(table, min_count=-1)


def test_max_final_vocab_as_gensim():
    table = _counts_table({"a": 10, "b": 8, "c": 8, "d": 5, "e": 1})
    assert Vocab.from_counts(table, min_count=1, max_final_vocab=4).words == ["a", "b", "c", "d"]
    # Ties at the cut: gensim raises min_count above the tied count, keeping fewer words.
    assert Vocab.from_counts(table, min_count=1, max_final_vocab=2).words == ["a"]
    assert Vocab.from_counts(table, min_count=1, max_final_vocab=50).words == ["a", "b", "c", "d", "e"]


def test_vocab_parquet_roundtrip(tmp_path):
    vocab = Vocab.from_counts(_counts_table({"a": 3, "b": 4, "ü": 4}), min_count=1)
    url = f"file://{tmp_path.as_posix()}/vocab.parquet"
    vocab.write_parquet(url)
    back = Vocab.read_parquet(url)
    assert back.words == ["b", "ü", "a"] == vocab.words
    assert back.counts.tolist() == [4, 4, 3] and back.corpus_words == 11
    assert back.to_table().equals(vocab.to_table())
    assert back.words_array().to_pylist() == back.words
    with pytest.raises(CorpusError, match="missing.parquet"):
        Vocab.read_parquet(str(tmp_path / "missing.parquet"))


# ------------------------------------------------------------------------------------------------
# max_vocab_size pruning


def _gensim_prune(counts: dict, max_size: int, min_reduce: int):
    """gensim's scan_vocab pruning step applied to one dict until it fits (reference)."""
    vocab = dict(counts)
    while len(vocab) > max_size:
        vocab = {w: c for w, c in vocab.items() if c >= min_reduce}
        min_reduce += 1
    return vocab, min_reduce


def test_merge_counts_prunes_like_gensim():
    rng = np.random.default_rng(1)
    counts = {f"w{i}": int(c) for i, c in enumerate(rng.zipf(1.5, size=400).clip(max=10_000))}
    for max_size in (1, 5, 37, 100, 399, 400):
        expected, expected_reduce = _gensim_prune(counts, max_size, 1)
        got = merge_counts([_counts_table(counts)], max_vocab_size=max_size)
        assert _as_dict(got) == expected
        assert got.num_rows <= max_size
        assert int(got.schema.metadata[b"w2v.corpus_words"]) == sum(counts.values())
        if len(counts) > max_size:
            assert int(got.schema.metadata[b"w2v.min_reduce"]) == expected_reduce


def test_later_merges_keep_pruning_at_least_as_much():
    first = merge_counts([_counts_table({"a": 9, "b": 5, "c": 4, "d": 2, "e": 1})], max_vocab_size=2)
    assert _as_dict(first) == {"a": 9, "b": 5}
    assert int(first.schema.metadata[b"w2v.min_reduce"]) == 6  # pruned at count < 5, next threshold 6
    # Fits: nothing pruned, the threshold is carried along.
    fits = merge_counts([first, _counts_table({"c": 1})], max_vocab_size=3)
    assert _as_dict(fits) == {"a": 9, "b": 5, "c": 1}
    assert int(fits.schema.metadata[b"w2v.min_reduce"]) == 6
    # Too big again: pruning starts at the carried threshold (6), not at 1 or 2.
    again = merge_counts([fits, _counts_table({"f": 3, "g": 2})], max_vocab_size=4)
    assert _as_dict(again) == {"a": 9}
    assert int(again.schema.metadata[b"w2v.corpus_words"]) == 21 + 1 + 5


def test_build_vocab_max_vocab_size_underestimates(small_shards, reference_counts):
    vocab = build_vocab(small_shards, min_count=1, max_vocab_size=2000, split_every=2)
    assert len(vocab) <= 2000
    assert vocab.corpus_words == sum(reference_counts.values())  # exact despite pruning
    got = dict(zip(vocab.words, vocab.counts.tolist()))
    assert all(c <= reference_counts[w] for w, c in got.items())  # counts can only be underestimated
    for w, c in reference_counts.most_common(50):  # frequent words survive every pruning exactly
        assert got[w] == c
    with pytest.raises(ConfigError, match="max_vocab_size=0"):
        build_vocab(small_shards, max_vocab_size=0)


# ------------------------------------------------------------------------------------------------
# encoding


def test_encode_matches_python_reference(small_shards):
    vocab = build_vocab(small_shards, min_count=5)
    sentences = read_tokenize(small_shards[1], max_sentence_length=30)
    ids, offsets = encode(sentences, vocab.words_array())
    index = {w: i for i, w in enumerate(vocab.words)}
    ref = [[index[t] for t in s if t in index] for s in sentences.to_pylist()]
    ref = [s for s in ref if s]
    assert ids.dtype == np.int32 and offsets.dtype == np.int64
    assert ids.tolist() == [i for s in ref for i in s]
    assert offsets.tolist() == np.concatenate([[0], np.cumsum([len(s) for s in ref])]).tolist()
    # Sliced and chunked inputs, all-OOV sentences dropped.
    small = tokenize(["the zzzqqq", "qqqzzz", "The end"])
    ids2, off2 = encode(pa.chunked_array([small.slice(1)]), vocab.words_array())
    assert off2.tolist() == [0, 2] and ids2.tolist() == [index["the"], index["end"]]
    ids3, off3 = encode(tokenize([]), vocab.words_array())
    assert ids3.size == 0 and off3.tolist() == [0]


# ------------------------------------------------------------------------------------------------
# subsampling and noise tables versus gensim


def _gensim_model(raw_vocab, sample, ns_exponent):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=4, min_count=1, sample=sample, ns_exponent=ns_exponent, negative=5, workers=1)
    model.build_vocab_from_freq(raw_vocab)
    return model


def _compare_with_gensim(vocab, sample, ns_exponent):
    raw = dict(zip(vocab.words, vocab.counts.tolist()))
    model = _gensim_model(raw, sample, ns_exponent)
    keep = keep_probabilities(vocab.counts, sample)
    assert keep.dtype == np.uint32 and keep.shape == (len(vocab),)
    for w, k in zip(vocab.words, keep.tolist()):
        assert model.wv.get_vecattr(w, "sample_int") == k, w
    # cum_table depends on the order: compute ours in gensim's order and compare exactly.
    gensim_counts = np.array([raw[w] for w in model.wv.index_to_key], dtype=np.int64)
    cum = noise_cum_table(gensim_counts, ns_exponent)
    assert cum.dtype == np.int64
    np.testing.assert_array_equal(cum, model.cum_table.astype(np.int64))
    assert cum[-1] == 2**31 - 1
    if model.wv.index_to_key == vocab.words:
        np.testing.assert_array_equal(noise_cum_table(vocab.counts, ns_exponent), model.cum_table)


@pytest.mark.parametrize("sample", [0, 1e-3, 0.05, 0.3, 3.0])
@pytest.mark.parametrize("ns_exponent", [0.75, 0.5, 1.0])
def test_tables_equal_gensim_tiny(sample, ns_exponent):
    tokens = ("the cat sat on the mat the dog sat on the log and the cat saw the dog a a a b b c "
              "the the the of of of of and and sat").split()
    vocab = Vocab.from_counts(count_tokens(tokenize([" ".join(tokens)])), min_count=1)
    assert vocab.words[:3] == ["the", "of", "a"]
    _compare_with_gensim(vocab, sample, ns_exponent)


def test_tables_equal_gensim_small_corpus(small_shards):
    vocab = build_vocab(small_shards, min_count=2)
    _compare_with_gensim(vocab, 1e-4, 0.75)


def test_table_edge_cases():
    assert keep_probabilities(np.array([5, 3]), 0).tolist() == [2**32 - 1] * 2
    assert keep_probabilities(np.zeros(0, np.int64), 1e-3).shape == (0,)
    assert noise_cum_table(np.zeros(0, np.int64)).shape == (0,)
    assert noise_cum_table(np.array([1, 1, 1, 1]), domain=100).tolist() == [25, 50, 75, 100]
    with pytest.raises(ConfigError, match="sample=-1"):
        keep_probabilities(np.array([1]), -1)
