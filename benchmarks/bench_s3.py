"""Preprocessing time reading a corpus from an S3 server vs from local disk.

    python benchmarks/bench_s3.py                          # whole shared corpus (12 gzip shards)
    python benchmarks/bench_s3.py --inputs 'data/demo/*.txt.gz' --repeats 1

Starts moto's S3 server (``moto.server.ThreadedMotoServer``) on a free loopback port, uploads the
shards to a bucket, and runs the same job twice per repeat, alternating local and s3:// inputs, on
one LocalCluster (default shape: 1 worker x all cores), after one unreported warm-up run.  Prints ``metrics['stage_seconds']`` of
each run: ``discover`` (listing), ``vocab`` (read + tokenize + count), ``encode`` (read + tokenize +
encode again, on the training worker), and their sum, the preprocessing time.  Training is one
CBOW epoch with small vectors only to finish the job (its time is printed but is not the point).

Caveat: moto serves from memory in Python threads of this process, so its throughput is bounded by
one Python process, not by a network; a real object store adds latency and bandwidth limits.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("W2V_SHARED", ROOT.parent / "shared"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", default=str(SHARED / "corpora" / "real-en" / "text" / "*.txt.gz"))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)

    import s3fs
    from moto.server import ThreadedMotoServer

    import w2v_dist
    from w2v_dist.cluster import cluster_workers, dask_client

    files = sorted(glob.glob(args.inputs))
    if not files:
        print(f"no files match {args.inputs}", file=sys.stderr)
        return 2
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    so = {"endpoint_url": f"http://{host}:{port}", "key": "bench", "secret": "bench"}
    try:
        fs = s3fs.S3FileSystem(**so)
        fs.mkdir("w2v-bench")
        t = time.perf_counter()
        total = 0
        for f in files:
            fs.put_file(f, f"w2v-bench/corpus/{os.path.basename(f)}")
            total += os.path.getsize(f)
        upload = time.perf_counter() - t
        ext = "".join(Path(files[0]).suffixes)
        print(f"{len(files)} files, {total / 2**20:.1f} MiB, uploaded in {upload:.1f} s")
        sources = {"local": [args.inputs], "s3": [f"s3://w2v-bench/corpus/*{ext}"]}
        rows = []
        with dask_client() as client:
            info = cluster_workers(client)
            shape = f"{len(info)} worker x {sum(w['nthreads'] for w in info.values())} threads"
            # warm-up (not reported): compiles/loads the Numba kernels and fills the page cache
            w2v_dist.train(sources["local"], client=client, sg=0, epochs=1, vector_size=50, seed=1)
            for rep in range(args.repeats):
                for name in (("local", "s3") if rep % 2 == 0 else ("s3", "local")):
                    res = w2v_dist.train(sources[name], client=client, storage_options=so if name == "s3" else None,
                                         sg=0, epochs=1, vector_size=50, seed=1)
                    st = res.metrics["stage_seconds"]
                    pre = st["discover"] + st["vocab"] + st["encode"]
                    rows.append((name, rep + 1, st["discover"], st["vocab"], st["encode"], pre, st["train"],
                                 res.metrics["corpus_words"]))
                    print(f"{name} repeat {rep + 1}: preprocessing {pre:.2f} s", file=sys.stderr, flush=True)
    finally:
        server.stop()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nLocalCluster {shape}; corpus {rows[0][7]:,} tokens; CBOW epochs=1 vector_size=50; "
          f"load average at the end {load} (1/5/15 min) on {os.cpu_count()} cores\n")
    print("| source | repeat | discover s | vocab s | encode s | preprocessing s | train s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, rep, d, v, e, pre, tr, _ in sorted(rows, key=lambda r: (r[0], r[1])):
        print(f"| {name} | {rep} | {d:.2f} | {v:.2f} | {e:.2f} | {pre:.2f} | {tr:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
