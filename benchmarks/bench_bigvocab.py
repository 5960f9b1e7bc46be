"""A vocabulary too large for the driver: 2 million words x 300 dimensions, partitioned central copy.

A synthetic Zipf corpus (every one of ``--vocab`` words at least once, so ``min_count=1`` keeps
them all, plus ``--zipf-tokens`` tokens drawn from a Zipf(1) law over the same words, shuffled,
20 tokens a sentence) is written as gzip text shards into a temporary folder; then a LocalCluster
of ``--workers`` worker processes x 1 thread trains on it with the central copy partitioned across
the workers (``central_partition_bytes``, default 1 GiB, is far below 2 x 2.4 GB), and writes the
output folder (``--no-output`` skips it).  Reported: the driver process's peak RSS (this process
alone, not its children; psutil every 0.1 s) during training and during output writing, each
worker's peak RSS, the lowest available system memory seen, rounds completed, bytes per round,
seconds per stage.

Memory of a worker: its replica (syn0 + syn1neg, 2 x V x D x 4 bytes) plus its range of the
central copy (1/K of that) plus one round's changed rows.  A guard stops the run when the
machine's available memory falls below ``--min-available-gb``.

Run: ``python benchmarks/bench_bigvocab.py`` (prints one ``RESULT {json}`` line).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_corpus(folder: Path, vocab: int, zipf_tokens: int, shards: int, seed: int, sentence: int = 20) -> int:
    """Gzip text shards of the synthetic corpus; returns the number of tokens."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    cum = np.cumsum(1.0 / ranks)
    cum /= cum[-1]
    ids = np.concatenate([np.arange(vocab, dtype=np.int64),
                          np.searchsorted(cum, rng.random(zipf_tokens), "right").clip(0, vocab - 1)])
    rng.shuffle(ids)
    n = ids.size
    per = -(-n // shards)
    for s in range(shards):
        chunk = ids[s * per:(s + 1) * per]
        words = pc.binary_join_element_wise("w", pc.cast(pa.array(chunk), pa.string()), "")
        m = chunk.size
        offsets = pa.array(np.append(np.arange(0, m, sentence, dtype=np.int32), np.int32(m)))
        lines = pc.binary_join(pa.ListArray.from_arrays(offsets, words), " ")
        with gzip.open(folder / f"part-{s:03d}.txt.gz", "wt", encoding="utf-8", compresslevel=1) as fh:
            fh.write("\n".join(lines.to_pylist()))
            fh.write("\n")
    return int(n)


class Sampler:
    """Peak RSS of given processes (and the lowest available system memory), every ``period`` s."""

    def __init__(self, period: float = 0.1, min_available: float = 0.0, on_low=None):
        self.period = period
        self.procs: dict[str, psutil.Process] = {"driver": psutil.Process(os.getpid())}
        self.peak: dict[str, int] = {}
        self.phase_peak: dict[str, int] = {}
        self.phase = "setup"
        self.min_available = None
        self.limit = min_available
        self.on_low = on_low
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def add(self, name: str, pid: int) -> None:
        self.procs[name] = psutil.Process(pid)

    def _run(self):
        while not self._stop.is_set():
            for name, p in list(self.procs.items()):
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0), rss)
                if name == "driver":
                    self.phase_peak[self.phase] = max(self.phase_peak.get(self.phase, 0), rss)
            avail = psutil.virtual_memory().available
            self.min_available = avail if self.min_available is None else min(self.min_available, avail)
            if self.on_low is not None and avail < self.limit:
                self.on_low(avail)
                self.on_low = None
            self._stop.wait(self.period)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join()


def tables_only(vocab: int) -> dict:
    """Huffman tree and sampling tables of a Zipf(1) count profile over ``vocab`` words, on this
    process alone: seconds, array sizes and the peak RSS (what the driver adds for ``hs=1``)."""
    import resource

    from w2v_dist.kernels.huffman import build_huffman
    from w2v_dist.vocab import keep_probabilities, noise_cum_table

    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    counts = np.maximum(1, 3e9 / ranks / np.log(vocab)).astype(np.int64)  # ~3e9 tokens
    before = psutil.Process(os.getpid()).memory_info().rss
    t = time.perf_counter()
    points, codes, codelens = build_huffman(counts)
    out = {"huffman_seconds": time.perf_counter() - t, "max_code_length": int(codelens.max()),
           "huffman_arrays_mib": (points.nbytes + codes.nbytes + codelens.nbytes) / 2**20}
    t = time.perf_counter()
    keep_probabilities(counts, 1e-3)
    noise_cum_table(counts, 0.75)
    out.update(tables_seconds=time.perf_counter() - t, rss_before_mib=before / 2**20,
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=2_000_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--zipf-tokens", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sync-every", type=int, default=100_000)
    ap.add_argument("--sg", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--central-partition-bytes", type=int, default=2**30)
    ap.add_argument("--checkpoint-every", type=int, default=0, help="also write checkpoints by range every N rounds")
    ap.add_argument("--no-output", action="store_true", help="train only: do not write the output folder")
    ap.add_argument("--min-available-gb", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tables-only", action="store_true", help="only time the Huffman tree and tables of --vocab words")
    args = ap.parse_args(argv)
    if args.tables_only:
        print("RESULT " + json.dumps(tables_only(args.vocab)))
        return 0

    import dask

    import w2v_dist
    from w2v_dist.cluster import dask_client

    out: dict = {"params": vars(args), "cpu_count": os.cpu_count(),
                 "machine_memory_gb": psutil.virtual_memory().total / 2**30}
    with tempfile.TemporaryDirectory(prefix="w2v-bigvocab-") as tmp:
        tmp = Path(tmp)
        (tmp / "corpus").mkdir()
        t = time.perf_counter()
        out["tokens"] = write_corpus(tmp / "corpus", args.vocab, args.zipf_tokens, args.shards, args.seed)
        out["corpus_seconds"] = time.perf_counter() - t
        low = {}

        def on_low(avail):
            low["available_gb"] = avail / 2**30
            print(f"available memory {avail / 2**30:.2f} GiB: stopping", file=sys.stderr, flush=True)
            os._exit(3)  # the children (nannies) die with us

        sampler = Sampler(min_available=args.min_available_gb * 2**30, on_low=on_low).start()
        # no memory limits on the workers: a paused worker would stall the run (the guard above stops it)
        with dask.config.set({"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                              "distributed.worker.memory.pause": False,
                              "distributed.worker.memory.terminate": False}):
            with dask_client(workers=args.workers, threads_per_worker=1, processes=True) as client:
                for addr, pid in client.run(os.getpid).items():
                    sampler.add(f"worker {addr}", pid)
                stats_log = []

                def on_round(s):
                    stats_log.append(s)
                    print(f"round {s['round']}: {s['seconds']:.1f} s, driver rss "
                          f"{sampler.procs['driver'].memory_info().rss / 2**20:.0f} MiB", file=sys.stderr, flush=True)

                sampler.phase = "train"
                t = time.perf_counter()
                config = w2v_dist.Config(vector_size=args.dim, min_count=1, sg=args.sg, epochs=args.epochs,
                                         sync_every=args.sync_every, workers=args.workers, seed=args.seed,
                                         central_partition_bytes=args.central_partition_bytes,
                                         checkpoint_every=args.checkpoint_every,
                                         checkpoint=str(tmp / "ckpt") if args.checkpoint_every else None)
                from w2v_dist.training.driver import train_vectors

                result = train_vectors(client, [str(tmp / "corpus" / "*.txt.gz")], config, progress=False,
                                       on_round=on_round)
                out["train_wall_seconds"] = time.perf_counter() - t
                if not args.no_output:
                    from w2v_dist.api import _finish_partitioned

                    sampler.phase = "output"
                    t = time.perf_counter()
                    _finish_partitioned(result, config, str(tmp / "out"), None, False)
                    out["output_seconds"] = time.perf_counter() - t
                    out["output_bytes"] = {p.name: p.stat().st_size for p in (tmp / "out").iterdir()}
                    sampler.phase = "after"
                elif result.central is not None:
                    result.central.close()
        sampler.stop()
    m = result.metrics
    out.update(
        vocab_size=m["vocab_size"], rounds=m["rounds"], rounds_per_epoch=m["rounds_per_epoch"],
        central=m["central"], stage_seconds=m["stage_seconds"], train_seconds=m["train_seconds"],
        effective_words=m["effective_words"],
        round_stats=[{k: s.get(k) for k in ("round", "seconds", "compute_seconds", "merge_seconds", "bytes_to_owners",
                                             "bytes_from_owners", "bytes_between_workers", "changed_rows",
                                             "bytes_to_driver", "bytes_from_driver")} for s in m["round_stats"]],
        driver_peak_rss_mib=sampler.peak["driver"] / 2**20,
        driver_peak_rss_mib_by_phase={k: v / 2**20 for k, v in sampler.phase_peak.items()},
        worker_peak_rss_mib={k: v / 2**20 for k, v in sampler.peak.items() if k != "driver"},
        min_available_gib=(sampler.min_available or 0) / 2**30,
    )
    print("RESULT " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
