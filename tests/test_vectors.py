"""WordVectors: lookup, gensim-identical similarity queries, word2vec.c file formats."""

import struct
import tracemalloc

import fsspec
import numpy as np
import pytest
from gensim.models import KeyedVectors

from w2v_dist.errors import W2VError
from w2v_dist.vectors import WordVectors


def _random_vectors(n=500, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n - 3)] + ["café", "日本語", "naïve-ß"]
    vectors = (rng.standard_normal((n, dim)) * rng.uniform(0.1, 5.0, (n, 1))).astype(np.float32)
    return words, vectors


@pytest.fixture()
def wv():
    words, vectors = _random_vectors()
    return WordVectors(words, vectors, counts=np.arange(len(words), 0, -1))


@pytest.fixture()
def kv(wv):
    k = KeyedVectors(wv.vector_size)
    k.add_vectors(wv.index_to_key, wv.vectors.copy())
    return k


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


# ------------------------------------------------------------------ container


def test_lookup(wv):
    assert len(wv) == 500 and wv.vector_size == 20
    assert "café" in wv and "nope" not in wv
    assert wv.key_to_index["w7"] == 7 and wv.index_to_key[7] == "w7"
    assert wv.vectors.dtype == np.float32 and wv.counts.dtype == np.int64
    np.testing.assert_array_equal(wv["w3"], wv.vectors[3])
    np.testing.assert_array_equal(wv[["w3", "w1"]], wv.vectors[[3, 1]])
    assert wv[["w3", "w1"]].shape == (2, 20)
    with pytest.raises(KeyError, match="nope"):
        wv["nope"]
    with pytest.raises(KeyError, match="nope"):
        wv[["w1", "nope"]]


def test_constructor_validates():
    with pytest.raises(ValueError, match="twice"):
        WordVectors(["a", "b", "a"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        WordVectors(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="counts"):
        WordVectors(["a", "b"], np.zeros((2, 2)), counts=[1])
    wv = WordVectors(("a", "b"), np.ones((2, 2), dtype=np.float64))
    assert wv.vectors.dtype == np.float32 and wv.counts is None


def test_normed_vectors_keep_zero_rows():
    vectors = np.array([[3, 4], [0, 0], [1, 0]], dtype=np.float32)
    wv = WordVectors(["a", "b", "c"], vectors)
    normed = wv.get_normed_vectors()
    assert normed.dtype == np.float32 and normed.shape == (3, 2)
    np.testing.assert_allclose(normed, [[0.6, 0.8], [0, 0], [1, 0]], rtol=1e-7)
    assert wv.get_normed_vectors() is normed  # cached
    np.testing.assert_array_equal(wv.get_vector("a", norm=True), normed[0])
    np.testing.assert_array_equal(wv.get_vector("a"), vectors[0])
    assert wv.similarity("a", "b") == 0.0


# ----------------------------------------------------------- gensim equality


def test_similarity_equals_gensim(wv, kv):
    rng = np.random.default_rng(1)
    for i, j in rng.integers(0, len(wv), (200, 2)):
        w1, w2 = wv.index_to_key[i], wv.index_to_key[j]
        assert wv.similarity(w1, w2) == float(kv.similarity(w1, w2))


def test_most_similar_equals_gensim(wv, kv):
    rng = np.random.default_rng(2)
    queries = [wv.index_to_key[i] for i in rng.choice(len(wv), 10, replace=False)]
    for k, q in enumerate(queries):
        other, third = queries[(k + 1) % 10], queries[(k + 2) % 10]
        for kwargs in (
            dict(positive=[q]),
            dict(positive=q, topn=3),
            dict(positive=[q, other], negative=[third]),
            dict(positive=[other], negative=[q], topn=25),
            dict(positive=[q, third], negative=[other], restrict_vocab=120, topn=7),
            dict(positive=[(q, 0.5), other], negative=[(third, -2.0)]),
            dict(negative=[q]),
        ):
            ours, theirs = wv.most_similar(**kwargs), kv.most_similar(**kwargs)
            assert [w for w, _ in ours] == [w for w, _ in theirs], kwargs
            np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=0, atol=1e-7)
            assert all(isinstance(s, float) for _, s in ours)
    all_sims = wv.most_similar(positive=[queries[0]], topn=None)
    np.testing.assert_allclose(all_sims, kv.most_similar(positive=[queries[0]], topn=None), atol=1e-7)
    assert wv.most_similar(positive=[queries[0]], topn=0) == []
    with pytest.raises(KeyError, match="nope"):
        wv.most_similar(positive=["nope"])
    with pytest.raises(ValueError):
        wv.most_similar()


def test_most_similar_cosmul_equals_gensim(wv, kv):
    rng = np.random.default_rng(3)
    queries = [wv.index_to_key[i] for i in rng.choice(len(wv), 8, replace=False)]
    for k, q in enumerate(queries):
        other, third = queries[(k + 1) % 8], queries[(k + 2) % 8]
        for kwargs in (
            dict(positive=[q]),
            dict(positive=q, topn=3),
            dict(positive=[q, other], negative=[third]),
            dict(positive=[q, other, third], negative=[queries[(k + 3) % 8]], topn=20),
            dict(positive=[wv[q]], negative=[third]),  # a raw vector is used as given
        ):
            ours, theirs = wv.most_similar_cosmul(**kwargs), kv.most_similar_cosmul(**kwargs)
            assert [w for w, _ in ours] == [w for w, _ in theirs], kwargs
            assert [s for _, s in ours] == [float(s) for _, s in theirs], kwargs
    np.testing.assert_array_equal(wv.most_similar_cosmul(positive=[queries[0]], negative=[queries[1]], topn=None),
                                  kv.most_similar_cosmul(positive=[queries[0]], negative=[queries[1]], topn=None))
    # with one positive word the ranking is most_similar's
    assert [w for w, _ in wv.most_similar_cosmul(queries[0], topn=15)] == \
        [w for w, _ in wv.most_similar(queries[0], topn=15)]
    assert wv.most_similar_cosmul(queries[0], topn=0) == []
    with pytest.raises(ValueError, match="positive"):
        wv.most_similar_cosmul(negative=[queries[0]])
    with pytest.raises(KeyError, match="nope"):
        wv.most_similar_cosmul(positive=["nope"])


def test_doesnt_match_equals_gensim(wv, kv):
    rng = np.random.default_rng(4)
    for size in (2, 3, 5, 9):
        for _ in range(20):
            words = [wv.index_to_key[i] for i in rng.choice(len(wv), size, replace=False)]
            assert wv.doesnt_match(words) == kv.doesnt_match(words), words
    assert wv.doesnt_match(["w1", "w2", "nope", "w3"]) == kv.doesnt_match(["w1", "w2", "nope", "w3"])
    with pytest.raises(ValueError):
        wv.doesnt_match(["nope"])


def test_to_gensim_and_back(wv):
    k = wv.to_gensim()
    assert isinstance(k, KeyedVectors)
    assert k.index_to_key == wv.index_to_key and k.key_to_index == wv.key_to_index
    np.testing.assert_array_equal(k.vectors, wv.vectors)
    assert k.vectors.dtype == np.float32
    assert [k.get_vecattr(w, "count") for w in wv.index_to_key[:5]] == wv.counts[:5].tolist()
    assert k.most_similar("w5", topn=5) == wv.most_similar("w5", topn=5)
    back = WordVectors.from_gensim(k)
    assert back.index_to_key == wv.index_to_key
    np.testing.assert_array_equal(back.vectors, wv.vectors)
    np.testing.assert_array_equal(back.counts, wv.counts)


# --------------------------------------------------------- native and Parquet


def test_native_format_round_trips_exactly_and_memory_maps(tmp_path):
    words, vectors = _random_vectors()
    vectors[0, :6] = [0.0, -0.0, 1e-45, 3.4028235e38, np.nan, np.inf]
    wv = WordVectors(words, vectors, counts=np.arange(2**33, 2**33 - len(words), -1))
    out = tmp_path / "model"
    wv.save(str(out), metadata={"export": "sum"})
    assert sorted(p.name for p in out.iterdir()) == ["vectors.json", "vectors.npy", "vocab.parquet"]
    back = WordVectors.load(str(out))
    assert back.index_to_key == words
    np.testing.assert_array_equal(_bits(back.vectors), _bits(vectors))
    np.testing.assert_array_equal(back.counts, wv.counts)
    assert back.counts.dtype == np.int64 and back.counts[0] == 2**33
    assert back.metadata["export"] == "sum" and back.metadata["vocab_size"] == 500
    # memory-mapped: the matrix is a read-only view of a numpy memmap of vectors.npy
    mm = back.vectors
    while mm is not None and not isinstance(mm, np.memmap):
        mm = mm.base
    assert mm is not None and str(mm.filename) == str(out / "vectors.npy") and mm.mode == "r"
    assert not back.vectors.flags.writeable
    assert back.most_similar("w3", topn=5) == WordVectors(words, vectors).most_similar("w3", topn=5)
    inmem = WordVectors.load(str(out), mmap=None)
    assert inmem.vectors.flags.writeable
    assert not any(isinstance(a, np.memmap) for a in (inmem.vectors, inmem.vectors.base))
    np.testing.assert_array_equal(_bits(inmem.vectors), _bits(vectors))
    # no counts -> no count column, read back as None
    WordVectors(words, vectors).save(str(tmp_path / "nocounts"))
    assert WordVectors.load(str(tmp_path / "nocounts")).counts is None


def test_native_format_through_fsspec_memory(wv):
    wv.save("memory://native/m")
    back = WordVectors.load("memory://native/m")
    assert back.index_to_key == wv.index_to_key
    np.testing.assert_array_equal(back.vectors, wv.vectors)
    np.testing.assert_array_equal(back.counts, wv.counts)


def test_native_format_errors(tmp_path, wv):
    with pytest.raises(W2VError, match="vectors.json"):
        WordVectors.load(str(tmp_path / "missing"))
    wv.save(str(tmp_path / "m"))
    np.save(tmp_path / "m" / "vectors.npy", np.zeros((3, 20), np.float32))
    with pytest.raises(W2VError, match=r"declares float32 \(500, 20\)"):
        WordVectors.load(str(tmp_path / "m"))
    np.save(tmp_path / "m" / "vectors.npy", np.zeros((500, 20), np.float64))
    with pytest.raises(W2VError, match="float64"):
        WordVectors.load(str(tmp_path / "m"))
    (tmp_path / "m" / "vectors.json").write_text('{"format": "other"}')
    with pytest.raises(W2VError, match="not w2v-dist vectors"):
        WordVectors.load(str(tmp_path / "m"))


def test_parquet_round_trip_and_schema(tmp_path, wv):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "vectors.parquet"
    wv.save_parquet(str(path), row_group_size=128)
    table = pq.read_table(path)
    assert table.schema.field("word").type == pa.string()
    assert table.schema.field("vector").type == pa.list_(pa.float32())
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    assert table.column("word").to_pylist() == wv.index_to_key
    assert table.column("vector")[7].as_py() == wv.vectors[7].tolist()
    back = WordVectors.load_parquet(str(path))
    assert back.index_to_key == wv.index_to_key
    np.testing.assert_array_equal(_bits(back.vectors), _bits(wv.vectors))
    # Dask reads it as it is
    import dask.dataframe as dd

    df = dd.read_parquet(str(path)).compute()
    assert df["word"].tolist() == wv.index_to_key
    np.testing.assert_array_equal(np.stack(df["vector"].to_numpy()).astype(np.float32), wv.vectors)
    ragged = pa.table({"word": ["a", "b"], "vector": pa.array([[1.0, 2.0], [3.0]], pa.list_(pa.float32()))})
    pq.write_table(ragged, tmp_path / "ragged.parquet")
    with pytest.raises(W2VError, match="row 2"):
        WordVectors.load_parquet(str(tmp_path / "ragged.parquet"))


def test_load_vectors_picks_the_format(tmp_path, wv):
    from w2v_dist.vectors import load_vectors

    wv.save(str(tmp_path / "m"))
    wv.save_parquet(str(tmp_path / "v.parquet"))
    wv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    wv.save_word2vec_format(str(tmp_path / "v.txt"))
    for name in ("m", "v.parquet", "v.bin", "v.txt"):
        back = load_vectors(str(tmp_path / name))
        assert back.index_to_key == wv.index_to_key, name
        np.testing.assert_array_equal(back.vectors, wv.vectors)
    old_output = tmp_path / "old"  # an output folder without the native format
    old_output.mkdir()
    wv.save_word2vec_format(str(old_output / "vectors.bin"), binary=True)
    np.testing.assert_array_equal(load_vectors(str(old_output)).vectors, wv.vectors)
    (tmp_path / "empty").mkdir()
    with pytest.raises(W2VError, match="vectors.json"):
        load_vectors(str(tmp_path / "empty"))
    with pytest.raises(W2VError, match="no such file"):
        load_vectors(str(tmp_path / "missing.bin"))


def test_combine_vectors():
    from w2v_dist.errors import ConfigError
    from w2v_dist.vectors import combine_vectors

    rng = np.random.default_rng(5)
    t, c = rng.standard_normal((2, 6, 4)).astype(np.float32)
    words = list("abcdef")
    np.testing.assert_array_equal(combine_vectors(words, t, c).vectors, t)
    np.testing.assert_array_equal(combine_vectors(words, t, c, "output").vectors, c)
    np.testing.assert_array_equal(combine_vectors(words, t, c, "sum").vectors, t + c)
    cat = combine_vectors(words, t, c, "concat")
    assert cat.vector_size == 8 and cat.vectors.dtype == np.float32
    np.testing.assert_array_equal(cat["c"], np.r_[t[2], c[2]])
    with pytest.raises(ConfigError, match="negative>0"):
        combine_vectors(words, t, None, "sum")
    with pytest.raises(ConfigError, match="choose one of"):
        combine_vectors(words, t, c, "both")


# ------------------------------------------------------------------ file I/O


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_is_exact(tmp_path, binary):
    words, vectors = _random_vectors()
    vectors[0, :6] = [0.0, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 0.1]  # extremes, denormal
    wv = WordVectors(words, vectors)
    path = tmp_path / ("v.bin" if binary else "v.txt")
    wv.save_word2vec_format(str(path), binary=binary)
    back = WordVectors.load_word2vec_format(str(path))  # format inferred from the name
    assert back.index_to_key == words
    assert back.vectors.dtype == np.float32
    np.testing.assert_array_equal(_bits(back.vectors), _bits(vectors))
    assert path.read_bytes().startswith(b"500 20\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_text_written_in_blocks(tmp_path, monkeypatch, wv):
    import w2v_dist.vectors as vectors_module

    monkeypatch.setattr(vectors_module, "_TEXT_BLOCK_VALUES", 7 * wv.vector_size)  # 72 blocks
    wv.save_word2vec_format(str(tmp_path / "v.txt"))
    back = WordVectors.load_word2vec_format(str(tmp_path / "v.txt"))
    assert back.index_to_key == wv.index_to_key
    np.testing.assert_array_equal(_bits(back.vectors), _bits(wv.vectors))


def test_text_layout(tmp_path):
    wv = WordVectors(["a", "b"], np.array([[0.5, -2.0], [0.1, 1e-5]], dtype=np.float32))
    wv.save_word2vec_format(str(tmp_path / "v.txt"))
    lines = (tmp_path / "v.txt").read_text().splitlines()
    assert lines[0] == "2 2" and lines[1] == "a 0.5 -2"
    word, *values = lines[2].split(" ")
    assert word == "b" and len(values) == 2 and all(len(v) <= 9 for v in values)  # shortest forms
    np.testing.assert_array_equal(_bits([np.float32(float(v)) for v in values]), _bits([0.1, 1e-5]))


def test_binary_layout(tmp_path):
    vectors = np.array([[0.5, -2.0], [0.25, 8.0]], dtype=np.float32)
    WordVectors(["a", "bc"], vectors).save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    expected = (b"2 2\n" + b"a " + struct.pack("<2f", 0.5, -2.0) + b"\n"
                + b"bc " + struct.pack("<2f", 0.25, 8.0) + b"\n")
    assert (tmp_path / "v.bin").read_bytes() == expected


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files(tmp_path, wv, binary):
    path = str(tmp_path / ("v.bin" if binary else "v.txt"))
    wv.save_word2vec_format(path, binary=binary)
    kv = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert kv.index_to_key == wv.index_to_key
    np.testing.assert_array_equal(_bits(kv.vectors), _bits(wv.vectors))


@pytest.mark.parametrize("binary", [False, True])
def test_we_read_gensim_files(tmp_path, kv, binary):
    path = str(tmp_path / ("g.bin" if binary else "g.txt"))
    kv.save_word2vec_format(path, binary=binary)
    ours = WordVectors.load_word2vec_format(path, binary=binary)
    assert ours.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(_bits(ours.vectors), _bits(kv.vectors))


def test_reads_word2vec_c_variants(tmp_path):
    vecs = np.array([[1.5, -2.25], [0.125, 4.0]], dtype=np.float32)
    rows = [b"the " + vecs[0].astype("<f4").tobytes(), b"</s> " + vecs[1].astype("<f4").tobytes()]
    for name, body in [("nl.bin", b"\n".join(rows) + b"\n"), ("no-nl.bin", b"".join(rows))]:
        (tmp_path / name).write_bytes(b"2 2\n" + body)
        wv = WordVectors.load_word2vec_format(str(tmp_path / name))
        assert wv.index_to_key == ["the", "</s>"], name
        np.testing.assert_array_equal(wv.vectors, vecs)
    # word2vec.c's text output: "%lf " per value, i.e. a trailing space; also CRLF line ends
    (tmp_path / "c.txt").write_bytes(b"2 2\r\nthe 1.500000 -2.250000 \r\n</s> 0.125000 4.000000 \r\n")
    wv = WordVectors.load_word2vec_format(str(tmp_path / "c.txt"), binary=False)
    assert wv.index_to_key == ["the", "</s>"]
    np.testing.assert_array_equal(wv.vectors, vecs)


@pytest.mark.parametrize("binary", [False, True])
def test_limit(tmp_path, wv, binary):
    path = str(tmp_path / ("v.bin" if binary else "v.txt"))
    wv.save_word2vec_format(path, binary=binary)
    head = WordVectors.load_word2vec_format(path, limit=10)
    assert head.index_to_key == wv.index_to_key[:10]
    np.testing.assert_array_equal(head.vectors, wv.vectors[:10])
    assert len(WordVectors.load_word2vec_format(path, limit=0)) == 0
    assert len(WordVectors.load_word2vec_format(path, limit=10**6)) == 500
    with pytest.raises(W2VError, match="limit"):
        WordVectors.load_word2vec_format(path, limit=-1)


@pytest.mark.parametrize("name", ["v.txt", "v.bin.gz", "v.txt.bz2"])
def test_rows_read_in_blocks(tmp_path, monkeypatch, wv, name):
    import w2v_dist.vectors as vectors_module

    path = str(tmp_path / name)
    wv.save_word2vec_format(path, binary=".bin" in name)
    monkeypatch.setattr(vectors_module, "_BLOCK_BYTES", 4 * wv.vector_size * 3)  # 3 rows per block
    back = WordVectors.load_word2vec_format(path)
    assert back.index_to_key == wv.index_to_key
    np.testing.assert_array_equal(_bits(back.vectors), _bits(wv.vectors))
    assert len(WordVectors.load_word2vec_format(path, limit=7)) == 7


def test_memory_url_and_compression(wv):
    for url, binary in [("memory://w2v-test/v.txt", False), ("memory://w2v-test/v.bin", True),
                        ("memory://w2v-test/v.txt.gz", False), ("memory://w2v-test/v.bin.gz", True)]:
        wv.save_word2vec_format(url, binary=binary)
        back = WordVectors.load_word2vec_format(url)
        assert back.index_to_key == wv.index_to_key, url
        np.testing.assert_array_equal(_bits(back.vectors), _bits(wv.vectors))
    fs = fsspec.filesystem("memory")
    assert fs.open("/w2v-test/v.bin.gz", "rb").read(2) == b"\x1f\x8b"  # really gzip
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/w2v-test", detail=False)) == [
        "v.bin", "v.bin.gz", "v.txt", "v.txt.gz"]
    fs.rm("/w2v-test", recursive=True)


def test_failed_write_leaves_no_file(monkeypatch, wv):
    fs = fsspec.filesystem("memory")

    def broken_mv(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(fs), "mv", broken_mv)
    with pytest.raises(W2VError, match="memory://w2v-fail/v.bin.*disk full"):
        wv.save_word2vec_format("memory://w2v-fail/v.bin", binary=True)
    assert not fs.exists("/w2v-fail/v.bin")
    assert not fs.exists("/w2v-fail") or fs.ls("/w2v-fail") == []


def test_save_rejects_unwritable_words(tmp_path):
    wv = WordVectors(["ok", "two words"], np.zeros((2, 2)))
    with pytest.raises(W2VError, match="two words"):
        wv.save_word2vec_format(str(tmp_path / "v.txt"))
    assert not (tmp_path / "v.txt").exists()


# ------------------------------------------------------------- hostile files


def _small_binary(tmp_path, name="v.bin"):
    words, vectors = _random_vectors(n=20, dim=8)
    path = tmp_path / name
    WordVectors(words, vectors).save_word2vec_format(str(path), binary=True)
    return path


@pytest.mark.parametrize("keep", [5, 30, 40, 200, -1])
def test_truncated_binary_raises(tmp_path, keep):
    path = _small_binary(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep > 0 else data[:keep - 3])
    with pytest.raises(W2VError, match="v.bin"):
        WordVectors.load_word2vec_format(str(path))


def test_truncated_text_raises_with_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(W2VError, match=r"v.txt.*line 4"):
        WordVectors.load_word2vec_format(str(path))


@pytest.mark.parametrize("binary", [False, True])
def test_huge_header_fails_fast_without_allocating(tmp_path, binary):
    path = tmp_path / ("h.bin" if binary else "h.txt")
    row = b"a " + (b"\0" * 400 if binary else b" ".join([b"0.5"] * 100)) + b"\n"
    path.write_bytes(b"1000000000000 100\n" + row)  # one valid row, then the end of the file
    tracemalloc.start()
    try:
        with pytest.raises(W2VError, match=r"h\.bin.*1000000000000" if binary else r"h\.txt: line 3.*1000000000000"):
            WordVectors.load_word2vec_format(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20  # the 10^12-row header was not believed: nothing near 400 TB was asked for


def test_huge_header_compressed_does_not_preallocate(tmp_path):
    # the size of a compressed file says nothing about its rows: memory must follow the data
    path = tmp_path / "h.bin.gz"
    with fsspec.open(str(path), "wb", compression="gzip") as f:
        f.write(b"1000000000000 100\n" + b"a " + b"\0" * 400 + b"\n")
    tracemalloc.start()
    try:
        with pytest.raises(W2VError, match=r"h\.bin\.gz.*row 2"):
            WordVectors.load_word2vec_format(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


@pytest.mark.parametrize("header", [b"", b"abc\n", b"5\n", b"-1 3\n", b"2 0\n", b"2 99999999999\n", b"1 2 3\n"])
def test_bad_header_raises(tmp_path, header):
    path = tmp_path / "v.bin"
    path.write_bytes(header + b"a " + b"\0" * 8)
    with pytest.raises(W2VError, match=r"v\.bin.*line 1"):
        WordVectors.load_word2vec_format(str(path))


@pytest.mark.parametrize("body, line", [
    ("a 1 2\nb 3\nc 5 6\n", 3),          # too few values
    ("a 1 2\nb 3 4 5\nc 5 6\n", 3),      # too many values
    ("a 1 2\nb 3 4\nc 5 x\n", 4),        # not a number
    ("a 1 2\n\nc 5 6\n", 3),             # blank line inside the rows
    ("a 1 2\na 3 4\nc 5 6\n", 3),        # repeated word
    ("a 1 2\nb 3 4\nc 5 6\nd 7 8\n", 5),  # more rows than the header declares
])
def test_malformed_text_line_names_the_line(tmp_path, body, line):
    path = tmp_path / "v.txt"
    path.write_text("3 2\n" + body)
    with pytest.raises(W2VError, match=rf"v\.txt: line {line}\b"):
        WordVectors.load_word2vec_format(str(path))


def test_binary_extra_data_and_bad_utf8(tmp_path):
    path = _small_binary(tmp_path)
    path.write_bytes(path.read_bytes() + b"extra " + b"\0" * 32)
    with pytest.raises(W2VError, match="data after the 20 rows"):
        WordVectors.load_word2vec_format(str(path))
    bad = tmp_path / "u.bin"
    bad.write_bytes(b"1 2\n\xff\xfe " + b"\0" * 8)
    with pytest.raises(W2VError, match=r"u\.bin: row 1.*UTF-8"):
        WordVectors.load_word2vec_format(str(bad))
    text_as_binary = tmp_path / "t.bin"
    words, vectors = _random_vectors(n=20, dim=8)
    WordVectors(words, vectors).save_word2vec_format(str(text_as_binary), binary=False)
    with pytest.raises(W2VError, match=r"t\.bin"):
        WordVectors.load_word2vec_format(str(text_as_binary))


def test_missing_file_raises(tmp_path):
    with pytest.raises(W2VError, match="no such file"):
        WordVectors.load_word2vec_format(str(tmp_path / "nope.txt"))
    with pytest.raises(W2VError, match="no such file"):
        WordVectors.load_word2vec_format("memory://w2v-test-missing/nope.bin")
