"""w2v-dist: streaming, distributed word2vec on Dask.

``w2v_dist.train(inputs, client=..., sg=1, ...)`` trains and returns vectors (see
:mod:`w2v_dist.api`).  Imports are lazy so that ``w2v_dist.vectors`` and ``w2v_dist.evaluation``
load without Dask.
"""

__version__ = "0.1.0"

__all__ = ["train", "run_job", "detect_phrases", "Config", "WordVectors", "__version__"]


def __getattr__(name):
    if name in ("train", "run_job", "detect_phrases"):
        from . import api

        return getattr(api, name)
    if name == "Config":
        from .config import Config

        return Config
    if name == "WordVectors":
        from .vectors import WordVectors

        return WordVectors
    raise AttributeError(f"module 'w2v_dist' has no attribute {name!r}")
