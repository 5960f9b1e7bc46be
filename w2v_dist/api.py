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
from .vectors import combine_vectors


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
        Folder URL for the outputs (see :func:`w2v_dist.output.write_outputs`).
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
        ``wv`` holds the vectors chosen by ``config.export`` (input, output, sum or concat).
        With a central copy partitioned across the workers (``central_partition_bytes``) the
        outputs are written block by block and ``wv`` is the written ``vectors.npy``
        memory-mapped (local output; None otherwise); without ``output`` the rows stay on the
        workers (``result.central``, alive as long as ``client``).

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
        from .cluster import dask_client, make_security

        if config.phrase_model:  # an unreadable phrase model fails here, before a cluster starts
            from .phrases import PhraseModel

            PhraseModel.read_parquet(config.phrase_model, storage_options)
        security = make_security(config.tls_ca_file, config.tls_cert, config.tls_key)
        with dask_client(config.scheduler, config.workers, config.threads_per_worker, processes, security) as c:
            return run_job(inputs, config, client=c, output=output, storage_options=storage_options,
                           overwrite=overwrite, progress=progress, resume=resume)
    from .cluster import check_worker_versions

    check_worker_versions(client)  # before any task: workers without w2v-dist fail obscurely
    result = train_vectors(client, inputs, config, storage_options=storage_options, progress=progress, shards=shards,
                           checkpoint_url=ckpt_url, resume=resume)
    if result.central is not None:
        return _finish_partitioned(result, config, output, storage_options, overwrite)
    if config.export != "input":  # the vectors to evaluate and write (result.syn0 keeps the input ones)
        result.wv = combine_vectors(result.wv.index_to_key, result.wv.vectors, result.syn1neg, config.export,
                                    result.wv.counts)
    if config.analogies or config.word_pairs:
        result.metrics["evaluation"] = evaluate(result.wv, analogies=config.analogies,
                                                word_pairs=config.word_pairs,
                                                restrict_vocab=config.restrict_vocab)
    if output:
        write_outputs(output, result.wv, result.vocab, result.metrics, storage_options, overwrite,
                      phrases=result.phrases)
    return result


def _finish_partitioned(result: TrainResult, config: Config, output, storage_options, overwrite) -> TrainResult:
    """Evaluate and write a model whose central copy is partitioned across the workers.

    The outputs are written block by block (:class:`w2v_dist.training.partition.BlockVectors`):
    the driver never holds V x D.  Evaluation sees the ``restrict_vocab`` most frequent words
    (fetched); ``report.html`` is left out.  Then the rows on the workers are freed (when there is
    an output) and ``result.wv`` is the written vectors memory-mapped (local output) or None.
    """
    from .training.partition import export_vectors

    bv = export_vectors(result.central, result.vocab.words, result.vocab.counts, config.export)
    if config.analogies or config.word_pairs:
        head = bv.head(config.restrict_vocab)
        result.metrics["evaluation"] = evaluate(head, analogies=config.analogies, word_pairs=config.word_pairs,
                                                restrict_vocab=config.restrict_vocab)
        result.metrics["evaluation"]["vocabulary_evaluated"] = len(head)
    if not output:
        return result  # the rows stay on the workers: result.central.fetch(...), then result.central.close()
    try:
        write_outputs(output, bv, result.vocab, result.metrics, storage_options, overwrite,
                      phrases=result.phrases, report=False)
    finally:
        result.central.close()
    from .vectors import WordVectors

    local = "://" not in output or output.startswith("file://")
    result.wv = WordVectors.load(output, mmap="r", storage_options=storage_options) if local else None
    return result


def detect_phrases(inputs: Sequence[str] | str, config: Config, *, client=None, output: str | None = None,
                   storage_options: dict | None = None, overwrite: bool = False, progress: bool = True,
                   processes: bool = True):
    """Learn phrases (the ``phrase_*`` parameters of ``config``) and write ``output/phrases.parquet``.

    Parameters
    ----------
    inputs : str or list of str
        URLs or globs of text shards / Parquet files.
    config : Config
        Its tokenization, input, cluster and ``phrase_*`` fields are used (``phrases`` need not be set).
    client : distributed.Client, optional
        Default: a cluster made from ``config`` for this call.
    output : str, optional
        Folder URL that receives ``phrases.parquet``.
    storage_options : dict, optional
        fsspec options for inputs and output.
    overwrite : bool
        Replace a ``phrases.parquet`` already in ``output``.
    processes : bool
        With no client: worker processes (True) or threads of this process (False).

    Returns
    -------
    PhraseModel

    Raises
    ------
    ConfigError, CorpusError, W2VError
        Bad parameters, unreadable inputs, or an output that already holds ``phrases.parquet``;
        raised before anything is written.
    """
    import dataclasses

    from .output import write_phrases
    from .training.driver import phrase_model_for

    if isinstance(inputs, str):
        inputs = [inputs]
    config = dataclasses.replace(config, phrases=True, phrase_model=None).validate()
    if output:
        check_output(output, storage_options, overwrite, files=("phrases.parquet",))
    shards = discover_shards(inputs, storage_options, format=config.format, text_column=config.text_column,
                             blocksize=config.blocksize)
    if client is None:
        from .cluster import dask_client

        with dask_client(config.scheduler, config.workers, config.threads_per_worker, processes) as c:
            return detect_phrases(inputs, config, client=c, output=output, storage_options=storage_options,
                                  overwrite=overwrite, progress=progress)
    model = phrase_model_for(config, shards, storage_options, client, progress)
    if output:
        write_phrases(output, model, storage_options, overwrite)
    return model


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
        Also write the output folder there (see :func:`w2v_dist.output.write_outputs`).
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
