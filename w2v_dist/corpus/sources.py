"""Finding the input files of a corpus and reading them partition by partition.

An input is one or more URLs of any fsspec filesystem (``file://``, ``s3://``, ``gs://``,
``memory://``, plain local paths, ...), each naming a file, a directory or a glob.
:func:`discover_shards` turns them into a list of :class:`Shard` partitions (cheap: it only lists
files and reads Parquet footers); :func:`read_lines` reads one partition, typically on a Dask
worker, into a pyarrow string array with one element per line.

Partitioning
------------
* **Plain text** (UTF-8, one sentence per line) is cut into blocks of about ``blocksize`` bytes.
  The cut between two blocks is placed by a deterministic boundary function, evaluated by both
  neighbouring blocks, so the blocks tile the file exactly (every byte is read once):
  ``boundary(pos)`` is the first position ``>= pos`` just after a ``b"\\n"`` found within
  :data:`SCAN_BYTES` bytes; if there is none, just after the first whitespace byte
  (``b" "``, ``b"\\t"``, ``b"\\r"``, ``b"\\n"``) within that scan, so that no token is split even
  when the file has no newlines (text8 is one 100 MB line); if the scan reached the end of the file
  without finding either, the end of the file; else ``pos`` itself (a single run of more than
  :data:`SCAN_BYTES` non-blank bytes is the only case where a token can be split).  Block ``i``
  is ``[boundary(i * blocksize), boundary((i + 1) * blocksize))`` with the file's start and end
  fixed, so a block is never longer than ``blocksize + SCAN_BYTES`` bytes and a file is never read
  whole.  A line cut by a whitespace boundary becomes two sentences.
* **Compressed text** (``.gz``, ``.bz2``, ``.xz``, ``.zst``, ``.lzma``: the compression fsspec
  infers from the file name) cannot be split: one partition per file, streamed through the
  decompressor (gzip: ISA-L's ``isal.igzip``, about 3x zlib) in chunks of :data:`CHUNK_BYTES`
  (a line longer than that is cut at its last whitespace into separate sentences, so a compressed file without newlines is never held in
  memory as one Python ``bytes`` object more than a chunk at a time).
* **Parquet** (``.parquet`` / ``.pq``): one partition per file, or per group of consecutive row
  groups when the file is larger than ``blocksize``; only ``text_column`` is read.  Each non-null
  value is one line (newlines inside a value become spaces).

Bytes are decoded as UTF-8; invalid bytes are replaced by U+FFFD, never an error.  ``\\r\\n``
line ends are accepted.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.utils import infer_compression

from ..errors import ConfigError, CorpusError

try:  # gzip decompression by ISA-L (the isal package, a dependency); zlib via fsspec without it
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover
    _igzip = None

__all__ = ["Shard", "discover_shards", "read_lines", "SCAN_BYTES", "CHUNK_BYTES"]

#: Bytes scanned after a nominal block boundary for a newline (else a whitespace byte).
SCAN_BYTES = 1 << 20
#: Bytes of decompressed text handled at a time when reading a compressed file.
CHUNK_BYTES = 32 << 20

_PARQUET_EXTS = (".parquet", ".pq")
_COMPRESSION_EXTS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".lzma": "lzma"}
_SCAN_STEP = 64 << 10
_WHITESPACE = re.compile(rb"[ \t\r\n]")
_GLOB_CHARS = re.compile(r"[*?\[]")
_FORMATS = ("auto", "text", "parquet")


@dataclass(frozen=True)
class Shard:
    """One partition of the input corpus (picklable; shipped to Dask workers).

    Attributes
    ----------
    url : str
        Full URL of the file, with protocol (``"file:///data/a.txt"``, ``"s3://b/k"``,
        ``"memory:///x"``); reopened with ``fsspec.core.url_to_fs(url, **storage_options)``.
    kind : str
        ``"text"`` or ``"parquet"``.
    compression : str or None
        fsspec compression name inferred from the file name (``gzip``, ``bz2``, ``xz``, ``zstd``,
        ``lzma``), or None.  Always None for Parquet (its pages carry their own codec).
    offset : int
        Text: nominal byte offset of the block (the block starts at ``boundary(offset)``); 0 for
        compressed text and Parquet.
    length : int
        Text: nominal block length in bytes; -1 means to the end of the file.
    row_groups : tuple of int or None
        Parquet: the row groups of this partition; None means all of them.
    text_column : str
        Parquet: the column holding the text.
    size : int
        Bytes of this partition on storage (compressed bytes for compressed files and Parquet),
        used to balance partitions across workers.
    """

    url: str
    kind: str
    compression: str | None
    offset: int = 0
    length: int = -1
    row_groups: tuple[int, ...] | None = None
    text_column: str = "text"
    size: int = 0


# --------------------------------------------------------------------------------------------
# discovery


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _hidden(name: str) -> bool:
    """Hidden or bookkeeping files and folders: ``.crc``, ``_SUCCESS``, ``_metadata``, ``_temporary``."""
    return name.startswith((".", "_"))


def _compression_of(path: str) -> str | None:
    name = posixpath.basename(path).lower()
    for ext, comp in _COMPRESSION_EXTS.items():
        if name.endswith(ext):
            return comp
    return infer_compression(name)


def _is_parquet_name(path: str) -> bool:
    return posixpath.basename(path).lower().endswith(_PARQUET_EXTS)


def _size(info: dict) -> int:
    size = info.get("size")
    return int(size) if size else 0


def _list_directory(fs, path: str) -> list[tuple[str, int]]:
    """Data files under a directory (recursively), sorted; hidden/bookkeeping entries skipped."""
    found = fs.find(path, detail=True)
    root = path.rstrip("/")
    out = []
    for p, info in found.items():
        if info.get("type", "file") == "directory":
            continue
        rel = p[len(root):].lstrip("/") if p.startswith(root) else posixpath.basename(p)
        if any(_hidden(part) for part in rel.split("/") if part):
            continue
        out.append((p, _size(info)))
    return sorted(out)


def _expand(url: str, storage_options: dict) -> tuple[object, list[tuple[str, int]]]:
    """(filesystem, [(path, size)]) of the files one input URL names."""
    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
    except Exception as exc:  # unknown protocol, missing filesystem package, bad options
        raise CorpusError(f"cannot open input {url}: {_one_line(exc)}") from exc
    if "file" in _protocols(fs):
        path = posixpath.normpath(path)
    try:
        if _GLOB_CHARS.search(path):
            found = fs.glob(path, detail=True)
            files: list[tuple[str, int]] = []
            for p, info in sorted(found.items()):
                if info.get("type", "file") == "directory":
                    files.extend(_list_directory(fs, p))
                elif not _hidden(posixpath.basename(p)):
                    files.append((p, _size(info)))
            if not files:
                raise CorpusError(f"no files match: {url}")
            return fs, files
        try:
            info = fs.info(path)
        except FileNotFoundError:
            raise CorpusError(f"input not found: {url}") from None
        if info.get("type", "file") == "directory":
            files = _list_directory(fs, path)
            if not files:
                raise CorpusError(f"no data files in directory: {url}")
            return fs, files
        return fs, [(path, _size(info))]
    except CorpusError:
        raise
    except Exception as exc:
        raise CorpusError(f"cannot list input {url}: {_one_line(exc)}") from exc


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _text_shards(url: str, size: int, blocksize: int) -> list[Shard]:
    compression = _compression_of(url)
    if compression is not None or size <= blocksize:
        return [Shard(url, "text", compression, 0, -1, None, "text", size)]
    n = math.ceil(size / blocksize)
    return [
        Shard(url, "text", None, i * blocksize, blocksize if i < n - 1 else -1, None, "text",
              min(blocksize, size - i * blocksize))
        for i in range(n)
    ]


def _string_like(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t))


def _parquet_shards(fs, path: str, url: str, size: int, text_column: str, blocksize: int,
                    on_bad_shard: str = "error") -> list[Shard]:
    try:
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            schema = pf.schema_arrow
            md = pf.metadata
    except Exception as exc:
        if on_bad_shard == "skip":  # one partition that fails again when read, where it is skipped and counted
            return [Shard(url, "parquet", None, 0, -1, None, text_column, size)]
        raise CorpusError(f"cannot read Parquet footer of {url}: {_one_line(exc)}") from exc
    if text_column not in schema.names:
        raise CorpusError(f"{url}: no column {text_column!r} (columns: {', '.join(schema.names)})")
    ctype = schema.field(text_column).type
    if not _string_like(ctype):
        raise CorpusError(f"{url}: column {text_column!r} has type {ctype}, expected string or large_string")
    n_groups = md.num_row_groups
    if size <= blocksize or n_groups <= 1:
        return [Shard(url, "parquet", None, 0, -1, None, text_column, size)]
    sizes = [sum(md.row_group(g).column(c).total_compressed_size for c in range(md.num_columns))
             for g in range(n_groups)]
    shards, group, acc = [], [], 0
    for g, s in enumerate(sizes):
        group.append(g)
        acc += s
        if acc >= blocksize:
            shards.append(Shard(url, "parquet", None, 0, -1, tuple(group), text_column, acc))
            group, acc = [], 0
    if group:
        shards.append(Shard(url, "parquet", None, 0, -1, tuple(group), text_column, acc))
    return shards


def discover_shards(urls: str | os.PathLike | Iterable[str | os.PathLike], storage_options: dict | None = None, *,
                    format: str = "auto", text_column: str = "text", blocksize: int = 64 * 2**20,
                    on_bad_shard: str = "error") -> list[Shard]:
    """List the partitions of a corpus.

    Parameters
    ----------
    urls : str, path-like or iterable of them
        Files, directories or globs, as URLs of any fsspec filesystem or local paths.  A directory
        stands for the data files under it, recursively, skipping hidden and bookkeeping entries
        (names starting with ``.`` or ``_``, e.g. ``.part-0.crc``, ``_SUCCESS``); so do directories
        matched by a glob.  Order: the URLs in the given order, each one's files sorted by path;
        a file named twice is listed once.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoint, ...).
    format : {"auto", "text", "parquet"}
        ``"auto"``: files named ``*.parquet`` / ``*.pq`` are Parquet, all others text.
        ``"text"`` / ``"parquet"`` force the format of every file.
    text_column : str
        Parquet column holding the text (string or large_string).
    blocksize : int
        Target bytes per partition: uncompressed text files are cut into blocks of about this many
        bytes (see the module docstring), Parquet files larger than this into groups of row groups
        of at least this many compressed bytes.  Compressed text files are one partition each.
    on_bad_shard : {"error", "skip"}
        ``"skip"``: a Parquet file whose footer cannot be read becomes one partition anyway (its
        reader fails, and the training job skips and counts it) instead of raising here.  Empty
        files are always listed (``size == 0``); the training job skips and counts them.

    Returns
    -------
    list of Shard
        At least one partition.

    Raises
    ------
    CorpusError
        ``"input not found: URL"`` for a path that does not exist, ``"no files match: URL"`` for a
        glob without (non-hidden) matches, ``"no data files in directory: URL"`` for an empty
        directory, ``"URL: no column 'c' (columns: ...)"`` or ``"URL: column 'c' has type T, ..."``
        for a Parquet file without a usable text column (checked from the footer), or a message
        naming the URL when a filesystem cannot be opened or a Parquet footer cannot be read.
    ConfigError
        ``format`` is not one of the three values, ``blocksize < 1``, or ``urls`` is empty.
    """
    if format not in _FORMATS:
        raise ConfigError(f"format={format!r}: must be one of {', '.join(_FORMATS)}")
    if not isinstance(blocksize, (int, np.integer)) or blocksize < 1:
        raise ConfigError(f"blocksize={blocksize!r}: must be an integer >= 1")
    if isinstance(urls, (str, os.PathLike)):
        urls = [urls]
    urls = [os.fspath(u) for u in urls]
    if not urls:
        raise ConfigError("inputs=[]: give at least one input URL")
    so = dict(storage_options or {})

    files: list[tuple[object, str, str, int]] = []  # (fs, path, url, size)
    seen: set[str] = set()
    for u in urls:
        fs, found = _expand(u, so)
        for path, size in found:
            full = fs.unstrip_protocol(path)
            if full not in seen:
                seen.add(full)
                files.append((fs, path, full, size))

    def shards_of(item) -> list[Shard]:
        fs, path, full, size = item
        parquet = format == "parquet" or (format == "auto" and _is_parquet_name(path))
        if parquet:
            return _parquet_shards(fs, path, full, size, text_column, blocksize, on_bad_shard)
        return _text_shards(full, size, blocksize)

    n_parquet = sum(1 for _, p, _, _ in files if format == "parquet" or (format == "auto" and _is_parquet_name(p)))
    if n_parquet > 1:  # footers are small remote reads: fetch them concurrently
        with ThreadPoolExecutor(max_workers=min(16, n_parquet)) as pool:
            groups = list(pool.map(shards_of, files))
    else:
        groups = [shards_of(item) for item in files]
    return [s for g in groups for s in g]


# --------------------------------------------------------------------------------------------
# reading


def _boundary(f, pos: int, size: int) -> int:
    """Start of the block whose nominal start is ``pos`` (see the module docstring).

    Scans ``[pos - 1, pos + SCAN_BYTES)`` in steps of :data:`_SCAN_STEP` bytes, so a boundary
    next to a newline costs one small read.
    """
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    limit = SCAN_BYTES + 1
    f.seek(pos - 1)
    scanned, first_ws = 0, -1
    while scanned < limit:
        buf = f.read(min(_SCAN_STEP, limit - scanned))
        if not buf:
            break
        i = buf.find(b"\n")
        if i >= 0:
            return pos + scanned + i  # just after the newline at pos - 1 + scanned + i
        if first_ws < 0:
            m = _WHITESPACE.search(buf)
            if m is not None:
                first_ws = scanned + m.start()
        scanned += len(buf)
    if first_ws >= 0:
        return pos + first_ws
    if pos - 1 + scanned >= size:
        return size
    return pos


def _lines_from_bytes(buf, stats: dict | None = None, newlines: bool = False) -> pa.Array:
    """Split UTF-8 bytes into lines (``\\n`` or ``\\r\\n`` removed), vectorized with numpy.

    ``newlines=True``: the lines keep their ``\\n`` / ``\\r\\n`` (the buffer is used as it is,
    without the copy that removes them), for callers to whom they separate tokens anyway.

    A final line without newline is kept; a trailing newline does not make an empty last line.
    Invalid UTF-8 is replaced by U+FFFD; the number of U+FFFD inserted is added to
    ``stats["invalid_utf8"]`` when ``stats`` is given.  Returns string, or large_string beyond 2 GiB.
    """
    arr = np.frombuffer(buf, dtype=np.uint8)
    n = arr.size
    if n == 0:
        return pa.array([], type=pa.string())
    nl = np.flatnonzero(arr == 10)
    if newlines:
        data = arr
        ends = nl + 1
        if ends.size and ends[-1] == n:
            ends = ends[:-1]
    elif nl.size:
        cr = np.zeros(nl.size, dtype=bool)
        has_prev = nl > 0
        cr[has_prev] = arr[nl[has_prev] - 1] == 13
        keep = arr != 10
        if cr.any():
            keep[nl[cr] - 1] = False
        data = arr[keep]
        ends = nl - np.arange(nl.size, dtype=np.int64) - np.cumsum(cr, dtype=np.int64)
    else:
        data = arr
        ends = np.zeros(0, dtype=np.int64)
    tail = [data.size] if newlines or arr[-1] != 10 else []
    large = data.size >= 2**31 - 1
    offsets = np.concatenate([np.zeros(1, np.int64), ends.astype(np.int64), np.asarray(tail, np.int64)])
    offsets = offsets.astype(np.int64 if large else np.int32)
    typ = pa.large_string() if large else pa.string()
    lines = pa.Array.from_buffers(typ, offsets.size - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        # Invalid UTF-8: replace the bad bytes by U+FFFD and split again.  A newline byte is never
        # part of a replaced sequence, so the lines stay the same.  Replacements are counted in C
        # (str.count / bytes.count), not per token: U+FFFD after minus valid U+FFFD before.
        raw = bytes(buf)
        fixed = raw.decode("utf-8", errors="replace")
        if stats is not None:
            stats["invalid_utf8"] = stats.get("invalid_utf8", 0) + fixed.count("\ufffd") - raw.count(b"\xef\xbf\xbd")
        return _lines_from_bytes(fixed.encode("utf-8"), newlines=newlines)
    return lines


def _compressed_lines(f, stats: dict | None = None, newlines: bool = False) -> pa.Array:
    """Lines of a decompressing file object, read in chunks of :data:`CHUNK_BYTES`."""
    parts: list[pa.Array] = []
    carry = b""
    while True:
        chunk = f.read(CHUNK_BYTES)
        if not chunk:
            break
        buf = carry + chunk if carry else chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0:  # no newline in this chunk: cut after the last whitespace byte, if any
            cut = max(buf.rfind(b" "), buf.rfind(b"\t"), buf.rfind(b"\r")) + 1
        if cut == 0:
            carry = buf
            continue
        view = memoryview(buf)
        parts.append(_lines_from_bytes(view[:cut], stats, newlines))
        carry = bytes(view[cut:])
        del view
    if carry:
        parts.append(_lines_from_bytes(carry, stats, newlines))
    if not parts:
        return pa.array([], type=pa.string())
    if len(parts) == 1:
        return parts[0]
    total = sum(p.nbytes for p in parts)
    typ = pa.large_string() if total >= 2**31 - 1 or any(p.type == pa.large_string() for p in parts) else pa.string()
    return pa.concat_arrays([p.cast(typ) for p in parts])


def _parquet_lines(fs, path: str, shard: Shard) -> pa.Array:
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        col = shard.text_column
        if col not in names:
            raise CorpusError(f"{shard.url}: no column {col!r} (columns: {', '.join(names)})")
        ctype = pf.schema_arrow.field(col).type
        if not _string_like(ctype):
            raise CorpusError(f"{shard.url}: column {col!r} has type {ctype}, expected string or large_string")
        if shard.row_groups is None:
            table = pf.read(columns=[col])
        else:
            table = pf.read_row_groups(list(shard.row_groups), columns=[col])
    values = table.column(col)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.large_string() if values.nbytes >= 2**31 - 1 else pa.string())
    if values.null_count:
        values = pc.drop_null(values)
    values = pc.replace_substring(values, "\n", " ")
    return pc.replace_substring(values, "\r", " ")


def read_lines(shard: Shard, storage_options: dict | None = None, stats: dict | None = None, *,
               newlines: bool = False) -> pa.Array:
    """Read the lines of one partition.

    Parameters
    ----------
    shard : Shard
        A partition from :func:`discover_shards`.
    storage_options : dict, optional
        Passed to fsspec.
    stats : dict, optional
        When given, ``stats["invalid_utf8"]`` (int) is increased by the number of U+FFFD
        characters that replaced invalid UTF-8 bytes of text input.
    newlines : bool
        Text input only: keep each line's ``\\n`` or ``\\r\\n`` at its end (no copy of the text
        to remove them); for tokenizers to which they are separators (the default tokenization).

    Returns
    -------
    pyarrow.StringArray or pyarrow.LargeStringArray
        One element per line (per non-null row for Parquet), newline characters removed, in file
        order; empty lines may be present or dropped.  Text blocks hold the lines starting in
        ``[boundary(offset), boundary(offset + length))``, at most ``length + SCAN_BYTES`` bytes;
        large_string only beyond 2 GiB of text.

    Raises
    ------
    CorpusError
        The partition cannot be read (missing file, corrupt compressed stream or Parquet data,
        missing compression library, a text column that is absent or not a string): the message
        names ``shard.url``.
    """
    so = dict(storage_options or {})
    try:
        fs, path = fsspec.core.url_to_fs(shard.url, **so)
        if shard.kind == "parquet":
            return _parquet_lines(fs, path, shard)
        if shard.kind != "text":
            raise CorpusError(f"{shard.url}: unknown shard kind {shard.kind!r} (expected text or parquet)")
        if shard.compression == "gzip" and _igzip is not None:  # ISA-L: about 3x zlib's speed
            with fs.open(path, "rb") as raw, _igzip.IGzipFile(fileobj=raw, mode="rb") as f:
                return _compressed_lines(f, stats, newlines)
        if shard.compression is not None:
            with fs.open(path, "rb", compression=shard.compression) as f:
                return _compressed_lines(f, stats, newlines)
        with fs.open(path, "rb") as f:
            size = f.seek(0, 2)
            start = _boundary(f, shard.offset, size)
            end = size if shard.length < 0 else _boundary(f, shard.offset + shard.length, size)
            if end <= start:
                return pa.array([], type=pa.string())
            f.seek(start)
            data = f.read(end - start)
        return _lines_from_bytes(data, stats, newlines)
    except CorpusError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise CorpusError(f"cannot read {shard.url}: {_one_line(exc)}") from exc
