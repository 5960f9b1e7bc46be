"""Phrase detection: w2v-dist (2-worker LocalCluster) side by side with gensim Phrases, one script.

    python benchmarks/bench_phrases.py                         # whole shared corpus
    python benchmarks/bench_phrases.py --memory-copies 10      # + max_vocab_size memory run
    python benchmarks/bench_phrases.py --inputs 'data/demo/*.txt.gz'   # quick

The corpus is tokenized once with w2v-dist's tokenizer and written as a plain text file (one
sentence per line, tokens separated by spaces).  gensim streams it with ``LineSentence`` (so its
times include reading and splitting that file); w2v-dist runs two ways on a 2-worker x 1-thread
LocalCluster:

* ``tokens in memory``: the raw shards are read and tokenized once into worker memory
  (``tokenize s``, not part of learn + apply), then phrases are learned from those token arrays:
  the same start as gensim's, sentences already tokenized;
* ``from raw shards``: learning reads, decompresses and tokenizes the gzip shards itself.

In both, applying works on the partitions that learning keeps on the workers, dictionary-encoded
(``learn_phrases(keep_partitions=...)``), so the corpus is not read or tokenized a second time; the
output is the joined sentences as list<string> arrays, as gensim's are lists of str.

gensim: ``learn`` is ``Phrases(LineSentence(file), ...)``, ``apply`` is ``freeze()`` plus a pass of
``frozen[LineSentence(file)]`` over the corpus.  w2v-dist: ``learn`` is :func:`learn_phrases`,
``apply`` maps :meth:`PhraseModel.apply` over the kept partitions and counts the output tokens.  Both
use threshold 10, min_count 5, default scoring and gensim's ENGLISH_CONNECTOR_WORDS.  Each tool runs
in its own process; peak memory is the largest sum of resident memory of the process and its
children (Dask scheduler, nanny and workers), sampled every 0.1 s; ``load`` is the machine's
1-minute load average at the end of each run (on a shared machine the times depend on it).  The phrases and scores of the
two tools are compared at the end (same set, largest relative score difference), and so are the
token counts after applying.

``--memory-copies N`` adds a learning run with ``max_vocab_size`` (``--max-vocab-size``) over N
copies of the shards (the same files listed N times) and reports its peak memory.
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
from harness import SHARED, cpu_model, measure, tokenize_to_file  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARAMS = dict(min_count=5, threshold=10.0, scoring="default")


def run_gensim(corpus_file: str, phrases_out: str) -> dict:
    from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases
    from gensim.models.word2vec import LineSentence

    t0 = time.perf_counter()
    ph = Phrases(LineSentence(corpus_file), connector_words=ENGLISH_CONNECTOR_WORDS, **PARAMS)
    t_learn = time.perf_counter() - t0
    t1 = time.perf_counter()
    frozen = ph.freeze()
    t_freeze = time.perf_counter() - t1
    n = 0
    for sent in frozen[LineSentence(corpus_file)]:
        n += len(sent)
    t_apply = time.perf_counter() - t1
    with open(phrases_out, "w", encoding="utf-8") as fh:
        json.dump(frozen.phrasegrams, fh)
    return {"learn_seconds": t_learn, "apply_seconds": t_apply, "freeze_seconds": t_freeze,
            "phrases": len(frozen.phrasegrams), "tokens_out": n}


def _count_tokens(sentences) -> int:
    return len(sentences.values) if hasattr(sentences, "values") else 0


def _apply_count(part, model) -> int:
    """Apply the (one-pass) model to a partition kept by learn_phrases; the joined token count."""
    return _count_tokens(model.apply(part, start=len(model.passes) - 1))


def run_w2v(inputs: list[str], phrases_out: str, mode: str, copies: int, max_vocab_size) -> dict:
    from distributed import wait

    from w2v_dist.cluster import dask_client
    from w2v_dist.corpus import discover_shards, read_tokenize
    from w2v_dist.phrases import ENGLISH_CONNECTOR_WORDS, learn_phrases

    shards = discover_shards(inputs) * copies
    res: dict = {}
    with dask_client(workers=2, threads_per_worker=1) as client:
        # compile / load the Numba kernels on the workers first (not timed)
        client.run(_warm)
        me = psutil.Process()
        res["idle_mib"] = (me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))) / 2**20
        t0 = time.perf_counter()
        if mode == "memory":
            parts = [client.submit(read_tokenize, s, pure=False) for s in shards]
            wait(parts)
            res["tokenize_seconds"] = time.perf_counter() - t0
        else:
            parts = shards
        t1 = time.perf_counter()
        kept = [] if mode != "memcheck" else None
        model = learn_phrases(parts, connector_words=ENGLISH_CONNECTOR_WORDS, max_vocab_size=max_vocab_size,
                              client=client, keep_partitions=kept, **PARAMS)
        res["learn_seconds"] = time.perf_counter() - t1
        if mode == "memcheck":
            res["phrases"] = len(model)
            return res
        t2 = time.perf_counter()
        [mf] = client.scatter([model], broadcast=True)
        counts = client.gather([client.submit(_apply_count, p, mf, pure=False) for p in kept])
        res["apply_seconds"] = time.perf_counter() - t2
        res["tokens_out"] = int(sum(counts))
        res["phrases"] = len(model)
    with open(phrases_out, "w", encoding="utf-8") as fh:
        json.dump(model.export_phrases(), fh)
    return res


def _warm() -> None:
    import pyarrow as pa

    from w2v_dist.phrases import PhraseModel, _count_spans, _encode_part, _finish_int, _global_words, _word_table

    PhraseModel([pa.table({"phrase": ["a_b"], "score": [11.0], "count": [6]})]).apply(pa.array([["a", "b", "c"]]))
    enc = _encode_part(pa.array([["a", "of", "b", "a_b", "c"]]), None, {}, None)
    words = _global_words([_word_table(enc, None)], None, {"of"}, "_")
    _finish_int(_count_spans(enc, words, None, {}, None, {"of"}, "_", None, 1)[:1] * 2, None, 1)


def child(args) -> None:
    if args.tool == "gensim":
        res = run_gensim(args.corpus_file, args.phrases_out)
    else:
        res = run_w2v(args.inputs, args.phrases_out, args.mode, args.copies, args.max_vocab_size)
    res["load"] = os.getloadavg()[0]  # the machine is shared: the 1-minute load average at the end
    print("RESULT " + json.dumps(res))


def compare(a_path: str, b_path: str) -> str:
    a, b = json.load(open(a_path)), json.load(open(b_path))
    same = set(a) == set(b)
    rel = max((abs(a[k] - b[k]) / abs(b[k]) for k in a if k in b and b[k]), default=0.0)
    return f"same phrase set: {same} ({len(a):,} vs {len(b):,}); largest relative score difference {rel:.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", nargs="+", default=[str(SHARED / "corpora/real-en/text/*.txt.gz")])
    ap.add_argument("--memory-copies", type=int, default=0, help="also measure learning with max_vocab_size on N copies")
    ap.add_argument("--max-vocab-size", type=int, default=1_000_000)
    ap.add_argument("--memory-only", action="store_true", help="only the max_vocab_size memory run (and a 1-copy reference)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="memory", help=argparse.SUPPRESS)
    ap.add_argument("--copies", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--corpus-file", help=argparse.SUPPRESS)
    ap.add_argument("--phrases-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        if args.max_vocab_size == 0:
            args.max_vocab_size = None
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tok_file = Path(tmp) / "tokens.txt"
        n_tokens = tokenize_to_file(args.inputs, tok_file)
        print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; corpus {n_tokens:,} tokens; threshold=10 min_count=5 "
              "scoring=default connector_words=ENGLISH_CONNECTOR_WORDS; w2v-dist: LocalCluster 2 workers x 1 thread\n")
        me = [sys.executable, str(Path(__file__).resolve()), "--child", "--inputs", *args.inputs]
        if args.memory_only:
            memory_runs(me, args, n_tokens, tmp)
            return
        rows = []
        g_out = str(Path(tmp) / "gensim.json")
        g, g_wall, g_peak = measure(me + ["--tool", "gensim", "--corpus-file", str(tok_file), "--phrases-out", g_out])
        rows.append(("gensim Phrases", g, g_wall, g_peak))
        outs = {}
        for mode, label in (("memory", "w2v-dist, tokens in memory"), ("shards", "w2v-dist, from raw shards")):
            outs[mode] = str(Path(tmp) / f"w2v-{mode}.json")
            r, wall, peak = measure(me + ["--tool", "w2v", "--mode", mode, "--max-vocab-size", "0",
                                          "--phrases-out", outs[mode]])
            rows.append((label, r, wall, peak))
        print("| tool | tokenize s | learn s | apply s | learn + apply s | speed-up | phrases | tokens after | wall s | peak MiB | load |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        base = g["learn_seconds"] + g["apply_seconds"]
        for label, r, wall, peak in rows:
            la = r["learn_seconds"] + r["apply_seconds"]
            tok = f"{r['tokenize_seconds']:.1f}" if "tokenize_seconds" in r else ""
            print(f"| {label} | {tok} | {r['learn_seconds']:.1f} | {r['apply_seconds']:.1f} | {la:.1f} | "
                  f"{base / la:.1f}x | {r['phrases']:,} | {r['tokens_out']:,} | {wall:.0f} | {peak:,.0f} | {r['load']:.1f} |")
        print(f"\ngensim apply = freeze {g['freeze_seconds']:.1f} s + transform {g['apply_seconds'] - g['freeze_seconds']:.1f} s")
        for mode in outs:
            print(f"w2v-dist ({mode}) vs gensim: {compare(outs[mode], g_out)}")
        if args.memory_copies:
            memory_runs(me, args, n_tokens, tmp)


def memory_runs(me, args, n_tokens, tmp) -> None:
    """Learning from raw shards with and without max_vocab_size, on 1 and N copies: peak memory."""
    print("\n| learning from raw shards | copies | tokens | max_vocab_size | learn s | phrases | idle cluster MiB | peak MiB (process tree) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for copies, mvs in ((1, 0), (1, args.max_vocab_size), (args.memory_copies, args.max_vocab_size)):
        r, wall, peak = measure(me + ["--tool", "w2v", "--mode", "memcheck", "--copies", str(copies),
                                      "--max-vocab-size", str(mvs), "--phrases-out", str(Path(tmp) / "mem.json")])
        print(f"| w2v-dist 2 workers | {copies} | {copies * n_tokens:,} | {mvs or 'none'} | {r['learn_seconds']:.0f} | "
              f"{r['phrases']:,} | {r['idle_mib']:,.0f} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
