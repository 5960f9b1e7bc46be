"""Writing a job's outputs to any fsspec URL, all or nothing.

The output folder receives ``vectors.txt`` and ``vectors.bin`` (word2vec text and binary formats),
``vectors.npy`` + ``vectors.json`` (with ``vocab.parquet``, the native format that
:meth:`~w2v_dist.vectors.WordVectors.load` memory-maps), ``vectors.parquet`` (``word``,
``vector`` list<float32>, for Dask or Spark), ``vocab.parquet`` (``word``, ``count``),
``metrics.json``, ``report.html`` (the training report, :mod:`w2v_dist.report`) and
``phrases.parquet`` when phrases were detected.  They are first written into a
staging folder beside the target (``.<name>.partial-<id>``), then moved into place, so a failure
while writing never leaves a half-written output folder, and an existing model is never replaced
without ``overwrite``.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import logging

import fsspec

from .errors import W2VError

log = logging.getLogger("w2v_dist")

OUTPUT_FILES = ("vectors.txt", "vectors.bin", "vectors.npy", "vectors.json", "vectors.parquet", "vocab.parquet",
                "metrics.json", "report.html")
PHRASES_FILE = "phrases.parquet"


def _fs(url: str, storage_options: dict | None):
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except Exception as exc:  # unknown protocol, missing filesystem package, bad options
        raise W2VError(f"cannot open output {url}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    return fs, path.rstrip("/")


def check_output(url: str, storage_options: dict | None = None, overwrite: bool = False,
                 files: tuple = OUTPUT_FILES) -> None:
    """Refuse early an output URL that already holds a model (before any work is done).

    Raises
    ------
    W2VError
        ``url`` holds one of ``files`` (default :data:`OUTPUT_FILES`) and ``overwrite`` is false,
        ``url`` is an existing file rather than a folder, a file stands where one of its parent
        folders must be, or a probe folder beside it cannot be created (permission denied,
        read-only storage).
    """
    fs, path = _fs(url, storage_options)
    if fs.isfile(path):
        raise W2VError(f"output {url} is an existing file, not a folder")
    if not overwrite and fs.isdir(path):
        present = [f for f in files if fs.exists(f"{path}/{f}")]
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
                  overwrite: bool = False, report: bool = True, phrases=None) -> list[str]:
    """Write the outputs (:data:`OUTPUT_FILES`) into ``url`` atomically (staging folder, then move).

    Parameters
    ----------
    url : str
        Output folder URL.
    wv : WordVectors
    vocab : Vocab or None
        Written as ``vocab.parquet``; None writes the words (and counts, if known) of ``wv``.
    metrics : dict
        Serialised as ``metrics.json`` (NaN and inf become null).
    report : bool
        Also write ``report.html``.  A failure while drawing the report is logged as a warning
        and the report left out: the model is never lost to a plotting problem.
    phrases : PhraseModel, optional
        Also written, as ``phrases.parquet``.

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
        if vocab is not None:
            vocab.write_parquet(f"{surl}/vocab.parquet", storage_options=so)
        export = (metrics.get("config") or {}).get("export", "input")
        wv.save(surl, storage_options=so, metadata={"export": export}, write_vocab=vocab is None)
        wv.save_parquet(f"{surl}/vectors.parquet", storage_options=so)
        with fs.open(f"{staging}/metrics.json", "w") as fh:
            json.dump(_clean(metrics), fh, indent=2)
        if phrases is not None:
            phrases.write_parquet(f"{surl}/{PHRASES_FILE}", storage_options=so)
        if report:
            _write_report(fs, f"{staging}/report.html", wv, vocab, metrics)
        files = OUTPUT_FILES + (PHRASES_FILE,)
        written = [f for f in files if fs.exists(f"{staging}/{f}")]
        if fs.isdir(path) or proto not in ("file", "local"):
            # Object stores (s3, gs, abfs) have no folders to rename: move file by file, metrics.json
            # last, so a reader that sees metrics.json sees a complete model.
            for f in sorted(files, key=lambda f: f == "metrics.json"):
                if fs.exists(f"{path}/{f}"):
                    fs.rm(f"{path}/{f}")
                if f in written:
                    fs.mv(f"{staging}/{f}", f"{path}/{f}")
            if fs.exists(staging):
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
    return [f"{url.rstrip('/')}/{f}" for f in written]


def _write_report(fs, path: str, wv, vocab, metrics: dict) -> None:
    try:
        from .report import render_report

        html = render_report(wv, metrics, counts=vocab.counts if vocab is not None else wv.counts)
    except Exception as exc:  # noqa: BLE001 - a plotting failure must not cost the trained model
        log.warning("training report left out: %s: %s", type(exc).__name__, exc, exc_info=log.isEnabledFor(10))
        return
    with fs.open(path, "w", encoding="utf-8") as fh:
        fh.write(html)


def write_phrases(url: str, phrases, storage_options: dict | None = None, overwrite: bool = False) -> str:
    """Write a phrase model as ``url/phrases.parquet`` atomically (temporary name, then move).

    Parameters
    ----------
    url : str
        Output folder URL (created if missing).
    phrases : PhraseModel

    Returns
    -------
    str
        The URL written.

    Raises
    ------
    W2VError
        ``url`` already holds ``phrases.parquet`` and ``overwrite`` is false, ``url`` is a file,
        or it cannot be written.
    """
    check_output(url, storage_options, overwrite, files=(PHRASES_FILE,))
    fs, path = _fs(url, storage_options)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    tmp = f"{path}/.{PHRASES_FILE}.partial-{uuid.uuid4().hex[:8]}"
    try:
        fs.makedirs(path, exist_ok=True)
        phrases.write_parquet(tmp if proto in ("file", "local") else f"{proto}://{tmp}", storage_options=storage_options)
        if fs.exists(f"{path}/{PHRASES_FILE}"):
            fs.rm(f"{path}/{PHRASES_FILE}")
        fs.mv(tmp, f"{path}/{PHRASES_FILE}")
    except PermissionError as exc:
        raise W2VError(f"cannot write output {url}: permission denied ({exc.filename or path})") from None
    finally:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except OSError:
            pass
    return f"{url.rstrip('/')}/{PHRASES_FILE}"
