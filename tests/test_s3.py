"""Inputs and outputs on s3:// against a real S3 protocol server on loopback (moto's server mode,
as s3fs's own tests do), through s3fs; storage options reach the workers and never leak."""

import gzip
import io
import json
import socket

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_dist.cli import main
from w2v_dist.cluster import dask_client
from w2v_dist.evaluation import evaluate
from w2v_dist.output import OUTPUT_FILES
from w2v_dist.vectors import WordVectors
from w2v_dist.vocab import Vocab

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BUCKET = "w2v-test"
SECRET = "s3cr3t-W2V-do-not-print-9f7c1e"  # noqa: S105 - a fake credential we look for in outputs
KEY_ID = "AKIAW2VDISTTESTKEY01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def storage_options(s3_endpoint):
    return {"endpoint_url": s3_endpoint, "key": KEY_ID, "secret": SECRET}


@pytest.fixture(scope="module")
def s3(storage_options, small_corpus):
    """The bucket, holding the small corpus as 3 gzip text shards and as 2 Parquet files."""
    fs = s3fs.S3FileSystem(**storage_options)
    fs.mkdir(BUCKET)
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    third = len(lines) // 3 + 1
    for i in range(3):
        chunk = "\n".join(lines[i * third:(i + 1) * third]) + "\n"
        fs.pipe(f"{BUCKET}/text/shard-{i:03d}.txt.gz", gzip.compress(chunk.encode("utf-8")))
    half = len(lines) // 2
    for i, part in enumerate((lines[:half], lines[half:])):
        buf = io.BytesIO()
        pq.write_table(pa.table({"id": np.arange(len(part)), "text": part}), buf)
        fs.pipe(f"{BUCKET}/parquet/part-{i}.parquet", buf.getvalue())
    fs.invalidate_cache()
    return fs


@pytest.fixture(scope="module")
def inproc_client():
    with dask_client(workers=1, threads_per_worker=1, processes=False) as client:
        yield client


def test_train_from_s3_text_shards_on_worker_processes(tmp_path, s3, storage_options, small_corpus, eval_dir, capfd):
    """CLI, two worker processes: the options (endpoint, key, secret) must reach them (the workers
    read the shards); every output goes to s3://, and the vectors read back evaluate as recorded."""
    opts_file = tmp_path / "s3.json"
    opts_file.write_text(json.dumps({"endpoint_url": storage_options["endpoint_url"], "secret": "overridden"}))
    ws, sl = str(eval_dir / "wordsim353.tsv"), str(eval_dir / "simlex999.txt")
    out = f"s3://{BUCKET}/models/text"
    code = main(["train", f"s3://{BUCKET}/text/*.txt.gz", "--output", out,
                 "--storage-options-file", str(opts_file),
                 "--storage-option", f"key={KEY_ID}", "--storage-option", f"secret={SECRET}",
                 "--workers", "2", "--threads-per-worker", "1", "--sg", "1", "--epochs", "2",
                 "--vector-size", "32", "--sync-every", "50000",
                 "--word-pairs", ws, sl, "--analogies", str(eval_dir / "questions-words.txt")])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    assert SECRET not in captured.err and SECRET not in captured.out and KEY_ID not in captured.err

    s3.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[1] for p in s3.ls(f"{BUCKET}/models/text")) == sorted(OUTPUT_FILES)
    assert [p for p in s3.ls(f"{BUCKET}/models") if "partial" in p] == []  # staging folder removed
    raw = s3.cat(f"{BUCKET}/models/text/metrics.json").decode()
    assert SECRET not in raw and KEY_ID not in raw
    m = json.loads(raw)
    assert m["workers"] == 2 and m["config"]["sg"] == 1 and m["partitions"] == 3

    # the vocabulary is the exact count of the corpus, tokenized locally by the same tokenizer
    from collections import Counter

    import pyarrow.compute as pc

    from w2v_dist.corpus import tokenize

    toks = tokenize(pa.array(small_corpus.read_text(encoding="utf-8").splitlines()))
    counts = Counter(pc.list_flatten(toks).to_pylist())
    vocab = Vocab.read_parquet(f"{out}/vocab.parquet", storage_options=storage_options)
    assert dict(zip(vocab.words, vocab.counts.tolist())) == {w: c for w, c in counts.items() if c >= 5}
    assert m["corpus_words"] == sum(counts.values())

    back = WordVectors.load_word2vec_format(f"{out}/vectors.txt", storage_options=storage_options)
    back_bin = WordVectors.load_word2vec_format(f"{out}/vectors.bin", storage_options=storage_options)
    assert back.index_to_key == vocab.words == back_bin.index_to_key
    np.testing.assert_allclose(back.vectors, back_bin.vectors, rtol=1e-6, atol=1e-7)
    res = evaluate(back_bin, analogies=str(eval_dir / "questions-words.txt"), word_pairs=[ws, sl])
    for k in ("wordsim353_spearman", "simlex999_spearman", "analogy_accuracy", "oov_ratio"):
        assert res[k] == pytest.approx(m["evaluation"][k], abs=1e-6), k


def test_parquet_on_s3_trains_like_the_same_parquet_on_disk(tmp_path, s3, storage_options, inproc_client):
    """One worker, one thread (deterministic): s3:// Parquet in and out gives the very vectors of the
    same files on local disk."""
    import w2v_dist

    local = tmp_path / "pq"
    local.mkdir()
    for name in ("part-0.parquet", "part-1.parquet"):
        (local / name).write_bytes(s3.cat(f"{BUCKET}/parquet/{name}"))
    common = dict(client=inproc_client, epochs=1, vector_size=16, min_count=3, seed=7)
    out = f"s3://{BUCKET}/models/parquet"
    from_s3 = w2v_dist.train([f"s3://{BUCKET}/parquet/"], output=out, storage_options=storage_options, **common)
    from_disk = w2v_dist.train([str(local / "*.parquet")], **common)
    assert from_s3.metrics["corpus_words"] == from_disk.metrics["corpus_words"] > 100_000
    assert from_s3.wv.index_to_key == from_disk.wv.index_to_key
    np.testing.assert_array_equal(from_s3.wv.vectors, from_disk.wv.vectors)
    back = WordVectors.load_word2vec_format(f"{out}/vectors.bin", storage_options=storage_options)
    np.testing.assert_array_equal(back.vectors, from_disk.wv.vectors)
    raw = s3.cat(f"{BUCKET}/models/parquet/metrics.json").decode()
    assert SECRET not in raw and KEY_ID not in raw


def test_failing_task_does_not_log_the_secret(tmp_path, s3, storage_options, capfd):
    """A corrupt shard fails a worker task; distributed logs the failed task's arguments at ERROR
    level: the storage options there must show keys only."""
    s3.pipe(f"{BUCKET}/bad/shard-000.txt.gz", b"this is not gzip data\n" * 100)
    s3.invalidate_cache()
    out = tmp_path / "never"
    code = main(["train", f"s3://{BUCKET}/bad/*.txt.gz", "--output", str(out), "--workers", "1",
                 "--threads-per-worker", "1", "--storage-option", f"endpoint_url={storage_options['endpoint_url']}",
                 "--storage-option", f"key={KEY_ID}", "--storage-option", f"secret={SECRET}"])
    captured = capfd.readouterr()
    assert code == 2
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("w2v-dist: error: ") and "shard-000.txt.gz" in last
    assert SECRET not in captured.err and SECRET not in captured.out
    assert not out.exists()


def test_storage_option_errors_do_not_echo_values(tmp_path, capfd):
    code = main(["--quiet", "train", "in.txt", "--output", str(tmp_path / "o"), "--storage-option", SECRET])
    err = capfd.readouterr().err
    assert code == 2 and "--storage-option" in err and SECRET not in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"secret": "' + SECRET + '",}')
    code = main(["--quiet", "train", "in.txt", "--output", str(tmp_path / "o"), "--storage-options-file", str(bad)])
    err = capfd.readouterr().err
    assert code == 2 and "bad.json" in err and "line 1" in err and SECRET not in err


def test_storage_options_layers_and_redaction(tmp_path):
    """TOML [input.storage_options] < --storage-options-file < --storage-option; the mapping that
    travels to the workers hides its values."""
    import pickle

    from w2v_dist.cli import _storage_options, build_parser
    from w2v_dist.config import load_pipeline
    from w2v_dist.storage import StorageOptions

    toml = tmp_path / "job.toml"
    toml.write_text('[input]\nurls = ["s3://b/x"]\n[input.storage_options]\nanon = false\nkey = "toml"\n'
                    'endpoint_url = "http://toml"\n[output]\nurl = "s3://b/o"\n')
    f = tmp_path / "so.json"
    f.write_text(json.dumps({"key": "file-key-value", "secret": "file-secret-value"}))
    args = build_parser().parse_args(["run", str(toml), "--storage-options-file", str(f),
                                      "--storage-option", "secret=cli-secret-value", "--storage-option", 'client_kwargs={"region_name": "r"}'])
    got = _storage_options(args, load_pipeline(str(toml)).storage_options)
    assert got == {"anon": False, "key": "file-key-value", "endpoint_url": "http://toml", "secret": "cli-secret-value",
                   "client_kwargs": {"region_name": "r"}}
    so = StorageOptions(got)
    assert dict(so) == got and dict(**so) == got
    assert "value" not in repr(so) and "value" not in str(so) and "toml" not in repr(so)
    assert "secret=***" in repr(so)
    again = pickle.loads(pickle.dumps(so))
    assert isinstance(again, StorageOptions) and dict(again) == got
    from dask.base import tokenize

    assert tokenize(so) == tokenize(StorageOptions(dict(got))) and "value" not in tokenize(so)


class _Stop(Exception):
    pass


def test_checkpoints_on_s3_resume_with_phrases(s3, storage_options, inproc_client):
    """Checkpoints written to s3:// (COMMIT marker last), a run stopped after its 4th round (just checkpointed) and resumed
    from them ends with the uninterrupted run's vocabulary (phrase tokens included) and vectors;
    no credential is written into the checkpoint."""
    import w2v_dist
    from w2v_dist.config import Config
    from w2v_dist.training import checkpoint as ckpt
    from w2v_dist.training.driver import train_vectors

    data = [f"s3://{BUCKET}/text/*.txt.gz"]
    cfg = dict(sg=1, epochs=2, vector_size=16, sync_every=20_000, solo_round=0, checkpoint_every=2, phrases=True,
               phrase_connector_words="english", seed=3)
    clean = w2v_dist.train(data, client=inproc_client, storage_options=storage_options,
                           output=f"s3://{BUCKET}/ckpt/clean", **cfg)
    assert any("_" in w for w in clean.wv.index_to_key)  # phrase tokens made it into the vocabulary

    def stop(stats):
        if stats["round"] == 3:
            raise _Stop

    url = f"s3://{BUCKET}/ckpt/model"
    with pytest.raises(_Stop):
        train_vectors(inproc_client, data, Config(**cfg), storage_options=storage_options, progress=False,
                      on_round=stop, checkpoint_url=f"{url}/_checkpoint")
    s3.invalidate_cache()
    got = ckpt.latest(f"{url}/_checkpoint", storage_options)
    assert got is not None and got.state["rounds_done"] == 4
    for path in s3.find(f"{BUCKET}/ckpt/model/_checkpoint"):
        raw = s3.cat(path)
        assert SECRET.encode() not in raw and KEY_ID.encode() not in raw
    res = w2v_dist.train(data, client=inproc_client, storage_options=storage_options, output=url,
                         resume=True, **cfg)
    assert res.metrics["resumed_from_round"] == 4 and res.metrics["rounds"] == clean.metrics["rounds"]
    assert res.wv.index_to_key == clean.wv.index_to_key
    np.testing.assert_allclose(res.wv.vectors, clean.wv.vectors, atol=1e-5)
    back = WordVectors.load_word2vec_format(f"{url}/vectors.bin", storage_options=storage_options)
    np.testing.assert_array_equal(back.vectors, res.wv.vectors)
