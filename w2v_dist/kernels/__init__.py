"""Numba training kernels (skip-gram / CBOW with negative sampling).

Public API:

* :func:`train_slice` -- train a range of sentences of one partition in place;
* :func:`sg_pair_step`, :func:`cbow_step`, :func:`ns_update` -- the single-step
  building blocks used by ``train_slice`` (exposed for tests / other variants);
* :func:`warmup` -- compile (or load from Numba's on-disk cache) the kernels
  for the dtypes used in training, e.g. on a worker before timing.

See :mod:`w2v_dist.kernels.ns` for the semantics and sources.
"""

import numpy as np

from .ns import cbow_step, ns_update, sg_pair_step, train_slice

__all__ = ["train_slice", "sg_pair_step", "cbow_step", "ns_update", "warmup"]


def warmup() -> None:
    """Run ``train_slice`` once for CBOW and once for skip-gram on a tiny corpus.

    Triggers Numba compilation (or cache loading) for the production argument
    types: float32 [V, D] weights, int32 ids, int64 offsets / cum_table, uint32
    keep_prob, uint8 touched flags, Python int / float scalars. Nothing is
    returned; the toy arrays are discarded.
    """
    V, D = 4, 8
    rng = np.random.default_rng(0)
    syn0 = ((rng.random((V, D), dtype=np.float32) - np.float32(0.5)) / np.float32(D))
    syn1neg = np.zeros((V, D), dtype=np.float32)
    ids = np.array([0, 1, 2, 3, 2, 1], dtype=np.int32)
    offsets = np.array([0, 4, 6], dtype=np.int64)
    keep_prob = np.full(V, 2**32 - 1, dtype=np.uint32)
    cum_table = np.array([1, 2, 3, 4], dtype=np.int64)
    touched0 = np.zeros(V, dtype=np.uint8)
    touched1 = np.zeros(V, dtype=np.uint8)
    for sg in (0, 1):
        train_slice(syn0, syn1neg, ids, offsets, 0, 2, keep_prob, cum_table,
                    sg, 1, 2, 2, 0.025, 0.0001, 1, touched0, touched1, 1)
