"""Where a round's time goes with 2 worker processes x 1 thread: one shared replica, or one each merged by file or Dask.

Trains each model once per ``--exchanges`` entry (give ``dask auto dask auto`` to interleave
repeats), on one LocalCluster: ``host`` is ``replicas=host`` (the workers train one replica in
shared memory, nothing is merged), ``auto`` and ``dask`` are ``replicas=worker`` with that
``exchange`` (rows by file in shared memory, or through Dask).  It prints the run's round overhead
(share of training time not spent in the kernels, ``round_overhead_fraction`` of metrics.json) and the medians over its rounds
(the first round left out: it compiles) of the round's seconds, the slower replica's kernel
seconds, the slower replica's whole task (applying the update, training, hot-row exchanges,
taking and writing its changes) and its applying of the update, the driver's merge seconds and
the bytes each way.

    python benchmarks/bench_overhead.py --models sg cbow --exchanges host auto dask host auto dask
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED  # noqa: E402

MODELS = {"sg": dict(sg=1, alpha=0.025), "cbow": dict(sg=0, alpha=0.05), "sg-hs": dict(sg=1, hs=1, negative=0),
          "cbow-hs": dict(sg=0, alpha=0.05, hs=1, negative=0)}


def main() -> None:
    import w2v_dist
    from w2v_dist.cluster import dask_client

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+",
                    default=[str(SHARED / f"corpora/real-en/text/shard-00{i}.txt.gz") for i in range(3)])
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=list(MODELS))
    ap.add_argument("--exchanges", nargs="+", default=["dask", "auto"], choices=["dask", "auto", "host"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a w2v-dist parameter for every run (e.g. hot_rows=0)")
    args = ap.parse_args()
    from bench_word2vec import parse_sets

    extra = parse_sets(args.set)
    print("| model | exchange | round overhead | round s | compute s | worker task s | applying the update s "
          "| merge s | MB to / from driver | hot-row exchanges a round | hot-row MB a round (sent) | hot-row wait s "
          "| words/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    with dask_client(workers=args.workers, threads_per_worker=1) as client:
        for model in args.models:
            for ex in args.exchanges:
                m = w2v_dist.train(args.inputs, client=client, epochs=args.epochs, compute_loss=0,
                                   exchange="auto" if ex == "host" else ex,
                                   replicas="host" if ex == "host" else "worker",
                                   seed=1, **{**MODELS[model], **extra}).metrics
                rs = m["round_stats"][1:] or m["round_stats"]

                def med(k):
                    return float(np.median([s[k] for s in rs]))

                print(f"| {model} | {ex} | {100 * m['round_overhead_fraction']:.1f}% | {med('seconds'):.3f} | "
                      f"{med('compute_seconds'):.3f} | {med('task_seconds'):.3f} | {med('apply_seconds'):.3f} | "
                      f"{med('merge_seconds'):.3f} | "
                      f"{med('bytes_to_driver') / 1e6:.1f} / {med('bytes_from_driver') / 1e6:.1f} | "
                      f"{med('hot_syncs') if 'hot_syncs' in rs[0] else 0:.0f} | "
                      f"{med('hot_bytes_sent') / 1e6 if 'hot_syncs' in rs[0] else 0:.1f} | "
                      f"{med('hot_wait_seconds') if 'hot_syncs' in rs[0] else 0:.3f} | "
                      f"{m['words_per_second']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
