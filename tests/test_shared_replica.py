"""``replicas = "host"``: workers on the driver's machine train one replica in shared memory.

The matrices are files in ``/dev/shm`` mapped read-write by every worker process; the rounds then
merge nothing and ship no rows.  Checked here: the same training as one worker when the second
worker has nothing to train (so the shared path runs the same kernels, rates and seeds); the
updates of two worker *processes* meeting in one model; a killed worker process; the fallback to
one replica per worker when a worker cannot see the folder; no file left behind.
"""

import gzip
import os

import numpy as np
import pytest

import w2v_dist
from w2v_dist.cluster import dask_client
from w2v_dist.config import Config
from w2v_dist.training import shm
from w2v_dist.training.driver import initial_weights, train_vectors

from test_robust import _Stop, _kill_soon  # tests/ is on sys.path

# each worker trains the shards it read (not dealt out, not balanced): which worker trains what is the test
FAST = dict(sg=1, epochs=2, vector_size=16, sync_every=4_000, solo_round=0, min_count=3, seed=4, balance=False,
            deal=False)


def _gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def one_gz(small_corpus, tmp_path_factory):
    """One gzip shard (not split by bytes): with 2 workers, the second has nothing to train."""
    lines = small_corpus.read_text(encoding="utf-8").splitlines()[:2500]
    return [_gz(tmp_path_factory.mktemp("shared") / "a.txt.gz", lines)]


@pytest.fixture(scope="module")
def disjoint(tmp_path_factory):
    """Two gzip shards of the same size whose vocabularies do not meet: a0..a39 and b0..b39."""
    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("disjoint")
    out = []
    for name in "ab":
        lines = [" ".join(f"{name}{w}" for w in rng.integers(0, 40, 12)) for _ in range(1500)]
        out.append(_gz(d / f"{name}.txt.gz", lines))
    return out


def test_an_idle_second_worker_trains_what_one_worker_trains(one_gz, job_folders):
    """Worker 0 trains the only shard on the shared matrices, worker 1 nothing: bit for bit the
    one-worker run (same rounds, learning rates and seeds), with no bytes exchanged."""
    with dask_client(workers=1, threads_per_worker=1, processes=False) as client:
        solo = w2v_dist.train(one_gz, client=client, **FAST)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        host = w2v_dist.train(one_gz, client=client, replicas="host", **FAST)
    m = host.metrics
    assert m["shared_replica"] and not solo.metrics["shared_replica"]
    assert m["replica_words"][1] == 0 and m["rounds"] == solo.metrics["rounds"] > 4
    assert {s["bytes_to_driver"] for s in m["round_stats"]} == {0} == {s["bytes_from_driver"] for s in m["round_stats"]}
    assert m["loss"] == solo.metrics["loss"]
    np.testing.assert_array_equal(host.wv.vectors, solo.wv.vectors)
    np.testing.assert_array_equal(host.syn1neg, solo.syn1neg)
    assert job_folders and not any(os.path.exists(f) for f in job_folders)  # the shared matrices went with the job


def test_two_worker_processes_train_one_model(disjoint):
    """Each worker process trains the shard of one vocabulary half; the model the driver gets holds
    both halves' training, so both processes wrote to the same matrices (one replica each, never
    merged, would leave one half at its initial values)."""
    with dask_client(workers=2, threads_per_worker=1, processes=True) as client:
        res = w2v_dist.train(disjoint, client=client, replicas="host", **FAST)
    m = res.metrics
    assert m["shared_replica"] and m["workers"] == 2 and min(m["replica_words"]) > 0
    assert sum(s["raw_words"] for s in m["round_stats"]) == FAST["epochs"] * m["train_words"]
    words = np.array(res.vocab.words)
    init = initial_weights(len(words), FAST["vector_size"], FAST["seed"])[0]
    moved = np.abs(res.wv.vectors - init).max(axis=1) > 1e-3
    out_moved = np.abs(res.syn1neg).max(axis=1) > 1e-3
    for half in "ab":
        rows = np.char.startswith(words.astype(str), half)
        assert rows.sum() == 40 and moved[rows].all() and out_moved[rows].all(), half


def test_killed_worker_process_the_shared_run_completes(disjoint):
    """A worker process killed mid-run: the run goes back to its start (the shared replica was the
    model, as one worker's is), writes the matrices again and ends having trained every epoch."""
    with dask_client(workers=2, threads_per_worker=1, processes=True) as client:
        victim = sorted(client.scheduler_info()["workers"])[-1]
        killed = []

        def on_round(stats):
            if stats["round"] == 1 and not killed:  # early: 17 rounds of 2,000 words a worker remain
                killed.append(victim)
                _kill_soon(client, victim, delay=0.0)

        cfg = Config(replicas="host", **dict(FAST, sync_every=2_000))
        res = train_vectors(client, disjoint, cfg, progress=False, on_round=on_round)
    m = res.metrics
    assert killed and m["recovered_failures"] >= 1 and m["shared_replica"]
    assert [s["round"] for s in m["round_stats"]] == list(range(m["rounds"]))  # the rounds since the start again
    assert sum(s["raw_words"] for s in m["round_stats"]) == FAST["epochs"] * m["train_words"]
    assert np.isfinite(res.wv.vectors).all() and np.abs(res.syn1neg).max() > 1e-3


def test_a_worker_that_cannot_see_the_folder_means_one_replica_each(one_gz, monkeypatch):
    def probe(folder, token):  # (pickled by value: runs on the worker)
        from distributed import get_worker

        return get_worker().name == 0

    monkeypatch.setattr(shm, "probe", probe)
    cfg = dict(FAST, balance=True)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        host = w2v_dist.train(one_gz, client=client, replicas="host", **cfg)
        each = w2v_dist.train(one_gz, client=client, replicas="worker", exchange="dask", **cfg)
    assert not host.metrics["shared_replica"] and not each.metrics["shared_replica"]
    assert {s["workers_by_file"] for s in host.metrics["round_stats"]} == {1}
    np.testing.assert_array_equal(host.wv.vectors, each.wv.vectors)


def test_merged_replicas_of_replicas_host_are_dealt_in_rounds_of_merged_replicas(one_gz, monkeypatch):
    """replicas="host" with a worker that cannot see the folder (another machine): the replicas are
    merged, so the corpus is dealt out in stretches of a merged round (``sync_every`` words a
    worker), as with replicas="worker", not in the long stretches of a shared replica
    (``solo_round``), and both train the same vectors."""
    def probe(folder, token):  # (pickled by value: runs on the worker)
        from distributed import get_worker

        return get_worker().name == 0

    monkeypatch.setattr(shm, "probe", probe)
    cfg = dict(FAST, deal=True, solo_round=100_000)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        res = w2v_dist.train(one_gz, client=client, replicas="host", **cfg)
        each = w2v_dist.train(one_gz, client=client, replicas="worker", exchange="dask", **cfg)
    host = res.metrics
    assert not host["shared_replica"] and host["rounds_per_epoch"] == each.metrics["rounds_per_epoch"]
    assert host["dealt_stretches"] == host["rounds_per_epoch"] == each.metrics["dealt_stretches"] > 2
    assert host["replica_words"] == each.metrics["replica_words"]
    assert [s["words"] for s in host["round_stats"]] == [s["words"] for s in each.metrics["round_stats"]]
    np.testing.assert_array_equal(res.wv.vectors, each.wv.vectors)


def test_checkpoints_of_the_shared_replica_resume_to_the_uninterrupted_result(one_gz, tmp_path):
    """Checkpoints read the model from the shared files; a run stopped after round 5 and resumed
    from the checkpoint of round 4 ends with the uninterrupted run's vectors (the second worker is
    idle, so the runs are deterministic)."""
    from w2v_dist.training import checkpoint as ckpt

    cfg = dict(FAST, replicas="host", checkpoint_every=4)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        clean = w2v_dist.train(one_gz, client=client, output=str(tmp_path / "clean"), **cfg)

        def stop(stats):
            if stats["round"] == 4:
                raise _Stop

        out = tmp_path / "model"
        with pytest.raises(_Stop):
            train_vectors(client, one_gz, Config(**cfg), progress=False, on_round=stop,
                          checkpoint_url=str(out / "_checkpoint"))
        assert ckpt.latest(str(out / "_checkpoint")).state["rounds_done"] == 4
        res = w2v_dist.train(one_gz, client=client, output=str(out), resume=True, **cfg)
    m, c = res.metrics, clean.metrics
    assert m["shared_replica"] and c["checkpoints_written"] >= 2
    assert m["resumed_from_round"] == 4 and m["rounds"] == c["rounds"] > 8
    assert np.abs(res.syn1neg).max() > 1e-3  # trained
    np.testing.assert_array_equal(res.wv.vectors, clean.wv.vectors)
