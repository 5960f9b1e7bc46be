"""Reading and tokenizing corpora: partitions of text or Parquet files on any fsspec filesystem.

See :mod:`w2v_dist.corpus.sources` (files, partitions, lines) and
:mod:`w2v_dist.corpus.tokenize` (lines to sentences of tokens).
"""

from .sources import CHUNK_BYTES, SCAN_BYTES, Shard, discover_shards, read_lines
from .tokenize import DEFAULT_TOKEN_PATTERN, read_tokenize, tokenize

__all__ = [
    "Shard",
    "discover_shards",
    "read_lines",
    "SCAN_BYTES",
    "CHUNK_BYTES",
    "DEFAULT_TOKEN_PATTERN",
    "tokenize",
    "read_tokenize",
]
