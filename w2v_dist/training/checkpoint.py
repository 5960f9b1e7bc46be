"""Checkpoints of a training job on any fsspec filesystem, complete or absent.

Layout under the checkpoint URL (default ``OUTPUT/_checkpoint``)::

    ckpt-00000012-3f9a1c0b/      one checkpoint: after 12 rounds, written by run 3f9a1c0b
        syn0.npy syn1neg.npy syn1.npy   the central copy, float32 (``.npy``, never pickled), or, with a
                                        partitioned central copy, one file per owner and matrix:
                                        syn0.rows-LO-HI.npy (rows [LO, HI), written by their owner;
                                        ``state.json`` lists them under ``pieces``)
        vocab.parquet                   the vocabulary (``word``, ``count``)
        NAME-I.npy                      optional float32 arrays of the trainer's state (``extra``:
                                        e.g. the hot rows' block momentum, one file a matrix)
        state.json                      rounds and words done, learning-rate position, seeds, config
        COMMIT                          written last: names every file above with its size

Object stores have no atomic rename, so a checkpoint is written under a new prefix and becomes
valid only when its ``COMMIT`` marker exists and every file it lists has the listed size.  A
crash while writing leaves a prefix without a marker, which :func:`latest` ignores and the next
:func:`write` removes.  After a commit only the newest :data:`KEEP` checkpoints are kept.

Randomness needs no saved generator state: the initial vectors come from ``seed`` and every
round's kernel seed is a function of ``seed``, the round number and the replica index, so a run
resumed at round ``r`` draws what the uninterrupted run draws from round ``r`` on.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np

from ..errors import ConfigError, W2VError

log = logging.getLogger("w2v_dist")

MATRIX_FILES = ("syn0.npy", "syn1neg.npy", "syn1.npy")
KEEP = 2
_NAME = re.compile(r"^ckpt-(\d{8})-([0-9a-f]+)$")

#: Parameters that may differ between a run and its resumption (they do not change the result, or
#: only say where and how fast it runs).
RESUMABLE_DIFFERENCES = frozenset({
    "workers", "threads_per_worker", "scheduler", "checkpoint_every", "checkpoint_minutes", "checkpoint",
    "max_failures", "encoded_cache",
    "analogies", "word_pairs", "restrict_vocab", "on_bad_shard", "blocksize", "central_partition_bytes",
})


@dataclass
class Checkpoint:
    """A complete checkpoint read back.

    Attributes
    ----------
    url : str
        Its folder.
    mats : list of float32 arrays, or None
        ``[syn0 [V, D], syn1neg, syn1]`` as in :func:`w2v_dist.training.driver.initial_weights`
        (None when read with ``load_mats=False``: see :meth:`load_mats`).
    vocab : Vocab
    state : dict
        ``rounds_done``, ``words_done``, ``effective_words``, ``rounds_per_epoch``,
        ``train_words``, ``alpha`` (learning rate reached), ``seed``, ``config``, ``inputs``,
        ``round_stats``.
    """

    url: str
    mats: list | None
    vocab: Any
    state: dict
    storage_options: dict | None = None

    @property
    def pieces(self) -> dict:
        """``{matrix name: [(lo, hi, url), ...]}``: where each matrix's rows are stored."""
        pieces = self.state.get("pieces")
        if pieces:
            return {name: [(int(lo), int(hi), f"{self.url}/{f}") for lo, hi, f in pieces[name]]
                    for name in ("syn0", "syn1neg", "syn1")}
        from .partition import _npy_header

        out = {}
        fs, path = _fs(self.url, self.storage_options)
        for fname in MATRIX_FILES:
            try:
                with fs.open(f"{path}/{fname}", "rb") as f:
                    shape, _ = _npy_header(f)
            except Exception as exc:
                raise W2VError(f"cannot read checkpoint {self.url}/{fname}: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())}") from exc
            out[fname[:-4]] = [(0, int(shape[0]), f"{self.url}/{fname}")]
        return out

    def load_extra(self, name: str) -> list:
        """The float32 arrays written as ``extra[name]`` (:func:`write`), in order.

        Raises
        ------
        W2VError
            The checkpoint has no such arrays, or one cannot be read (names the file).
        """
        n = (self.state.get("extra") or {}).get(name)
        if n is None:
            raise W2VError(f"checkpoint {self.url} holds no {name}")
        fs, path = _fs(self.url, self.storage_options)
        out = []
        for i in range(int(n)):
            try:
                out.append(_load_npy(fs, f"{path}/{name}-{i}.npy"))
            except Exception as exc:
                raise W2VError(f"cannot read checkpoint {self.url}/{name}-{i}.npy: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())}") from exc
        return out

    def load_mats(self) -> list:
        """The three matrices, read whole (from either layout); kept in :attr:`mats`.

        Raises
        ------
        W2VError
            A matrix file is missing, not float32 [rows, D], or truncated (names the checkpoint).
        """
        if self.mats is None:
            from .partition import _npy_header, read_rows

            try:
                mats = []
                for name, pieces in self.pieces.items():
                    n = max((hi for _, hi, _ in pieces), default=0)
                    with fsspec.open(pieces[0][2], "rb", **(self.storage_options or {})) as f:
                        shape, _ = _npy_header(f)
                    mats.append(read_rows(pieces, 0, n, int(shape[1]), self.storage_options))
            except W2VError:
                raise
            except Exception as exc:
                raise W2VError(f"cannot read checkpoint {self.url}: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())}") from exc
            self.mats = mats
        return self.mats


def _fs(url: str, storage_options: dict | None):
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, path.rstrip("/")


def _full(fs, path: str) -> str:
    return fs.unstrip_protocol(path)


def _entries(fs, root: str) -> list[tuple[int, str, str]]:
    """(rounds, name, path) of the checkpoint prefixes under ``root``, newest first."""
    try:
        listing = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    out = []
    for p in listing:
        name = p.rstrip("/").rsplit("/", 1)[-1]
        m = _NAME.match(name)
        if m:
            out.append((int(m.group(1)), name, p.rstrip("/")))
    return sorted(out, reverse=True)


def _committed(fs, path: str) -> dict | None:
    """The COMMIT marker of a checkpoint prefix if it is there and every file it lists is complete."""
    try:
        with fs.open(f"{path}/COMMIT", "rb") as f:
            marker = json.loads(f.read().decode("utf-8"))
        for name, size in marker["files"].items():
            if fs.size(f"{path}/{name}") != size:
                return None
        return marker
    except (FileNotFoundError, ValueError, KeyError, TypeError, OSError):
        return None


def has_checkpoints(url: str, storage_options: dict | None = None) -> bool:
    """True when ``url`` holds at least one complete checkpoint."""
    fs, root = _fs(url, storage_options)
    return any(_committed(fs, p) is not None for _, _, p in _entries(fs, root))


def check_fresh(url: str, storage_options: dict | None = None, overwrite: bool = False) -> None:
    """Before a run that does not resume: refuse a checkpoint folder of another run, or clear it.

    Raises
    ------
    W2VError
        ``url`` holds complete checkpoints and ``overwrite`` is false.
    """
    fs, root = _fs(url, storage_options)
    entries = _entries(fs, root)
    if not entries:
        return
    if not overwrite and any(_committed(fs, p) is not None for _, _, p in entries):
        raise W2VError(f"checkpoint folder {url} holds checkpoints of an earlier run; pass --resume to "
                       f"continue it or --overwrite to discard them")
    for _, _, p in entries:
        fs.rm(p, recursive=True)


def _save_npy(fs, path: str, arr: np.ndarray) -> int:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
    data = buf.getvalue()
    with fs.open(path, "wb") as f:
        f.write(data)
    return len(data)


def _load_npy(fs, path: str) -> np.ndarray:
    with fs.open(path, "rb") as f:
        data = f.read()
    return np.load(io.BytesIO(data), allow_pickle=False)


def write(url: str, mats, vocab, state: dict, storage_options: dict | None = None,
          run_id: str | None = None, write_pieces=None, extra: dict | None = None) -> str:
    """Write one checkpoint (files first, ``COMMIT`` last), then prune older ones.

    Parameters
    ----------
    url : str
        Checkpoint folder URL.
    mats : sequence of 3 float32 arrays, or None
        The central ``syn0``, ``syn1neg``, ``syn1``.  None with ``write_pieces``.
    vocab : Vocab
    state : dict
        JSON-serialisable; must hold ``rounds_done`` (int).
    run_id : str, optional
        Hex id of the writing run (default: random).
    write_pieces : callable, optional
        A partitioned central copy: called with the checkpoint's folder URL, writes the
        matrices as row-range files there and returns ``({file name: bytes}, {matrix name:
        [[lo, hi, file name], ...]})`` (:func:`w2v_dist.training.partition.checkpoint_writer`);
        the pieces are recorded in ``state.json``.
    extra : dict, optional
        ``{name: [float32 array, ...]}``: more state, written as ``name-I.npy`` and listed in
        ``state.json`` under ``extra`` (read back by :meth:`Checkpoint.load_extra`).

    Returns
    -------
    str
        The URL of the new checkpoint.

    Raises
    ------
    W2VError
        The checkpoint cannot be written (message names the URL).
    """
    fs, root = _fs(url, storage_options)
    rounds = int(state["rounds_done"])
    name = f"ckpt-{rounds:08d}-{run_id or uuid.uuid4().hex[:8]}"
    path = f"{root}/{name}"
    try:
        fs.makedirs(path, exist_ok=True)
        files = {}
        if write_pieces is not None:
            written, pieces = write_pieces(_full(fs, path))
            files.update(written)
            state = {**state, "pieces": pieces}
        else:
            for fname, m in zip(MATRIX_FILES, mats):
                files[fname] = _save_npy(fs, f"{path}/{fname}", m)
        for key, arrays in (extra or {}).items():
            for i, a in enumerate(arrays):
                files[f"{key}-{i}.npy"] = _save_npy(fs, f"{path}/{key}-{i}.npy", a)
            state = {**state, "extra": {**state.get("extra", {}), key: len(arrays)}}
        vocab.write_parquet(_full(fs, f"{path}/vocab.parquet"), storage_options)
        files["vocab.parquet"] = fs.size(f"{path}/vocab.parquet")
        data = json.dumps(state, indent=1).encode("utf-8")
        with fs.open(f"{path}/state.json", "wb") as f:
            f.write(data)
        files["state.json"] = len(data)
        with fs.open(f"{path}/COMMIT", "wb") as f:  # last: the checkpoint exists from here on
            f.write(json.dumps({"rounds_done": rounds, "files": files}).encode("utf-8"))
    except W2VError:
        raise
    except Exception as exc:
        raise W2VError(f"cannot write checkpoint {_full(fs, path)}: {type(exc).__name__}: "
                       f"{' '.join(str(exc).split())}") from exc
    kept = 0
    for r, n, p in _entries(fs, root):
        if n == name or (kept < KEEP and _committed(fs, p) is not None):
            kept += 1
            continue
        try:
            fs.rm(p, recursive=True)
        except OSError:  # pruning is housekeeping
            log.debug("could not remove old checkpoint %s", p, exc_info=True)
    log.info("checkpoint after %d rounds: %s", rounds, _full(fs, path))
    return _full(fs, path)


def latest(url: str, storage_options: dict | None = None, load_mats: bool = True) -> Checkpoint | None:
    """The newest complete checkpoint under ``url``, or None when there is none.

    Prefixes without a valid ``COMMIT`` (a crash while writing) are passed over.  With
    ``load_mats=False`` the matrices are not read (:meth:`Checkpoint.load_mats` reads them later;
    a partitioned run reads only its rows, :attr:`Checkpoint.pieces`).

    Raises
    ------
    W2VError
        A committed checkpoint cannot be read.
    """
    from ..vocab import Vocab

    fs, root = _fs(url, storage_options)
    for _, _, path in _entries(fs, root):
        if _committed(fs, path) is None:
            continue
        try:
            with fs.open(f"{path}/state.json", "rb") as f:
                state = json.loads(f.read().decode("utf-8"))
            saved = Checkpoint(_full(fs, path), None, None, state, storage_options)
            if load_mats:
                saved.load_mats()
        except Exception as exc:
            raise W2VError(f"cannot read checkpoint {_full(fs, path)}: {type(exc).__name__}: "
                           f"{' '.join(str(exc).split())}") from exc
        saved.vocab = Vocab.read_parquet(_full(fs, f"{path}/vocab.parquet"), storage_options)
        return saved
    return None


def check_config(saved: dict, config) -> None:
    """Refuse to resume with parameters that change the result.

    Raises
    ------
    ConfigError
        ``"<name>=<value>: differs from the checkpoint (<saved>)..."`` for the first parameter
        outside :data:`RESUMABLE_DIFFERENCES` that differs.
    """
    now = config.hyperparameters()
    for name in sorted(set(saved) | set(now)):
        if name in RESUMABLE_DIFFERENCES:
            continue
        if saved.get(name) != now.get(name):
            raise ConfigError(f"{name}={now.get(name)!r}: differs from the checkpoint ({saved.get(name)!r}); "
                              f"resume with the same parameters or start a new run")
