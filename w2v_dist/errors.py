"""Errors raised by w2v-dist.

Every error a user can cause (bad path, bad file, bad parameter) is a :class:`W2VError`; the
command line prints its one-line message and exits with status 2.
"""


class W2VError(ValueError):
    """A user-facing error: its message is one line naming the file, line or parameter at fault."""


class ConfigError(W2VError):
    """A hyper-parameter or option is out of range or inconsistent with another."""


class CorpusError(W2VError):
    """An input URL, shard or column cannot be read as a corpus."""
