"""A gensim-style model object: ``Word2Vec(corpus_file, client=..., sg=1, ...)``.

gensim users write ``model = Word2Vec(corpus_file="corpus.txt", vector_size=100, sg=1)`` and then
use ``model.wv``; here the same call trains on a Dask cluster::

    >>> import w2v_dist
    >>> model = w2v_dist.Word2Vec("s3://bucket/corpus/*.txt.gz", client=client, sg=1,
    ...                           vector_size=100, epochs=5)               # doctest: +SKIP
    >>> model.wv.most_similar("king", topn=5)                               # doctest: +SKIP
    >>> model.save("out/run1")                                              # doctest: +SKIP
    >>> w2v_dist.Word2Vec.load("out/run1").wv.most_similar("king")         # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Sequence

import fsspec
import numpy as np

from .config import Config
from .errors import ConfigError, W2VError
from .vectors import WordVectors

__all__ = ["Word2Vec"]


class Word2Vec:
    """Train word2vec on a Dask cluster with gensim's parameter names; keep the trained state.

    Parameters
    ----------
    corpus_file : str or list of str, optional
        Input URLs or globs (text shards, compressed text, Parquet; any fsspec filesystem), what
        gensim calls ``corpus_file``.  Training starts at once when given (as in gensim).
    sentences : None
        Not supported: an in-memory iterable of sentences cannot be streamed to a cluster.  Write
        the sentences to text files (one sentence per line) and pass them as ``corpus_file``.
    client : distributed.Client, optional
        The cluster; default a LocalCluster shaped by ``workers`` / ``threads_per_worker``.
    output : str, optional
        Also write the output folder there (see :func:`w2v_dist.output.write_outputs`).
    storage_options : dict, optional
        fsspec options for the inputs and the output.
    progress : bool
        Show progress bars.
    **params
        Any :class:`w2v_dist.config.Config` field, with gensim's names and defaults: ``sg``,
        ``hs``, ``negative``, ``window``, ``vector_size``, ``alpha``, ``min_alpha``, ``epochs``,
        ``sample``, ``min_count``, ``max_vocab_size``, ``max_final_vocab``, ``ns_exponent``,
        ``cbow_mean``, ``seed``, ``workers``, ``compute_loss``, ``max_sentence_length``; plus
        w2v-dist's own (``sync_every``, ``merge``, ``export``, ...).

    Attributes
    ----------
    wv : WordVectors
        The trained vectors, float32 [V, D] (or [V, 2D] with ``export="concat"``), chosen by
        ``export`` (default the input vectors, as gensim's ``wv``).
    syn1neg : float32 [V, D] or None
        The output vectors of negative sampling (None when ``negative=0``), as gensim's.
    syn1 : float32 [V-1, D] or None
        The hierarchical-softmax inner-node vectors (None when ``hs=0``).
    metrics : dict
        The content of ``metrics.json`` (speed, rounds, loss per round, evaluation, config).
    config : Config
        Every parameter; ``model.window`` etc. read through to it.

    Raises
    ------
    ConfigError
        An unknown or invalid parameter, or ``sentences`` given.
    CorpusError, W2VError
        Unreadable inputs, empty vocabulary, or an output that already holds a model.
    """

    def __init__(self, corpus_file: str | Sequence[str] | None = None, *, sentences=None, client=None,
                 output: str | None = None, storage_options: dict | None = None, overwrite: bool = False,
                 progress: bool = False, **params):
        if sentences is not None:
            raise ConfigError("sentences=: w2v-dist trains from files on a cluster; write the sentences to "
                              "text files (one per line) and pass corpus_file=")
        self.config = Config.from_dict(params).validate()
        self.wv: WordVectors | None = None
        self.vocab = None
        self.syn0: np.ndarray | None = None
        self.syn1neg: np.ndarray | None = None
        self.syn1: np.ndarray | None = None
        self.metrics: dict = {}
        self.storage_options = dict(storage_options or {})
        if corpus_file is not None:
            from .api import run_job

            result = run_job(corpus_file, self.config, client=client, output=output,
                             storage_options=self.storage_options, overwrite=overwrite, progress=progress)
            self.wv, self.vocab, self.metrics = result.wv, result.vocab, result.metrics
            self.syn0, self.syn1neg, self.syn1 = result.syn0, result.syn1neg, result.syn1

    def __getattr__(self, name):
        # gensim exposes its hyper-parameters as attributes (model.window, model.sg, ...)
        config = self.__dict__.get("config")
        if config is not None and name in config.__dataclass_fields__:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        if self.wv is None:
            return "Word2Vec(untrained)"
        return f"Word2Vec(vocab={len(self.wv)}, vector_size={self.wv.vector_size}, sg={self.config.sg})"

    @property
    def corpus_total_words(self) -> int | None:
        """Tokens read from the corpus (gensim's ``corpus_total_words``)."""
        return self.metrics.get("corpus_words")

    def get_latest_training_loss(self) -> float:
        """Sum of the training loss over all rounds (gensim reports the same running sum; needs compute_loss=1)."""
        return float(sum(self.metrics.get("loss", [])))

    def save(self, url: str, overwrite: bool = False, storage_options: dict | None = None) -> list[str]:
        """Write the output folder (word2vec text/binary, native, Parquet, vocabulary, metrics, report).

        Unlike gensim's ``save`` (a pickle), this writes plain files that gensim, numpy, Dask and
        Spark read; :meth:`load` reads them back (memory-mapped).

        Returns
        -------
        list of str
            The URLs written.

        Raises
        ------
        W2VError
            Nothing trained yet, ``url`` already holds a model and ``overwrite`` is false, or a
            write fails (nothing is left half-written).
        """
        from .output import write_outputs

        if self.wv is None:
            raise W2VError("nothing to save: the model has not been trained (pass corpus_file=)")
        return write_outputs(url, self.wv, self.vocab, self.metrics,
                             storage_options if storage_options is not None else self.storage_options, overwrite)

    @classmethod
    def load(cls, url: str, mmap: str | None = "r", storage_options: dict | None = None) -> "Word2Vec":
        """Read a model folder written by :meth:`save` (or by ``w2v-dist train/run``).

        ``wv`` comes from the native format (memory-mapped for a local folder), ``metrics`` and
        ``config`` from ``metrics.json``.  The output vectors are not stored in the folder
        (``syn1neg`` is None) unless they are what ``export`` wrote.

        Raises
        ------
        W2VError
            The folder does not hold a model.
        """
        wv = WordVectors.load(url, mmap=mmap, storage_options=storage_options)
        model = cls.__new__(cls)
        model.wv, model.vocab, model.syn0, model.syn1neg, model.syn1 = wv, None, None, None, None
        model.storage_options = dict(storage_options or {})
        try:
            with fsspec.open(f"{str(url).rstrip('/')}/metrics.json", "r", **(storage_options or {})) as fh:
                model.metrics = json.load(fh)
        except FileNotFoundError:
            model.metrics = {}
        names = Config.__dataclass_fields__
        model.config = Config(**{k: v for k, v in (model.metrics.get("config") or {}).items() if k in names})
        return model
