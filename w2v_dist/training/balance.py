"""Streams balanced by words, not files.

Shards are assigned to workers whole (a gzip shard cannot be split by bytes), so with 12 shards
and 8 workers four workers hold two shards and four hold one: the largest stream sets the number
of rounds of an epoch and the others idle half of each round.  After encoding, each worker's
*home stream* (its encoded shards one after another) is therefore cut at sentence boundaries so
that every worker trains ``total / K`` words an epoch, within one sentence:

* a worker with more than its share keeps a prefix of its home stream, its first ``keep`` words;
* the rest, its surplus, is cut into *pieces* that go, once, to the workers short of their share,
  which train their whole home stream and then their pieces.

Only the surplus moves, and it moves once: the pieces stay on their new workers for all epochs,
in the same form as an encoded shard.  A sentence belongs to the range that holds its first word,
as in :func:`w2v_dist.training.worker._plan`, and every cut is moved to a sentence start, so
every sentence is trained exactly once an epoch.

The plan is deterministic: the same home streams give the same cuts, so after a lost worker's
shards are encoded again the streams are rebuilt exactly (the driver redoes the moves).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .encoded import _store_part, part_offsets, part_words, slice_arrays


def targets(total: int, replicas: int) -> list[int]:
    """Words of each of ``replicas`` balanced streams: ``total * (k + 1) // K - total * k // K``."""
    K = max(int(replicas), 1)
    return [total * (k + 1) // K - total * k // K for k in range(K)]


def plan_moves(words: Sequence[int]) -> tuple[list[int], list[tuple[int, int, int, int]]]:
    """Which words of which home stream each worker trains, before the cuts meet sentence starts.

    Parameters
    ----------
    words : K ints
        Words of each worker's home stream.

    Returns
    -------
    keep : K ints
        Each worker trains the first ``keep[k]`` words of its home stream (all of them when it is
        short of its share).
    moves : list of ``(src, dst, lo, hi)``
        Words ``[lo, hi)`` of ``src``'s home stream go to ``dst``; sorted by ``src`` then ``lo``.
        For each ``src`` the ranges tile ``[keep[src], words[src])``; each ``dst`` receives its
        deficit ``targets[dst] - words[dst]`` in all.
    """
    W = [int(w) for w in words]
    T = targets(sum(W), len(W))
    keep = [min(w, t) for w, t in zip(W, T)]
    need = [[k, t - w] for k, (w, t) in enumerate(zip(W, T)) if t > w]
    moves = []
    j = 0
    for src, (w, t) in enumerate(zip(W, T)):
        pos = keep[src]
        while pos < w:
            dst, n = need[j]
            take = min(n, w - pos)
            moves.append((src, dst, pos, pos + take))
            pos += take
            need[j][1] -= take
            if need[j][1] == 0:
                j += 1
    return keep, moves


def sentence_starts_at(parts: Sequence, positions: Sequence[int]) -> list[int]:
    """Move each stream position to the first sentence start at or after it.

    Parameters
    ----------
    parts : encoded partitions (either form of :mod:`w2v_dist.training.encoded`), in stream order
    positions : ints, words of the stream

    Returns
    -------
    list of int
        For each position, the smallest sentence start ``>= position`` of the stream, or the
        stream's length when no sentence starts there.
    """
    n = [part_words(p) for p in parts]
    total = int(sum(n))
    starts = [np.asarray(part_offsets(p)[:-1], dtype=np.int64) + b
              for p, b in zip(parts, np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64))]
    allstarts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    pos = np.asarray(positions, dtype=np.int64)
    i = np.searchsorted(allstarts, pos, "left")
    return [int(allstarts[x]) if x < allstarts.size else total for x in i.tolist()]


def cut_piece(lo: int, hi: int, *parts) -> tuple[np.ndarray, np.ndarray, dict]:
    """The sentences whose first word lies in words ``[lo, hi)`` of a home stream, in memory.

    ``lo`` and ``hi`` are sentence starts (or the stream's end) from :func:`sentence_starts_at`.

    Returns
    -------
    (ids int32 [N], offsets int64 [S + 1], info dict)
        An encoded partition (the in-memory form); ``info["url"]`` names the piece.
    """
    ids_l, off_l = [], []
    base = 0
    start = 0
    for part in parts:
        n = part_words(part)
        a, b = max(lo - start, 0), min(hi - start, n)
        if a < b:
            offsets = part_offsets(part)
            s = np.asarray(offsets[:-1], dtype=np.int64)
            s_lo, s_hi = int(np.searchsorted(s, a, "left")), int(np.searchsorted(s, b, "left"))
            if s_hi > s_lo:
                ids, off, i0, i1 = slice_arrays(part, s_lo, s_hi)
                o = np.asarray(off[i0:i1 + 1], dtype=np.int64)
                ids_l.append(np.asarray(ids[o[0]:o[-1]], dtype=np.int32))
                off_l.append(o[1:] - o[0] + base)
                base += int(o[-1] - o[0])
        start += n
    ids = np.concatenate(ids_l) if ids_l else np.zeros(0, np.int32)
    off = np.concatenate([np.zeros(1, np.int64)] + off_l)
    return ids, off, {"url": f"balance piece [{lo}, {hi})", "invalid_utf8": 0, "error": None}


def store_piece(piece, job: str, name: str, cache: str):
    """Keep a piece on the worker that trains it, as an encoded shard is kept (disk or memory)."""
    ids, off, info = piece
    return _store_part(ids, off, info, job, name, cache)
