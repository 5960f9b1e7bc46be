"""Numba training kernels (skip-gram / CBOW with negative sampling and/or
hierarchical softmax).

Public API:

* :func:`train_slice` -- train a range of sentences of one partition in place;
* :func:`sg_hs_pair_step`, :func:`cbow_hs_step` -- one SGD step with HS and/or
  NS (what ``train_slice`` runs); :func:`sg_pair_step`, :func:`cbow_step` --
  the NS-only steps; :func:`ns_update`, :func:`hs_update` -- the two output
  layers (exposed for tests / other variants);
* :func:`train_slice_shared` -- fast mode of ``train_slice``: one draw of noise words shared
  by the contexts of a center word (HogBatch); :func:`sg_shared_step`, :func:`cbow_shared_step`,
  :func:`ns_shared_batch` -- its steps (exposed for tests);
* :func:`build_huffman` -- Huffman codes / points for HS (gensim-compatible);
* :func:`warmup` -- compile (or load from Numba's on-disk cache) the kernels
  for the dtypes used in training, e.g. on a worker before timing.

See :mod:`w2v_dist.kernels.ns` and :mod:`w2v_dist.kernels.huffman` for the
semantics and sources.
"""

import numpy as np

from .huffman import MAX_CODE_LENGTH, build_huffman
from .ns import (cbow_hs_step, cbow_shared_step, cbow_step, hs_update, ns_shared_batch, ns_update,
                 sg_hs_pair_step, sg_pair_step, sg_shared_step, train_slice, train_slice_shared)

__all__ = ["train_slice", "sg_pair_step", "cbow_step", "sg_hs_pair_step", "cbow_hs_step",
           "ns_update", "hs_update", "train_slice_shared", "sg_shared_step", "cbow_shared_step",
           "ns_shared_batch", "build_huffman", "MAX_CODE_LENGTH", "warmup"]


def warmup(sg: int | None = None, hs: int | None = None, negative: int | None = None,
           shared_negatives: int = 0) -> None:
    """Compile (or load from Numba's on-disk cache) the kernels a job will call.

    Runs :func:`train_slice` (or :func:`train_slice_shared`, when ``shared_negatives >= 1``) on a
    tiny corpus with the production argument types: float32 [V, D] weights (``syn0``,
    ``syn1neg``, ``syn1``), int32 ids, int64 offsets / cum_table, uint32 keep_prob, int32 points
    / codelens, uint8 codes and touched flags, Python int / float scalars, and the driver's
    dummies for a disabled output layer. Each kernel is compiled per ``(sg, hs, negative > 0)``
    (see :func:`train_slice`); a compile from nothing takes tens of seconds, so only the variant
    of the given parameters is compiled. A parameter left ``None`` means every value: ``warmup()``
    compiles all six exact variants and the four fast-mode ones. Also builds a tiny Huffman tree
    (compiles :func:`build_huffman`'s helpers). Nothing is returned; the toy arrays are discarded.

    Parameters
    ----------
    sg, hs : 0 or 1, optional
    negative : int >= 0, optional
        Only whether it is positive matters.
    shared_negatives : int
        0: the exact kernel (:func:`train_slice`); >= 1: the fast mode (:func:`train_slice_shared`),
        which needs ``negative >= 1``. With ``sg`` / ``hs`` / ``negative`` all ``None`` both are
        compiled.
    """
    V, D = 4, 8
    rng = np.random.default_rng(0)
    syn0 = ((rng.random((V, D), dtype=np.float32) - np.float32(0.5)) / np.float32(D))
    ids = np.array([0, 1, 2, 3, 2, 1], dtype=np.int32)
    offsets = np.array([0, 4, 6], dtype=np.int64)
    keep_prob = np.full(V, 2**32 - 1, dtype=np.uint32)
    points, codes, codelens = build_huffman(np.array([4, 3, 2, 1], dtype=np.int64))
    touched0 = np.zeros(V, dtype=np.uint8)
    everything = sg is None and hs is None and negative is None
    layers = [(h, n) for h, n in ((0, 2), (1, 0), (1, 2))
              if (hs is None or h == int(bool(hs))) and (negative is None or (n > 0) == (negative > 0))]
    for hs_, negative_ in layers:
        if negative_ > 0:
            syn1neg = np.zeros((V, D), dtype=np.float32)
            cum_table = np.array([1, 2, 3, 4], dtype=np.int64)
            touched1 = np.zeros(V, dtype=np.uint8)
        else:
            syn1neg = np.zeros((1, D), dtype=np.float32)
            cum_table = np.ones(1, dtype=np.int64)
            touched1 = np.zeros(1, dtype=np.uint8)
        if hs_:
            syn1 = np.zeros((V - 1, D), dtype=np.float32)
            pts, cds, cls = points, codes, codelens
            touched2 = np.zeros(V - 1, dtype=np.uint8)
        else:
            syn1 = np.zeros((1, D), dtype=np.float32)
            pts = np.zeros((1, 1), dtype=np.int32)
            cds = np.zeros((1, 1), dtype=np.uint8)
            cls = np.zeros(1, dtype=np.int32)
            touched2 = np.zeros(1, dtype=np.uint8)
        for sg_ in ((0, 1) if sg is None else (int(bool(sg)),)):
            args = (syn0, syn1neg, syn1, ids, offsets, 0, 2, keep_prob, cum_table, pts, cds, cls,
                    sg_, 1, 2, negative_, hs_, 0.025, 0.0001, 1, touched0, touched1, touched2, 1)
            if everything or not shared_negatives:
                train_slice(*args)
            if negative_ > 0 and (everything or shared_negatives):  # fast mode exists only with NS
                train_slice_shared(*args, max(1, int(shared_negatives)))
