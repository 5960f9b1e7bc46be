"""Streaming memory: a round's futures (and so its results on the workers) are released as soon as
the driver drops them, not when its cyclic garbage collector happens to run.

The cyclic collector is disabled in these tests, so that only reference counting frees objects:
a reference cycle holding futures (as ``distributed.wait(timeout=...)``'s TimeoutError made one)
then keeps their keys alive and the tests fail.
"""

import gc
from contextlib import contextmanager

import pytest

from w2v_dist.cluster import dask_client
from w2v_dist.config import Config
from w2v_dist.training import driver
from w2v_dist.training.driver import train_vectors


@contextmanager
def no_cyclic_gc():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2, threads_per_worker=1, processes=False) as c:
        yield c


def test_worker_holds_one_round_of_results(client, tmp_path, small_corpus, monkeypatch):
    """After each of many rounds, every worker holds the results of at most the last round or two
    (the last until the driver drops its futures; the one before for as long as the release
    messages take), however many rounds ran before."""
    monkeypatch.setattr(driver, "_POLL_SECONDS", 0.01)  # every round is polled several times
    (tmp_path / "c.txt").write_text("\n".join(small_corpus.read_text(encoding="utf-8").splitlines()[:4000]) + "\n",
                                    encoding="utf-8")
    held = []

    def on_round(stats):
        per_worker = client.run(lambda dask_worker: sorted(
            {str(k).split("-")[3] for k in dask_worker.data if str(k).startswith("w2v-round-")}))
        held.append(max(len(v) for v in per_worker.values()))

    cfg = Config(sg=0, replicas="worker", epochs=1, vector_size=16, sync_every=2_000, min_count=3, seed=3)
    with no_cyclic_gc():
        res = train_vectors(client, [str(tmp_path / "c.txt")], cfg, progress=False, on_round=on_round)
    assert res.metrics["rounds"] >= 10 and len(held) == res.metrics["rounds"]
    assert max(held) <= 2, held
