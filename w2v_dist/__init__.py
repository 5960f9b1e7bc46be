"""w2v-dist: streaming, distributed word2vec on Dask."""

__version__ = "0.1.0"
