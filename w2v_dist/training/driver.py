"""The training driver: stages, rounds, learning-rate schedule and merging.

Data flow (DESIGN.md)::

    shards --read/tokenize/count (Dask)--> Vocab
    shards --read/tokenize/encode (Dask, on the worker that will train them)--> int32 ids + offsets
    rounds: every worker trains its replica on its slice --> changed rows --merge--> central copy

Rounds.  With one worker nothing is merged: its threads share one replica, which the driver
fetches at the end.  Worker k holds ``W_k`` in-vocabulary words per epoch.  An epoch has
``R = ceil(max_k W_k / sync_every)`` rounds; in round j worker k trains the sentences that start in
words ``[j W_k / R, (j+1) W_k / R)`` of its stream, so all workers finish an epoch together.

Learning rate.  As word2vec.c, alpha decays linearly with *global* progress, the raw words of all
workers over all epochs (``total = epochs * sum_k W_k``): ``alpha(p) = alpha - (alpha - min_alpha)
* p / total``.  In a round every worker is given the rate at the round's start and end, since the
workers progress together.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..config import Config
from ..corpus import discover_shards
from ..storage import StorageOptions
from ..vectors import WordVectors
from ..vocab import Vocab, build_vocab, keep_probabilities, noise_cum_table
from . import worker as W
from .merge import get_merge_rule

log = logging.getLogger("w2v_dist")


@dataclass
class TrainResult:
    """What a training job produced.

    Attributes
    ----------
    wv : WordVectors
        The input vectors (syn0), float32 [V, D], in vocabulary order (``run_job`` replaces them
        by the vectors ``config.export`` asks for).
    vocab : Vocab
    syn1neg : float32 [V, D] or None
        The output (context) vectors of negative sampling (None when negative=0).
    syn1 : float32 [V-1, D] or None
        The hierarchical-softmax inner-node vectors (None when hs=0).
    metrics : dict
        The content of ``metrics.json`` (see :func:`train_vectors`).
    syn0 : float32 [V, D] or None
        The input vectors, whatever ``wv`` holds.
    phrases : PhraseModel or None
        The phrase model applied before the vocabulary (None without phrases).
    """

    wv: WordVectors
    vocab: Vocab
    syn1neg: np.ndarray | None
    syn1: np.ndarray | None
    metrics: dict = field(default_factory=dict)
    syn0: np.ndarray | None = None
    phrases: Any = None


def phrase_model_for(config: Config, shards, storage_options: dict | None, client, progress: bool = False):
    """The phrase model a job applies: ``config.phrase_model`` read, else learned (or None).

    Learned with :func:`w2v_dist.phrases.learn_phrases` from the ``phrase_*`` parameters and the
    job's tokenization, on ``client``.
    """
    from ..phrases import PhraseModel, learn_phrases

    if config.phrase_model:
        return PhraseModel.read_parquet(config.phrase_model, storage_options)
    if not config.phrases:
        return None
    return learn_phrases(shards, storage_options, min_count=config.phrase_min_count,
                         threshold=config.phrase_threshold, scoring=config.phrase_scoring,
                         connector_words=config.phrase_connector_words, delimiter=config.phrase_delimiter,
                         passes=config.phrase_passes, max_vocab_size=config.phrase_max_vocab_size,
                         client=client, progress=progress, **_tokenize_options(config))


def _tokenize_options(config: Config) -> dict:
    opts: dict[str, Any] = {"lowercase": config.lowercase, "max_sentence_length": config.max_sentence_length}
    if config.token_pattern:
        opts["token_pattern"] = config.token_pattern
    return opts


def _assign(sizes: Sequence[int], workers: Sequence[str]) -> list[str]:
    """Longest-processing-time assignment of partitions (by size) to workers."""
    load = {w: 0 for w in workers}
    out = [""] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        w = min(workers, key=lambda w: (load[w], w))
        out[i] = w
        load[w] += max(int(sizes[i]), 1)
    return out


def initial_weights(vocab_size: int, vector_size: int, seed: int, negative: int = 5,
                    hs: int = 0) -> list[np.ndarray]:
    """The matrices ``[syn0, syn1neg, syn1]`` at the start of training, float32.

    syn0 [V, D] is uniform in [-0.5/D, 0.5/D) (word2vec.c); syn1neg [V, D] and syn1 [V-1, D]
    start at zero (word2vec.c).  A matrix the model does not use (syn1neg when negative=0, syn1
    when hs=0) is a [1, D] zero dummy, which the kernels never index.
    """
    rng = np.random.default_rng(seed)
    syn0 = (rng.random((vocab_size, vector_size), dtype=np.float32) - np.float32(0.5)) / np.float32(vector_size)
    syn1neg = np.zeros((vocab_size if negative > 0 else 1, vector_size), dtype=np.float32)
    syn1 = np.zeros((max(vocab_size - 1, 1) if hs else 1, vector_size), dtype=np.float32)
    return [np.ascontiguousarray(syn0, dtype=np.float32), syn1neg, syn1]


def training_tables(counts: np.ndarray, config: Config) -> dict[str, np.ndarray]:
    """Subsampling, noise and Huffman tables for the kernels (dummies for unused parts)."""
    from ..kernels.huffman import build_huffman

    tables = {"keep_prob": keep_probabilities(counts, config.sample)}
    tables["cum_table"] = noise_cum_table(counts, config.ns_exponent) if config.negative > 0 else np.ones(1, np.int64)
    if config.hs:
        tables["points"], tables["codes"], tables["codelens"] = build_huffman(counts)
    else:
        tables.update(points=np.zeros((1, 1), np.int32), codes=np.zeros((1, 1), np.uint8),
                      codelens=np.zeros(1, np.int32))
    return tables


def train_vectors(client, inputs: Sequence[str], config: Config, *, storage_options: dict | None = None,
                  progress: bool = True, on_round: Callable[[dict], None] | None = None,
                  shards: Sequence | None = None) -> TrainResult:
    """Run the whole job on a Dask cluster: vocabulary, encoding, distributed rounds.

    Parameters
    ----------
    client : distributed.Client
        The cluster to run on.  Every worker it has at the start is used, one replica each.
    inputs : list of str
        URLs or globs of text shards or Parquet files (any fsspec filesystem).
    config : Config
        Validated here.
    storage_options : dict, optional
        fsspec options for the inputs.
    progress : bool
        Show tqdm progress bars on stderr.
    on_round : callable, optional
        Called with each round's statistics dict.
    shards : list of Shard, optional
        ``discover_shards(inputs, ...)`` already made by the caller (not listed again).

    Returns
    -------
    TrainResult
        ``metrics`` holds ``corpus_words`` (tokens read), ``vocab_size``, ``train_words``
        (in-vocabulary words per epoch), ``effective_words`` (words kept after subsampling, summed
        over epochs), ``train_seconds`` (wall seconds of the rounds), ``words_per_second``
        (effective words / train seconds), ``workers``, ``threads_per_worker``, ``rounds``,
        ``stage_seconds``, ``loss`` (per round), ``round_stats`` and ``config``.

    Raises
    ------
    ConfigError
        A parameter is invalid.
    CorpusError
        An input cannot be read, or the vocabulary is empty.
    """
    from distributed import wait

    config.validate()
    storage_options = StorageOptions(storage_options)  # redacted in task reprs and worker logs
    stage: dict[str, float] = {}
    t0 = time.perf_counter()
    info = client.scheduler_info()
    workers = sorted(info["workers"])
    if not workers:
        from ..errors import W2VError

        raise W2VError("the Dask cluster has no workers")
    nthreads = {w: int(info["workers"][w].get("nthreads", 1)) for w in workers}
    K = len(workers)
    try:
        link = client.dashboard_link if info.get("services", {}).get("dashboard") else None
    except Exception:  # noqa: BLE001 - the link is a convenience
        link = None
    log.info("Dask cluster: %d worker(s) x %s thread(s)%s", K, "/".join(str(nthreads[w]) for w in workers),
             f"; dashboard {link}" if link else "")

    if shards is None:
        shards = discover_shards(inputs, storage_options, format=config.format,
                                 text_column=config.text_column, blocksize=config.blocksize)
    want = 2 * sum(nthreads.values())
    splittable = [s for s in shards if s.kind == "text" and s.compression is None]
    if len(shards) < want and splittable:
        total = sum(s.size for s in shards)
        bs = max(64 * 1024, min(config.blocksize, total // want + 1))
        shards = discover_shards(inputs, storage_options, format=config.format,
                                 text_column=config.text_column, blocksize=bs)
    stage["discover"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    tok = _tokenize_options(config)
    phrases = phrase_model_for(config, shards, storage_options, client, progress)
    if phrases is not None:
        tok["phrases"] = phrases
        stage["phrases"] = time.perf_counter() - t1
        log.info("phrases: %d in %d pass(es)", len(phrases), len(phrases.passes))
        t1 = time.perf_counter()
    vocab = build_vocab(shards, storage_options, min_count=config.min_count,
                        max_vocab_size=config.max_vocab_size, max_final_vocab=config.max_final_vocab,
                        client=client, progress=progress, **tok)
    stage["vocab"] = time.perf_counter() - t1
    V, D = len(vocab), config.vector_size
    log.info("vocabulary: %d words (min_count=%d) from %d tokens", V, config.min_count, vocab.corpus_words)

    # Encode each shard on the worker that will train it; the result stays there for all epochs.
    t2 = time.perf_counter()
    job = uuid.uuid4().hex[:12]
    owner = _assign([s.size for s in shards], workers)
    [words_fut] = client.scatter([vocab.words_array()], broadcast=True, hash=False)
    encoded = [client.submit(W.encode_shard, s, storage_options, words_fut, tok, workers=[owner[i]],
                             allow_other_workers=False, pure=False, key=f"w2v-encode-{job}-{i}")
               for i, s in enumerate(shards)]
    if progress:
        from distributed import progress as show_progress

        show_progress(encoded)
    counts = client.gather([client.submit(W.partition_words, e, workers=[owner[i]], pure=False)
                            for i, e in enumerate(encoded)])
    parts = {w: [e for e, o in zip(encoded, owner) if o == w] for w in workers}
    W_k = {w: sum(c for c, o in zip(counts, owner) if o == w) for w in workers}
    stage["encode"] = time.perf_counter() - t2
    log.info("encoded %d partitions: %d in-vocabulary words per epoch", len(shards), sum(counts))

    # Central copy and tables, shipped once; replicas made on every worker (compiles kernels).
    t3 = time.perf_counter()
    mats = initial_weights(V, D, config.seed, config.negative, config.hs)
    tables = training_tables(vocab.counts, config)
    params = {"sg": config.sg, "cbow_mean": config.cbow_mean, "window": config.window,
              "negative": config.negative, "hs": config.hs, "compute_loss": config.compute_loss}
    [mats_f, tables_f] = client.scatter([mats, tables], broadcast=True, hash=False)
    big = [mats_f, tables_f]
    inits = [client.submit(W.init_replica, job, mats_f, tables_f, params, nthreads[w], workers=[w],
                           allow_other_workers=False, pure=False) for w in workers]
    wait(inits)
    client.gather(inits)
    stage["init"] = time.perf_counter() - t3

    merge = get_merge_rule(config.merge)
    per_epoch = sum(W_k.values())
    if per_epoch == 0:
        from ..errors import CorpusError

        raise CorpusError("no in-vocabulary words to train on after encoding")
    total = config.epochs * per_epoch
    R = max(1, math.ceil(max(W_k.values()) / config.sync_every))

    def alpha_at(p: int) -> float:
        return max(config.min_alpha, config.alpha - (config.alpha - config.min_alpha) * p / total)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs * R, desc="training rounds", unit="round", leave=True)
    round_stats: list[dict] = []
    updates: dict[str, Any] = {w: None for w in workers}
    done = 0
    effective = 0
    t_train = time.perf_counter()
    r = 0
    try:
        for epoch in range(config.epochs):
            for j in range(R):
                t_r = time.perf_counter()
                slices = {w: (W_k[w] * j // R, W_k[w] * (j + 1) // R) for w in workers}
                words = sum(hi - lo for lo, hi in slices.values())
                a0, a1 = alpha_at(done), alpha_at(done + words)
                futs = []
                for k, w in enumerate(workers):
                    spec = {"word_lo": slices[w][0], "word_hi": slices[w][1], "alpha_start": a0,
                            "alpha_end": a1, "collect": K > 1, "seed": (config.seed * 1_000_003 + r * 7919 + k * 104_729) & 0xFFFFFFFFFFFF}
                    futs.append(client.submit(W.train_round, job, spec, updates[w], *parts[w], workers=[w],
                                              allow_other_workers=False, pure=False,
                                              key=f"w2v-round-{job}-{r}-{k}"))
                results = client.gather(futs)
                t_m = time.perf_counter()
                bytes_out = bytes_back = 0
                if K > 1:
                    upd = []
                    for i, m in enumerate(mats):
                        changed = merge(m, [x["rows"][i] for x in results], [x["deltas"][i] for x in results])
                        upd.append((changed, m[changed]))
                    bytes_out = sum(r.nbytes + v.nbytes for r, v in upd) * K
                    bytes_back = sum(r.nbytes + d.nbytes for x in results for r, d in zip(x["rows"], x["deltas"]))
                    [fut] = client.scatter([upd], broadcast=True, hash=False)
                    updates = {w: fut for w in workers}
                merge_s = time.perf_counter() - t_m
                done += words
                eff = sum(x["effective_words"] for x in results)
                effective += eff
                stats = {
                    "round": r, "epoch": epoch, "alpha_start": a0, "alpha_end": a1, "words": words,
                    "effective_words": eff, "loss": sum(x["loss"] for x in results),
                    "seconds": time.perf_counter() - t_r,
                    "compute_seconds": max(x["compute_seconds"] for x in results),
                    "merge_seconds": merge_s,
                    "bytes_to_driver": int(bytes_back),
                    "bytes_from_driver": int(bytes_out),
                }
                round_stats.append(stats)
                if on_round:
                    on_round(stats)
                if bar is not None:
                    el = time.perf_counter() - t_train
                    bar.set_postfix(epoch=epoch + 1, alpha=f"{a1:.5f}", words_s=f"{effective / max(el, 1e-9):,.0f}")
                    bar.update(1)
                r += 1
        if K == 1:  # a lone replica is the model: fetch it once instead of merging every round
            mats = client.submit(W.fetch_replica, job, workers=workers, allow_other_workers=False,
                                          pure=False).result()
        train_seconds = time.perf_counter() - t_train
    finally:
        if bar is not None:
            bar.close()
        try:
            client.run(W.drop_replica, job, workers=workers)
        except Exception:  # noqa: BLE001 - cleanup must not hide the real error
            log.debug("could not drop replicas of %s", job, exc_info=True)
        client.cancel(encoded + big + [words_fut])

    syn0, syn1neg, syn1 = mats
    wv = WordVectors(vocab.words, syn0, vocab.counts)
    compute = sum(s["compute_seconds"] for s in round_stats)
    metrics = {
        "corpus_words": int(vocab.corpus_words),
        "vocab_size": V,
        "train_words": int(per_epoch),
        "effective_words": int(effective),
        "train_seconds": train_seconds,
        "words_per_second": effective / train_seconds if train_seconds > 0 else 0.0,
        "workers": K,
        "threads_per_worker": [nthreads[w] for w in workers],
        "partitions": len(shards),
        "rounds": r,
        "rounds_per_epoch": R,
        "round_overhead_fraction": max(0.0, 1.0 - compute / train_seconds) if train_seconds > 0 else 0.0,
        "loss": [s["loss"] for s in round_stats],
        "stage_seconds": {**stage, "train": train_seconds},
        "round_stats": round_stats,
        "config": config.hyperparameters(),
    }
    if phrases is not None:
        metrics["phrases"] = len(phrases)
    return TrainResult(wv=wv, vocab=vocab, syn1neg=syn1neg if config.negative > 0 else None,
                       syn1=syn1 if config.hs else None, metrics=metrics, syn0=syn0, phrases=phrases)
