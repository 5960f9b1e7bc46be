"""Speed and quality of w2v-dist side by side with gensim, on the same tokens, in one script.

    python benchmarks/bench_word2vec.py                      # whole shared corpus, SG and CBOW
    python benchmarks/bench_word2vec.py --models sg --inputs 'data/demo/*.txt.gz'   # quick
    python benchmarks/bench_word2vec.py --shapes 1x2 --shared-negatives 0 1   # exact and fast mode

The corpus is tokenized once with w2v-dist's tokenizer and written as a plain text file (one
sentence per line, tokens separated by spaces) for gensim's ``corpus_file`` mode, so both tools see
exactly the same tokens; w2v-dist reads the raw shards with its own pipeline (which gives those
tokens).  Each run is a separate process; its peak memory is the largest sum of resident memory
over the process and its children (Dask workers), sampled every 0.1 s.  Quality is evaluated by
the same code for both, with gensim's vectors put in w2v-dist's vocabulary order so that the
30,000-word restriction of the analogies selects the same questions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, cpu_model, measure, tokenize_to_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "data" / "eval"
PARAMS = dict(negative=5, window=5, vector_size=100, min_count=5, sample=1e-3, epochs=5,
              compute_loss=0)  # gensim's default; w2v-dist's loss per round costs its kernels 4-8%
MODELS = {
    "sg": dict(sg=1, alpha=0.025),
    "cbow": dict(sg=0, alpha=0.05),
    "sg-hs": dict(sg=1, alpha=0.025, hs=1, negative=0),
    "cbow-hs": dict(sg=0, alpha=0.05, hs=1, negative=0),
}


def run_gensim(model: str, corpus_file: str, out: str, seed: int, mode: str = "corpus_file") -> dict:
    """gensim 4 with workers=2 on the plain token file.

    ``mode="corpus_file"`` is gensim's fast multistream mode.  ``mode="iterable"`` streams the same
    file as ``LineSentence`` (slower: one Python reader feeds the threads), where the learning rate
    decays with the progress of all threads together.  In corpus_file mode each thread instead
    measures its progress as its own sentences over the whole corpus's ``total_examples``
    (``word2vec_corpusfile.pyx``: ``get_next_alpha(..., total_sentences, ..., expected_examples, ...)``
    per thread), so with 2 threads every epoch ends half-way down the schedule and the last one at
    ``alpha - 0.9 (alpha - min_alpha)``, not ``min_alpha``.
    """
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    p = {**PARAMS, **MODELS[model]}
    src = {"corpus_file": corpus_file} if mode == "corpus_file" else {"corpus_iterable": LineSentence(corpus_file)}
    t0 = time.perf_counter()
    w2v = Word2Vec(workers=2, seed=seed, **{k: v for k, v in p.items() if k != "epochs"})
    w2v.build_vocab(**src)
    t_vocab = time.perf_counter() - t0
    t1 = time.perf_counter()
    eff, raw = w2v.train(**src, total_examples=w2v.corpus_count,
                         total_words=w2v.corpus_total_words, epochs=p["epochs"])
    t_train = time.perf_counter() - t1
    w2v.wv.save_word2vec_format(out, binary=True)
    return {"vocab_seconds": t_vocab, "train_seconds": t_train, "effective_words": eff,
            "words_per_second": eff / t_train, "vocab_size": len(w2v.wv)}


def run_w2v(model: str, inputs: list[str], out: str, seed: int, workers: int, threads: int, merge: str = "auto",
            shared_negatives: int = 0, extra: dict | None = None) -> dict:
    import w2v_dist
    from w2v_dist.cluster import dask_client

    p = {**PARAMS, **MODELS[model], **(extra or {})}
    merge = p.pop("merge", merge)  # --set merge=... wins over --merge
    t0 = time.perf_counter()
    with dask_client(workers=workers, threads_per_worker=threads) as client:
        t_start = time.perf_counter() - t0
        res = w2v_dist.train(inputs, client=client, seed=seed, output=out, overwrite=True, merge=merge,
                             shared_negatives=shared_negatives, **p)
    m = res.metrics
    rs = m["round_stats"]

    def median(name):
        return float(np.median([s.get(name, 0) for s in rs])) if rs else 0.0

    return {"round_words": m["round_words"], "rounds_per_epoch": m["rounds_per_epoch"],
            "bytes_to_driver_per_round": median("bytes_to_driver"),
            "bytes_from_driver_per_round": median("bytes_from_driver"),
            "vocab_seconds": m["stage_seconds"]["vocab"] + m["stage_seconds"]["encode"],
            "train_seconds": m["train_seconds"], "effective_words": m["effective_words"],
            "words_per_second": m["words_per_second"], "vocab_size": m["vocab_size"],
            "rounds": m["rounds"], "round_overhead_fraction": m["round_overhead_fraction"],
            "hot_rows": m.get("hot_rows"), "hot_subrounds": m.get("hot_subrounds"),
            "hot_bytes_per_round": median("hot_bytes_sent"), "hot_wait_seconds": sum(s.get("hot_wait_seconds", 0) for s in rs),
            "compute_seconds": sum(s["compute_seconds"] for s in rs),
            "cluster_start_seconds": t_start, "end_to_end_seconds": time.perf_counter() - t0}


def parse_sets(items: list[str]) -> dict:
    """``["overlap=false", "sync_every=100000"]`` -> ``{"overlap": False, "sync_every": 100000}``."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def evaluate(vectors: str, order_from: str | None) -> dict:
    from w2v_dist.evaluation import evaluate as ev
    from w2v_dist.vectors import WordVectors

    wv = WordVectors.load_word2vec_format(vectors)
    if order_from:  # put gensim's vectors in w2v-dist's vocabulary order (same words)
        ref = WordVectors.load_word2vec_format(order_from)
        idx = [wv.key_to_index[w] for w in ref.index_to_key if w in wv.key_to_index]
        wv = WordVectors([wv.index_to_key[i] for i in idx], wv.vectors[idx])
    return ev(wv, analogies=str(EVAL / "questions-words.txt"),
              word_pairs=[str(EVAL / "wordsim353.tsv"), str(EVAL / "simlex999.txt")])


def child(args) -> None:
    if args.tool == "gensim":
        res = run_gensim(args.model, args.corpus_file, args.out, args.seed, args.gensim_mode)
    else:
        res = run_w2v(args.model, args.inputs, args.out, args.seed, args.workers, args.threads, args.merge,
                      args.shared_negatives[0], parse_sets(args.set))
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=[str(SHARED / "corpora/real-en/text/*.txt.gz")])
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=list(MODELS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--shapes", nargs="+", default=["1x2", "2x1"], help="w2v-dist WORKERSxTHREADS shapes")
    ap.add_argument("--merge", default="auto", help="w2v-dist merge rule of the replicas (w2v_dist/training/merge.py; auto: sum of the cold rows with hot rows, else scaled-sum)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="another w2v-dist parameter for its runs (JSON value), e.g. --set overlap=true; shown in the shape")
    ap.add_argument("--shared-negatives", nargs="+", type=int, default=[0],
                    help="w2v-dist shared_negatives values: 0 = exact sampling, N >= 1 = fast mode (rows 'w2v-dist fast'); "
                         "HS models (negative=0) run exact only")
    ap.add_argument("--fast-shapes", nargs="+", help="shapes of the fast-mode runs (default: --shapes)")
    ap.add_argument("--skip-gensim", action="store_true")
    ap.add_argument("--gensim-mode", choices=["corpus_file", "iterable"], default="corpus_file",
                    help="gensim's input: corpus_file (its fast mode) or iterable (LineSentence; the learning rate "
                         "decays with global progress, see run_gensim)")
    ap.add_argument("--json", help="also write the rows here")
    # child mode
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tool"), ap.add_argument("--model"), ap.add_argument("--out")
    ap.add_argument("--corpus-file"), ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1), ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.child:
        return child(args)

    work = Path(tempfile.mkdtemp(prefix="w2v-bench-"))
    corpus_file = work / "tokens.txt"
    t0 = time.perf_counter()
    ntok = tokenize_to_file(args.inputs, corpus_file)
    print(f"tokenized {ntok:,} tokens to a plain file in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rows: list[dict] = []
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    for model in args.models:
        for seed in args.seeds:
            glabel = "workers=2" + (" iterable" if args.gensim_mode == "iterable" else "")
            runs = [] if args.skip_gensim else [("gensim", glabel, me + ["--tool", "gensim", "--corpus-file", str(corpus_file),
                                                                        "--gensim-mode", args.gensim_mode])]
            shared = [n for n in args.shared_negatives if n == 0 or MODELS[model].get("negative", 5) > 0]
            for n in shared:
                for shape in (args.fast_shapes or args.shapes) if n else args.shapes:
                    w, t = shape.split("x")
                    label = f"{w} worker x {t} thr" + (f" {args.merge}" if args.merge != "auto" else "")
                    label += "".join(f" {x}" for x in args.set)
                    if int(w) > 1 and not any(x.startswith("replicas=") for x in args.set):
                        label += " shared"  # replicas=host (the default): one replica in shared memory
                    runs.append(("w2v-dist fast" if n else "w2v-dist", label + (f" shared={n}" if n else ""),
                                 me + ["--tool", "w2v", "--merge", args.merge, "--workers", w, "--threads", t,
                                       "--shared-negatives", str(n), *[a for x in args.set for a in ("--set", x)],
                                       "--inputs", *args.inputs]))
            ref = None
            for tool, shape, cmd in runs:
                out = work / f"{tool.replace(' ', '-')}-{model}-{seed}-{shape.replace(' ', '')}"
                vec = str(out / "vectors.bin") if tool != "gensim" else str(out) + ".bin"
                print(f"running {tool} {model} {shape} seed {seed} ...", file=sys.stderr)
                res, wall, peak = measure(cmd + ["--model", model, "--seed", str(seed),
                                                 "--out", str(out) if tool != "gensim" else vec])
                if tool != "gensim" and ref is None:
                    ref = vec
                rows.append({"tool": tool, "model": model, "shape": shape, "seed": seed, "wall_seconds": wall,
                             "peak_mib": peak, **res, "vec": vec})
            for row in rows:
                if row["model"] == model and row["seed"] == seed and "evaluation" not in row:
                    row["evaluation"] = evaluate(row["vec"], ref if row["tool"] == "gensim" else None)

    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores; corpus {ntok:,} tokens; "
          f"window=5 vector_size=100 min_count=5 sample=1e-3 epochs=5; negative=5 (NS) or hs=1 negative=0 (HS)\n")
    hdr = ("| tool | model | shape | seed | wall s | vocab s | train s | effective words/s | round overhead | peak MiB "
           "| analogy % | WS-353 | SimLex-999 |")
    print(hdr)
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        e = r["evaluation"]
        ovh = f"{100 * r['round_overhead_fraction']:.0f}%" if "round_overhead_fraction" in r else ""
        print(f"| {r['tool']} | {r['model']} | {r['shape']} | {r['seed']} | {r['wall_seconds']:.0f} | "
              f"{r['vocab_seconds']:.1f} | {r['train_seconds']:.0f} | {r['words_per_second']:,.0f} | {ovh} | {r['peak_mib']:,.0f} | "
              f"{100 * e['analogy_accuracy']:.1f} | {e['wordsim353_spearman']:.3f} | {e['simlex999_spearman']:.3f} |")
    if len(args.seeds) > 1:
        print(f"\nMeans over seeds {args.seeds} (min-max):\n")
        print("| tool | model | shape | effective words/s | analogy % | WS-353 | SimLex-999 |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            groups.setdefault((r["tool"], r["model"], r["shape"]), []).append(r)

        def span(vals, scale, fmt):
            return f"{scale * sum(vals) / len(vals):{fmt}} ({scale * min(vals):{fmt}}-{scale * max(vals):{fmt}})"

        for (tool, model, shape), rs in groups.items():
            e = [r["evaluation"] for r in rs]
            print(f"| {tool} | {model} | {shape} | {sum(r['words_per_second'] for r in rs) / len(rs):,.0f} | "
                  f"{span([x['analogy_accuracy'] for x in e], 100, '.1f')} | "
                  f"{span([x['wordsim353_spearman'] for x in e], 1, '.3f')} | "
                  f"{span([x['simlex999_spearman'] for x in e], 1, '.3f')} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
