"""Model of w2v-dist's throughput at many workers, from the rounds of a measured run.

Reads the per-round statistics that a run wrote to ``metrics.json`` (``round_stats``: words,
``compute_seconds`` (the slowest worker's kernel time), ``merge_seconds`` (the driver's merge),
``seconds`` (the whole round), ``effective_words``, ``bytes_to_driver`` and ``bytes_from_driver`` (all workers)), takes
their medians, and extrapolates one round to K workers on a network of a given bandwidth, for the
two places the central copy can live:

``central``
    The driver holds the central copy (the default below ``central_partition_bytes``). Each round
    the driver receives every worker's changed rows and sends every worker the merged rows, and
    merges K contributions, so its link, its serialisation and its merge grow linearly in K::

        round(K) = C + M * K / K0 + K * (u + d) * max(1 / B, s) + K * t_task * 2

``partitioned``
    The central copy is cut into K row ranges, one per worker (an all-to-all exchange: each
    worker sends its changed rows to their owners and receives the merged rows back; each owner
    merges K contributions to its V / K rows, about one replica's worth)::

        round(K) = C + M / K0 + 2 * (u + d) * max(1 / B, s) + K * K * t_task / n_sched

where C is the measured compute per round (constant in K: each worker trains ``sync_every``
words), M the measured merge of the K0 measured replicas, u and d the measured bytes per worker
per round up and down, B the network bandwidth (bytes/s), s the measured per-byte cost of moving
rows through Dask on the measured machine (the round time that is neither compute nor merge,
divided by the bytes moved; it is pickling, copying and loopback TCP), and t_task the scheduler's
overhead per task (Dask documents "around 1ms of overhead" per task,
https://docs.dask.org/en/stable/best-practices.html; ``--task-ms``), with the K^2 exchange tasks
spread over n_sched = 1 scheduler. ``direct`` is ``partitioned`` with the exchange sent worker to
worker (long-lived receivers, e.g. Dask actors or ``distributed`` comms) instead of K^2 tasks, so
only the train and merge tasks pass the scheduler. Throughput is K * effective words (after subsampling, as gensim counts them) per worker per round / round(K).

It is a model, not a measurement: it assumes full bisection bandwidth, that the rows a worker
changes per round do not depend on K (they depend on its slice), and no stragglers.

Usage::

    python benchmarks/throughput_model.py RUN/metrics.json [--gbits 10] [--workers 2 8 16 64]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def round_medians(metrics: dict) -> dict:
    """Median per-round figures of a run's ``metrics.json`` (seconds, bytes per worker, words per worker).

    Raises
    ------
    ValueError
        If the run has no ``round_stats`` or ran with one worker (nothing was exchanged).
    """
    rs = metrics.get("round_stats") or []
    k0 = int(metrics.get("workers", 0))
    if not rs or k0 < 2:
        raise ValueError("need the metrics.json of a run with at least 2 workers and round_stats")

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in rs))

    up, down = med("bytes_to_driver") / k0, med("bytes_from_driver") / k0
    rest = max(0.0, med("seconds") - med("compute_seconds") - med("merge_seconds"))
    return {"K0": k0, "words": med("effective_words") / k0, "C": med("compute_seconds"), "M": med("merge_seconds"),
            "T": med("seconds"), "u": up, "d": down, "s": rest / (k0 * (up + down)), "rounds": len(rs)}


def model(m: dict, k: int, bandwidth: float, task_seconds: float, where: str) -> dict:
    """One modelled round at ``k`` workers: ``seconds``, ``overhead`` (fraction not in kernels), ``words_per_second``."""
    per_byte = max(1.0 / bandwidth, m["s"])
    if where == "central":
        t = m["C"] + m["M"] * k / m["K0"] + k * (m["u"] + m["d"]) * per_byte + 2 * k * task_seconds
    elif where == "partitioned":
        t = m["C"] + m["M"] / m["K0"] + 2 * (m["u"] + m["d"]) * per_byte + k * k * task_seconds
    else:  # "direct": partitioned, the exchange as worker-to-worker messages, 2 tasks per worker per round
        t = m["C"] + m["M"] / m["K0"] + 2 * (m["u"] + m["d"]) * per_byte + 2 * task_seconds
    return {"seconds": t, "overhead": 1.0 - m["C"] / t, "words_per_second": k * m["words"] / t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="+", help="metrics.json of runs with >= 2 workers")
    ap.add_argument("--gbits", type=float, default=10.0, help="network bandwidth, Gb/s")
    ap.add_argument("--task-ms", type=float, default=1.0, help="scheduler overhead per task, ms")
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 8, 16, 64])
    args = ap.parse_args()
    bw = args.gbits * 1e9 / 8
    for path in args.metrics:
        mt = json.loads(Path(path).read_text())
        m = round_medians(mt)
        cfg = mt.get("config", {})
        print(f"\n{path}: sg={cfg.get('sg')} hs={cfg.get('hs')} negative={cfg.get('negative')} "
              f"shared_negatives={cfg.get('shared_negatives', 0)} sync_every={cfg.get('sync_every')}; "
              f"measured at K0={m['K0']} (median of {m['rounds']} rounds): round {m['T']:.3f} s, compute {m['C']:.3f} s, "
              f"merge {m['M']:.3f} s, {m['u'] / 1e6:.1f} MB up + {m['d'] / 1e6:.1f} MB down per worker, "
              f"{m['s'] * 1e9:.2f} ns per byte moved; {m['words']:,.0f} effective words (after subsampling) per worker per round; "
              f"{args.gbits:g} Gb/s, {args.task_ms:g} ms per task\n")
        print("| workers | central: round s | overhead | words/s | partitioned: round s | overhead | words/s "
              "| direct: round s | overhead | words/s |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for k in args.workers:
            cells = [f"{k}"]
            for where in ("central", "partitioned", "direct"):
                r = model(m, k, bw, args.task_ms / 1e3, where)
                cells += [f"{r['seconds']:.2f}", f"{100 * r['overhead']:.0f}%", f"{r['words_per_second']:,.0f}"]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
