"""fsspec ``storage_options``: gathered from the command line, a JSON file and pipeline TOML, and
kept out of every log line, error message and output file.

Storage options usually carry credentials (``key``/``secret`` for s3fs, ``token`` for gcsfs,
``account_key`` or ``sas_token`` for adlfs).  They travel to the Dask workers as task arguments,
so they are wrapped in :class:`StorageOptions`, a read-only mapping whose ``repr`` shows the keys
only: distributed's "Compute Failed" warnings, which print task arguments, then print
``StorageOptions(key=***, secret=***)`` instead of the secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

from .errors import ConfigError

__all__ = ["StorageOptions", "parse_storage_option_pairs", "read_storage_options_file", "merge_storage_options"]


class StorageOptions(Mapping):
    """A read-only mapping of fsspec storage options whose ``repr`` and ``str`` hide the values.

    Use it like a dict (``fsspec.filesystem("s3", **options)``); it pickles to the same class,
    so it stays redacted on the workers.

    Parameters
    ----------
    options : mapping, optional
        Keyword arguments of the fsspec filesystem (``endpoint_url``, ``key``, ``secret``, ...).
    """

    __slots__ = ("_options",)

    def __init__(self, options: Mapping[str, Any] | None = None):
        self._options = dict(options or {})

    def __getitem__(self, key: str) -> Any:
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        return "StorageOptions(" + ", ".join(f"{k}=***" for k in self._options) + ")"

    __str__ = __repr__

    def __reduce__(self):
        return (StorageOptions, (self._options,))

    def __dask_tokenize__(self) -> str:
        # deterministic, and no value appears in a task key
        blob = json.dumps(self._options, sort_keys=True, default=repr).encode()
        return hashlib.sha256(blob).hexdigest()


def parse_storage_option_pairs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` from ``--storage-option`` into a dict.

    A value is read as JSON when it parses (``anon=true``, ``client_kwargs={"region_name": "x"}``),
    else kept as a string.

    Raises
    ------
    ConfigError
        An item has no ``=`` or an empty key.  The message gives the item's position, never its
        text (it may be a secret).
    """
    out: dict[str, Any] = {}
    for i, item in enumerate(pairs or (), 1):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--storage-option number {i}: expected KEY=VALUE (value not shown)")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def read_storage_options_file(path: str) -> dict[str, Any]:
    """Storage options from a JSON file holding one object (``{"key": "...", "secret": "..."}``).

    Raises
    ------
    ConfigError
        The file is missing, not JSON (with line and column, never content), or not an object.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"storage options file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: storage options must be a JSON object")
    return doc


def merge_storage_options(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge layers, later ones winning key by key (pipeline TOML, then JSON file, then options)."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(layer or {})
    return out


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def write_parquet_table(url: str, table, storage_options: Mapping | None = None, what: str = "table") -> None:
    """Write a pyarrow Table as one Parquet file at ``url`` (any fsspec URL or local path).

    Parameters
    ----------
    url : str
        Destination file (overwritten if it exists).
    table : pyarrow.Table
    storage_options : mapping, optional
        Passed to fsspec.
    what : str
        What the file holds, for the error message (``"vocabulary"``, ``"phrases"``).

    Raises
    ------
    W2VError
        The file cannot be written: ``"cannot write <what> <url>: <reason>"``.
    """
    import fsspec
    import pyarrow.parquet as pq

    from .errors import W2VError

    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        with fs.open(path, "wb") as f:
            pq.write_table(table, f)
    except Exception as exc:
        raise W2VError(f"cannot write {what} {url}: {_one_line(exc)}") from exc


def read_parquet_table(url: str, storage_options: Mapping | None = None, what: str = "table"):
    """Read one Parquet file at ``url`` (any fsspec URL or local path) into a pyarrow Table.

    Raises
    ------
    CorpusError
        The file cannot be read or is not Parquet: ``"cannot read <what> <url>: <reason>"``.
    """
    import fsspec
    import pyarrow.parquet as pq

    from .errors import CorpusError

    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        with fs.open(path, "rb") as f:
            return pq.read_table(f)
    except Exception as exc:
        raise CorpusError(f"cannot read {what} {url}: {_one_line(exc)}") from exc
