"""The exchange of a round's rows as files in shared memory (training/shm.py) trains exactly what
the exchange through Dask trains, falls back to Dask for workers that cannot see the folder, and
leaves no file behind."""

import os

import numpy as np
import pytest

import w2v_dist
from w2v_dist.cluster import dask_client
from w2v_dist.training import shm

FAST = dict(sg=1, replicas="worker", epochs=2, vector_size=16, sync_every=4_000, solo_round=0, min_count=3, seed=4)


@pytest.fixture(scope="module")
def text(small_corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("shm")
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    (d / "a.txt").write_text("\n".join(lines[:2500]) + "\n", encoding="utf-8")
    return [str(d / "a.txt")]


@pytest.mark.parametrize("overlap", [False, True])
def test_files_train_what_dask_trains(text, overlap, job_folders):
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        by_file = w2v_dist.train(text, client=client, exchange="auto", overlap=overlap, **FAST)
        by_dask = w2v_dist.train(text, client=client, exchange="dask", overlap=overlap, **FAST)
    a, b = by_file.metrics, by_dask.metrics
    assert {s["workers_by_file"] for s in a["round_stats"]} == {2}
    assert {s["workers_by_file"] for s in b["round_stats"]} == {0}
    assert a["rounds"] == b["rounds"] > 4 and a["loss"] == b["loss"]
    assert [s["bytes_to_driver"] for s in a["round_stats"]] == [s["bytes_to_driver"] for s in b["round_stats"]]
    np.testing.assert_array_equal(by_file.wv.vectors, by_dask.wv.vectors)
    assert job_folders and not any(os.path.exists(f) for f in job_folders)  # the job's folder is gone


def test_a_worker_that_cannot_see_the_folder_goes_through_dask(text, monkeypatch):
    def probe(folder, token):  # (pickled by value: runs on the worker)
        from distributed import get_worker

        return get_worker().name == 0  # one worker sees the folder, the other does not

    monkeypatch.setattr(shm, "probe", probe)
    with dask_client(workers=2, threads_per_worker=1, processes=False) as client:
        mixed = w2v_dist.train(text, client=client, **FAST)
        by_dask = w2v_dist.train(text, client=client, exchange="dask", **FAST)
    assert {s["workers_by_file"] for s in mixed.metrics["round_stats"]} == {1}
    np.testing.assert_array_equal(mixed.wv.vectors, by_dask.wv.vectors)


def test_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((50, 4)).astype(np.float32), rng.standard_normal((1, 4)).astype(np.float32)]
    rows = [np.array([3, 7, 49], np.int64), np.zeros(0, np.int64)]
    f = shm.write_rows(str(tmp_path / "u"), mats, rows)
    got = shm.read(f)
    np.testing.assert_array_equal(got[0], rows[0])
    np.testing.assert_array_equal(got[1], mats[0][rows[0]])
    assert got[2].size == 0 and got[3].shape == (0, 4) and got[3].dtype == np.float32
    assert len(f.paths) == 4 and all(os.path.getsize(p) > 0 for p in f.paths)
    shm.remove(f)
    assert not any(os.path.exists(p) for p in f.paths)
    folder, token = shm.create("test-job")
    assert shm.probe(folder, token) and not shm.probe(folder, "other") and not shm.probe(str(tmp_path / "no"), token)
    shm.drop(folder)
    assert not os.path.exists(folder)


def test_row_kernels_against_numpy():
    """The worker's one-pass row kernels equal numpy's fancy indexing (values mapped read-only too)."""
    from w2v_dist.training.worker import _set_rows, _take_deltas

    rng = np.random.default_rng(3)
    m = rng.standard_normal((40, 6)).astype(np.float32)
    b = rng.standard_normal((40, 6)).astype(np.float32)
    rows = np.array([0, 5, 6, 39], np.int64)
    want_d, want_b = m[rows] - b[rows], b.copy()
    want_b[rows] = m[rows]
    d = np.empty((4, 6), np.float32)
    _take_deltas(m, b, rows, d)
    np.testing.assert_array_equal(d, want_d)
    np.testing.assert_array_equal(b, want_b)
    vals = rng.standard_normal((4, 6)).astype(np.float32)
    vals.setflags(write=False)
    m2, b2 = m.copy(), b.copy()
    _set_rows(m2, b2, rows, vals, True)
    wm, wb = m.copy(), b.copy()
    wm[rows], wb[rows] = vals, vals
    np.testing.assert_array_equal(m2, wm)
    np.testing.assert_array_equal(b2, wb)
    m3 = m.copy()
    _set_rows(m3, m3, rows, vals, False)
    np.testing.assert_array_equal(m3, wm)
