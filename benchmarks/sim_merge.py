"""Merge rules for K word2vec replicas, simulated in one process (issue 8).

K replicas train skip-gram (negative=5, window=5, vector_size=100, min_count=5, sample=1e-3,
alpha 0.025 to 0.0001, compute_loss=0) on K contiguous, equal-word streams of the first
``--shards`` shards of the shared corpus, one after another in this process, and are merged into
a central copy every ``--S`` words each replica trains (a round).  Everything but the schedule is
w2v-dist's own: corpus reading, vocabulary and encoding (``w2v_dist.corpus``, ``w2v_dist.vocab``),
the tables and initial weights of ``w2v_dist.training.driver``, the Numba kernel (``train_slice``,
exact) and the merge rules of ``w2v_dist.training.merge``.  Alpha decays with the words of all
replicas; a replica's seed is the driver's and worker's formula with the (sub-)round index.  At the
end syn0 is evaluated (analogies, questions-words 3CosAdd on the 30,000 most frequent words;
WordSim-353 and SimLex-999 Spearman) with ``data/eval`` of this repository.  No Dask: the
simulation says what a merge rule does to quality, not how fast a cluster runs it.

Schemes (``--rule``):

  seq          K=1, no merge (rounds of --S words only pace alpha and seeds, as the driver's solo rounds)
  interleave   one model, no merge, trained on the K streams' slices of each (sub-)round one after
               another: sequential training in the order K replicas see the corpus (the reference
               that tells the order of the words from the merging)
  scaled-sum   merge_scaled_sum with row_scales(expected_updates(..., max(W_k)/R), alpha0, K, c=--c)
  sum | mean | touched-mean   the project's merge_sum / merge_mean / merge_touched_mean
  bmuf         block momentum (BMUF: K. Chen and Q. Huo, "Scalable training of deep learning machines
               by incremental block training with intra-block parallel optimization and blockwise
               model-update filtering", ICASSP 2016): G = sum(deltas)/K (dense over all rows),
               M = mu M + G, central += M, mu = --mu (default 1 - 1/K)
  bmuf-sparse  the same, but only on the union of touched rows (M of other rows frozen, not applied)
  hotcold      the --hot most frequent rows of syn0 and syn1neg are merged every --s words per
               replica with --hot-rule; all other rows every --S words with --cold-rule
               (rules: sum, mean, touched-mean, scaled-sum, bmuf, bmuf-sparse).  --hot-lag 1: a
               replica receives the merged hot rows one hot sync late (as the driver overlaps
               them with training); --hot-lag 2: the same plus the known part of the next momentum
               step, mu M (the driver sends central + mu M).  --hot-syn1neg N: N hot rows of
               syn1neg instead of --hot (in SG-NS a syn1neg row gets about 6x the updates of the
               same word's syn0 row: every pair draws ``negative`` noise rows); --cold-rule-syn1neg:
               another rule for syn1neg's cold rows

Every replica starts a (cold) round from the central copy; at a hot sync only its hot rows are
reset to the central ones.

Each run prints a ``RESULT {json}`` line and appends it to ``--results`` (default
``benchmarks/results/sim_merge.jsonl``); ``--table FILE`` prints such a file as a markdown table
(one row per run, with its command).  ``--cache FILE`` keeps the encoded corpus in an .npz between
runs; ``--save F.npy`` writes the central syn0 for ``benchmarks/compare_vectors.py`` (norms and
neighbour agreement with the sequential run, by frequency band).  The rows of
``benchmarks/results/sim_merge.jsonl`` came from these commands (3 epochs over 4
shards, the defaults; every row's command is in the table's last column):

    python benchmarks/sim_merge.py --rule seq --K 1 --S 1000000 --seed 1     # sequential, seeds 1 and 2
    python benchmarks/sim_merge.py --rule seq --K 1 --S 1000000 --seed 2
    python benchmarks/sim_merge.py --rule scaled-sum --K 8 --S 25000          # also --seed 2, --S 5000,
                                                                             # --c 0.03 (diverges), --c 0.3
    python benchmarks/sim_merge.py --rule mean --K 8 --S 25000                # also --S 5000
    python benchmarks/sim_merge.py --rule bmuf --K 8 --S 5000                 # also --S 25000
    python benchmarks/sim_merge.py --rule bmuf-sparse --K 8 --S 5000
    python benchmarks/sim_merge.py --rule hotcold --K 8 --S 25000 --s 5000 --hot 1000 \\
        --hot-rule bmuf --cold-rule sum                                      # also --seed 2, --hot 200/500/2000
    python benchmarks/sim_merge.py --rule hotcold --K 8 --S 25000 --s 5000 --hot 1000 \\
        --hot-rule bmuf --cold-rule sum --hot-lag 1                          # also --s 2500
    python benchmarks/sim_merge.py --rule hotcold --K 8 --S 25000 --s 5000 --hot 1000 \\
        --hot-rule bmuf --cold-rule sum --hot-lag 2
    python benchmarks/sim_merge.py --rule hotcold --K 4 --S 50000 --s 5000 --hot 1000 \\
        --hot-rule bmuf --cold-rule sum                                      # also --hot 500/2000
    python benchmarks/sim_merge.py --rule scaled-sum --K 4 --S 50000
    python benchmarks/sim_merge.py --table benchmarks/results/sim_merge.jsonl

(and hotcold variants of --S 50000/100000, --s 10000/25000, --hot-rule mean/scaled-sum,
--cold-rule scaled-sum; see the table).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "data" / "eval"
SHARDS = "corpora/real-en/text/shard-{:03d}.txt.gz"  # under SHARED
D = 100
RULES = ("sum", "mean", "touched-mean", "scaled-sum", "bmuf", "bmuf-sparse")


def load_corpus(n_shards: int, cache: str | None = None):
    """``(counts, ids, offsets, words)`` of the first ``n_shards`` shards (min_count=5), read
    from the .npz ``cache`` if it exists, else encoded by w2v-dist and saved there (if given)."""
    if cache and Path(cache).exists():
        z = np.load(cache, allow_pickle=False)
        if "shards" in z.files and int(z["shards"]) != n_shards:
            raise ValueError(f"{cache} holds {int(z['shards'])} shards, not --shards {n_shards}")
        return z["counts"], z["ids"], z["offsets"], [str(w) for w in z["words"]]
    from bench_kernel import encoded

    vocab, ids, offsets = encoded([str(SHARED / SHARDS.format(i)) for i in range(n_shards)], 0)
    words = vocab.words_array()
    counts = np.asarray(vocab.counts, dtype=np.int64)
    wl = [str(w) for w in words.to_pylist()]
    if cache:
        np.savez(cache, counts=counts, ids=ids, offsets=offsets, words=np.array(wl), shards=n_shards)
    return counts, ids, offsets, wl


def evaluate(words, syn0) -> dict:
    """Analogy accuracy, WordSim-353 and SimLex-999 Spearman of ``syn0`` (w2v_dist.evaluation)."""
    from w2v_dist.evaluation import evaluate as ev
    from w2v_dist.vectors import WordVectors

    wv = WordVectors(words, syn0)
    r = ev(wv, analogies=str(EVAL / "questions-words.txt"),
           word_pairs=[str(EVAL / "wordsim353.tsv"), str(EVAL / "simlex999.txt")])
    return {"analogy": r["analogy_accuracy"], "ws353": r["wordsim353_spearman"], "simlex": r["simlex999_spearman"]}


# ---------------------------------------------------------------- merges on a subset of rows
class Merger:
    """One rule for one matrix, with its state (momentum)."""

    def __init__(self, rule, V, K, mu, scale=None):
        self.rule, self.K, self.mu, self.scale = rule, K, mu, scale
        self.M = np.zeros((V, D), np.float32) if rule.startswith("bmuf") else None

    def __call__(self, central, rows, deltas, rowset=None):
        """rows/deltas per replica (rows sorted unique, subset of rowset); rowset: the rows this
        merge is responsible for (None: all rows) -- only used by dense bmuf.  Returns the rows
        of ``central`` that changed."""
        from w2v_dist.training.merge import merge_mean, merge_scaled_sum, merge_sum, merge_touched_mean

        K = self.K
        if self.rule == "sum":
            return merge_sum(central, rows, deltas)
        if self.rule == "mean":
            return merge_mean(central, rows, deltas)
        if self.rule == "touched-mean":
            return merge_touched_mean(central, rows, deltas)
        if self.rule == "scaled-sum":
            return merge_scaled_sum(central, rows, deltas, scale=self.scale)
        if self.rule in ("bmuf", "bmuf-sparse"):
            if self.rule == "bmuf":
                rs = np.arange(central.shape[0]) if rowset is None else rowset
            else:
                rs = np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
            G = np.zeros((rs.size, D), np.float32)
            for r, d in zip(rows, deltas):
                if r.size:
                    G[np.searchsorted(rs, r)] += d
            G *= np.float32(1.0 / K)
            Mr = self.M[rs] * np.float32(self.mu) + G
            self.M[rs] = Mr
            central[rs] += Mr
            return rs
        raise ValueError(self.rule)


def simulate(args, cmd: str) -> dict:
    """Train and merge the K replicas as ``args`` says, evaluate the central syn0 and return the
    result row (``cmd``: the command line to record with it)."""
    from w2v_dist.config import Config
    from w2v_dist.kernels import train_slice, warmup
    from w2v_dist.training.driver import initial_weights, training_tables
    from w2v_dist.training.merge import expected_updates, row_scales

    t_start = time.perf_counter()
    counts, ids, offsets, vocab_words = load_corpus(args.shards, args.cache)
    V, N = counts.shape[0], int(ids.shape[0])
    cfg = Config(sg=1, negative=5, window=5, vector_size=D, alpha=0.025, min_alpha=0.0001, sample=1e-3,
                 epochs=args.epochs, seed=args.seed, compute_loss=0)
    tb = training_tables(counts, cfg)
    warmup(sg=1, hs=0, negative=5)
    K = args.K
    mu = args.mu if args.mu is not None else 1.0 - 1.0 / K
    # K contiguous streams of equal words, cut at sentence boundaries
    starts = offsets[:-1]
    cuts = [0] + [int(np.searchsorted(starts, N * k // K, "left")) for k in range(1, K)] + [offsets.shape[0] - 1]
    streams = [(cuts[k], cuts[k + 1]) for k in range(K)]
    W_k = [int(offsets[b] - offsets[a]) for a, b in streams]
    per_epoch = sum(W_k)
    total = args.epochs * per_epoch
    R = max(1, math.ceil(max(W_k) / args.S))  # (cold) rounds per epoch, as the driver
    hotcold = args.rule == "hotcold"
    m = max(1, round(args.S / args.s)) if hotcold and args.s else 1  # sub-rounds per round
    RS = R * m
    H = args.hot if hotcold else 0
    # hot rows of syn0 and of syn1neg: the most frequent ids (--hot-syn1neg: another count for syn1neg)
    Hs = [H, (args.hot_syn1neg if args.hot_syn1neg is not None else H) if hotcold else 0]
    hots = [np.arange(h, dtype=np.int64) for h in Hs]

    def alpha_at(p):
        return max(cfg.min_alpha, cfg.alpha - (cfg.alpha - cfg.min_alpha) * p / total)

    def sent_range(k, lo_num, hi_num, den):
        """Sentences of stream k in words [lo_num / den, hi_num / den) of its epoch: a sentence
        belongs where its first word is."""
        a, b = streams[k]
        base = int(offsets[a])
        lo, hi = base + W_k[k] * lo_num // den, base + W_k[k] * hi_num // den
        s_lo = int(np.searchsorted(starts, lo, "left"))
        s_hi = int(np.searchsorted(starts, hi, "left"))
        s_lo, s_hi = max(s_lo, a), min(s_hi, b)
        return s_lo, s_hi, int(offsets[s_hi] - offsets[s_lo]) if s_hi > s_lo else 0

    syn0, syn1neg, syn1 = initial_weights(V, D, args.seed, 5, 0)
    central = [syn0, syn1neg]
    # interleave: one model trains the K streams' slices one after another (no replicas, no merge)
    reps = [[c.copy() for c in central] for _ in range(K)] if K > 1 and args.rule != "interleave" \
        else [central] * K
    touched = [[np.zeros(V, np.uint8), np.zeros(V, np.uint8), np.zeros(1, np.uint8)] for _ in range(K)]
    wpr = max(W_k) / R  # words per replica round, as driver's expected_updates argument
    scale_alpha = cfg.alpha
    n_up_cold = expected_updates(counts, tb["keep_prob"], wpr, sg=1, window=5, negative=5, ns_exponent=0.75, hs=0)
    n_up_hot = expected_updates(counts, tb["keep_prob"], wpr / m, sg=1, window=5, negative=5, ns_exponent=0.75, hs=0)

    rule_main = args.cold_rule if hotcold else args.rule
    cold_rules = [rule_main, args.cold_rule_syn1neg or rule_main] if hotcold else [rule_main, rule_main]
    cold_m = [Merger(cold_rules[i], V, K, mu, row_scales(n_up_cold[i], scale_alpha, K, c=args.c)) for i in range(2)]
    hot_m = [Merger(args.hot_rule, V, K, mu, row_scales(n_up_hot[i], scale_alpha, K, c=args.c)) for i in range(2)]
    if hotcold:
        cold_rows_all = []  # per matrix
        for i in range(2):
            cold_mask = np.ones(V, bool)
            cold_mask[hots[i]] = False
            cold_rows_all.append(np.flatnonzero(cold_mask).astype(np.int64))
    print(f"V={V:,} N={N:,} K={K} W_k={W_k[0]:,}.. R={R}/epoch m={m} rule={args.rule} "
          f"{'hot=%d s=%d hot_rule=%s cold_rule=%s' % (H, args.s, args.hot_rule, args.cold_rule) if hotcold else ''} "
          f"mu={mu:.3f} c={args.c} seed={args.seed}", flush=True)

    hbase = [[central[i][hots[i]].copy() for i in range(2)] for _ in range(K)]  # hot-lag: rows at the last hot update
    hinflight = [[None, None] for _ in range(K)]
    done = 0
    eff_total = 0
    diverged = False
    stats = {"cold_rounds": 0, "hot_syncs": 0, "rows_up": [], "rows_down": [], "hot_rows_up": [],
             "union": [[], []], "touched_per_rep": [[], []]}
    t_train = time.perf_counter()
    # the sub-rounds: (epoch, lo, hi, den, first of its round, last of its round)
    schedule = []
    if args.alpha_rounds:
        # --alpha-rounds X: a (cold) round starting at global progress p is S * alpha0 / alpha(p)
        # words a replica, at most X * S, cut at the epoch's end; hot syncs every --s words
        Wm = max(W_k)
        for e in range(args.epochs):
            q = 0
            while q < Wm:
                p = (e * Wm + q) / (args.epochs * Wm)
                a = max(cfg.min_alpha, cfg.alpha - (cfg.alpha - cfg.min_alpha) * p)
                L = min(Wm - q, max(1, int(min(args.S * cfg.alpha / a, args.alpha_rounds * args.S))))
                if Wm - q - L < L // 4:  # no stub round at the epoch's end
                    L = Wm - q
                n = max(1, round(L / args.s)) if hotcold and args.s else 1
                for i in range(n):
                    schedule.append((e, q + L * i // n, q + L * (i + 1) // n, Wm, i == 0, i == n - 1))
                q += L
    else:
        for e in range(args.epochs):
            for j in range(RS):
                schedule.append((e, j, j + 1, RS, j % m == 0, j % m == m - 1 or j == RS - 1))
    n_sub_total = len(schedule)
    norm = float("nan")
    for g in range(n_sub_total):  # g = global sub-round index
        _e, lo_num, hi_num, den, first_of_round, last_of_round = schedule[g]
        sw = [sent_range(k, lo_num, hi_num, den) for k in range(K)]
        words = sum(x[2] for x in sw)
        a0, a1 = alpha_at(done), alpha_at(done + words)
        if first_of_round:
            for k in range(K):
                for t in touched[k]:
                    t[:] = 0
        for k in range(K):
            s_lo, s_hi, _w = sw[k]
            if s_hi <= s_lo:
                continue
            seed = (args.seed * 1_000_003 + g * 7919 + k * 104_729) & 0xFFFFFFFFFFFF
            seed = int((seed + 0x9E3779B97F4A7C15 * 1) & 0xFFFFFFFFFFFF)
            r0, r1 = reps[k]
            raw, eff, _ = train_slice(r0, r1, syn1, ids, offsets, s_lo, s_hi, tb["keep_prob"], tb["cum_table"],
                                      tb["points"], tb["codes"], tb["codelens"], 1, 1, 5, 5, 0, a0, a1, seed,
                                      touched[k][0], touched[k][1], touched[k][2], 0)
            eff_total += int(eff)
        done += words
        if K > 1 and args.rule != "interleave":
            if hotcold and H > 0 and not last_of_round and args.hot_lag:  # hot sync, one sub-round late
                for i in range(2):
                    dl = [reps[k][i][hots[i]] - hbase[k][i] for k in range(K)]  # changes of this sub-round
                    prev = central[i][hots[i]].copy()  # merges up to the previous sub-round
                    if args.hot_lag == 2 and hot_m[i].M is not None:  # extrapolate the momentum step
                        prev += np.float32(hot_m[i].mu) * hot_m[i].M[hots[i]]
                    hot_m[i](central[i], [hots[i]] * K, dl, rowset=hots[i])
                    for k in range(K):
                        # the replica gets `prev` now (the merge of this sub-round arrives next time);
                        # its own changes of this sub-round are not in prev yet, so they are kept
                        new_k = prev + hinflight[k][i] if hinflight[k][i] is not None else prev
                        # rows = central(j-1) + own inflight change d(j); the base equals them
                        reps[k][i][hots[i]] = new_k + dl[k]
                        hbase[k][i] = reps[k][i][hots[i]].copy()
                        hinflight[k][i] = None  # d(j) is in prev+... handled by adding dl[k] above
                stats["hot_syncs"] += 1
            elif hotcold and H > 0 and not last_of_round:  # hot sync only
                for i in range(2):
                    dl = [reps[k][i][hots[i]] - central[i][hots[i]] for k in range(K)]
                    hot_m[i](central[i], [hots[i]] * K, dl, rowset=hots[i])
                    for k in range(K):
                        reps[k][i][hots[i]] = central[i][hots[i]]
                stats["hot_syncs"] += 1
            elif last_of_round:
                up = down = 0
                for i in range(2):
                    rows_k = [np.flatnonzero(touched[k][i]).astype(np.int64) for k in range(K)]
                    if hotcold and H > 0:
                        if args.hot_lag:
                            dl = [reps[k][i][hots[i]] - hbase[k][i] for k in range(K)]
                        else:
                            dl = [reps[k][i][hots[i]] - central[i][hots[i]] for k in range(K)]
                        hot_m[i](central[i], [hots[i]] * K, dl, rowset=hots[i])
                        rows_k = [r[r >= Hs[i]] for r in rows_k]  # hot = ids 0..Hs[i]-1
                        stats["hot_syncs"] += 1 if i == 0 else 0
                    deltas = [reps[k][i][r] - central[i][r] for k, r in enumerate(rows_k)]
                    changed = cold_m[i](central[i], rows_k, deltas,
                                        rowset=cold_rows_all[i] if hotcold else None)
                    up += sum(int(r.size) for r in rows_k)
                    down += int(np.asarray(changed).size) * K
                    stats["union"][i].append(int(np.unique(np.concatenate(rows_k)).size))
                    stats["touched_per_rep"][i].append(float(np.mean([r.size for r in rows_k])))
                stats["rows_up"].append(up)
                stats["rows_down"].append(down)
                stats["cold_rounds"] += 1
                for k in range(K):
                    for i in range(2):
                        np.copyto(reps[k][i], central[i])
                        if args.hot_lag:
                            hbase[k][i] = central[i][hots[i]].copy()
        if last_of_round:
            norm = float(np.linalg.norm(central[0], axis=1).mean())
            if not np.isfinite(norm) or norm > 1e3:
                diverged = True
                print(f"DIVERGED at sub-round {g}: norm {norm}", flush=True)
                break
        if (g + 1) % max(1, n_sub_total // 12) == 0:
            el = time.perf_counter() - t_train
            print(f"  {g + 1}/{n_sub_total} alpha={a1:.5f} syn0 norm={norm:.3f} "
                  f"eff w/s={eff_total / el:,.0f} {el:.0f}s", flush=True)
    train_s = time.perf_counter() - t_train
    n0 = float(np.linalg.norm(central[0], axis=1).mean())
    n1 = float(np.linalg.norm(central[1], axis=1).mean())
    res = {"analogy": float("nan"), "ws353": float("nan"), "simlex": float("nan")}
    if not diverged and np.isfinite(n0):
        res = evaluate(vocab_words, central[0])
    if args.save:
        np.save(args.save, central[0])
    wall = time.perf_counter() - t_start
    return {"cmd": cmd, "tag": args.tag, "rule": args.rule, "K": K, "S": args.S, "s": args.s,
            "alpha_rounds": args.alpha_rounds, "hot": H, "hot_syn1neg": Hs[1], "cold_rule_syn1neg": cold_rules[1] if hotcold else None,
            "hot_lag": args.hot_lag, "hot_rule": args.hot_rule if hotcold else None,
            "cold_rule": args.cold_rule if hotcold else None,
            "c": args.c, "mu": mu, "seed": args.seed, "epochs": args.epochs, "shards": args.shards,
            "rounds": stats["cold_rounds"] if K > 1 else args.epochs * R, "hot_syncs": stats["hot_syncs"],
            "norm0": n0, "norm1": n1, "diverged": diverged, **res, "train_s": train_s, "wall_s": wall,
            "eff_words": eff_total, "V": V, "N": N,
            "rows_up_med": float(np.median(stats["rows_up"])) if stats["rows_up"] else 0.0,
            "rows_down_med": float(np.median(stats["rows_down"])) if stats["rows_down"] else 0.0,
            "union_med": [float(np.median(u)) if u else 0.0 for u in stats["union"]],
            "touched_per_rep_med": [float(np.median(u)) if u else 0.0 for u in stats["touched_per_rep"]]}


def table(rows: list[dict]) -> str:
    """The markdown table of result rows (one line per run, numbered in file order)."""
    lines = ["| # | K | scheme | seed | rounds (hot syncs) | WS-353 | SimLex | analogy % | syn0 / syn1neg norm "
             "| wall s | command |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        if r["rule"] == "hotcold":
            sch = (f"hot/cold H={r['hot']} hot={r['hot_rule']}@{r['s'] / 1000:g}k "
                   f"cold={r['cold_rule']}@{r['S'] / 1000:g}k")
            if r.get("hot_lag"):
                sch += f" lag {r['hot_lag']}"
            if r.get("hot_syn1neg") is not None and r["hot_syn1neg"] != r["hot"]:
                sch += f" syn1neg H={r['hot_syn1neg']}"
            if r.get("cold_rule_syn1neg") and r["cold_rule_syn1neg"] != r["cold_rule"]:
                sch += f" syn1neg cold={r['cold_rule_syn1neg']}"
        elif r["rule"] == "seq":
            sch = "sequential"
        elif r["rule"] == "interleave":
            sch = f"sequential, K streams interleaved every {r['S'] / 1000:g}k"
        else:
            sch = f"{r['rule']} S={r['S'] / 1000:g}k"
        if r["rule"] in ("scaled-sum",) or r.get("cold_rule") == "scaled-sum" or r.get("hot_rule") == "scaled-sum":
            if r["c"] != 0.1:
                sch += f" c={r['c']}"
        if (r["mu"] and abs(r["mu"] - (1 - 1 / r["K"])) > 1e-9
                and "bmuf" in (r["rule"] + str(r.get("hot_rule")) + str(r.get("cold_rule")))):
            sch += f" mu={r['mu']:.3f}"
        if r.get("alpha_rounds"):
            sch += f" (rounds from {r['S'] / 1000:g}k by alpha0 / alpha, at most x{r['alpha_rounds']:g})"
        if r["epochs"] != 3 or r["shards"] != 4:
            sch += f" ({r['epochs']}ep/{r['shards']}sh)"
        hs = f" ({r['hot_syncs']})" if r["hot_syncs"] else ""
        d = "DIVERGED " if r["diverged"] else ""
        lines.append(f"| {i + 1} | {r['K']} | {sch} | {r['seed']} | {r['rounds']}{hs} | {d}{r['ws353']:.3f} "
                     f"| {r['simlex']:.3f} | {100 * r['analogy']:.1f} | {r['norm0']:.2f} / {r['norm1']:.2f} "
                     f"| {r['wall_s']:.0f} | `{r['cmd']}` |")
    return "\n".join(lines)


def command_line(argv: list[str]) -> str:
    """The arguments that define a run (``argv`` without --results, --out, --cache and --save)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--results", "--out", "--cache", "--save"):
            skip = True
        elif not a.startswith(("--results=", "--out=", "--cache=", "--save=")):
            out.append(a)
    return " ".join(out)


def main() -> None:
    """Run one simulation and append its result, or print ``--table``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", default="scaled-sum", choices=("seq", "interleave", "hotcold") + RULES,
                    help="merge scheme (default %(default)s)")
    ap.add_argument("--K", type=int, default=8, help="replicas (default %(default)s)")
    ap.add_argument("--S", type=int, default=25000, help="words per replica per (cold) round (default %(default)s)")
    ap.add_argument("--s", type=int, default=0, help="hotcold: words per replica between hot syncs")
    ap.add_argument("--hot", type=int, default=0, help="hotcold: number of hot rows (most frequent)")
    ap.add_argument("--hot-rule",
                    default="bmuf", choices=RULES, help="hotcold: merge rule of the hot rows (default %(default)s)")
    ap.add_argument("--cold-rule",
                    default="sum", choices=RULES, help="hotcold: merge rule of the other rows (default %(default)s)")
    ap.add_argument("--hot-lag", type=int, default=0, choices=[0, 1, 2],
                    help="hotcold: 1 = a replica receives the merged hot rows one sub-round late (overlap, "
                         "as the driver's overlap: central of the previous hot merge + its own unmerged changes); "
                         "2 = the same plus the known part of the next momentum step, mu * M (the driver sends "
                         "central + mu M)")
    ap.add_argument("--alpha-rounds", type=float, default=0.0, metavar="X",
                    help="rounds sized by the learning rate: a round at progress p is S * alpha0 / alpha(p) "
                         "words a replica, at most X * S (0, the default: every round S words)")
    ap.add_argument("--hot-syn1neg", type=int, default=None,
                    help="hotcold: hot rows of syn1neg, if not --hot (its rows get about 6x syn0's updates in SG-NS)")
    ap.add_argument("--cold-rule-syn1neg", default=None, choices=RULES,
                    help="hotcold: merge rule of syn1neg's cold rows, if not --cold-rule")
    ap.add_argument("--save", metavar="NPY", help="write the central syn0 (float32 [V, D]) there at the end, "
                                                  "for benchmarks/compare_vectors.py")
    ap.add_argument("--c", type=float, default=0.1, help="row_scales constant (default %(default)s)")
    ap.add_argument("--scale-alpha", default="initial", choices=["initial", "round"],
                    help="row_scales from the job's initial alpha (driver) or the round's "
                         "(not used yet: row_scales always take the initial alpha)")
    ap.add_argument("--mu", type=float, default=None, help="BMUF momentum (default 1 - 1/K)")
    ap.add_argument("--seed", type=int, default=1, help="default %(default)s")
    ap.add_argument("--epochs", type=int, default=3, help="default %(default)s")
    ap.add_argument("--shards", type=int, default=4,
                    help="the first N shards of the shared corpus (default %(default)s)")
    ap.add_argument("--tag", default="", help="a label stored with the result")
    ap.add_argument("--results", "--out", dest="results",
                    default=str(ROOT / "benchmarks" / "results" / "sim_merge.jsonl"),
                    help="the JSON-lines file each result is appended to (default benchmarks/results/sim_merge.jsonl)")
    ap.add_argument("--cache", help="an .npz file keeping the encoded corpus of --shards between runs "
                                    "(made if missing)")
    ap.add_argument("--table", metavar="FILE", help="only print the results in FILE as a markdown table")
    args = ap.parse_args()

    if args.table:
        with open(args.table) as fh:
            print(table([json.loads(line) for line in fh if line.strip()]))
        return
    out = simulate(args, command_line(sys.argv[1:]))
    print("RESULT " + json.dumps(out), flush=True)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
