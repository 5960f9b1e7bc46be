"""The Python entry point: train word vectors on a Dask cluster and get them back.

Example
-------
>>> from distributed import Client
>>> import w2v_dist
>>> client = Client()                                              # doctest: +SKIP
>>> result = w2v_dist.train(["s3://bucket/shards/*.txt.gz"], client=client, sg=1,
...                         vector_size=100, storage_options={"anon": True})  # doctest: +SKIP
>>> result.wv.most_similar("king", topn=5)                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Sequence

from .config import Config
from .corpus import discover_shards
from .errors import W2VError
from .evaluation import evaluate
from .output import check_output, write_outputs
from .training.driver import TrainResult, drop_empty, train_vectors


def run_job(inputs: Sequence[str] | str, config: Config, *, client=None, output: str | None = None,
            storage_options: dict | None = None, overwrite: bool = False, progress: bool = True,
            processes: bool = True, resume: bool = False) -> TrainResult:
    """Train, evaluate (when the config names evaluation files) and write the outputs.

    Parameters
    ----------
    inputs : str or list of str
        URLs or globs of text shards / Parquet files.
    config : Config
    client : distributed.Client, optional
        Default: a cluster made from ``config.scheduler`` / ``config.workers`` /
        ``config.threads_per_worker`` for this call.
    output : str, optional
        Folder URL for ``vectors.txt``, ``vectors.bin``, ``vocab.parquet``, ``metrics.json``.
    storage_options : dict, optional
        fsspec options for inputs and output.
    overwrite : bool
        Replace a model already in ``output``.
    processes : bool
        With no client: worker processes (True) or threads of this process (False).
    resume : bool
        Continue from the newest complete checkpoint in ``config.checkpoint`` (default
        ``OUTPUT/_checkpoint``), see :func:`w2v_dist.training.driver.train_vectors`.

    Returns
    -------
    TrainResult

    Raises
    ------
    ConfigError, CorpusError, W2VError
        Bad parameters, unreadable inputs, or an output that already holds a model; raised
        before anything is written.
    """
    if isinstance(inputs, str):
        inputs = [inputs]
    config.validate()
    if output:
        check_output(output, storage_options, overwrite)
    ckpt_url = config.checkpoint or (f"{output.rstrip('/')}/_checkpoint" if output else None)
    from .training import checkpoint as ckpt

    if resume and not ckpt_url:
        raise W2VError("--resume needs an output or a checkpoint URL")
    if resume and not ckpt.has_checkpoints(ckpt_url, storage_options):
        raise W2VError(f"--resume: no complete checkpoint in {ckpt_url}")
    if ckpt_url and not resume and (config.checkpoint_every or config.checkpoint_minutes):
        ckpt.check_fresh(ckpt_url, storage_options, overwrite)
    # Bad inputs (missing path, empty glob, unknown Parquet column) fail here, before a cluster starts.
    shards = discover_shards(inputs, storage_options, format=config.format, text_column=config.text_column,
                             blocksize=config.blocksize, on_bad_shard=config.on_bad_shard)
    drop_empty(shards)  # nothing but empty files: an error now
    if client is None:
        from .cluster import dask_client

        with dask_client(config.scheduler, config.workers, config.threads_per_worker, processes) as c:
            return run_job(inputs, config, client=c, output=output, storage_options=storage_options,
                           overwrite=overwrite, progress=progress, resume=resume)
    result = train_vectors(client, inputs, config, storage_options=storage_options, progress=progress, shards=shards,
                           checkpoint_url=ckpt_url, resume=resume)
    if config.analogies or config.word_pairs:
        result.metrics["evaluation"] = evaluate(result.wv, analogies=config.analogies,
                                                word_pairs=config.word_pairs,
                                                restrict_vocab=config.restrict_vocab)
    if output:
        write_outputs(output, result.wv, result.vocab, result.metrics, storage_options, overwrite)
    return result


def train(inputs: Sequence[str] | str, *, client=None, output: str | None = None,
          storage_options: dict | None = None, overwrite: bool = False, progress: bool = False,
          resume: bool = False, **params) -> TrainResult:
    """Train word2vec with gensim's parameter names; return vectors, vocabulary and metrics.

    Parameters
    ----------
    inputs : str or list of str
        URLs or globs (local, s3://, gs://, abfs://, memory://, ...).
    client : distributed.Client, optional
        Cluster to use; default a LocalCluster shaped by ``workers``/``threads_per_worker``.
    output : str, optional
        Also write the four output files there.
    resume : bool
        Continue from the newest complete checkpoint (``checkpoint``, default ``output/_checkpoint``).
    **params
        Any :class:`w2v_dist.config.Config` field: ``sg``, ``negative``, ``window``,
        ``vector_size``, ``min_count``, ``sample``, ``alpha``, ``min_alpha``, ``epochs``,
        ``ns_exponent``, ``cbow_mean``, ``seed``, ``workers``, ``sync_every``, ``merge``, ...

    Returns
    -------
    TrainResult
        ``.wv`` is a :class:`w2v_dist.vectors.WordVectors` (float32 [V, D]).

    Raises
    ------
    ConfigError
        Unknown or invalid parameter.
    CorpusError
        Unreadable input or empty vocabulary.
    """
    config = Config.from_dict(params)
    return run_job(inputs, config, client=client, output=output, storage_options=storage_options,
                   overwrite=overwrite, progress=progress, resume=resume)
