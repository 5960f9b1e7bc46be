"""Writing a job's outputs to any fsspec URL, all or nothing.

The output folder receives ``vectors.txt`` and ``vectors.bin`` (word2vec text and binary formats),
``vocab.parquet`` (``word``, ``count``) and ``metrics.json``.  They are first written into a
staging folder beside the target (``.<name>.partial-<id>``), then moved into place, so a failure
while writing never leaves a half-written output folder, and an existing model is never replaced
without ``overwrite``.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import fsspec

from .errors import W2VError

OUTPUT_FILES = ("vectors.txt", "vectors.bin", "vocab.parquet", "metrics.json")


def _fs(url: str, storage_options: dict | None):
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except Exception as exc:  # unknown protocol, missing filesystem package, bad options
        raise W2VError(f"cannot open output {url}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    return fs, path.rstrip("/")


def check_output(url: str, storage_options: dict | None = None, overwrite: bool = False) -> None:
    """Refuse early an output URL that already holds a model (before any work is done).

    Raises
    ------
    W2VError
        ``url`` holds one of :data:`OUTPUT_FILES` and ``overwrite`` is false, ``url`` is an
        existing file rather than a folder, a file stands where one of its parent folders must
        be, or a probe folder beside it cannot be created (permission denied, read-only storage).
    """
    fs, path = _fs(url, storage_options)
    if fs.isfile(path):
        raise W2VError(f"output {url} is an existing file, not a folder")
    if not overwrite and fs.isdir(path):
        present = [f for f in OUTPUT_FILES if fs.exists(f"{path}/{f}")]
        if present:
            raise W2VError(f"output {url} already holds a model ({present[0]}); pass --overwrite to replace it")
    _check_writable(fs, path, url)


def _check_writable(fs, path: str, url: str) -> None:
    """Fail now, not after training, when the output cannot be written: a file stands where a folder
    must be, or a probe beside the target (created and removed at once) is refused."""
    parent, _, name = path.rpartition("/")
    anc = parent
    while anc and not fs.exists(anc):
        anc = anc.rpartition("/")[0]
    if anc and fs.isfile(anc):
        raise W2VError(f"cannot write output {url}: {anc} is a file, not a folder")
    if not parent:
        return
    probe = f"{parent}/.{name}.probe-{uuid.uuid4().hex[:8]}"
    # remove afterwards what the probe creates: the missing parent folders too
    top = probe if anc == parent else f"{anc}/{parent[len(anc):].lstrip('/').split('/')[0]}" if anc else probe
    try:
        fs.makedirs(probe, exist_ok=True)
        fs.touch(f"{probe}/probe")
    except Exception as exc:  # OSError, or e.g. NotImplementedError of a read-only filesystem
        why = "permission denied" if isinstance(exc, PermissionError) else (
            getattr(exc, "strerror", None) or type(exc).__name__)
        raise W2VError(f"cannot write output {url}: {why} ({getattr(exc, 'filename', None) or parent})") from None
    finally:
        try:
            if fs.exists(top):
                fs.rm(top, recursive=True)
        except OSError:
            pass


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not hasattr(obj, "__len__"):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_outputs(url: str, wv, vocab, metrics: dict, storage_options: dict | None = None,
                  overwrite: bool = False) -> list[str]:
    """Write the four outputs into ``url`` atomically (staging folder, then move).

    Parameters
    ----------
    url : str
        Output folder URL.
    wv : WordVectors
    vocab : Vocab
    metrics : dict
        Serialised as ``metrics.json`` (NaN and inf become null).

    Returns
    -------
    list of str
        The URLs written.

    Raises
    ------
    W2VError
        See :func:`check_output`; or the folder cannot be written (permission, storage error).
    """
    check_output(url, storage_options, overwrite)
    fs, path = _fs(url, storage_options)
    parent, _, name = path.rpartition("/")
    staging = f"{parent}/.{name}.partial-{uuid.uuid4().hex[:8]}" if parent else f".{name}.partial-{uuid.uuid4().hex[:8]}"
    so = storage_options or {}
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    surl = staging if proto in ("file", "local") else f"{proto}://{staging}"
    try:
        fs.makedirs(staging, exist_ok=True)
        wv.save_word2vec_format(f"{surl}/vectors.txt", binary=False, storage_options=so)
        wv.save_word2vec_format(f"{surl}/vectors.bin", binary=True, storage_options=so)
        vocab.write_parquet(f"{surl}/vocab.parquet", storage_options=so)
        with fs.open(f"{staging}/metrics.json", "w") as fh:
            json.dump(_clean(metrics), fh, indent=2)
        if fs.isdir(path):
            for f in OUTPUT_FILES:
                if fs.exists(f"{path}/{f}"):
                    fs.rm(f"{path}/{f}")
                fs.mv(f"{staging}/{f}", f"{path}/{f}")
            fs.rm(staging, recursive=True)
        else:
            fs.mv(staging, path, recursive=True)
    except PermissionError as exc:
        raise W2VError(f"cannot write output {url}: permission denied ({exc.filename or staging})") from None
    except OSError as exc:
        raise W2VError(f"cannot write output {url}: {exc.strerror or type(exc).__name__} "
                       f"({getattr(exc, 'filename', None) or staging})") from None
    finally:
        try:
            if fs.exists(staging):
                fs.rm(staging, recursive=True)
        except OSError:
            pass
    return [f"{url.rstrip('/')}/{f}" for f in OUTPUT_FILES]
