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

from .encoded import _store_part, part_ids, part_offsets, part_words


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
    return cut_pieces([(lo, hi)], *parts)


def cut_pieces(ranges: Sequence[tuple[int, int]], *parts) -> tuple[np.ndarray, np.ndarray, dict]:
    """The pieces ``[lo, hi)`` of ``ranges`` (each as :func:`cut_piece`) one after another, as one
    encoded partition: a dealt stream's consecutive pieces that come from one home stream are cut
    and moved by one task (see :func:`group_segments`).  Each part's offsets and ids are opened
    once for all the ranges that reach it.

    Parameters
    ----------
    ranges : ``(lo, hi)`` sentence starts of the home stream, ascending and not overlapping
    parts : the home stream's encoded partitions (either form), in order

    Returns
    -------
    (ids int32 [N], offsets int64 [S + 1], info dict)
        As :func:`cut_piece`; the sentences of every range, in the order of ``ranges``.

    Raises
    ------
    ValueError
        ``ranges`` empty, or not ascending and disjoint.
    """
    r = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    if not r.shape[0] or (r[1:, 0] < r[:-1, 1]).any() or (r[:, 1] < r[:, 0]).any():
        raise ValueError(f"cut_pieces: ranges must be non-empty, ascending and disjoint, got {ranges!r}")
    ids_l, off_l = [], []
    base = start = 0
    for part in parts:  # ranges are ascending, so part by part and range by range keeps their order
        n = part_words(part)
        a, b = np.clip(r[:, 0] - start, 0, n), np.clip(r[:, 1] - start, 0, n)
        use = np.flatnonzero(a < b)
        if use.size:
            offsets, ids = part_offsets(part), part_ids(part)
            s = np.asarray(offsets[:-1], dtype=np.int64)
            for s_lo, s_hi in zip(np.searchsorted(s, a[use], "left").tolist(),
                                  np.searchsorted(s, b[use], "left").tolist()):
                if s_hi > s_lo:
                    o = np.asarray(offsets[s_lo:s_hi + 1], dtype=np.int64)
                    ids_l.append(np.asarray(ids[o[0]:o[-1]], dtype=np.int32))  # (one copy: the concatenate)
                    off_l.append(o[1:] - o[0] + base)
                    base += int(o[-1] - o[0])
        start += n
    ids = np.concatenate(ids_l) if ids_l else np.zeros(0, np.int32)
    off = np.concatenate([np.zeros(1, np.int64)] + off_l)
    what = f"[{r[0, 0]}, {r[0, 1]})" + (f" and {r.shape[0] - 1} more" if r.shape[0] > 1 else "")
    return ids, off, {"url": f"balance piece {what}", "invalid_utf8": 0, "error": None}


def group_segments(segments: Sequence[tuple[int, int, int]], max_words: int) -> list[tuple[int, list]]:
    """Runs of consecutive segments of one dealt stream that come from the same home stream.

    Parameters
    ----------
    segments : ``(src, lo, hi)`` in stream order (:func:`deal_segments`' ``segments[dst]``)
    max_words : int
        A run stops before it would pass this many words (a run holds at least one segment), which
        bounds the memory of one cut task.

    Returns
    -------
    list of ``(src, [(lo, hi), ...])``
        Concatenated in order, the runs' ranges are ``segments``: a stream of S pieces from few
        home streams takes about ``words / max_words`` + (home streams) tasks instead of S.
    """
    runs: list[tuple[int, list]] = []
    words = 0
    for src, lo, hi in segments:
        if runs and runs[-1][0] == src and words + (hi - lo) <= max_words:
            runs[-1][1].append((lo, hi))
            words += hi - lo
        else:
            runs.append((src, [(lo, hi)]))
            words = hi - lo
    return runs


def stream_words(*parts) -> int:
    """In-vocabulary words of a stream of encoded partitions (either form)."""
    return int(sum(part_words(p) for p in parts))


def store_piece(piece, job: str, name: str, cache: str):
    """Keep a piece on the worker that trains it, as an encoded shard is kept (disk or memory)."""
    ids, off, info = piece
    return _store_part(ids, off, info, job, name, cache)


# --- Dealing the corpus out --------------------------------------------------------------------
#
# Merged replicas that each train a contiguous K-th of the corpus see, in every round, K stretches
# of text that lie far apart (K books at once, where one worker reads one book at a time); one
# worker trained on the corpus in that interleaved order loses SimLex-999 as 8 merged workers do
# (benchmarks/README.md, "Where merged replicas lose").  Dealing the corpus out restores the order:
# the global stream (the shards in input order) is cut into ``stretches`` stretches (one a round),
# each stretch into K consecutive pieces, and worker k trains piece k of every stretch, in order.
# In round j all workers train stretch j, as one worker would, and each trains total / K words an
# epoch within a sentence.  It costs moving (K - 1) / K of the encoded corpus once (int32 ids).


def _shard_frame(shard_words: Sequence[int], owner: Sequence[int], K: int):
    """Global starts and ends of the shards, and where each starts in its owner's home stream."""
    w = np.asarray([int(x) for x in shard_words], dtype=np.int64)
    gend = np.cumsum(w)
    gstart = gend - w
    hoff = np.zeros(w.size, np.int64)
    fill = [0] * K
    for i, k in enumerate(owner):
        hoff[i] = fill[k]
        fill[k] += int(w[i])
    return gstart, gend, hoff


def _deal_points(shard_words: Sequence[int], owner: Sequence[int], K: int, stretches: int):
    """The interior cuts ``m = 1 .. stretches * K - 1`` before they meet sentence starts.

    Returns ``(points, frame)``: ``points`` a list of ``(p, i, src, h)``, the cut's global word
    ``p = T * m // (stretches * K)``, its shard ``i``, that shard's owner ``src`` and the cut's
    position ``h`` in ``src``'s home stream (``i``, ``src``, ``h`` None past the last word);
    ``frame`` is :func:`_shard_frame`'s.
    """
    gstart, gend, hoff = frame = _shard_frame(shard_words, owner, K)
    T, n = int(gend[-1]) if gend.size else 0, max(int(stretches), 1) * K
    points = []
    for m in range(1, n):
        p = T * m // n
        i = int(np.searchsorted(gend, p, "right"))
        points.append((p, i, int(owner[i]), int(hoff[i] + p - gstart[i])) if i < gend.size else (p, None, None, None))
    return points, frame


def deal_asks(shard_words: Sequence[int], owner: Sequence[int], K: int, stretches: int):
    """Where the dealt streams are cut, as positions of the owners' home streams to snap.

    Parameters
    ----------
    shard_words : n ints
        In-vocabulary words of each shard, in input order (the global stream).
    owner : n ints
        The worker (0..K-1) whose home stream holds each shard; a home stream is its shards in
        input order.
    K : int
        Workers.
    stretches : int
        Stretches of the global stream (>= 1); there are ``stretches * K + 1`` cuts, the m-th at
        word ``T * m // (stretches * K)`` (``T`` the total), before it meets a sentence start.

    Returns
    -------
    asks : dict src -> sorted list of int
        Home-stream positions of worker ``src`` to move to sentence starts
        (:func:`sentence_starts_at`); pass the answers to :func:`deal_segments`.
    """
    asks: dict[int, set] = {}
    for _, i, src, h in _deal_points(shard_words, owner, K, stretches)[0]:
        if i is not None:
            asks.setdefault(src, set()).add(h)
    return {src: sorted(v) for src, v in asks.items()}


def deal_segments(shard_words: Sequence[int], owner: Sequence[int], K: int, stretches: int, snapped: dict):
    """The dealt streams: which ranges of which home streams each worker trains, in order.

    Parameters
    ----------
    shard_words, owner, K, stretches : as :func:`deal_asks`
    snapped : dict src -> dict position -> sentence start
        The answers to :func:`deal_asks`' positions (:func:`sentence_starts_at` on ``src``'s home
        stream).  A cut whose sentence start lies past the end of its shard moves to that end
        (the next shard's first sentence).

    Returns
    -------
    segments : dict dst -> list of ``(src, lo, hi)``
        Worker ``dst``'s stream: words ``[lo, hi)`` (sentence starts) of ``src``'s home stream, one
        after another; together the segments of all workers tile every home stream once.
    bounds : dict dst -> list of ``stretches + 1`` ints
        Words of ``dst``'s stream before its piece of each stretch (and its total, last): round j
        of an epoch trains words ``[bounds[j], bounds[j + 1])``.
    """
    points, (gstart, gend, hoff) = _deal_points(shard_words, owner, K, stretches)
    T, n = int(gend[-1]) if gend.size else 0, len(points) + 1
    cuts = [0]
    for p, i, src, h in points:
        if i is None:
            cuts.append(T)
            continue
        h = min(int(snapped[src][h]), int(hoff[i] + gend[i] - gstart[i]))
        cuts.append(max(int(gstart[i] + h - hoff[i]), cuts[-1]))
    cuts.append(T)
    segments: dict[int, list] = {k: [] for k in range(K)}
    bounds: dict[int, list] = {k: [0] for k in range(K)}
    for m in range(n):
        a, b, dst = cuts[m], cuts[m + 1], m % K
        for i in range(int(np.searchsorted(gend, a, "right")), gend.size):
            if gstart[i] >= b:
                break
            lo, hi = max(a, int(gstart[i])), min(b, int(gend[i]))
            if hi > lo:
                segments[dst].append((int(owner[i]), int(hoff[i] + lo - gstart[i]), int(hoff[i] + hi - gstart[i])))
        bounds[dst].append(bounds[dst][-1] + b - a)
    return segments, bounds
