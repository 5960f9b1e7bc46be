"""Quality as the number of worker processes grows: one table for issue 8.

Trains w2v-dist on the whole shared corpus (the same hyper-parameters as ``bench_word2vec.py``:
negative=5, window=5, vector_size=100, min_count=5, sample=1e-3, epochs=5, compute_loss=0) with
K LocalCluster worker processes of one thread each, one replica each (``replicas=worker``, as K
machines would have: on one machine the default ``replicas=host`` trains one replica in shared
memory and merges nothing), for every K, model and seed asked for, at the
default synchronisation interval (``sync_total``, split over the K workers) and at multiples of
it; each run is a child process of ``bench_word2vec.py``.  Prints, per run: rounds, words a worker
trains a round, median bytes a round between the workers and the driver (both directions, all
workers), analogy accuracy (questions-words, 3CosAdd, 30,000 most frequent words), WordSim-353 and
SimLex-999 Spearman, and their difference from the mean of the 1-worker runs of the same model
(points: percent for analogies, Spearman x 100).

K processes share this machine's cores, so the seconds only say how long a run took; the table is
about quality and bytes.  Each finished run is appended to ``--json`` at once, and runs already
there are skipped, so an interrupted table resumes where it stopped.

    python benchmarks/bench_quality.py --models sg cbow --seeds 1 2 --workers 1 2 4 8 \\
        --intervals 1 4 16 --interval-workers 8 --json benchmarks/results/quality.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, cpu_model, measure  # noqa: E402

from w2v_dist.config import Config  # noqa: E402

HERE = Path(__file__).resolve().parent
MEASURES = (("analogy_accuracy", 100, ".1f"), ("wordsim353_spearman", 1, ".4f"), ("simlex999_spearman", 1, ".4f"))


def key(model: str, workers: int, seed: int, interval: float) -> str:
    return f"{model} {workers}x1 seed {seed} interval x{interval:g}"


def plan(models, seeds, workers, intervals, interval_workers, interval_seeds) -> list[tuple[str, int, int, int]]:
    """(model, workers, seed, interval multiple) of every run, the default interval first."""
    runs = [(m, k, s, 1) for k in workers for m in models for s in seeds]
    runs += [(m, k, s, x) for x in intervals if x != 1 for k in interval_workers for m in models for s in interval_seeds]
    return runs


def run_one(model: str, workers: int, seed: int, interval: float, sync_total: int, inputs: list[str], work: Path,
            sets: list[str] = ()) -> dict:
    """Train one configuration in a child process, then evaluate its vectors.

    Raises
    ------
    RuntimeError
        The child failed or printed no result (from ``harness.measure``).
    """
    from bench_word2vec import evaluate

    out = work / f"{model}-{workers}x1-s{seed}-x{interval:g}"
    cmd = [sys.executable, str(HERE / "bench_word2vec.py"), "--child", "--tool", "w2v", "--model", model,
           "--seed", str(seed), "--workers", str(workers), "--threads", "1", "--shared-negatives", "0",
           "--out", str(out), "--set", f"sync_total={round(sync_total * interval)}", "--set", "replicas=worker",
           *[x for kv in sets for x in ("--set", kv)], "--inputs", *inputs]
    res, wall, peak = measure(cmd)
    ev = evaluate(str(out / "vectors.bin"), None)
    return {"model": model, "workers": workers, "seed": seed, "interval": interval, "sets": list(sets), "wall_seconds": wall,
            "peak_mib": peak, **res, "evaluation": {m: ev[m] for m, _, _ in MEASURES}}


def table(rows: list[dict]) -> str:
    """The markdown table, with each run's difference from its model's 1-worker mean."""
    base: dict[str, list[dict]] = {}
    for r in rows:
        if r["workers"] == 1 and r["interval"] == 1:
            base.setdefault(r["model"], []).append(r["evaluation"])
    lines = ["| model | workers | interval | seed | rounds | words a worker a round | MB a round (to / from driver) "
             "| hot-row MB a round (each way) | sync overhead | analogy % | WS-353 | SimLex-999 "
             "| difference from 1 worker (points) | wall s |",
             "| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in sorted(rows, key=lambda r: (r["model"], list(r.get("sets") or []), r["interval"], r["workers"], r["seed"])):
        e = r["evaluation"]
        diff = ""
        if r["model"] in base:
            means = {m: sum(b[m] for b in base[r["model"]]) / len(base[r["model"]]) for m, _, _ in MEASURES}
            diff = " / ".join(f"{100 * (e[m] - means[m]):+.1f}" for m, _, _ in MEASURES)
        mb = (f"{r['bytes_to_driver_per_round'] / 1e6:.1f} / {r['bytes_from_driver_per_round'] / 1e6:.1f}"
              if r["workers"] > 1 else "none")
        name = r["model"] + (f" ({', '.join(r['sets'])})" if r.get("sets") else "")  # --set runs
        lines.append(f"| {name} | {r['workers']} | x{r['interval']:g} | {r['seed']} | {r['rounds']} | "
                     f"{r['round_words']:,} | {mb} | "
                     f"{r.get('hot_bytes_per_round', 0) / 1e6:.1f} | "
                     f"{100 * r['round_overhead_fraction']:.0f}% | "
                     + " | ".join(f"{s * e[m]:{f}}" for m, s, f in MEASURES)
                     + f" | {diff} | {r['wall_seconds']:.0f} |")
    return "\n".join(lines)


def means(rows: list[dict]) -> str:
    """A markdown table of the mean over seeds of each configuration (model, workers, interval,
    ``--set``) and its difference from the model's 1-worker mean (points; **bold**: more than 1
    point below)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], tuple(r.get("sets") or []), r["interval"], r["workers"]), []).append(r)
    mean = {g: {m: sum(r["evaluation"][m] for r in rs) / len(rs) for m, _, _ in MEASURES} for g, rs in groups.items()}
    lines = ["| model | workers | interval | seeds | analogy % | WS-353 | SimLex-999 | difference from 1 worker (points) |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: | --- |"]
    for g in sorted(groups):
        model, sets, interval, workers = g
        base = mean.get((model, (), 1, 1))
        diff = "" if base is None or workers == 1 else " / ".join(
            (f"**{d:+.2f}**" if d < -1 else f"{d:+.2f}")
            for d in (100 * (mean[g][m] - base[m]) for m, _, _ in MEASURES))
        name = model + (f" ({', '.join(sets)})" if sets else "")
        lines.append(f"| {name} | {workers} | x{interval:g} | {' '.join(str(r['seed']) for r in sorted(groups[g], key=lambda r: r['seed']))} | "
                     + " | ".join(f"{s * mean[g][m]:{'.2f' if s == 100 else '.4f'}}" for m, s, _ in MEASURES)
                     + f" | {diff} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=[str(SHARED / "corpora/real-en/text/*.txt.gz")])
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow", "sg-hs", "cbow-hs"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4, 8])
    ap.add_argument("--sync-total", type=int, default=Config().sync_total,
                    help="words of all workers together a round at interval x1 (w2v-dist's default sync_total)")
    ap.add_argument("--intervals", nargs="+", type=float, default=[1, 4, 16], help="multiples of --sync-total")
    ap.add_argument("--interval-workers", nargs="+", type=int, default=[8],
                    help="worker counts run at the intervals other than x1")
    ap.add_argument("--interval-seeds", nargs="+", type=int, default=[1], help="seeds of those runs")
    ap.add_argument("--json", default=str(HERE / "results" / "quality.json"),
                    help="rows so far: read at the start (finished runs are skipped), written after every run")
    ap.add_argument("--table-only", action="store_true", help="print the table of --json and stop")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a w2v-dist parameter for every run (e.g. hot_rows=0); keep such runs in their own --json")
    args = ap.parse_args()

    path = Path(args.json)
    rows = json.loads(path.read_text()) if path.exists() else []
    if not args.table_only:
        done = {key(r["model"], r["workers"], r["seed"], r["interval"]) for r in rows}
        work = Path(tempfile.mkdtemp(prefix="w2v-quality-"))
        for model, k, seed, x in plan(args.models, args.seeds, args.workers, args.intervals,
                                      args.interval_workers, args.interval_seeds):
            if key(model, k, seed, x) in done:
                continue
            print(f"running {key(model, k, seed, x)} ...", file=sys.stderr, flush=True)
            rows.append(run_one(model, k, seed, x, args.sync_total, args.inputs, work, args.set))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rows, indent=2))
            os.replace(tmp, path)  # never a half-written file
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores; inputs {' '.join(args.inputs)}; K worker processes x 1 thread; "
          f"interval x1 = sync_total {args.sync_total:,} words a round (each worker sync_total // K)\n")
    print(table(rows))
    print("\nMeans over the seeds:\n")
    print(means(rows))


if __name__ == "__main__":
    main()
