"""Merge rules: how the replicas' changes of one round enter the central copy.

A round starts with every replica equal to the central copy ``W`` (float32, V x D).  Replica ``k``
trains on its share and sends back the rows it changed, ``rows_k`` (int64, sorted, unique) and
``delta_k = W_k[rows_k] - W[rows_k]`` (float32, len(rows_k) x D).  A merge rule turns these into the
new central copy, in place, and returns the rows it changed.

The rule is a named, swappable part (``merge=`` in the config) because the obvious rules fail in
different ways as the number of replicas K grows (../shared/evidence/averaging.md, a simulation on
the shared corpus, SG-NS, 5.25M tokens):

* ``scaled-sum`` (the default): ``W[r] += s_r sum_k delta_k[r]`` with a per-row factor ``s_r``
  from 1 (the sum, for rows that barely move in a round) down to 1/K (the mean, for rows that
  reach their local equilibrium within a round), computed from each row's expected updates per
  round (:func:`expected_updates`, :func:`row_scales`).  On the whole shared corpus with 2 worker
  processes it brought hierarchical softmax back to gensim's quality, where the plain sum lost
  3-4 analogy points (the top Huffman nodes are updated by every pair), and it is closer to gensim
  than the sum for the NS models too (benchmarks/README.md).
* ``sum``: ``W += sum_k delta_k``.  Matched sequential training at K=2 but diverged at K >= 4:
  frequent rows get K nearly parallel updates.
* ``mean``: ``W += sum_k delta_k / K`` (plain model averaging).  Stable, but every row learns at
  about 1/K speed; lost 9 WordSim-353 points already at K=2.
* ``touched-mean``: each row averaged over the replicas that changed it (Spark MLlib's
  Word2Vec).  As poor as ``mean`` in the same simulation.

None of these holds SG-NS at 8 replicas on its own.  Since the hot rows (:mod:`w2v_dist.training.hot`,
``hot_rows`` in the config) the most-updated rows are merged apart, by block momentum several times
a round, and the rule here merges only the other (cold) rows, which rarely collide.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numba import njit

MergeFn = Callable[[np.ndarray, Sequence[np.ndarray], Sequence[np.ndarray]], np.ndarray]


def _union(rows: Sequence[np.ndarray]) -> np.ndarray:
    if not rows:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]))


@njit(nogil=True, cache=True)
def _add_rows(central, rows, deltas, scale, per_row, factor, mark):  # pragma: no cover - compiled
    """``central[rows[i]] += deltas[i] * s`` in place, float32, ``s = scale[rows[i]]`` when
    ``per_row`` else ``factor``; marks the rows.  The same float32 products and sums as numpy's
    ``central[r] += d * s`` (no fused multiply-add: not fastmath), with no temporary arrays."""
    D = central.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        mark[r] = 1
        s = scale[r] if per_row else factor
        for j in range(D):
            central[r, j] += deltas[i, j] * s


def _add_all(central: np.ndarray, rows, deltas, scale=None, factor: float = 1.0) -> np.ndarray:
    """Every replica's ``deltas`` into ``central`` (:func:`_add_rows`); the union of their rows."""
    mark = np.zeros(central.shape[0], dtype=np.uint8)
    sc = np.ones(1, np.float32) if scale is None else np.ascontiguousarray(scale, dtype=np.float32)
    for r, d in zip(rows, deltas):
        r = np.ascontiguousarray(r, dtype=np.int64)
        if r.size:
            _add_rows(central, r, np.ascontiguousarray(d, dtype=np.float32), sc, scale is not None,
                      np.float32(factor), mark)
    return np.flatnonzero(mark).astype(np.int64)


def merge_sum(central: np.ndarray, rows: Sequence[np.ndarray], deltas: Sequence[np.ndarray]) -> np.ndarray:
    """``central[r] += sum of the deltas of row r`` over all replicas.

    Parameters
    ----------
    central : float32 array [V, D], updated in place.
    rows : one int64 array per replica, sorted unique row ids it changed.
    deltas : one float32 array [len(rows[k]), D] per replica.

    Returns
    -------
    int64 array of the rows of ``central`` that changed, sorted.
    """
    return _add_all(central, rows, deltas)  # rows unique within one replica


def merge_mean(central: np.ndarray, rows: Sequence[np.ndarray], deltas: Sequence[np.ndarray]) -> np.ndarray:
    """``central[r] += (sum of the deltas of row r) / K`` with K the number of replicas (model averaging).

    Same parameters and return value as :func:`merge_sum`.
    """
    return _add_all(central, rows, deltas, factor=1.0 / max(len(rows), 1))


def merge_touched_mean(central: np.ndarray, rows: Sequence[np.ndarray], deltas: Sequence[np.ndarray]) -> np.ndarray:
    """``central[r] += (sum of the deltas of row r) / t_r``, t_r = replicas that changed row r (Spark MLlib).

    Same parameters and return value as :func:`merge_sum`.
    """
    union = _union(rows)
    if union.size == 0:
        return union
    acc = np.zeros((union.size, central.shape[1]), dtype=np.float32)
    touches = np.zeros(union.size, dtype=np.float32)
    for r, d in zip(rows, deltas):
        pos = np.searchsorted(union, r)
        acc[pos] += d
        touches[pos] += 1.0
    central[union] += acc / touches[:, None]
    return union


def merge_scaled_sum(central: np.ndarray, rows: Sequence[np.ndarray], deltas: Sequence[np.ndarray],
                     scale: np.ndarray | None = None) -> np.ndarray:
    """``central[r] += scale[r] * (sum of the deltas of row r)``: the sum, damped per row.

    Parameters
    ----------
    central, rows, deltas
        As :func:`merge_sum`.
    scale : float32 array [V], optional
        Per-row factor in ``[1/K, 1]`` (:func:`row_scales`); None is the plain sum.

    Returns
    -------
    int64 array of the rows of ``central`` that changed, sorted.
    """
    if scale is None:
        return merge_sum(central, rows, deltas)
    return _add_all(central, rows, deltas, scale=scale)


merge_scaled_sum.needs_row_scale = True  # the driver passes ``scale=row_scales(...)`` every round


def expected_updates(counts: np.ndarray, keep_prob: np.ndarray, words_per_round: float, *, sg: int,
                     window: int, negative: int, ns_exponent: float, hs: int, points: np.ndarray | None = None,
                     codelens: np.ndarray | None = None) -> list[np.ndarray]:
    """Expected SGD updates of every row of ``[syn0, syn1neg, syn1]`` in one replica's round.

    A replica trains ``words_per_round`` raw words a round; word ``w`` is kept with probability
    ``keep_prob[w] / (2**32 - 1)`` (subsampling), so its kept share is
    ``e_w = counts[w] * keep[w] / sum(counts * keep)`` of the ``S = words_per_round * sum(counts *
    keep) / sum(counts)`` kept words.  A kept word has about ``P = window + 1`` context pairs (the
    reduced window ``b`` is uniform in ``1..window`` and ``2 E[b] = window + 1``).  Then, in the
    word2vec.c orientation (skip-gram predicts the center word from each context word; CBOW
    predicts it once from the window):

    * syn0 row ``w``: ``e_w S P`` (as a context word, in either model);
    * syn1neg row ``w``: ``e_w S m`` as the positive plus ``S m negative u_w`` as a noise word,
      with ``m = P`` for skip-gram and 1 for CBOW and ``u_w`` the unigram^ns_exponent
      distribution;
    * syn1 node ``n``: ``S m sum_{w: n on the path of w} e_w``.

    Parameters
    ----------
    counts : int64 [V]
    keep_prob : uint32 [V]
        :func:`w2v_dist.vocab.keep_probabilities`.
    words_per_round : float
        Raw in-vocabulary words one replica trains per round.
    points : int32 [V, L], codelens : int32 [V]
        The Huffman paths (:func:`w2v_dist.kernels.build_huffman`), needed when ``hs``.

    Returns
    -------
    list of three float64 arrays: [V] (syn0), [V] or [1] (syn1neg), [V - 1] or [1] (syn1).
    """
    c = np.asarray(counts, dtype=np.float64)
    keep = np.asarray(keep_prob, dtype=np.float64) / (2**32 - 1)
    kept = c * keep
    S = words_per_round * kept.sum() / max(c.sum(), 1.0)
    e = kept / max(kept.sum(), 1e-300)
    P = float(window + 1)
    m = P if sg else 1.0
    syn0 = e * S * P
    if negative > 0:
        u = c ** ns_exponent
        syn1neg = e * S * m + S * m * negative * u / max(u.sum(), 1e-300)
    else:
        syn1neg = np.zeros(1)
    if hs and points is not None and c.size > 1:
        L = points.shape[1]
        on_path = np.arange(L)[None, :] < np.asarray(codelens)[:, None]
        weights = np.broadcast_to((e * S * m)[:, None], points.shape)[on_path]
        syn1 = np.bincount(points[on_path], weights=weights, minlength=c.size - 1)
    else:
        syn1 = np.zeros(1)
    return [syn0, syn1neg, syn1]


def row_periods(n_updates: Sequence[np.ndarray] | None, rare_every: int, sizes: Sequence[int]) -> list:
    """Rounds between two sends of each row to the driver (``rare_every``), per matrix.

    With ``P = rare_every``, a row expected to get ``n`` updates in a replica's round
    (:func:`expected_updates`) is sent every ``min(P, floor(P / n))`` rounds (at least 1): a row
    with ``n >= P`` every round, a rarer one once its changes add up to about ``P`` updates, and
    at least every ``P`` rounds.  Rare rows rarely collide between replicas
    (``../shared/evidence/averaging.md``, the per-row diagnostic), so sending them late costs
    little, and they are most of a round's rows: every noise draw touches a syn1neg row.

    Parameters
    ----------
    n_updates : per matrix, float [rows], or None (no merging: returns [])
    rare_every : int in [1, 255]
    sizes : rows of each matrix; a matrix of one row (the dummy of an unused one), or whose
        ``n_updates`` has another length, gets None (every changed row every round).

    Returns
    -------
    list of uint8 arrays [rows] (values in ``[1, rare_every]``) or None, one per matrix.
    """
    if n_updates is None:
        return []
    P = int(rare_every)
    out = []
    for n, size in zip(n_updates, sizes):
        n = np.asarray(n, dtype=np.float64)
        if size <= 1 or n.size != size:
            out.append(None)
            continue
        with np.errstate(divide="ignore", over="ignore"):
            p = np.floor(P / n)  # inf for never-updated rows
        out.append(np.clip(p, 1, P).astype(np.uint8))
    return out


def row_scales(n_updates: np.ndarray, alpha: float, replicas: int, c: float = 0.1) -> np.ndarray:
    """Per-row damping of the summed deltas: from the sum (rare rows) to the mean (busy rows).

    ``scale = (1 - q**K) / (K (1 - q))`` with ``q = exp(-c * alpha * n)``, ``n`` the row's
    expected updates in a replica's round (:func:`expected_updates`).  A row that reaches its local
    equilibrium within a round (``alpha n`` large, ``q`` near 0) gets ``1/K`` (the mean: K replicas
    made nearly the same move); a row that barely moves (``q`` near 1) gets 1 (the sum: the moves
    add up).  This is a geometric series: K successive steps each shrinking the distance by ``q``
    cover ``(1 - q**K) / (1 - q)`` times the first step.  The frequency-aware rule of the planning
    study (``../shared/evidence/averaging.md``, Q3, ``c = 0.1`` fitted there on the per-row
    diagnostic).

    ``alpha`` is the job's initial learning rate, not the round's decayed one.  With the decayed
    rate ``q`` rises towards 1 late in training, so more and more rows are summed rather than
    averaged; at 8 replicas the sum of nearly parallel moves then overshoots.  On the whole shared
    corpus CBOW-NS at 8 workers x 25,000 words a round diverged in its last epoch that way (loss per
    word 2.14, then 734; benchmarks/README.md, "Row scales from the initial learning rate").

    Returns
    -------
    float32 array, same shape as ``n_updates``, values in ``[1/K, 1]``.
    """
    K = max(int(replicas), 1)
    q = np.exp(-c * alpha * np.asarray(n_updates, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(q < 1.0 - 1e-12, (1.0 - q**K) / (K * (1.0 - q)), 1.0)
    return np.clip(s, 1.0 / K, 1.0).astype(np.float32)


MERGE_RULES: dict[str, MergeFn] = {
    "sum": merge_sum,
    "mean": merge_mean,
    "touched-mean": merge_touched_mean,
    "scaled-sum": merge_scaled_sum,
}


def get_merge_rule(name: str) -> MergeFn:
    """The merge function registered under ``name``.

    Raises
    ------
    KeyError
        ``name`` is not in :data:`MERGE_RULES`.
    """
    return MERGE_RULES[name]
