"""Kernel alone: single-thread words/s of ``train_slice`` (exact) and ``train_slice_shared``
(fast mode, shared negatives) on the same encoded tokens, held in memory.

    python benchmarks/bench_kernel.py --inputs 'data/demo/*.txt.gz'
    python benchmarks/bench_kernel.py --models sg cbow --shared 0 1 2 4 8 --max-words 4000000

No Dask, no rounds: the corpus is read, counted and encoded once (w2v-dist's own functions), then
each kernel trains one epoch over it from the same initial weights, in this thread, after a
warm-up call (compilation is not timed).  Speed is effective words per CPU second of this process
(``time.process_time``; the kernel runs in this one thread), which a busy machine disturbs less
than wall time; the best of ``--repeat`` runs is kept.  Parameters as ``bench_word2vec.py`` (negative=5,
window=5, vector_size=100, min_count=5, sample=1e-3; alpha 0.025 SG, 0.05 CBOW).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, cpu_model  # noqa: E402


def encoded(inputs, max_words):
    from w2v_dist.corpus import discover_shards, read_tokenize
    from w2v_dist.vocab import Vocab, count_tokens, encode, merge_counts

    sents = [read_tokenize(s) for s in discover_shards(inputs)]
    vocab = Vocab.from_counts(merge_counts([count_tokens(s) for s in sents]), min_count=5)
    words = vocab.words_array()
    ids, offs, n = [], [np.zeros(1, np.int64)], 0
    for s in sents:
        i, o = encode(s, words)
        ids.append(i)
        offs.append(o[1:] + n)
        n += int(i.shape[0])
        if max_words and n >= max_words:
            break
    return vocab, np.concatenate(ids), np.concatenate(offs)


def main() -> None:
    from w2v_dist.kernels import train_slice, train_slice_shared, warmup
    from w2v_dist.training.driver import initial_weights
    from w2v_dist.vocab import keep_probabilities, noise_cum_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=[str(SHARED / "corpora/real-en/text/*.txt.gz")])
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow"])
    ap.add_argument("--shared", nargs="+", type=int, default=[0, 1],
                    help="shared_negatives values to time (0 = exact train_slice)")
    ap.add_argument("--max-words", type=int, default=0, help="use only the first shards up to this many words")
    ap.add_argument("--no-loss", action="store_true", help="compute_loss=0 (the default config computes it)")
    ap.add_argument("--repeat", type=int, default=1, help="timings per configuration (the best is kept)")
    args = ap.parse_args()

    warmup()
    vocab, ids, offsets = encoded(args.inputs, args.max_words)
    V, D, S = len(vocab.words), 100, offsets.shape[0] - 1
    keep = keep_probabilities(vocab.counts, 1e-3)
    cum = noise_cum_table(vocab.counts, 0.75)
    dummy = (np.zeros((1, D), np.float32), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.uint8),
             np.zeros(1, np.int32))
    print(f"CPU: {cpu_model()}; {ids.shape[0]:,} words, {S:,} sentences, V={V:,}, D={D}, one thread, one epoch, "
          f"compute_loss={int(not args.no_loss)}\n")
    print("| model | mode | wall s | CPU s | effective words per CPU second | loss per word | vs exact |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for model in args.models:
        sg, alpha = (1, 0.025) if model == "sg" else (0, 0.05)
        base = None
        for sh in args.shared:
            best = None
            for _ in range(args.repeat):
                syn0, syn1neg, _ = initial_weights(V, D, 1, 5, 0)
                t = [np.zeros(V, np.uint8), np.zeros(V, np.uint8), np.zeros(1, np.uint8)]
                a = (syn0, syn1neg, dummy[0], ids, offsets, 0, S, keep, cum, dummy[1], dummy[2], dummy[3],
                     sg, 1, 5, 5, 0, alpha, 0.0001, 1, t[0], t[1], t[2], int(not args.no_loss))
                t0, c0 = time.perf_counter(), time.process_time()
                raw, eff, loss = train_slice(*a) if sh == 0 else train_slice_shared(*a, sh)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                if best is None or cpu < best[1]:
                    best = (dt, cpu, eff, loss)
            dt, cpu, eff, loss = best
            wps = eff / cpu
            base = base or (wps if sh == 0 else None)
            mode = "exact" if sh == 0 else f"shared_negatives={sh}"
            rel = f"{wps / base:.2f}x" if base else ""
            print(f"| {model} | {mode} | {dt:.1f} | {cpu:.1f} | {wps:,.0f} | {loss / max(eff, 1):.3f} | {rel} |", flush=True)


if __name__ == "__main__":
    main()
