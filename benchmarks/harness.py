"""What the benchmark scripts share: the CPU's name, the corpus as one plain token file, and
running a child process while sampling the peak memory of its process tree.

Imported by ``bench_word2vec.py`` and ``bench_phrases.py`` (run them from the repository root or
from ``benchmarks/``; the scripts put this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("W2V_SHARED", ROOT.parent / "shared"))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else ``platform.processor()``)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tokenize_to_file(inputs: list[str], path: Path) -> int:
    """Write the corpus as w2v-dist tokenizes it (a sentence a line, tokens joined by spaces).

    Returns the number of tokens written.
    """
    import numpy as np
    import pyarrow.compute as pc

    from w2v_dist.corpus import discover_shards, read_tokenize

    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for shard in discover_shards(inputs):
            sents = read_tokenize(shard)
            n += int(np.asarray(pc.list_value_length(sents)).sum())
            fh.write("\n".join(pc.binary_join(sents, " ").to_pylist()))
            fh.write("\n")
    return n


def run_sampled(cmd: list[str], on_sample) -> tuple[dict, float]:
    """Run a child that prints ``RESULT {json}``, calling ``on_sample(psutil.Process)`` with the
    child every 0.1 s while it runs (``psutil.Error`` from a process that just ended is ignored);
    return that dict and the wall seconds.

    Raises
    ------
    SystemExit
        The child exited with a non-zero status.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    stop = threading.Event()

    def sample():
        ps = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                on_sample(ps)
            except psutil.Error:
                pass
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[7:]), time.perf_counter() - t0


def measure(cmd: list[str]) -> tuple[dict, float, float]:
    """Run a child that prints ``RESULT {json}``; return that dict, wall seconds and the peak
    resident memory of its process tree in MiB (sampled every 0.1 s).

    Raises
    ------
    SystemExit
        The child exited with a non-zero status.
    """
    peak = [0]

    def tree_rss(ps) -> None:
        rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
        peak[0] = max(peak[0], rss)

    res, wall = run_sampled(cmd, tree_rss)
    return res, wall, peak[0] / 2**20
