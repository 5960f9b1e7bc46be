"""Model of the synchronisation overhead of merged replicas with hot rows, at K workers on a network.

One round at K workers, with ``sync_total`` raw words a round for all workers together (the
default: each worker ``sync_total / K``, so the central copy sees the same progress between merges
at any K, which is what keeps quality; benchmarks/README.md, "Hot rows"):

    C(K)    = sync_total / (K * rate)                                  compute of one worker
    cold(K) = 2 * (u(K) + d) / B + 2 * t_task                          the round's cold rows, sent to
              u(K) = u0 * (W(K) / W0) ** beta                          their owners and back (worker
                                                                       to worker, as ``direct`` in
                                                                       throughput_model.py)
    hot(K)  = (n - 1) * max(0, x(K) - C(K) / n) + x(K)                 n hot exchanges a round, each
              x(K) = lat + 2 * K * h / B   (one actor)                 hidden behind the next slice's
              x(K) = 2 (K - 1) lat + 2 h (K - 1) / (K B)  (ring)       compute but the last
    round(K) = C(K) + cold(K) + hot(K);   overhead = 1 - C(K) / round(K)

``rate`` is one single-thread worker's raw words a second, ``u0`` and ``d`` a worker's cold bytes
up and down a round measured at ``W0`` words a worker, ``beta`` how the up bytes shrink with the
words a worker trains a round (fitted on the measured runs: the rows a replica changes grow slowly
with its words; the rows sent down, every row any replica changed, hardly change with K), ``h`` the
bytes of a worker's hot rows (``hot_rows x vector_size x 4 x`` matrices), ``lat`` one message's
latency, ``B`` the bandwidth.  ``one actor``: every change goes through the actor's link, so its
time grows with K; ``ring``: a ring all-reduce among the workers (not built), constant bytes per
worker, latency growing with K.

It is a model: full bisection bandwidth, no stragglers, kernels as fast as measured.  The defaults
are the figures measured on this machine at the defaults of 2026-12-07 (SG-NS, 8 workers, corpus
dealt out, ``sync_total`` 100,000, ``rare_every`` 8: benchmarks/README.md, "Dealt out, half the
round"); pass your own.

    python benchmarks/sync_model.py
    python benchmarks/sync_model.py --rate 450000 --gbits 10 --workers 2 8 16 64
"""

from __future__ import annotations

import argparse

from w2v_dist.training.hot import default_subrounds


def round_model(k: int, a: argparse.Namespace, where: str) -> dict:
    """One modelled round at ``k`` workers: seconds of compute, cold and hot exchange, and the overhead."""
    bw = a.gbits * 1e9 / 8
    words = a.sync_total / k
    C = words / a.rate
    u = a.up_mb * 1e6 * (words / a.measured_words) ** a.beta
    cold = 2 * (u + a.down_mb * 1e6) / bw + 2 * a.task_ms / 1e3
    h = a.hot_rows * a.vector_size * 4 * a.hot_matrices
    lat = a.latency_ms / 1e3
    if where == "actor":
        x = lat + 2 * k * h / bw
    else:
        x = 2 * (k - 1) * lat + 2 * h * (k - 1) / (k * bw)
    n = a.subrounds or default_subrounds(k)
    hot = (n - 1) * max(0.0, x - C / n) + x
    t = C + cold + hot
    return {"C": C, "cold": cold, "hot": hot, "x": x, "T": t, "overhead": 1 - C / t, "wps": k * words / t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 8, 16, 64])
    ap.add_argument("--gbits", type=float, default=10.0, help="network bandwidth, Gb/s")
    ap.add_argument("--latency-ms", type=float, default=0.1, help="one message's latency, ms")
    ap.add_argument("--task-ms", type=float, default=1.0, help="scheduler overhead per task, ms")
    ap.add_argument("--rate", type=float, default=340_000, help="raw words/s of one single-thread worker")
    ap.add_argument("--sync-total", type=float, default=100_000, help="raw words of all workers a round")
    ap.add_argument("--subrounds", type=int, default=0,
                    help="hot exchanges a round (0: the driver's default, 5 below 8 workers, 10 from 8)")
    ap.add_argument("--hot-rows", type=int, default=1000)
    ap.add_argument("--hot-matrices", type=int, default=2, help="syn0 and syn1neg")
    ap.add_argument("--vector-size", type=int, default=100)
    ap.add_argument("--up-mb", type=float, default=8.64, help="a worker's cold MB up a round, measured")
    ap.add_argument("--down-mb", type=float, default=9.96, help="a worker's cold MB down a round, measured")
    ap.add_argument("--measured-words", type=float, default=12_500, help="words a worker a round where --up-mb was measured")
    ap.add_argument("--beta", type=float, default=0.17, help="up bytes ~ (words a worker a round) ** beta")
    a = ap.parse_args()
    subrounds = a.subrounds or "the default (5 below 8 workers, 10 from 8)"
    print(f"{a.gbits:g} Gb/s, {a.latency_ms:g} ms a message, {a.task_ms:g} ms a task; {a.rate:,.0f} raw words/s a worker; "
          f"sync_total {a.sync_total:,.0f}; {subrounds} hot exchanges a round of {a.hot_rows} rows x "
          f"{a.vector_size} x {a.hot_matrices} matrices\n")
    print("| workers | words a worker a round | compute s | cold rows s | hot rows s (one actor) | overhead | words/s "
          "| hot rows s (ring) | overhead | words/s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in a.workers:
        r1, r2 = round_model(k, a, "actor"), round_model(k, a, "ring")
        print(f"| {k} | {a.sync_total / k:,.0f} | {r1['C']:.4f} | {r1['cold']:.4f} | {r1['hot']:.4f} | "
              f"{100 * r1['overhead']:.0f}% | {r1['wps']:,.0f} | {r2['hot']:.4f} | {100 * r2['overhead']:.0f}% | "
              f"{r2['wps']:,.0f} |")


if __name__ == "__main__":
    main()
