"""w2v-dist: streaming, distributed word2vec on Dask.

``w2v_dist.Word2Vec(corpus_file, client=..., sg=1, ...)`` trains as gensim's ``Word2Vec`` does
(:mod:`w2v_dist.model`); ``w2v_dist.train(inputs, client=..., sg=1, ...)`` returns the raw
result (:mod:`w2v_dist.api`).  Imports are lazy so that ``w2v_dist.vectors`` and ``w2v_dist.evaluation``
load without Dask.
"""

__version__ = "0.1.0"

__all__ = ["train", "run_job", "detect_phrases", "Config", "Word2Vec", "WordVectors", "load_vectors", "__version__"]


def __getattr__(name):
    if name in ("train", "run_job", "detect_phrases"):
        from . import api

        return getattr(api, name)
    if name == "Config":
        from .config import Config

        return Config
    if name in ("WordVectors", "load_vectors"):
        from . import vectors

        return getattr(vectors, name)
    if name == "Word2Vec":
        from .model import Word2Vec

        return Word2Vec
    raise AttributeError(f"module 'w2v_dist' has no attribute {name!r}")
