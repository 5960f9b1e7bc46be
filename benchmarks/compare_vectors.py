"""How far trained vectors are from a reference run, by word frequency (issue 8's diagnostic).

Spearman scores on WordSim-353 (353 pairs) and SimLex-999 move by about a point between two seeds
of the same run, so they say little about *where* K merged replicas lose against one.  This script
compares each model with a reference model of the same vocabulary (e.g. the 1-worker run), band by
band of frequency rank:

* **norm ratio**: the mean L2 norm of the band's vectors over the reference's.  Training grows
  the norms; a ratio below 1 in every band means the model trained less far.
* **neighbour overlap**: for 300 words drawn from the band (the same words for every model), the
  share of their 10 nearest neighbours by cosine (among the ``--top`` most frequent words) that
  are also among their 10 nearest in the reference.  Two seeds of the same run set the floor of
  this measure: compare a model's overlap with the reference's second seed, not with 1.

Inputs are anything :func:`w2v_dist.vectors.load_vectors` reads (an output folder, ``vectors.bin``,
word2vec text) or a ``.npy`` float32 [V, D] array in the reference's row order.

    python benchmarks/compare_vectors.py REFERENCE MODEL [MODEL ...]

Raises ``SystemExit`` naming the file when a model's first 1,000 words are not the reference's
(another vocabulary or order) or its shape differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BANDS = (0, 100, 1000, 3000, 10000, 30000)


def load(path: str) -> tuple[list[str] | None, np.ndarray]:
    """``(words or None, float32 [V, D] vectors)`` of ``path`` (``.npy``: no words)."""
    if path.endswith(".npy"):
        return None, np.load(path).astype(np.float32, copy=False)
    from w2v_dist.vectors import load_vectors

    wv = load_vectors(path)
    return list(wv.index_to_key), np.asarray(wv.vectors, dtype=np.float32)


def neighbours(vectors: np.ndarray, rows: np.ndarray, top: int, k: int = 10) -> np.ndarray:
    """int64 [len(rows), k]: the ``k`` rows of ``vectors[:top]`` nearest by cosine to each of
    ``rows`` (the row itself excluded)."""
    unit = vectors[:top] / np.maximum(np.linalg.norm(vectors[:top], axis=1, keepdims=True), 1e-12)
    q = vectors[rows] / np.maximum(np.linalg.norm(vectors[rows], axis=1, keepdims=True), 1e-12)
    sims = q @ unit.T
    own = rows < top
    sims[np.flatnonzero(own), rows[own]] = -np.inf
    return np.argsort(-sims, axis=1)[:, :k]


def compare(ref_norms: np.ndarray, ref_nbrs: list[np.ndarray], model: np.ndarray, bands: list[tuple[int, int]],
            samples: list[np.ndarray], top: int) -> tuple[list, list]:
    """Per band ``[a, b)`` of rows: norm ratio (model / reference, ``ref_norms`` float [V]) and
    the mean top-10 neighbour overlap of the band's ``samples`` (int64 rows) with the reference's
    neighbours of them (``ref_nbrs``, :func:`neighbours`)."""
    mn = np.linalg.norm(model, axis=1)
    ratios = [float(mn[a:b].mean() / ref_norms[a:b].mean()) for a, b in bands]
    overlaps = []
    for rows, a in zip(samples, ref_nbrs):
        b = neighbours(model, rows, top)
        overlaps.append(float(np.mean([len(set(x) & set(y)) / x.size for x, y in zip(a, b)])))
    return ratios, overlaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--top", type=int, default=30000,
                    help="neighbours among the N most frequent words (default %(default)s)")
    ap.add_argument("--per-band", type=int, default=300, help="words drawn per band (default %(default)s)")
    args = ap.parse_args()

    ref_words, ref = load(args.reference)
    V = ref.shape[0]
    top = min(args.top, V)
    bands = [(a, min(b, V)) for a, b in zip(BANDS, BANDS[1:] + (V,)) if a < V]
    rng = np.random.default_rng(0)
    samples = [np.sort(rng.choice(np.arange(a, b), size=min(args.per_band, b - a), replace=False)) for a, b in bands]
    ref_norms = np.linalg.norm(ref, axis=1)
    ref_nbrs = [neighbours(ref, rows, top) for rows in samples]  # once, for every model
    head = ", ".join(f"{a}-{b}" for a, b in bands)
    print(f"reference {args.reference}: V={V:,}, D={ref.shape[1]}; neighbours among the {top:,} most frequent words\n")
    print(f"| model | norm ratio by rank band ({head}) | top-10 neighbour overlap by band | mean overlap |")
    print("| --- | --- | --- | ---: |")
    for path in args.models:
        words, vec = load(path)
        if vec.shape != ref.shape:
            raise SystemExit(f"{path}: shape {vec.shape}, the reference's is {ref.shape}")
        if words is not None and ref_words is not None and words[:1000] != ref_words[:1000]:
            raise SystemExit(f"{path}: its first 1,000 words are not the reference's (another vocabulary or order)")
        ratios, overlaps = compare(ref_norms, ref_nbrs, vec, bands, samples, top)
        print(f"| {path} | {' '.join(f'{x:.3f}' for x in ratios)} | {' '.join(f'{x:.3f}' for x in overlaps)} "
              f"| {np.mean(overlaps):.3f} |")


if __name__ == "__main__":
    main()
