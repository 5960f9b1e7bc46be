"""Corpus discovery, partitioned reading and tokenization."""

import bz2
import gzip
import lzma
import uuid

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from w2v_dist.corpus import (DEFAULT_TOKEN_PATTERN, SCAN_BYTES, Shard, discover_shards, read_lines,
                             read_tokenize, tokenize)
from w2v_dist.corpus import sources
from w2v_dist.errors import ConfigError, CorpusError


@pytest.fixture(scope="module")
def small_lines(small_corpus):
    text = small_corpus.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _all_lines(shards):
    out = []
    for s in shards:
        out.extend(read_lines(s).to_pylist())
    return out


# ------------------------------------------------------------------------------------------------
# plain text


def test_plain_text_blocks_tile_the_file(small_corpus, small_lines):
    shards = discover_shards(str(small_corpus), blocksize=20_000)
    assert len(shards) > 50
    assert all(s.kind == "text" and s.compression is None for s in shards)
    assert shards[0].url.startswith("file://")
    assert [s.offset for s in shards] == [i * 20_000 for i in range(len(shards))]
    assert shards[-1].length == -1
    assert sum(s.size for s in shards) == small_corpus.stat().st_size
    assert _all_lines(shards) == small_lines


def test_tiny_blocks_crlf_and_blank_lines(tmp_path):
    text = "alpha beta\r\ngamma\n\n  delta  epsilon\r\nzeta\n" * 7 + "last line\n"
    path = tmp_path / "c.txt"
    path.write_bytes(text.encode())
    expected = [line.rstrip("\r") for line in text.split("\n")]
    for bs in (1, 3, 7, 11, 64, 10_000):
        got = _all_lines(discover_shards(str(path), blocksize=bs))
        # Blank lines may be dropped; everything else must come back once, in order.
        assert [x for x in got if x] == [x for x in expected if x], bs
    # Without a final newline the last line may be cut at a blank, but no token is lost or split.
    path.write_bytes(text.encode() + b"no newline at the end")
    for bs in (1, 5, 64):
        got = _all_lines(discover_shards(str(path), blocksize=bs))
        assert " ".join(got).split() == (text + "no newline at the end").split()


def test_block_boundary_is_monotone_and_tiles(tmp_path, monkeypatch):
    # Random bytes with sparse separators: blocks must tile the file exactly whatever the scan bound.
    rng = np.random.default_rng(3)
    data = rng.integers(ord("a"), ord("z") + 1, size=20_000, dtype=np.uint8)
    data[rng.choice(data.size, 60, replace=False)] = ord(" ")
    data[rng.choice(data.size, 15, replace=False)] = ord("\n")
    path = tmp_path / "r.txt"
    path.write_bytes(data.tobytes())
    monkeypatch.setattr(sources, "SCAN_BYTES", 50)
    with open(path, "rb") as f:
        cuts = [sources._boundary(f, p, data.size) for p in range(0, data.size + 1, 37)]
    assert cuts == sorted(cuts)
    shards = discover_shards(str(path), blocksize=97)
    joined = "\n".join(_all_lines(shards))
    # Each block's lines rejoined by "\n": newline cuts lose nothing, other cuts only add a "\n".
    assert joined.replace("\n", "") == data.tobytes().decode().replace("\n", "")


def test_no_newline_file_is_split_without_cutting_tokens(tmp_path, small_lines):
    words = " ".join(small_lines).split()[:40_000]
    rng = np.random.default_rng(0)
    seps = rng.choice([" ", "  ", "\t", " \t "], size=len(words))
    text = "".join(w + s for w, s in zip(words, seps))
    path = tmp_path / "one-line.txt"
    path.write_bytes(text.encode())
    bs = 8192
    shards = discover_shards(str(path), blocksize=bs)
    assert len(shards) > 10
    tokens, sizes = [], []
    for s in shards:
        lines = read_lines(s)
        assert len(lines) <= 1  # no newline: each block is one piece of the single line
        sizes.append(sum(len(x.encode()) for x in lines.to_pylist()))
        tokens.extend(t for sent in tokenize(lines, token_pattern=r"\s+", lowercase=False).to_pylist() for t in sent)
    assert tokens == text.split()
    assert max(sizes) <= bs + SCAN_BYTES
    assert max(sizes) <= bs + max(len(w.encode()) for w in words) + 4  # cut at the next blank
    assert sum(sizes) == len(text.encode())


def test_no_whitespace_at_all_falls_back_to_the_nominal_offset(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SCAN_BYTES", 16)
    text = "x" * 1000
    path = tmp_path / "x.txt"
    path.write_text(text)
    shards = discover_shards(str(path), blocksize=100)
    pieces = [x for s in shards for x in read_lines(s).to_pylist()]
    assert "".join(pieces) == text
    assert max(len(p) for p in pieces) <= 100 + 16


def test_invalid_utf8_is_replaced(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"caf\xc3\xa9 ok\nbad \xff\xfe byte\n\xc3\nend")
    lines = read_lines(discover_shards(str(path))[0]).to_pylist()
    assert lines == ["café ok", "bad \ufffd\ufffd byte", "\ufffd", "end"]


# ------------------------------------------------------------------------------------------------
# compressed text


@pytest.mark.parametrize("ext,compress,name", [
    (".gz", gzip.compress, "gzip"),
    (".bz2", bz2.compress, "bz2"),
    (".xz", lambda b: lzma.compress(b, format=lzma.FORMAT_XZ), "xz"),
    (".zst", lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
])
def test_compressed_text_is_one_partition(tmp_path, small_lines, ext, compress, name):
    lines = small_lines[:800]
    path = tmp_path / f"part{ext}"
    path.write_bytes(compress(("\n".join(lines) + "\n").encode()))
    shards = discover_shards(str(path), blocksize=1000)
    assert len(shards) == 1
    assert shards[0].compression == name and shards[0].offset == 0 and shards[0].length == -1
    assert shards[0].size == path.stat().st_size
    assert read_lines(shards[0]).to_pylist() == lines


def test_compressed_read_in_small_chunks(tmp_path, small_lines, monkeypatch):
    monkeypatch.setattr(sources, "CHUNK_BYTES", 4096)
    text = "\n".join(small_lines[:1500])
    path = tmp_path / "a.txt.gz"
    path.write_bytes(gzip.compress(text.encode()))
    got = read_lines(discover_shards(str(path))[0])
    assert max(len(x.encode()) for x in got.to_pylist()) <= 4096 + 4096
    assert " ".join(got.to_pylist()).split() == text.split()
    short = [x for x in small_lines[:1500] if len(x.encode()) < 4000]
    path.write_bytes(gzip.compress("\n".join(short).encode()))
    assert read_lines(discover_shards(str(path))[0]).to_pylist() == short
    # A compressed file without any newline is still read chunk by chunk.
    one = " ".join(small_lines[:300])
    path.write_bytes(gzip.compress(one.encode()))
    assert " ".join(read_lines(discover_shards(str(path))[0]).to_pylist()).split() == one.split()


def test_shared_gzip_shards(shared_dir):
    shards = discover_shards(str(shared_dir / "corpora" / "real-en" / "text"))
    assert len(shards) == 12 and all(s.compression == "gzip" for s in shards)
    assert [s.url.rsplit("/", 1)[1] for s in shards] == [f"shard-{i:03d}.txt.gz" for i in range(12)]
    lines = read_lines(shards[0])
    assert len(lines) == 37_190  # README: shard-000 has 37,190 lines
    assert sum(len(x) for x in tokenize(lines, token_pattern=r"\s+", lowercase=False).to_pylist()) == 1_340_479


def test_corrupt_shard_names_the_url(tmp_path):
    path = tmp_path / "broken.txt.gz"
    path.write_bytes(gzip.compress(b"hello world\n" * 100)[:40])
    shard = discover_shards(str(path))[0]
    with pytest.raises(CorpusError, match="broken.txt.gz") as err:
        read_lines(shard)
    assert "\n" not in str(err.value)
    gone = Shard(url=(tmp_path / "gone.txt").as_uri(), kind="text", compression=None)
    with pytest.raises(CorpusError, match="gone.txt"):
        read_lines(gone)


# ------------------------------------------------------------------------------------------------
# Parquet


def _write_parquet(path, texts, **kw):
    table = pa.table({"id": pa.array(range(len(texts)), pa.int64()), "text": pa.array(texts, pa.string())})
    pq.write_table(table, path, **kw)


def test_parquet_file_and_directory(tmp_path, small_lines):
    d = tmp_path / "pq"
    d.mkdir()
    _write_parquet(d / "part-0.parquet", small_lines[:1000])
    _write_parquet(d / "part-1.pq", small_lines[1000:2000] + [None])
    (d / "_SUCCESS").write_bytes(b"")
    (d / ".part-0.parquet.crc").write_bytes(b"junk")
    (d / "_metadata").write_bytes(b"junk")
    one = discover_shards(str(d / "part-0.parquet"))
    assert len(one) == 1 and one[0].kind == "parquet" and one[0].row_groups is None
    assert read_lines(one[0]).to_pylist() == small_lines[:1000]
    shards = discover_shards(str(d))
    assert [s.url.rsplit("/", 1)[1] for s in shards] == ["part-0.parquet", "part-1.pq"]
    assert _all_lines(shards) == small_lines[:2000]  # the null row is dropped


def test_parquet_row_groups_split_large_files(tmp_path, small_lines):
    path = tmp_path / "big.parquet"
    _write_parquet(path, small_lines, row_group_size=500)
    assert pq.ParquetFile(path).metadata.num_row_groups == 11
    shards = discover_shards(str(path), blocksize=100_000)
    assert len(shards) > 2
    groups = [g for s in shards for g in s.row_groups]
    assert groups == list(range(11))
    assert _all_lines(shards) == small_lines


def test_parquet_newlines_inside_values(tmp_path):
    path = tmp_path / "nl.parquet"
    _write_parquet(path, ["one\ntwo", "three\r\nfour"])
    assert read_lines(discover_shards(str(path))[0]).to_pylist() == ["one two", "three  four"]


def test_parquet_wrong_column(tmp_path):
    path = tmp_path / "p.parquet"
    _write_parquet(path, ["a b"])
    with pytest.raises(CorpusError, match=r"p\.parquet.*no column 'body'.*id, text"):
        discover_shards(str(path), text_column="body")
    with pytest.raises(CorpusError, match=r"p\.parquet: column 'id' has type int64"):
        discover_shards(str(path), text_column="id")


def test_shared_parquet(shared_dir):
    shards = discover_shards(str(shared_dir / "corpora" / "real-en" / "parquet"))
    assert len(shards) == 8 and all(s.kind == "parquet" for s in shards)
    assert len(read_lines(shards[0])) == 54_522  # README: rows of part-000


def test_format_forced(tmp_path):
    path = tmp_path / "data.bin"
    _write_parquet(path, ["hello there"])
    assert discover_shards(str(path))[0].kind == "text"
    forced = discover_shards(str(path), format="parquet")
    assert forced[0].kind == "parquet"
    assert read_lines(forced[0]).to_pylist() == ["hello there"]
    txt = tmp_path / "x.parquet"
    txt.write_text("plain words\n")
    assert read_lines(discover_shards(str(txt), format="text")[0]).to_pylist() == ["plain words"]
    with pytest.raises(ConfigError, match="format='csv'"):
        discover_shards(str(txt), format="csv")
    with pytest.raises(CorpusError, match="x.parquet"):
        discover_shards(str(txt))  # named .parquet but not Parquet


# ------------------------------------------------------------------------------------------------
# URLs, globs, filesystems, errors


def test_memory_filesystem():
    root = f"memory://w2v-test-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    try:
        with fsspec.open(f"{root}/corpus/a.txt", "wb") as f:
            f.write(b"one two\nthree\n")
        with fsspec.open(f"{root}/corpus/b.txt.gz", "wb") as f:
            f.write(gzip.compress(b"four five\n"))
        with fsspec.open(f"{root}/corpus/_SUCCESS", "wb") as f:
            f.write(b"")
        shards = discover_shards(f"{root}/corpus")
        assert [s.url for s in shards] == [f"memory:///{root[9:]}/corpus/a.txt", f"memory:///{root[9:]}/corpus/b.txt.gz"]
        assert _all_lines(shards) == ["one two", "three", "four five"]
        globbed = discover_shards(f"{root}/corpus/*.txt", blocksize=4)
        assert len(globbed) == 4
        assert _all_lines(globbed) == ["one two", "three"]
        assert read_tokenize(shards[1]).to_pylist() == [["four", "five"]]
    finally:
        fs.rm(f"/{root[9:]}", recursive=True)


def test_several_urls_globs_and_dedup(tmp_path):
    for name in ("a.txt", "b.txt", "c.log"):
        (tmp_path / name).write_text(f"{name}\n")
    shards = discover_shards([str(tmp_path / "*.txt"), str(tmp_path / "c.log"), str(tmp_path / "a.txt")])
    assert [s.url.rsplit("/", 1)[1] for s in shards] == ["a.txt", "b.txt", "c.log"]
    assert discover_shards(tmp_path / "a.txt")[0].url == (tmp_path / "a.txt").as_uri()


def test_missing_path_and_empty_glob(tmp_path):
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match=f"^input not found: {missing}$"):
        discover_shards(missing)
    pattern = str(tmp_path / "*.nothing")
    with pytest.raises(CorpusError, match=r"^no files match: .*\*\.nothing$"):
        discover_shards(pattern)
    with pytest.raises(CorpusError, match="input not found: memory://w2v-absent/x.txt"):
        discover_shards("memory://w2v-absent/x.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    with pytest.raises(CorpusError, match="no data files in directory"):
        discover_shards(str(empty))
    with pytest.raises(ConfigError, match="blocksize=0"):
        discover_shards(str(tmp_path / "x"), blocksize=0)


# ------------------------------------------------------------------------------------------------
# tokenizer


def test_tokenize_default_rules():
    lines = [
        "Natásha said: “Don’t go!” — 'yes' he answered, in 1812.",
        "ROCK'N'ROLL l'été naïve café",
        "Nata\u0301sha",  # combining accent stays inside the token
        "''' -- ... ''",
        "",
        None,
        "x_y e-mail 3.14 100%",
    ]
    got = tokenize(lines).to_pylist()
    assert got == [
        ["natásha", "said", "don't", "go", "yes", "he", "answered", "in", "1812"],
        ["rock'n'roll", "l'été", "naïve", "café"],
        ["nata\u0301sha"],
        ["x", "y", "e", "mail", "3", "14", "100"],
    ]
    assert tokenize(["Don’t ‘Quote’ Me"], lowercase=False).to_pylist() == [["Don't", "Quote", "Me"]]


def test_tokenize_types_and_empty():
    out = tokenize(pa.array(["a b", "c"], pa.large_string()))
    assert out.type == pa.list_(pa.string())
    assert out.to_pylist() == [["a", "b"], ["c"]]
    empty = tokenize([])
    assert len(empty) == 0 and empty.type == pa.list_(pa.string())
    assert len(tokenize(["...", None, ""])) == 0
    chunked = pa.chunked_array([pa.array(["A b"]), pa.array(["c D"])])
    assert tokenize(chunked).to_pylist() == [["a", "b"], ["c", "d"]]
    assert tokenize(["A b"], token_pattern=None).to_pylist() == [["a", "b"]]


def test_max_sentence_length_splits():
    lines = [" ".join(f"w{i}" for i in range(n)) for n in (0, 1, 3, 7, 8, 9, 20)]
    got = tokenize(lines, max_sentence_length=4).to_pylist()
    expected = []
    for line in lines:
        toks = line.split()
        expected.extend(toks[i:i + 4] for i in range(0, len(toks), 4))
    assert got == expected
    assert max(len(s) for s in got) == 4
    assert tokenize(lines, max_sentence_length=1).to_pylist() == [[t] for line in lines for t in line.split()]
    with pytest.raises(ConfigError, match="max_sentence_length=0"):
        tokenize(lines, max_sentence_length=0)


def test_custom_token_pattern():
    lines = ["Hello, World!  it's", "a-b,c"]
    assert tokenize(lines, token_pattern=r"\s+", lowercase=False).to_pylist() == [["Hello,", "World!", "it's"], ["a-b,c"]]
    assert tokenize(lines, token_pattern=r"[\s,]+").to_pylist() == [["hello", "world!", "it's"], ["a-b", "c"]]
    # No apostrophe handling with a custom pattern.
    assert tokenize(["'yes' don’t"], token_pattern=" ").to_pylist() == [["'yes'", "don’t"]]
    assert DEFAULT_TOKEN_PATTERN == r"[^\p{L}\p{M}\p{N}']+"
    assert tokenize(["Don’t"], token_pattern=DEFAULT_TOKEN_PATTERN).to_pylist() == [["don't"]]
    with pytest.raises(ConfigError, match=r"token_pattern='\(\[a': invalid RE2 regex"):
        tokenize(lines, token_pattern="([a")
    with pytest.raises(ConfigError, match="matches the empty string"):
        tokenize(lines, token_pattern=r"\s*")


def test_read_tokenize_matches_tokenize(small_corpus, small_lines):
    shards = discover_shards(str(small_corpus), blocksize=300_000)
    got = [s for sh in shards for s in read_tokenize(sh, max_sentence_length=50).to_pylist()]
    assert got == tokenize(small_lines, max_sentence_length=50).to_pylist()
