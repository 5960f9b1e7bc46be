"""Preprocessing speed against gensim's build_vocab, and streaming memory on 1 and 10 corpus copies.

    python benchmarks/bench_preprocess.py                     # whole shared corpus: speed table
    python benchmarks/bench_preprocess.py --repeat 3 --old    # best of 3, and the two-read path too
    python benchmarks/bench_preprocess.py --memory            # peak RSS, 1 copy vs 10 copies, epochs=1

Speed.  The corpus is tokenized once by w2v-dist's tokenizer into a plain file (one sentence a
line, tokens joined by spaces; not timed) so that gensim's ``Word2Vec.build_vocab(corpus_file=...)``
(min_count=5, workers=2, the other parameters as bench_word2vec.py) counts exactly the tokens
w2v-dist counts.  w2v-dist's preprocessing runs on a LocalCluster of 2 workers x 1 thread from the
raw gzip shards: discover, the single read (read, tokenize and locally encode each shard on its
worker, sum the counts in a tree), the vocabulary, and the mapping to vocabulary ids into the
workers' disk cache, i.e. the tasks ``train_vectors`` runs (``w2v_dist.training.encoded``).  The
cluster start and a warm-up (loading the Numba kernels from their cache and building the per-code
point tables on each worker, once per worker process) are reported and not counted.  ``--old``
also times the previous path (``build_vocab`` then ``worker.encode_shard``: two reads).  Each tool
runs in its own process; CPU seconds are those of the process (gensim) or of the driver and the
worker processes (w2v-dist), so they can be compared on a loaded machine.  Both vocabularies
(words and counts) must be equal, else the script fails.

Memory (``--memory``).  Trains CBOW (epochs=1, 2 workers x 1 thread, ``sync_every=2,000,000``
and ``sample=1e-5`` by default so that the run is about reading and holding the corpus rather than
training) on the shards with min_count=5 and on 10 copies of them (symlinks with other names in a
temporary folder) with min_count=50, which selects exactly the same vocabulary (every count is 10
times larger), so the vocabulary-sized state is the same; each run in its own process; the resident memory of the driver process and of each worker process is sampled every
0.1 s and the peaks are printed with the ratio 10 copies / 1 copy (issue target: at most 1.3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, cpu_model, run_sampled, tokenize_to_file  # noqa: E402

DEFAULT_INPUTS = [str(SHARED / "corpora/real-en/text/*.txt.gz")]
TOK = {"lowercase": True, "max_sentence_length": 10000}


def _cpu(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def run_gensim(corpus_file: str, vocab_out: str) -> dict:
    from gensim.models import Word2Vec

    c0, t0 = time.process_time(), time.perf_counter()
    w2v = Word2Vec(workers=2, min_count=5, sample=1e-3, vector_size=100, window=5, negative=5)
    w2v.build_vocab(corpus_file=corpus_file)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    counts = {w: int(w2v.wv.get_vecattr(w, "count")) for w in w2v.wv.index_to_key}
    Path(vocab_out).write_text(json.dumps(counts))
    return {"wall": wall, "cpu": cpu, "vocab_size": len(counts), "corpus_words": int(w2v.corpus_total_words)}


def run_w2v(inputs: list[str], vocab_out: str, old: bool, repeat: int) -> dict:
    import uuid

    from w2v_dist.cluster import dask_client
    from w2v_dist.corpus import discover_shards
    from w2v_dist.corpus.fasttok import tokenize_encode
    from w2v_dist.training import encoded as E
    from w2v_dist.training import worker as W
    from w2v_dist.training.driver import _assign
    from w2v_dist.vocab import Vocab, build_vocab, merge_counts

    import pyarrow as pa

    t0 = time.perf_counter()
    with dask_client(workers=2, threads_per_worker=1) as client:
        start = time.perf_counter() - t0
        t0 = time.perf_counter()

        def warm():
            from w2v_dist.kernels import warmup

            warmup()
            tokenize_encode(pa.array(["Warm up, the Numba kernels’ cache."]))
            return os.getpid()

        pids = list(client.run(warm).values())
        warm_s = time.perf_counter() - t0
        workers = sorted(client.scheduler_info()["workers"])

        def cpu_now():
            return sum(_cpu(p) for p in pids) + time.process_time()

        runs = []
        for _ in range(repeat):
            job = uuid.uuid4().hex[:12]
            c0, t0 = cpu_now(), time.perf_counter()
            shards = discover_shards(inputs)
            t_disc = time.perf_counter() - t0
            owner = _assign([s.size for s in shards], workers)
            # as the driver's read_once: one task per worker thread (1 here) for its shards
            groups = [[i for i in range(len(shards)) if owner[i] == w] for w in workers]
            groups = [g for g in groups if g]
            on = [dict(workers=[owner[g[0]]], allow_other_workers=False, pure=False) for g in groups]
            pairs = [client.submit(E.encode_local_group, [shards[i] for i in g], None, TOK, "error", job, g, "disk",
                                   None, **on[j]) for j, g in enumerate(groups)]
            local = [client.submit(E.local_part, f, **on[j]) for j, f in enumerate(pairs)]
            level = [client.submit(E.local_table, f, **on[j]) for j, f in enumerate(pairs)]
            del pairs
            while len(level) > 1:
                level = [client.submit(merge_counts, level[i:i + 8], None, pure=False) for i in range(0, len(level), 8)]
            vocab = Vocab.from_counts(level[0].result(), min_count=5)
            t_vocab = time.perf_counter() - t0 - t_disc
            words = {w: client.scatter(vocab.words_array(), workers=[w], hash=False) for w in workers}
            parts = []
            for j, (g, f) in enumerate(zip(groups, local)):
                res = client.submit(E.finish_group, f, words[owner[g[0]]], job, g, "disk", **on[j])
                parts += [client.submit(E.group_item, res, i, **on[j]) for i in range(len(g))]
            n = sum(client.gather([client.submit(E.part_words, f, pure=False) for f in parts]))
            wall = time.perf_counter() - t0
            run = {"wall": wall, "cpu": cpu_now() - c0, "discover": t_disc, "vocab": t_vocab,
                   "encode": wall - t_disc - t_vocab, "words": n}
            del local, parts, level
            client.run(E.drop_cache, job)
            if old:
                c0, t0 = cpu_now(), time.perf_counter()
                shards = discover_shards(inputs)
                v2 = build_vocab(shards, client=client, min_count=5)
                t_v = time.perf_counter() - t0
                wf = client.scatter(v2.words_array(), broadcast=True)
                futs = [client.submit(W.encode_shard, s, None, wf, TOK, pure=False) for s in shards]
                n2 = sum(client.gather([client.submit(W.partition_words, f) for f in futs]))
                run.update(old_wall=time.perf_counter() - t0, old_cpu=cpu_now() - c0, old_vocab=t_v,
                           old_same=(v2.words == vocab.words and (v2.counts == vocab.counts).all() and n2 == n))
                del futs, wf
            runs.append(run)
    Path(vocab_out).write_text(json.dumps(dict(zip(vocab.words, map(int, vocab.counts)))))
    best = min(runs, key=lambda r: r["wall"])
    return {**best, "runs": runs, "cluster_start": start, "warmup": warm_s, "vocab_size": len(vocab),
            "corpus_words": vocab.corpus_words}


def train_child(inputs: list[str], out: str, sync_every: int, min_count: int, sample: float) -> dict:
    import w2v_dist
    from w2v_dist.cluster import dask_client

    with dask_client(workers=2, threads_per_worker=1) as client:
        res = w2v_dist.train(inputs, client=client, output=out, overwrite=True, sg=0, alpha=0.05, epochs=1,
                             min_count=min_count, sample=sample, sync_every=sync_every, progress=False)
    m = res.metrics
    return {"corpus_words": m["corpus_words"], "stage_seconds": m["stage_seconds"], "train_words": m["train_words"],
            "vocab_size": m["vocab_size"], "effective_words": m["effective_words"], "rounds": m["rounds"]}


def child_cmd(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def run_child(cmd: list[str], sample_tree: bool = False) -> tuple[dict, dict]:
    """Run a child printing ``RESULT {json}``; peak RSS (MiB) of it and of each child process."""
    import psutil

    peaks: dict[int, float] = {}
    timeline: list = []
    t_start = time.perf_counter()
    names: dict[int, str] = {}
    root_pid: list[int] = []

    def sample(root) -> None:
        if not root_pid:
            root_pid.append(root.pid)
        for p in [root] + (root.children(recursive=True) if sample_tree else []):
            try:
                rss = p.memory_info().rss
                if names.get(p.pid) in (None, "starting"):  # a just-forked child still shows our cmdline
                    cl = " ".join(p.cmdline())
                    names[p.pid] = ("driver" if p.pid == root.pid else "worker" if "spawn_main" in cl else
                                    "tracker" if "resource_tracker" in cl else "starting")
                peaks[p.pid] = max(peaks.get(p.pid, 0), rss / 2**20)
                if names[p.pid] == "worker" and int((time.perf_counter() - t_start) * 10) % 50 == 0:
                    timeline.append((round(time.perf_counter() - t_start), p.pid, round(rss / 2**20)))
            except psutil.Error:
                pass

    res, _ = run_sampled(cmd, sample)
    if os.environ.get("W2V_BENCH_TIMELINE"):
        print("timeline (s, pid, MiB):", timeline, file=sys.stderr)
    mem = {"driver": peaks.get(root_pid[0], 0.0) if root_pid else 0.0,
           "workers": sorted(v for p, v in peaks.items() if names.get(p) == "worker")}
    return res, mem


def expand(inputs: list[str]) -> list[str]:
    import glob

    files = []
    for x in inputs:
        files.extend(sorted(glob.glob(x)) if any(c in x for c in "*?[") else [x])
    return files


def memory(args) -> None:
    files = expand(args.inputs)
    work = Path(tempfile.mkdtemp(prefix="w2v-mem-"))
    copies = work / "copies"
    copies.mkdir()
    for c in range(args.copies):
        for f in files:
            (copies / f"c{c:02d}-{Path(f).name}").symlink_to(os.path.abspath(f))
    rows = []
    for label, inputs, mc in (("1 copy", files, args.min_count),
                              (f"{args.copies} copies", [str(copies)], args.min_count * args.copies)):
        print(f"training on {label} ...", file=sys.stderr)
        t0 = time.perf_counter()
        res, mem = run_child(child_cmd("--tool", "train", "--out", str(work / label.replace(' ', '-')),
                                       "--sync-every", str(args.sync_every), "--min-count", str(mc),
                                       "--sample", str(args.sample), "--inputs", *inputs), sample_tree=True)
        rows.append((label, time.perf_counter() - t0, res, mem))
        print(f"  {label}: {json.dumps(rows[-1][1:])}", file=sys.stderr)
    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.2f}; "
          f"CBOW epochs=1, sample={args.sample:g}, sync_every={args.sync_every:,}, min_count={args.min_count} on 1 copy and "
          f"{args.min_count * args.copies} on {args.copies} copies (the same vocabulary), 2 workers x 1 thread, "
          f"encoded_cache=disk\n")
    print("| corpus | tokens | vocabulary | rounds | wall s | driver peak MiB | worker peaks MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, wall, res, mem in rows:
        print(f"| {label} | {res['corpus_words']:,} | {res['vocab_size']:,} | {res['rounds']} | {wall:.0f} | {mem['driver']:.0f} | "
              f"{', '.join(f'{w:.0f}' for w in mem['workers'])} |")
    (_, _, _, m1), (_, _, _, m10) = rows
    ratio_d = m10["driver"] / m1["driver"]
    ratios_w = [b / a for a, b in zip(m1["workers"], m10["workers"])]
    print(f"\nratio {args.copies} copies / 1 copy: driver {ratio_d:.2f}, workers (sorted by peak) "
          f"{', '.join(f'{r:.2f}' for r in ratios_w)} (target <= 1.3)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=DEFAULT_INPUTS)
    ap.add_argument("--repeat", type=int, default=1, help="timed w2v-dist runs on one cluster (the best is shown)")
    ap.add_argument("--old", action="store_true", help="also time the two-read path (build_vocab + encode_shard)")
    ap.add_argument("--memory", action="store_true", help="peak memory on 1 copy and on --copies copies")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--min-count", type=int, default=5, help="--memory: min_count on 1 copy (times the copies on the copies)")
    ap.add_argument("--sample", type=float, default=1e-5,
                    help="--memory: subsampling (default 1e-5: fewer words trained, the whole corpus still read and encoded)")
    ap.add_argument("--sync-every", type=int, default=2_000_000,
                    help="--memory: words per worker per round (fewer rounds: the run is about reading and holding the corpus)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tool"), ap.add_argument("--corpus-file"), ap.add_argument("--vocab-out"), ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        if args.tool == "gensim":
            res = run_gensim(args.corpus_file, args.vocab_out)
        elif args.tool == "train":
            res = train_child(args.inputs, args.out, args.sync_every, args.min_count, args.sample)
        else:
            res = run_w2v(args.inputs, args.vocab_out, args.old, args.repeat)
        print("RESULT " + json.dumps(res))
        return
    if args.memory:
        return memory(args)

    work = Path(tempfile.mkdtemp(prefix="w2v-prep-"))
    corpus_file = work / "tokens.txt"
    ntok = tokenize_to_file(args.inputs, corpus_file)
    print(f"tokenized {ntok:,} tokens to a plain file (not timed)", file=sys.stderr)
    g, _ = run_child(child_cmd("--tool", "gensim", "--corpus-file", str(corpus_file),
                               "--vocab-out", str(work / "gensim.json")))
    w, _ = run_child(child_cmd("--tool", "w2v", "--vocab-out", str(work / "w2v.json"), "--repeat", str(args.repeat),
                               *(["--old"] if args.old else []), "--inputs", *args.inputs))
    gv = json.loads((work / "gensim.json").read_text())
    wv = json.loads((work / "w2v.json").read_text())
    same = gv == wv
    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores; corpus {ntok:,} tokens; load average at the end "
          f"{os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)\n")
    print("| tool | what | wall s | CPU s | x gensim (wall) | x gensim (CPU) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    print(f"| gensim 4 | build_vocab(corpus_file), pre-tokenized plain file | {g['wall']:.2f} | {g['cpu']:.2f} | 1.0 | 1.0 |")
    print(f"| w2v-dist | raw gzip shards: discover + read once + count + encode, 2 workers x 1 thread "
          f"| {w['wall']:.2f} | {w['cpu']:.2f} | {g['wall'] / w['wall']:.1f} | {g['cpu'] / w['cpu']:.1f} |")
    if args.old:
        print(f"| w2v-dist before | build_vocab + encode_shard (two reads) | {w['old_wall']:.2f} | {w['old_cpu']:.2f} "
              f"| {g['wall'] / w['old_wall']:.1f} | {g['cpu'] / w['old_cpu']:.1f} |")
    all_runs = ", ".join("%.2f" % r["wall"] for r in w["runs"])
    print(f"\nw2v-dist stages (s): discover {w['discover']:.2f}, read once + count + vocabulary {w['vocab']:.2f}, "
          f"encode (local ids -> vocabulary ids, to disk) {w['encode']:.2f}; not counted: cluster start "
          f"{w['cluster_start']:.1f}, warm-up {w['warmup']:.1f}; all runs (wall s): "
          f"{all_runs}")
    print(f"vocabulary: gensim {g['vocab_size']:,} words, w2v-dist {w['vocab_size']:,}; "
          f"same words and counts: {same}" + (f"; old path same: {w['old_same']}" if args.old else ""))
    if not same:
        raise SystemExit("the vocabularies differ")


if __name__ == "__main__":
    main()
