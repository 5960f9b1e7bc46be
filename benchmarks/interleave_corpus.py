"""Write a corpus's lines in the order K merged replicas see them, for a 1-worker reference run.

With K workers, w2v-dist gives worker k about the k-th K-th of the corpus's words (whole files,
balanced by words) and trains, in round j of an epoch, the j-th of its ``R`` slices; so K
replicas see K far-apart parts of the corpus at once, where one worker reads it front to back.
This script writes the same lines in the order "round 0 of stream 0, round 0 of stream 1, ...,
round 0 of stream K-1, round 1 of stream 0, ...": one worker trained on the output sees the words
in the order the K replicas did, merging nothing, which splits a K-worker run's difference from
one worker into what the order of the words does and what merging does
(benchmarks/README.md, "Where merged replicas lose").  Streams and slices are cut at line
boundaries into equal numbers of whitespace-separated tokens (the driver cuts by in-vocabulary
words, so this is close, not exact).

    python benchmarks/interleave_corpus.py --workers 8 --rounds 80 --out DIR
    python benchmarks/bench_quality.py --inputs 'DIR/*.txt.gz' --models sg --seeds 1 2 --workers 1 \\
        --intervals 1 --json RESULTS.json

``--rounds`` is the K-worker run's rounds per epoch (``rounds_per_epoch`` in its metrics.json: 80
for 8 workers at the default ``sync_total`` on the shared corpus).  Reads gzip or plain text
files, in sorted order; writes ``--shards`` gzip files ``shard-NNN.txt.gz`` into ``--out``
(created; existing files of those names are replaced).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED  # noqa: E402


def cuts(cum: np.ndarray, lo: int, hi: int, n: int) -> list[int]:
    """Line indices cutting lines ``[lo, hi)`` into ``n`` runs of about equal tokens
    (``cum``: int64 [lines + 1], tokens before each line)."""
    return [lo] + [int(np.searchsorted(cum, cum[lo] + (cum[hi] - cum[lo]) * i / n)) for i in range(1, n)] + [hi]


def interleaved_order(tokens_per_line: np.ndarray, workers: int, rounds: int) -> np.ndarray:
    """int64 [lines]: the line indices in the order K replicas train them (see the module doc)."""
    cum = np.concatenate([[0], np.cumsum(tokens_per_line, dtype=np.int64)])
    streams = cuts(cum, 0, tokens_per_line.size, workers)
    slices = [cuts(cum, streams[k], streams[k + 1], rounds) for k in range(workers)]
    order = [np.arange(slices[k][j], slices[k][j + 1]) for j in range(rounds) for k in range(workers)]
    return np.concatenate(order) if order else np.zeros(0, np.int64)


def dealt_order(tokens_per_line: np.ndarray, workers: int, rounds: int) -> tuple[np.ndarray, list[int]]:
    """The other way round: the corpus cut into ``rounds`` stretches, each stretch into ``workers``
    pieces, and stream k made of piece k of every stretch.  Returns the line order (int64 [lines])
    and where each stream starts in it (``workers + 1`` offsets).  Written as one file per stream,
    a K-worker run gives worker k stream k, so that the K slices of round j are together stretch j
    of the corpus: the replicas see the words in one worker's order, at the round's grain."""
    cum = np.concatenate([[0], np.cumsum(tokens_per_line, dtype=np.int64)])
    stretches = cuts(cum, 0, tokens_per_line.size, rounds)
    pieces = [cuts(cum, stretches[j], stretches[j + 1], workers) for j in range(rounds)]
    streams = [np.concatenate([np.arange(pieces[j][k], pieces[j][k + 1]) for j in range(rounds)])
               for k in range(workers)]
    starts = np.cumsum([0] + [x.size for x in streams]).tolist()
    return np.concatenate(streams), starts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", default=str(SHARED / "corpora/real-en/text/*.txt.gz"), help="a glob of text files")
    ap.add_argument("--workers", type=int, default=8, help="K (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=80, help="rounds per epoch of the K-worker run (default %(default)s)")
    ap.add_argument("--shards", type=int, default=12, help="output files (default %(default)s)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--deal", action="store_true",
                    help="write the corpus dealt out instead (dealt_order): one file per worker, for a K-worker run")
    args = ap.parse_args()

    files = sorted(glob.glob(args.inputs))
    if not files:
        raise SystemExit(f"--inputs {args.inputs}: no file matches")
    lines: list[str] = []
    for f in files:
        with (gzip.open(f, "rt", encoding="utf-8") if f.endswith(".gz") else open(f, encoding="utf-8")) as fh:
            lines.extend(line.rstrip("\n") for line in fh)
    tokens = np.array([len(line.split()) for line in lines], dtype=np.int64)
    if args.deal:
        order, starts = dealt_order(tokens, args.workers, args.rounds)
        args.shards = args.workers
    else:
        order = interleaved_order(tokens, args.workers, args.rounds)
        starts = [order.size * i // args.shards for i in range(args.shards + 1)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.shards):
        part = order[starts[i]: starts[i + 1]]
        with gzip.open(out / f"shard-{i:03d}.txt.gz", "wt", encoding="utf-8") as fh:
            fh.writelines(lines[j] + "\n" for j in part)
    print(f"{len(lines):,} lines of {len(files)} files -> {args.shards} files in {out}, "
          f"{args.workers} streams x {args.rounds} slices")


if __name__ == "__main__":
    main()
