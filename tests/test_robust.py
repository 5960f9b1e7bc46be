"""Failures and bad input: one-line errors (exit 2, nothing written), skipped and counted input,
checkpoints and --resume, and a worker process killed in the middle of training."""

import gzip
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import w2v_dist
from w2v_dist.cli import main
from w2v_dist.cluster import dask_client
from w2v_dist.config import Config
from w2v_dist.corpus import discover_shards, read_lines
from w2v_dist.errors import ConfigError, W2VError
from w2v_dist.output import OUTPUT_FILES
from w2v_dist.training import checkpoint as ckpt
from w2v_dist.training.driver import train_vectors

# Small and quick: a slice of the small corpus, small vectors, few epochs.
FAST = dict(sg=1, replicas="worker", epochs=2, vector_size=24, sync_every=10_000, solo_round=0, min_count=3, seed=5)  # solo_round=0: several rounds with one worker too


@pytest.fixture(scope="module")
def lines(small_corpus):
    return small_corpus.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def good_text(lines, tmp_path_factory):
    """~3,000 real lines as a plain text file and as two gzip shards."""
    d = tmp_path_factory.mktemp("good")
    (d / "a.txt").write_text("\n".join(lines[:3000]) + "\n", encoding="utf-8")
    with gzip.open(d / "p0.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines[:1500]) + "\n")
    with gzip.open(d / "p1.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines[1500:3000]) + "\n")
    return d


@pytest.fixture(scope="module")
def inproc():
    """Two single-thread workers as threads of this process (deterministic, quick to start)."""
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        yield client


def _cli(capsys, *argv):
    code = main(["--quiet", *argv])
    return code, capsys.readouterr().err.strip().splitlines()


def _one_error(code, err, *names):
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("w2v-dist: error: "), err
    for n in names:
        assert n in err[0], (n, err[0])


# ------------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


def test_unreadable_input_path(tmp_path, capsys):
    """A path that exists but cannot be read, even by root: a symlink loop (ELOOP)."""
    loop = tmp_path / "loop.txt"
    os.symlink(loop, loop)
    out = tmp_path / "out"
    _one_error(*_cli(capsys, "train", str(loop), "--output", str(out)), "loop.txt")
    assert not out.exists()
    _one_error(*_cli(capsys, "train", "nosuchproto://bucket/x.txt", "--output", str(out)), "nosuchproto://bucket/x.txt")
    assert not out.exists()


def test_output_under_a_regular_file(tmp_path, capsys, good_text):
    """Tests run as root, where chmod denies nothing: a regular file where a folder must be is an
    output nobody can create; it is refused before any work."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    code, err = _cli(capsys, "train", str(good_text / "a.txt"), "--output", str(blocker / "model"))
    _one_error(code, err, str(blocker), "not a folder")
    assert blocker.read_text() == "not a folder"


def test_output_in_a_read_only_location(capsys, good_text, tmp_path):
    """/sys refuses new entries even to root (EPERM): permission denied, before any work."""
    code, err = _cli(capsys, "train", str(good_text / "a.txt"), "--output", "/sys/w2v-dist-test-model")
    _one_error(code, err, "/sys/w2v-dist-test-model", "permission denied")
    assert not os.path.exists("/sys/w2v-dist-test-model")


def test_output_with_an_unknown_protocol(tmp_path, capsys, good_text):
    _one_error(*_cli(capsys, "train", str(good_text / "a.txt"), "--output", "nosuchproto://bucket/model"),
               "nosuchproto://bucket/model")


def test_output_check_leaves_nothing_behind(tmp_path):
    from w2v_dist.output import check_output

    check_output(str(tmp_path / "new" / "deeper" / "model"))
    assert list(tmp_path.iterdir()) == []


def test_wrong_parquet_column_type(tmp_path, capsys):
    f = tmp_path / "nums.parquet"
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), f)
    _one_error(*_cli(capsys, "train", str(f), "--output", str(tmp_path / "o")), "nums.parquet", "'text'", "int64")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, culprit", [
    (["--min-alpha", "0.5"], "min_alpha"),              # inconsistent with alpha=0.025
    (["--on-bad-shard", "ignore"], "on_bad_shard"),
    (["--checkpoint-every", "-1"], "checkpoint_every"),
    (["--max-failures", "-2"], "max_failures"),
    (["--threads-per-worker", "0"], "threads_per_worker"),
    (["--max-final-vocab", "0"], "max_final_vocab"),
])
def test_more_bad_hyperparameters(tmp_path, capsys, good_text, argv, culprit):
    out = tmp_path / "o"
    _one_error(*_cli(capsys, "train", str(good_text / "a.txt"), "--output", str(out), *argv), culprit)
    assert not out.exists()


def test_wrong_parameter_type_in_pipeline(tmp_path, capsys):
    p = tmp_path / "job.toml"
    p.write_text('[input]\nurls = ["x.txt"]\n[train]\nepochs = "three"\n[output]\nurl = "o"\n')
    _one_error(*_cli(capsys, "run", str(p)), "epochs", "int")
    with pytest.raises(ConfigError, match="vector_size"):
        Config(vector_size=10.5).validate()


def test_corrupt_gzip_shard_is_an_error_naming_it(tmp_path, capsys, good_text):
    bad = tmp_path / "in" / "broken.txt.gz"
    bad.parent.mkdir()
    bad.write_bytes(gzip.compress(b"hello world\n" * 500)[:60])
    out = tmp_path / "o"
    code, err = _cli(capsys, "train", str(good_text / "p0.txt.gz"), str(bad), "--output", str(out),
                     "--workers", "1", "--threads-per-worker", "1", "--epochs", "1")
    _one_error(code, err, "broken.txt.gz")
    assert not out.exists()


def test_corrupt_parquet_footer_is_an_error_naming_it(tmp_path, capsys, good_text):
    bad = tmp_path / "garbage.parquet"
    bad.write_bytes(b"PAR1" + os.urandom(200))
    _one_error(*_cli(capsys, "train", str(good_text / "a.txt"), str(bad), "--output", str(tmp_path / "o")),
               "garbage.parquet")


def _corrupt_pages_parquet(path):
    """A Parquet file whose footer is valid and whose (uncompressed, PLAIN) data page is not."""
    pq.write_table(pa.table({"text": [f"the cat sat on the mat number {i}" for i in range(5000)]}), path,
                   compression="none", use_dictionary=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 3:len(data) // 3 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def test_corrupt_parquet_data_is_an_error_naming_it(tmp_path, capsys, good_text):
    bad = tmp_path / "pages.parquet"
    _corrupt_pages_parquet(bad)
    assert len(discover_shards(str(bad))) == 1  # the footer reads fine: the error comes from the data
    code, err = _cli(capsys, "train", str(good_text / "a.txt"), str(bad), "--output", str(tmp_path / "o"),
                     "--workers", "1", "--threads-per-worker", "1", "--epochs", "1")
    _one_error(code, err, "pages.parquet")
    assert not (tmp_path / "o").exists()


def test_bad_shards_skipped_and_counted(tmp_path, good_text, inproc, lines):
    """--on-bad-shard skip: a corrupt gzip, a Parquet file with a corrupt footer and one with a
    corrupt data page are skipped, named and counted; the vocabulary and words are those of the
    good shards alone."""
    d = tmp_path / "in"
    d.mkdir()
    for name in ("p0.txt.gz", "p1.txt.gz"):
        (d / name).write_bytes((good_text / name).read_bytes())
    (d / "broken.txt.gz").write_bytes(gzip.compress(b"hello world\n" * 500)[:60])
    (d / "garbage.parquet").write_bytes(b"PAR1" + b"\x00" * 300)
    _corrupt_pages_parquet(d / "pages.parquet")
    out = tmp_path / "model"
    res = w2v_dist.train([str(d)], client=inproc, output=str(out), on_bad_shard="skip", **FAST)
    m = json.loads((out / "metrics.json").read_text())
    assert sorted(s["url"].rsplit("/", 1)[1] for s in m["skipped_shards"]) == [
        "broken.txt.gz", "garbage.parquet", "pages.parquet"]
    assert all(s["url"].rsplit("/", 1)[1] in s["error"] for s in m["skipped_shards"])
    ref = w2v_dist.train([str(d / "p0.txt.gz"), str(d / "p1.txt.gz")], client=inproc, **FAST)
    assert res.wv.index_to_key == ref.wv.index_to_key
    assert ref.metrics["skipped_shards"] == [] and m["corpus_words"] == ref.metrics["corpus_words"]
    assert m["train_words"] == ref.metrics["train_words"]  # (rounds may differ: bad shards change the balance)


def test_empty_files_skipped_and_counted(tmp_path, good_text, inproc, capsys):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.txt").write_bytes((good_text / "a.txt").read_bytes())
    (d / "empty1.txt").write_bytes(b"")
    (d / "empty2.txt").write_bytes(b"")
    res = w2v_dist.train([str(d)], client=inproc, **FAST)
    ref = w2v_dist.train([str(d / "a.txt")], client=inproc, **FAST)
    assert res.metrics["empty_files"] == 2 and ref.metrics["empty_files"] == 0
    assert res.wv.index_to_key == ref.wv.index_to_key
    assert res.vocab.counts.tolist() == ref.vocab.counts.tolist()
    # nothing but empty files: an error naming one
    e = tmp_path / "only-empty"
    e.mkdir()
    (e / "nothing.txt").write_bytes(b"")
    capsys.readouterr()  # the warnings of the runs above
    _one_error(*_cli(capsys, "train", str(e), "--output", str(tmp_path / "o")), "empty", "nothing.txt")
    assert not (tmp_path / "o").exists()


def test_invalid_utf8_replaced_and_counted(tmp_path, lines, inproc):
    """Each invalid byte sequence becomes one U+FFFD (Python's 'replace' rule) and is counted; a
    U+FFFD already in the text is valid UTF-8 and not counted."""
    good = [ln.encode("utf-8") for ln in lines[:2000]]
    bad_seqs = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xfe"]   # 1, 1, 3 and 2 replacements
    expected = 0
    for i in range(0, 2000, 100):
        seq = bad_seqs[(i // 100) % 4]
        good[i] = good[i] + b" caf" + seq + b" x"
        expected += seq.decode("utf-8", "replace").count("\ufffd")
    good[1] = good[1] + " \ufffd legit".encode("utf-8")
    f = tmp_path / "mixed.txt"
    f.write_bytes(b"\n".join(good) + b"\n")
    stats = {}
    read_lines(discover_shards(str(f))[0], stats=stats)
    assert stats["invalid_utf8"] == expected == 35
    gz = tmp_path / "mixed.txt.gz"
    gz.write_bytes(gzip.compress(f.read_bytes()))
    stats = {}
    read_lines(discover_shards(str(gz))[0], stats=stats)
    assert stats["invalid_utf8"] == expected
    out = tmp_path / "model"
    w2v_dist.train([str(f)], client=inproc, output=str(out), **FAST)
    assert json.loads((out / "metrics.json").read_text())["invalid_utf8_replacements"] == expected


# ------------------------------------------------------------------------------------------------
# checkpoints


class _Stop(Exception):
    pass


def test_checkpoint_commit_marker_and_pruning(tmp_path, inproc):
    """Only prefixes with a COMMIT whose files are complete count; older ones are pruned."""
    from w2v_dist.vocab import Vocab

    url = str(tmp_path / "ck")
    vocab = Vocab(["a", "b", "c"], np.array([5, 3, 2], np.int64), 10)
    mats = lambda v: [np.full((3, 4), v, np.float32), np.zeros((3, 4), np.float32), np.zeros((1, 4), np.float32)]  # noqa: E731
    for r in (2, 4, 6):
        ckpt.write(url, mats(r), vocab, {"rounds_done": r}, run_id="aa")
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert names == ["ckpt-00000004-aa", "ckpt-00000006-aa"]  # KEEP = 2
    # a crash while writing round 8: files, no marker -> ignored
    (tmp_path / "ck" / "ckpt-00000008-bb").mkdir()
    np.save(tmp_path / "ck" / "ckpt-00000008-bb" / "syn0.npy", np.zeros((3, 4), np.float32))
    # a marker whose file is truncated -> ignored too
    ckpt.write(url, mats(10), vocab, {"rounds_done": 10}, run_id="cc")
    path10 = tmp_path / "ck" / "ckpt-00000010-cc" / "syn0.npy"
    path10.write_bytes(path10.read_bytes()[:-8])
    got = ckpt.latest(url)
    assert got.state["rounds_done"] == 6 and float(got.mats[0][0, 0]) == 6.0
    assert got.vocab.words == ["a", "b", "c"]
    assert ckpt.latest(str(tmp_path / "none")) is None
    # nothing is unpickled: an object array in a committed checkpoint is refused
    obj = tmp_path / "ck" / "ckpt-00000006-aa" / "syn1.npy"
    np.save(obj, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    marker = json.loads((obj.parent / "COMMIT").read_text())
    marker["files"]["syn1.npy"] = obj.stat().st_size
    (obj.parent / "COMMIT").write_text(json.dumps(marker))
    with pytest.raises(W2VError, match="ckpt-00000006-aa"):
        ckpt.latest(url)
    # a fresh run refuses a folder holding checkpoints, unless told to discard them
    with pytest.raises(W2VError, match="--resume"):
        ckpt.check_fresh(url)
    ckpt.check_fresh(url, overwrite=True)
    assert not ckpt.has_checkpoints(url)


def test_resume_with_other_parameters_is_refused():
    saved = Config(**FAST).hyperparameters()
    ckpt.check_config(saved, Config(**dict(FAST, workers=4, checkpoint_every=7)))  # allowed to differ
    with pytest.raises(ConfigError, match="vector_size"):
        ckpt.check_config(saved, Config(**dict(FAST, vector_size=32)))


@pytest.mark.parametrize("workers,rare_every", [(2, 1), (1, 1), (2, 32)])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, good_text, inproc, workers, rare_every):
    """A run stopped after round 5 (checkpoint after round 4) and resumed with --resume ends with the
    vocabulary, round count and vectors of the uninterrupted run (threads are single, so the runs
    are deterministic and the vectors agree to float rounding).  With ``rare_every`` the round
    before a checkpoint sends every changed row, so the checkpoint holds them all."""
    data = [str(good_text / "a.txt")]
    cfg = dict(FAST, sync_every=5_000, checkpoint_every=4, rare_every=rare_every)
    if workers == 1:
        ctx = dask_client(workers=1, threads_per_worker=1, processes=False)
        client = ctx.__enter__()
    else:
        ctx, client = None, inproc
    try:
        clean = w2v_dist.train(data, client=client, output=str(tmp_path / "clean"), **cfg)

        def stop(stats):
            if stats["round"] == 4:
                raise _Stop

        out = tmp_path / "model"
        with pytest.raises(_Stop):
            train_vectors(client, data, Config(**cfg), progress=False, on_round=stop,
                          checkpoint_url=str(out / "_checkpoint"))
        assert not (out / "vectors.bin").exists()
        got = ckpt.latest(str(out / "_checkpoint"))
        assert got.state["rounds_done"] == 4
        # a new run into that folder is refused; --resume continues it
        with pytest.raises(W2VError, match="--resume"):
            w2v_dist.train(data, client=client, output=str(out), **cfg)
        res = w2v_dist.train(data, client=client, output=str(out), resume=True, **cfg)
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    m, c = res.metrics, clean.metrics
    assert m["resumed_from_round"] == 4 and c["resumed_from_round"] is None
    assert m["rounds"] == c["rounds"] > 8 and len(m["round_stats"]) == m["rounds"]
    assert m["effective_words"] == c["effective_words"]
    assert res.wv.index_to_key == clean.wv.index_to_key
    np.testing.assert_allclose(res.wv.vectors, clean.wv.vectors, atol=1e-5)
    on_disk = w2v_dist.WordVectors.load_word2vec_format(str(out / "vectors.bin"))
    np.testing.assert_array_equal(on_disk.vectors, res.wv.vectors)


# ------------------------------------------------------------------------------------------------
# a worker process killed in the middle of training


def _kill_soon(client, address, delay=0.1):
    """Make the worker process at ``address`` exit abruptly ``delay`` seconds from now."""
    def die():
        import os as _os
        import threading
        import time as _time

        def go():
            _time.sleep(delay)
            _os._exit(1)

        threading.Thread(target=go, daemon=True).start()

    try:
        client.run(die, workers=[address])
    except Exception:  # noqa: BLE001 - the worker may die before its reply arrives: that is the point
        pass


@pytest.mark.parametrize("workers,overlap,rare_every", [(2, False, 1), (2, True, 1), (1, True, 8), (2, False, 8)])
def test_killed_worker_process_the_run_completes(tmp_path, small_corpus, workers, overlap, rare_every):
    """Kill one worker process of a LocalCluster (processes, nanny restarts it) after round 5: the
    round is redone from the central copy (2 workers) or from the last checkpoint (1 worker: its
    replica was the model), the lost worker's shards are read again, and the run ends with all
    outputs and the clean run's vocabulary, rounds, loss and vectors.  With overlapping rounds
    and 2 workers the redone rounds start from the full merge, where the clean run's replicas were a
    round behind, and the hot rows from the last state worker 0 reported (its rounds end without
    waiting for the last hot-row exchange, so that state is a round older than the cold rows): the
    vectors agree only as two runs of the same training from the same start do.  With
    ``rare_every`` > 1 (the default) the central copy lacks the changes of rare rows the replicas
    held back (at most ``rare_every`` rounds of them), which the recreated replicas lose."""
    data = [str(small_corpus)]
    cfg = dict(FAST, checkpoint_every=4, overlap=overlap, rare_every=rare_every)
    with dask_client(workers=workers, threads_per_worker=1, processes=True) as client:
        clean = w2v_dist.train(data, client=client, output=str(tmp_path / "clean"), **cfg)
        victim = sorted(client.scheduler_info()["workers"])[-1]

        killed = []

        def on_round(stats):
            if stats["round"] == 5 and not killed:  # once: with 1 worker, round 5 is trained again
                killed.append(victim)
                _kill_soon(client, victim)

        out = tmp_path / "model"
        res = train_vectors(client, data, Config(**cfg), progress=False, on_round=on_round,
                            checkpoint_url=str(out / "_checkpoint"))
        after = sorted(client.scheduler_info()["workers"])
    assert victim not in after and len(after) == workers  # it really died and was replaced
    m, c = res.metrics, clean.metrics
    assert m["recovered_failures"] >= 1 and c["recovered_failures"] == 0
    assert m["rounds"] == c["rounds"] and len(m["round_stats"]) == m["rounds"]
    assert res.wv.index_to_key == clean.wv.index_to_key

    def last_epoch_loss(mm):
        rs = [r for r in mm["round_stats"] if r["epoch"] == FAST["epochs"] - 1]
        return sum(r["loss"] for r in rs) / sum(r["effective_words"] for r in rs)

    assert abs(last_epoch_loss(m) - last_epoch_loss(c)) / last_epoch_loss(c) < 0.02
    if workers == 1 or not (overlap or rare_every > 1):
        np.testing.assert_allclose(res.wv.vectors, clean.wv.vectors, atol=1e-4)
    elif rare_every > 1:
        a, b = res.wv.vectors, clean.wv.vectors
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        print("cosine to the clean run's vectors: min", cos.min(), "mean", cos.mean(), "median", np.median(cos))
        assert np.median(cos) > 0.999 and cos.mean() > 0.99  # rare rows lost a few rounds' changes
    else:
        a, b = res.wv.vectors, clean.wv.vectors
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        print("cosine to the clean run's vectors: min", cos.min(), "mean", cos.mean())
        assert cos.min() > 0.98 and cos.mean() > 0.9995
    from w2v_dist.output import write_outputs

    write_outputs(str(out), res.wv, res.vocab, m)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == sorted(OUTPUT_FILES)


def test_resume_without_checkpoint_is_an_error(tmp_path, capsys, good_text):
    out = tmp_path / "model"
    _one_error(*_cli(capsys, "train", str(good_text / "a.txt"), "--output", str(out), "--resume",
                     "--checkpoint-every", "2"), "--resume", "_checkpoint")
    assert not (out / "vectors.bin").exists()


def test_driver_killed_resumes_with_the_cli(tmp_path, small_corpus):
    """SIGKILL the whole `w2v-dist train` process group (driver and its LocalCluster) after its
    first committed checkpoint; `w2v-dist train ... --resume` then completes, with the vectors of
    an uninterrupted run (one single-thread worker: deterministic)."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "model"
    argv = [sys.executable, "-m", "w2v_dist.cli", "--quiet", "train", str(small_corpus), "--output", str(out),
            "--workers", "1", "--threads-per-worker", "1", "--checkpoint-every", "2",
            *[f"--{k.replace('_', '-')}={v}" for k, v in FAST.items()]]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck = out / "_checkpoint"
    try:
        deadline = time.monotonic() + 120
        while not list(ck.glob("ckpt-*/COMMIT")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list(ck.glob("ckpt-*/COMMIT")), proc.stderr.read().decode()
    assert not (out / "vectors.bin").exists()  # killed before the end
    done = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["resumed_from_round"] is not None and m["resumed_from_round"] >= 2
    with dask_client(workers=1, threads_per_worker=1, processes=False) as client:
        clean = w2v_dist.train([str(small_corpus)], client=client, **FAST)
    assert m["rounds"] == clean.metrics["rounds"] and m["vocab_size"] == len(clean.wv)
    got = w2v_dist.WordVectors.load_word2vec_format(str(out / "vectors.bin"))
    assert got.index_to_key == clean.wv.index_to_key
    np.testing.assert_allclose(got.vectors, clean.wv.vectors, atol=1e-5)


def test_resume_on_another_cluster_shape(tmp_path, good_text, inproc):
    """Stopped with 2 workers, resumed with 1: training continues at the same progress (rounds are
    re-cut for the new shape), with the checkpoint's vocabulary, and ends near the clean run."""
    data = [str(good_text / "a.txt")]
    cfg = dict(FAST, sync_every=5_000, checkpoint_every=4)
    clean = w2v_dist.train(data, client=inproc, **dict(cfg, checkpoint_every=0))

    def stop(stats):
        if stats["round"] == 5:
            raise _Stop

    url = str(tmp_path / "ck")
    with pytest.raises(_Stop):
        train_vectors(inproc, data, Config(**cfg), progress=False, on_round=stop, checkpoint_url=url)
    with dask_client(workers=1, threads_per_worker=1, processes=False) as one:
        res = train_vectors(one, data, Config(**cfg), progress=False, checkpoint_url=url, resume=True)
    m, c = res.metrics, clean.metrics
    assert m["workers"] == 1 and m["resumed_from_round"] >= 1
    assert res.wv.index_to_key == clean.wv.index_to_key
    assert abs(m["effective_words"] - c["effective_words"]) / c["effective_words"] < 0.05

    def last_epoch_loss(mm):
        rs = [r for r in mm["round_stats"] if r["epoch"] == FAST["epochs"] - 1]
        return sum(r["loss"] for r in rs) / sum(r["effective_words"] for r in rs)

    assert abs(last_epoch_loss(m) - last_epoch_loss(c)) / last_epoch_loss(c) < 0.05


@pytest.mark.parametrize("damage", ["truncate", "huge-header"])
def test_hostile_vector_files_on_the_cli(tmp_path, capsys, damage):
    """`w2v-dist evaluate/similar` on a truncated file or a header claiming 10^12 rows: one line,
    exit 2, no crash and no huge allocation (the binary reader checks the header against the size)."""
    from w2v_dist.vectors import WordVectors

    path = tmp_path / "v.bin"
    rng = np.random.default_rng(0)
    WordVectors([f"w{i}" for i in range(50)], rng.standard_normal((50, 16)).astype(np.float32)
                ).save_word2vec_format(str(path), binary=True)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncate" else b"1000000000000 16" + data[data.index(b"\n"):])
    _one_error(*_cli(capsys, "similar", str(path), "w1"), "v.bin")
    _one_error(*_cli(capsys, "evaluate", str(path)), "v.bin")


def test_checkpoint_by_time(tmp_path, good_text, inproc):
    """checkpoint_minutes: a checkpoint whenever that much time has passed (here: after every round
    but the last); only the newest two are kept, and the newest holds the central copy of that round."""
    url = str(tmp_path / "ck")
    res = train_vectors(inproc, [str(good_text / "a.txt")], Config(**dict(FAST, checkpoint_minutes=1e-9)),
                        progress=False, checkpoint_url=url)
    n = res.metrics["rounds"]
    assert res.metrics["checkpoints_written"] == n - 1
    assert sorted(p.name[:13] for p in (tmp_path / "ck").iterdir()) == [f"ckpt-{n - 2:08d}", f"ckpt-{n - 1:08d}"]
    last = ckpt.latest(url)
    assert last.state["rounds_done"] == n - 1 and last.vocab.words == res.vocab.words
    assert last.mats[0].shape == res.wv.vectors.shape
    assert not np.array_equal(last.mats[0], res.wv.vectors)  # one round before the end


@pytest.mark.parametrize("hot_rows", [0, 1000])
def test_lost_worker_not_replaced_its_share_moves_to_a_survivor(good_text, monkeypatch, hot_rows):
    """A worker that leaves for good (retired, no nanny to restart it) in the last epoch: after the
    wait for a replacement, its replica and shards move to the surviving worker, which then trains
    both replicas to the epoch's end (from the next epoch they would be drained into one:
    tests/test_balance.py); each keeps its shards and seeds, so the result is the clean run's (without
    overlapping rounds, whose redone rounds start from the full merge: see the test above).
    With hot rows, two replicas on one worker thread would each wait for the other's hot rows:
    the run turns them off from there (every row merged once a round) and completes."""
    from w2v_dist.training import driver

    monkeypatch.setattr(driver, "_RESTART_WAIT_SECONDS", 0.5)
    data = [str(good_text / "a.txt")]
    cfg = Config(**dict(FAST, sync_every=5_000, overlap=False, hot_rows=hot_rows, rare_every=1))  # every row every round: nothing held back to lose
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        clean = train_vectors(client, data, cfg, progress=False)
        victim = sorted(client.scheduler_info()["workers"])[-1]

        def on_round(stats):
            if stats["epoch"] == cfg.epochs - 1 and len(client.scheduler_info()["workers"]) == 2:
                client.retire_workers([victim], close_workers=True)

        res = train_vectors(client, data, cfg, progress=False, on_round=on_round)
        left = sorted(client.scheduler_info()["workers"])
    assert victim not in left and len(left) == 1
    assert res.metrics["recovered_failures"] >= 1 and res.metrics["workers"] == 2 and not res.metrics["reshapes"]
    assert res.metrics["rounds"] == clean.metrics["rounds"] > clean.metrics["rounds_per_epoch"] + 1
    assert res.wv.index_to_key == clean.wv.index_to_key
    if hot_rows:
        assert clean.metrics["hot_rows"][0] > 0 and clean.metrics["merge"] == "sum"
        assert res.metrics["hot_rows"] == [0, 0, 0] and res.metrics["merge"] == "scaled-sum"
        assert np.isfinite(res.wv.vectors).all()
        return
    np.testing.assert_allclose(res.wv.vectors, clean.wv.vectors, atol=1e-5)


def test_checkpoint_on_an_object_store_like_filesystem():
    """memory:// has no real folders or renames, like an object store: write, find and prune."""
    import fsspec

    from w2v_dist.vocab import Vocab

    url = "memory://robust-ck/run"
    vocab = Vocab(["x", "y"], np.array([4, 2], np.int64), 6)
    for r in (3, 6, 9):
        ckpt.write(url, [np.full((2, 3), r, np.float32), np.zeros((2, 3), np.float32),
                         np.zeros((1, 3), np.float32)], vocab, {"rounds_done": r}, run_id="dd")
    fs = fsspec.filesystem("memory")
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls("/robust-ck/run", detail=False)) == [
        "ckpt-00000006-dd", "ckpt-00000009-dd"]
    fs.rm("/robust-ck/run/ckpt-00000009-dd/COMMIT")  # as if the writer died before the marker
    got = ckpt.latest(url)
    assert got.state["rounds_done"] == 6 and float(got.mats[0][1, 2]) == 6.0
    fs.rm("/robust-ck", recursive=True)


def test_a_failing_task_is_raised_not_retried(good_text, inproc, monkeypatch):
    """Only lost workers are survived: a task's own error (here a bug) is raised as it is (a retried
    one would end as W2VError 'giving up after N failures')."""
    from w2v_dist.training import worker

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug in a round")

    monkeypatch.setattr(worker, "train_round", broken)
    with pytest.raises(ZeroDivisionError, match="bug in a round"):
        train_vectors(inproc, [str(good_text / "a.txt")], Config(**FAST), progress=False)


def test_worker_list_survives_the_clients_periodic_refresh(inproc):
    """distributed's client refreshes its cached scheduler info every few seconds without the
    per-worker entries; read between such a refresh and the next full one, every worker looked
    lost (a benchmark under load gave up after max_failures).  The driver asks the scheduler."""
    from w2v_dist.cluster import cluster_workers
    from w2v_dist.training import driver

    inproc.sync(inproc._update_scheduler_info)  # what the periodic callback does
    assert len(cluster_workers(inproc)) == 2 == len(driver._alive(inproc))
    assert all(w["nthreads"] == 1 for w in cluster_workers(inproc).values())
