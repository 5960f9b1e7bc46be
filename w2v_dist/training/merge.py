"""Merge rules: how the replicas' changes of one round enter the central copy.

A round starts with every replica equal to the central copy ``W`` (float32, V x D).  Replica ``k``
trains on its share and sends back the rows it changed, ``rows_k`` (int64, sorted, unique) and
``delta_k = W_k[rows_k] - W[rows_k]`` (float32, len(rows_k) x D).  A merge rule turns these into the
new central copy, in place, and returns the rows it changed.

The rule is a named, swappable part (``merge=`` in the config) because the obvious rules fail in
different ways as the number of replicas K grows (../shared/evidence/averaging.md, a simulation on
the shared corpus, SG-NS, 5.25M tokens):

* ``sum``: ``W += sum_k delta_k``.  Matched sequential training at K=2 but diverged at K >= 4:
  frequent rows get K nearly parallel updates.  The default, for K <= 2.
* ``mean``: ``W += sum_k delta_k / K`` (plain model averaging).  Stable, but every row learns at
  about 1/K speed; lost 9 WordSim-353 points already at K=2.
* ``touched-mean``: each row averaged over the replicas that changed it (Spark MLlib's
  Word2Vec).  As poor as ``mean`` in the same simulation.

Rules that hold at 4-8 replicas (block momentum and cheaper synchronisation) are the subject of the
distributed-fidelity work; they plug in here through :data:`MERGE_RULES`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

MergeFn = Callable[[np.ndarray, Sequence[np.ndarray], Sequence[np.ndarray]], np.ndarray]


def _union(rows: Sequence[np.ndarray]) -> np.ndarray:
    if not rows:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]))


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
    for r, d in zip(rows, deltas):
        central[r] += d  # rows unique within one replica: fancy-index add is exact
    return _union(rows)


def merge_mean(central: np.ndarray, rows: Sequence[np.ndarray], deltas: Sequence[np.ndarray]) -> np.ndarray:
    """``central[r] += (sum of the deltas of row r) / K`` with K the number of replicas (model averaging).

    Same parameters and return value as :func:`merge_sum`.
    """
    k = np.float32(1.0 / max(len(rows), 1))
    for r, d in zip(rows, deltas):
        central[r] += d * k
    return _union(rows)


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


MERGE_RULES: dict[str, MergeFn] = {
    "sum": merge_sum,
    "mean": merge_mean,
    "touched-mean": merge_touched_mean,
}


def get_merge_rule(name: str) -> MergeFn:
    """The merge function registered under ``name``.

    Raises
    ------
    KeyError
        ``name`` is not in :data:`MERGE_RULES`.
    """
    return MERGE_RULES[name]
