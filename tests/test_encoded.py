"""The single read (local dictionary encoding, counts, remap) and the disk cache of the encoded corpus."""

from __future__ import annotations

import collections
import glob
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import w2v_dist
from w2v_dist.cluster import dask_client
from w2v_dist.corpus import discover_shards, read_tokenize, tokenize
from w2v_dist.corpus.fasttok import tokenize_encode
from w2v_dist.training import encoded as E
from w2v_dist.vocab import Vocab, encode, merge_counts

LINES = [
    "Hello, World! It's 1812 — Natásha said “don’t”.",
    "'quoted' ''' ’tis rock'n'roll o'clock''",
    "ÀÉÎÕÜ ΣΊΣΥΦΟΣ Straße İstanbul ǅemal Ⅻ ½ ٣٤ 漢字かな",
    "e\u0301te\u0301 (combining) tab\tsep\x00nul\u00a0nbsp\u2028ls",
    "",
    "   ",
    "!!! ??? ...",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "emoji 🙂🙂 x🙂y 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ﬁne",
]


def _reference(lines, **kw):
    sents = tokenize(pa.array(lines, pa.string()), **kw)
    de = pc.dictionary_encode(pc.list_flatten(sents))
    return de.dictionary, np.asarray(de.indices), np.asarray(sents.offsets).astype(np.int64)


@pytest.mark.parametrize("kw", [{}, {"lowercase": False}, {"max_sentence_length": 3}])
def test_fast_tokenizer_equals_pyarrow_tokenize(kw):
    rng = np.random.default_rng(0)
    pool = list("aZé'’- .,\t") + ["ǅ", "\u0301", "1", "Σ", "🙂", "ß", "İ"]
    lines = LINES + ["".join(rng.choice(pool, size=int(rng.integers(0, 60)))) for _ in range(300)]
    words, idx, offsets, counts = tokenize_encode(pa.array(lines, pa.string()), **kw)
    ref_words, ref_idx, ref_off = _reference(lines, **kw)
    assert words.to_pylist() == ref_words.to_pylist()
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(offsets, ref_off)
    np.testing.assert_array_equal(counts, np.bincount(ref_idx, minlength=len(ref_words)))


def test_fast_tokenizer_on_a_corpus_shard(small_corpus):
    shard = discover_shards(str(small_corpus))[0]
    from w2v_dist.corpus import read_lines

    lines = read_lines(shard)
    words, idx, offsets, _ = tokenize_encode(lines)
    ref_words, ref_idx, ref_off = _reference(lines)
    assert words.equals(ref_words)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(offsets, ref_off)


def test_token_encoder_over_several_arrays_equals_one_pass():
    from w2v_dist.corpus.fasttok import TokenEncoder

    rng = np.random.default_rng(2)
    pool = list("aZé'’- .,\t") + ["ǅ", "Σ", "🙂", "ß", "longer-than-eight", "abcdefgh", "abcdefghi"]
    lines = LINES + ["".join(rng.choice(pool, size=int(rng.integers(0, 40)))) for _ in range(400)]
    cuts = [0, 5, 5, 150, len(lines)]  # an empty array among them
    enc = TokenEncoder(max_sentence_length=4)
    got = [enc.encode(pa.array(lines[a:b], pa.string())) for a, b in zip(cuts, cuts[1:])]
    words, idx, offsets, counts = tokenize_encode(pa.array(lines, pa.string()), max_sentence_length=4)
    assert enc.words().to_pylist() == words.to_pylist() and len(enc) == len(words)
    np.testing.assert_array_equal(np.concatenate([g[0] for g in got]), idx)
    for (a, b), (_, off) in zip(zip(cuts, cuts[1:]), got):  # each array's sentences are its own lines'
        ref = _reference(lines[a:b], max_sentence_length=4)
        np.testing.assert_array_equal(off, ref[2])
    want = collections.Counter(w for sent in tokenize(pa.array(lines), max_sentence_length=4).to_pylist() for w in sent)
    assert dict(zip(enc.words().to_pylist(), enc.counts().tolist())) == dict(want)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_lines_with_their_newlines_tokenize_as_the_lines(tmp_path, gz, ending):
    import gzip

    from w2v_dist.corpus import read_lines

    text = "\n".join(LINES[:4] + ["", "x\ry", "tail\r"] + LINES[4:]).encode("utf-8")
    text = text.replace(b"\n", b"\r\n") if ending == b"\r\n" else text
    text = text + b"\xff bad \xc3(" + ending  # invalid UTF-8 in the last line
    path = tmp_path / ("t.txt.gz" if gz else "t.txt")
    path.write_bytes(gzip.compress(text) if gz else text)
    shard = discover_shards(str(path))[0]
    s1, s2 = {"invalid_utf8": 0}, {"invalid_utf8": 0}
    plain, kept = read_lines(shard, stats=s1), read_lines(shard, stats=s2, newlines=True)
    assert s1 == s2 and s1["invalid_utf8"] == 2
    assert [x[:-2] if x.endswith("\r\n") else x[:-1] if x.endswith("\n") else x for x in kept.to_pylist()] == \
        plain.to_pylist()
    got, want = tokenize_encode(kept), tokenize_encode(plain)
    assert got[0].equals(want[0])
    for a, b in zip(got[1:], want[1:]):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, small_corpus):
    """The small corpus cut into 5 text files (one of them gzip), and their tokenized sentences."""
    import gzip

    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    d = tmp_path_factory.mktemp("shards")
    n = len(lines) // 5 + 1
    for i in range(5):
        text = "\n".join(lines[i * n:(i + 1) * n]) + "\n"
        if i == 2:
            (d / f"part-{i}.txt.gz").write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            (d / f"part-{i}.txt").write_text(text, encoding="utf-8")
    return discover_shards(str(d))


TOK = {"lowercase": True, "max_sentence_length": 10000}


@pytest.mark.parametrize("tok", [TOK, {**TOK, "token_pattern": r"\s+"}])
@pytest.mark.parametrize("cache", ["disk", "memory"])
def test_single_read_vocabulary_and_ids_equal_the_references(shards, tok, cache):
    pairs = [E.encode_local(s, None, tok, "error", "t-single", i, cache) for i, s in enumerate(shards)]
    sentences = [read_tokenize(s, **tok) for s in shards]
    counter = collections.Counter(w for sents in sentences for sent in sents.to_pylist() for w in sent)
    merged = merge_counts([E.local_table(p) for p in pairs])
    assert dict(zip(merged.column("word").to_pylist(), merged.column("count").to_pylist())) == dict(counter)
    vocab = Vocab.from_counts(merged, min_count=3)
    assert vocab.corpus_words == sum(counter.values())
    for i, (pair, sents) in enumerate(zip(pairs, sentences)):
        part = E.finish_part(E.local_part(pair), vocab.words_array(), "t-single", i, cache)
        ref_ids, ref_off = encode(sents, vocab.words_array())
        if cache == "disk":
            assert isinstance(part, E.EncodedPart) and os.path.exists(part.ids_path)
            ids, off = np.load(part.ids_path), np.load(part.offsets_path)
        else:
            ids, off = part[0], part[1]
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(off, ref_off)
        assert E.part_words(part) == ref_ids.size
        # a slice read back from the cache is the slice of the reference
        s_lo, s_hi = len(ref_off) // 3, 2 * len(ref_off) // 3
        got_ids, got_off, lo, hi = E.slice_arrays(part, s_lo, s_hi)
        np.testing.assert_array_equal(got_ids[got_off[lo]:got_off[hi]], ref_ids[ref_off[s_lo]:ref_off[s_hi]])
        np.testing.assert_array_equal(np.diff(got_off[lo:hi + 1]), np.diff(ref_off[s_lo:s_hi + 1]))
        once = E.encode_shard_once(shards[i], None, vocab.words_array(), tok, "error", "t-single", i, "memory")
        np.testing.assert_array_equal(once[0], ref_ids)
    assert E.drop_cache("t-single") == (1 if cache == "disk" else 0)
    assert not glob.glob(os.path.join(E._local_directory(), "w2v-encoded-t-single*"))


@pytest.mark.parametrize("tok", [TOK, {**TOK, "token_pattern": r"\s+"}])
@pytest.mark.parametrize("cache", ["disk", "memory"])
def test_group_read_equals_the_references(shards, tok, cache):
    """Several shards in one task, one dictionary: the counts of Counter, the ids of ``encode``."""
    groups = [[0, 1, 2], [3], [4]]
    pairs = [E.encode_local_group([shards[i] for i in g], None, tok, "error", "t-group", g, cache) for g in groups]
    sentences = [read_tokenize(s, **tok) for s in shards]
    for g, pair in zip(groups, pairs):  # each group's table: its shards' counts, each word once
        table = E.local_table(pair)
        want = collections.Counter(w for i in g for sent in sentences[i].to_pylist() for w in sent)
        assert table.column("word").to_pylist() == list(dict.fromkeys(table.column("word").to_pylist()))
        assert dict(zip(table.column("word").to_pylist(), table.column("count").to_pylist())) == dict(want)
    counter = collections.Counter(w for sents in sentences for sent in sents.to_pylist() for w in sent)
    merged = merge_counts([E.local_table(p) for p in pairs])
    assert dict(zip(merged.column("word").to_pylist(), merged.column("count").to_pylist())) == dict(counter)
    vocab = Vocab.from_counts(merged, min_count=3)
    assert vocab.corpus_words == sum(counter.values())
    for g, pair in zip(groups, pairs):
        parts = E.finish_group(E.local_part(pair), vocab.words_array(), "t-group", g, cache)
        assert len(parts) == len(g)
        for j, i in enumerate(g):
            part = E.group_item(parts, j)
            ref_ids, ref_off = encode(sentences[i], vocab.words_array())
            ids, off = (np.load(part.ids_path), np.load(part.offsets_path)) if cache == "disk" else part[:2]
            np.testing.assert_array_equal(ids, ref_ids)
            np.testing.assert_array_equal(off, ref_off)
        assert [x["words"] for x in E.group_infos(parts)] == [E.part_words(p) for p in parts]
    if cache == "disk":  # only the final parts remain
        left = sorted(os.listdir(E.cache_dir("t-group", create=False)))
        assert left == sorted(f"part-{i}.{x}.npy" for i in range(5) for x in ("ids", "off"))
    assert E.drop_cache("t-group") == (1 if cache == "disk" else 0)


def test_merge_dictionaries_sums_counts_and_maps_ids():
    rng = np.random.default_rng(1)
    pool = ["a", "bb", "ccc", "é", "漢字", "x" * 20, "y"]
    words_list, counts_list = [], []
    for n in (0, 3, 7, 1):
        w = list(rng.choice(pool, size=n, replace=False))
        words_list.append(pa.array(w, pa.string()))
        counts_list.append(rng.integers(1, 100, size=n).astype(np.int64))
    words, maps, counts = E._merge_dictionaries(words_list, counts_list)
    want = collections.Counter()
    for w, c in zip(words_list, counts_list):
        want.update(dict(zip(w.to_pylist(), c.tolist())))
    assert dict(zip(words.to_pylist(), counts.tolist())) == dict(want)
    assert counts.dtype == np.int64 and words.type == pa.string()
    for w, m in zip(words_list, maps):
        assert [words[int(k)].as_py() for k in m] == w.to_pylist()


def _cache_dirs(client):
    return [d for dirs in client.run(lambda dask_worker: glob.glob(
        os.path.join(dask_worker.local_directory, "w2v-encoded-*"))).values() for d in dirs]


def test_training_from_the_disk_cache_equals_training_from_memory(shards, monkeypatch):
    from w2v_dist.training import worker as W

    read = []
    real = W.slice_arrays

    def spy(part, s_lo, s_hi):
        read.append(isinstance(part, E.EncodedPart) and os.path.exists(part.ids_path))
        return real(part, s_lo, s_hi)

    monkeypatch.setattr(W, "slice_arrays", spy)
    inputs = sorted({s.url for s in shards})
    params = dict(vector_size=16, epochs=2, min_count=3, sync_every=5000, solo_round=0, seed=3)  # several rounds
    with dask_client(workers=1, threads_per_worker=1, processes=False) as client:
        disk = w2v_dist.train(inputs, client=client, encoded_cache="disk", **params)
        assert read and all(read)  # every slice came from the files
        assert not _cache_dirs(client)  # removed at the end of the job
        read.clear()
        mem = w2v_dist.train(inputs, client=client, encoded_cache="memory", **params)
        assert read and not any(read)
    assert disk.metrics["rounds"] > 2
    assert disk.vocab.words == mem.vocab.words
    np.testing.assert_array_equal(disk.wv.vectors, mem.wv.vectors)


def test_the_disk_cache_is_removed_when_the_job_fails(shards, monkeypatch):
    from w2v_dist.training import driver

    def boom(*a, **k):
        raise RuntimeError("made to fail after encoding")

    monkeypatch.setattr(driver, "training_tables", boom)
    inputs = sorted({s.url for s in shards})
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        with pytest.raises(RuntimeError, match="made to fail"):
            w2v_dist.train(inputs, client=client, vector_size=8, epochs=1, min_count=3)
        assert not _cache_dirs(client)


def test_phrases_from_the_kept_partitions_give_the_vocabulary_of_the_phrased_corpus(shards, monkeypatch):
    from w2v_dist.corpus import sources

    inputs = sorted({s.url for s in shards if s.compression is None})
    reads = []
    real = sources._lines_from_bytes  # once per read of an uncompressed text shard
    monkeypatch.setattr(sources, "_lines_from_bytes", lambda *a, **k: reads.append(1) or real(*a, **k))
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        res = w2v_dist.train(inputs, client=client, phrases=True, phrase_passes=2, phrase_threshold=5.0,
                             phrase_min_count=3, epochs=1, vector_size=8, min_count=3)
    # each pass of learn_phrases reads the shards once; the vocabulary and the encoding do not
    assert len(reads) == 2 * len(inputs)
    counter = collections.Counter()
    for s in discover_shards(inputs):
        for sent in res.phrases.apply(read_tokenize(s)).to_pylist():
            counter.update(sent)
    assert any("_" in w for w in counter)
    assert dict(zip(res.vocab.words, res.vocab.counts.tolist())) == {w: c for w, c in counter.items() if c >= 3}
    assert res.metrics["train_words"] == sum(c for c in counter.values() if c >= 3)
