"""Kernel alone: single-thread words/s of ``train_slice`` (exact) and ``train_slice_shared``
(fast mode, shared negatives) on the same encoded tokens, held in memory.

    python benchmarks/bench_kernel.py --inputs 'data/demo/*.txt.gz'
    python benchmarks/bench_kernel.py --models sg cbow --shared 0 1 2 4 8 --max-words 4000000
    python benchmarks/bench_kernel.py --models sg-hs cbow-hs --max-words 4000000
    python benchmarks/bench_kernel.py --models sg --threads 2 --max-words 4000000   # Hogwild, 2 threads
    python benchmarks/bench_kernel.py --draws 20000000   # ns a noise draw: full bisect vs indexed
    python benchmarks/bench_kernel.py --models cbow --shared 2 --max-words 2000000 --repeat 8 --against HEAD~1

No Dask, no rounds: the corpus is read, counted and encoded once (w2v-dist's own functions), then
each kernel trains one epoch over it from the same initial weights, after a warm-up call
(compilation is not timed).  Speed is effective words per CPU second (``time.thread_time`` of
each training thread, summed over the threads), which a busy machine disturbs less than wall
time; the best of ``--repeat`` runs is kept.  With ``--threads T`` the sentences are cut in T
equal word ranges trained at once by T Python threads on the same matrices (Hogwild, as a
worker's threads share its replica); the per-CPU-second figure then shows what the threads cost
each other (shared rows, caches), and ``wall`` what they reach together.  Parameters as
``bench_word2vec.py`` (negative=5, window=5, vector_size=100, min_count=5, sample=1e-3; alpha
0.025 SG, 0.05 CBOW; the ``-hs`` models are hs=1, negative=0).

``--against REV`` compares two versions of the kernels: this checkout's and REV's
(:func:`kernels_at`) train the same epoch in turn, ``--repeat`` times each, and the table gives
both bests and the median of the ratios of each pair of neighbouring runs.  The machines these
figures come from drift by 2x within minutes, so two versions timed minutes apart do not
compare; neighbouring runs do.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"sg": (1, 0.025, 0), "cbow": (0, 0.05, 0), "sg-hs": (1, 0.025, 1), "cbow-hs": (0, 0.05, 1)}


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


def run_threads(fn, arg_lists):
    """Run ``fn(*args)`` for every args in threads at once; (results, wall s, summed thread CPU s)."""
    out = [None] * len(arg_lists)
    cpu = [0.0] * len(arg_lists)

    def go(i):
        c0 = time.thread_time()
        out[i] = fn(*arg_lists[i])
        cpu[i] = time.thread_time() - c0

    ths = [threading.Thread(target=go, args=(i,)) for i in range(len(arg_lists))]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return out, time.perf_counter() - t0, sum(cpu)


def time_draws(cum: np.ndarray, n: int) -> None:
    """Print nanoseconds per noise draw: ``draw_negative`` (gensim's ``bisect_left`` over all V
    entries) against ``draw_negative_indexed`` (the kernels' bucket index), same words checked."""
    from numba import njit

    from w2v_dist.kernels._rng import draw_negative, draw_negative_indexed, noise_index

    @njit(nogil=True)
    def full(cum, n):
        s, acc = np.uint64(1), 0
        for _ in range(n):
            t, s = draw_negative(cum, s)
            acc += t
        return acc

    @njit(nogil=True)
    def indexed(cum, index, shift, n):
        s, acc = np.uint64(1), 0
        for _ in range(n):
            t, s = draw_negative_indexed(cum, index, shift, s)
            acc += t
        return acc

    index, shift = noise_index(cum)
    full(cum, 10)
    indexed(cum, index, shift, 10)
    t0 = time.perf_counter()
    a = full(cum, n)
    t1 = time.perf_counter()
    b = indexed(cum, index, shift, n)
    t2 = time.perf_counter()
    print(f"CPU: {cpu_model()}; V={cum.shape[0]:,}, {n:,} draws, index of {index.shape[0]:,} buckets; "
          f"same sum of word ids: {a == b}")
    print(f"| draw | ns a draw |\n| --- | ---: |\n| bisect over the whole table (gensim) | "
          f"{(t1 - t0) / n * 1e9:.1f} |\n| indexed (w2v-dist kernels) | {(t2 - t1) / n * 1e9:.1f} |")


def kernels_at(rev: str):
    """Import ``w2v_dist/kernels`` as it is at git revision ``rev``, as a package of its own.

    The package has no imports outside itself, so ``git archive`` of that folder, renamed, is the
    old kernels beside the new ones in this process. It is kept in the temp folder under the
    commit's hash, so that Numba's cache of its compiled functions survives between runs.
    Raises ``subprocess.CalledProcessError`` when ``rev`` is not a revision of this repository.
    """
    import importlib
    import io
    import subprocess
    import tarfile
    import tempfile

    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    name = f"w2v_kernels_{sha}"
    top = Path(tempfile.gettempdir()) / "w2v-dist-kernels"
    if not (top / name).exists():
        top.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=top))
        data = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "w2v_dist/kernels"], check=True,
                              capture_output=True).stdout
        tarfile.open(fileobj=io.BytesIO(data)).extractall(tmp)
        (tmp / "w2v_dist" / "kernels").rename(top / name)
    sys.path.insert(0, str(top))
    return importlib.import_module(name)


def main() -> None:
    from w2v_dist import kernels
    from w2v_dist.kernels import build_huffman, warmup
    from w2v_dist.training.driver import initial_weights
    from w2v_dist.vocab import keep_probabilities, noise_cum_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", nargs="+", default=[str(SHARED / "corpora/real-en/text/*.txt.gz")])
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=list(MODELS))
    ap.add_argument("--shared", nargs="+", type=int, default=[0, 1],
                    help="shared_negatives values to time (0 = exact train_slice; NS models only)")
    ap.add_argument("--max-words", type=int, default=0, help="use only the first shards up to this many words")
    ap.add_argument("--no-loss", action="store_true", help="compute_loss=0 (the default config computes it)")
    ap.add_argument("--repeat", type=int, default=1, help="timings per configuration (the best is kept)")
    ap.add_argument("--threads", type=int, default=1, help="Hogwild threads on the same matrices")
    ap.add_argument("--cache", help="an .npz file keeping the encoded tokens between runs (made if missing)")
    ap.add_argument("--against", metavar="REV",
                    help="time this checkout's kernels against those of git revision REV (e.g. HEAD~1), "
                         "alternating the two --repeat times per configuration")
    ap.add_argument("--draws", type=int, default=0,
                    help="only time this many noise draws (gensim's bisect over the whole table, then "
                         "the kernels' indexed search) on the corpus' noise table, and exit")
    args = ap.parse_args()

    warmup()
    if args.cache and Path(args.cache).exists():
        z = np.load(args.cache)
        counts, ids, offsets = z["counts"], z["ids"], z["offsets"]
    else:
        vocab, ids, offsets = encoded(args.inputs, args.max_words)
        counts = np.asarray(vocab.counts, dtype=np.int64)
        if args.cache:
            np.savez(args.cache, counts=counts, ids=ids, offsets=offsets)
    V, D, S = counts.shape[0], 100, offsets.shape[0] - 1
    keep = keep_probabilities(counts, 1e-3)
    cum = noise_cum_table(counts, 0.75)
    if args.draws:
        time_draws(cum, args.draws)
        return
    huff = build_huffman(counts)
    dummy = (np.zeros((1, D), np.float32), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.uint8),
             np.zeros(1, np.int32))
    T = max(1, args.threads)
    cuts = [int(np.searchsorted(offsets[:-1], ids.shape[0] * t // T, "left")) for t in range(T)] + [S]
    print(f"CPU: {cpu_model()}; {ids.shape[0]:,} words, {S:,} sentences, V={V:,}, D={D}, {T} thread(s), "
          f"one epoch, compute_loss={int(not args.no_loss)}\n")
    def time_once(kernels, model, sh):
        """One epoch of ``model`` by ``kernels`` (a module with train_slice / train_slice_shared)
        from the same initial weights: (wall s, thread CPU s, effective words, loss)."""
        sg, alpha, hs = MODELS[model]
        neg = 0 if hs else 5
        syn0, syn1neg, syn1 = initial_weights(V, D, 1, neg, hs)
        tabs = (keep, np.ones(1, np.int64)) + huff if hs else (keep, cum) + dummy[1:]
        t = [np.zeros(V, np.uint8), np.zeros(syn1neg.shape[0], np.uint8), np.zeros(syn1.shape[0], np.uint8)]
        arg_lists = []
        for k in range(T):
            a = (syn0, syn1neg, syn1, ids, offsets, cuts[k], cuts[k + 1], *tabs,
                 sg, 1, 5, neg, hs, alpha, 0.0001, 1 + 7919 * k, t[0], t[1], t[2], int(not args.no_loss))
            arg_lists.append(a if sh == 0 else a + (sh,))
        res, dt, cpu = run_threads(kernels.train_slice if sh == 0 else kernels.train_slice_shared, arg_lists)
        return dt, cpu, sum(int(r[1]) for r in res), sum(float(r[2]) for r in res)

    if args.against:
        old = kernels_at(args.against)
        print(f"This checkout's kernels against {args.against}'s, alternated {args.repeat} times per configuration "
              f"(each run one epoch); effective words per CPU second\n")
        print(f"| model | mode | threads | this checkout, best | {args.against}, best | best / best | "
              "median of the paired ratios (min-max) |")
        print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for model in args.models:
            for sh in (args.shared if not MODELS[model][2] else [0]):
                time_once(old, model, sh)  # compile / load the other checkout's kernels untimed
                new_w, old_w = [], []
                for _ in range(args.repeat):
                    for kern, out in ((kernels, new_w), (old, old_w)):
                        dt, cpu, eff, _ = time_once(kern, model, sh)
                        out.append(eff / cpu)
                r = np.array(new_w) / np.array(old_w)
                mode = "exact" if sh == 0 else f"shared_negatives={sh}"
                print(f"| {model} | {mode} | {T} | {max(new_w):,.0f} | {max(old_w):,.0f} | {max(new_w) / max(old_w):.3f} | "
                      f"{np.median(r):.3f} ({r.min():.3f}-{r.max():.3f}) |", flush=True)
        return

    print("| model | mode | threads | wall s | CPU s | effective words per CPU second | effective words per wall second | loss per word | vs exact |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model in args.models:
        base = None
        for sh in (args.shared if not MODELS[model][2] else [0]):
            best = None
            for _ in range(args.repeat):
                r = time_once(kernels, model, sh)
                if best is None or r[1] < best[1]:
                    best = r
            dt, cpu, eff, loss = best
            wps = eff / cpu
            base = base or (wps if sh == 0 else None)
            mode = "exact" if sh == 0 else f"shared_negatives={sh}"
            rel = f"{wps / base:.2f}x" if base else ""
            print(f"| {model} | {mode} | {T} | {dt:.1f} | {cpu:.1f} | {wps:,.0f} | {eff / dt:,.0f} | "
                  f"{loss / max(eff, 1):.3f} | {rel} |", flush=True)

if __name__ == "__main__":
    main()
