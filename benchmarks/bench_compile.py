"""Numba compile time of the training kernels from nothing: what a fresh machine (or CI) pays once.

Each configuration is compiled in a fresh Python process with an empty ``NUMBA_CACHE_DIR``, by
``w2v_dist.kernels.warmup`` for that configuration (what a worker runs when its replica is made),
and the wall seconds of that call are printed; then the same again with the cache the first call
wrote (a warm start: loading from Numba's on-disk cache).

    python benchmarks/bench_compile.py                 # the ten variants, then all at once
    python benchmarks/bench_compile.py --only sg cbow  # exact SG-NS and CBOW-NS only
    python benchmarks/bench_compile.py --only all --checkout ../old   # another checkout's kernels

``--checkout DIR`` imports ``w2v_dist`` from another working tree (e.g. ``git worktree add ../old
REV``); before this script's commit ``warmup()`` took no arguments, so only ``all`` runs there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "sg": dict(sg=1, hs=0, negative=5), "cbow": dict(sg=0, hs=0, negative=5),
    "sg-hs": dict(sg=1, hs=1, negative=0), "cbow-hs": dict(sg=0, hs=1, negative=0),
    "sg-hs-ns": dict(sg=1, hs=1, negative=5), "cbow-hs-ns": dict(sg=0, hs=1, negative=5),
    "sg-fast": dict(sg=1, hs=0, negative=5, shared_negatives=2),
    "cbow-fast": dict(sg=0, hs=0, negative=5, shared_negatives=2),
    "sg-hs-ns-fast": dict(sg=1, hs=1, negative=5, shared_negatives=2),
    "cbow-hs-ns-fast": dict(sg=0, hs=1, negative=5, shared_negatives=2),
    "all": {},
}


def timed_warmup(kwargs: dict, cache_dir: str, checkout: Path = ROOT) -> float:
    """Wall seconds of ``warmup(**kwargs)`` in a new process with this Numba cache folder.

    Raises
    ------
    subprocess.CalledProcessError
        The child failed.
    """
    code = ("import time; from w2v_dist.kernels import warmup; t = time.perf_counter(); "
            f"warmup(**{kwargs!r}); print(time.perf_counter() - t)")
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=list(CONFIGS), help="these configurations (default: all)")
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the working tree whose w2v_dist is compiled")
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; seconds of warmup() in a new process\n")
    print("| configuration | from nothing s | from the cache s |")
    print("| --- | ---: | ---: |")
    for name in args.only or list(CONFIGS):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as d:
            cold = timed_warmup(CONFIGS[name], d, args.checkout)
            warm = timed_warmup(CONFIGS[name], d, args.checkout)
        print(f"| {name} {CONFIGS[name] or '(every variant)'} | {cold:.1f} | {warm:.1f} |", flush=True)


if __name__ == "__main__":
    main()
