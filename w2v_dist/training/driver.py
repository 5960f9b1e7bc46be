"""The training driver: stages, rounds, learning-rate schedule and merging.

Data flow (DESIGN.md)::

    shards --read/tokenize/count (Dask)--> Vocab
    shards --read/tokenize/encode (Dask, on the worker that will train them)--> int32 ids + offsets
    rounds: every worker trains its replica on its slice --> changed rows --merge--> central copy

Rounds.  With one worker nothing is merged: its threads share one replica, which the driver
fetches at the end, and a round is ``max(config.round_words(1), solo_round)`` words (its only
uses are the progress bar, the loss log and checkpoints).  Worker k trains ``W_k`` in-vocabulary
words per epoch.  By default (``config.deal``) the corpus is dealt out: the stream of all shards in
input order is cut into ``S = ceil(ceil(total / K) / round_words)`` stretches and each stretch into K
consecutive pieces at sentence starts; worker k's stream is its piece of every stretch, cut from
the workers that encoded them and moved once (:func:`w2v_dist.training.balance.deal_segments`), and
with merged replicas round j of an epoch trains piece j, so all replicas train one stretch of text
at a time, as one worker would.  With ``deal=False`` worker k's stream is the shards it encoded
(its home stream), cut at sentence boundaries so that every worker trains ``total / K`` words
within a sentence, the surplus moved once to the workers short of their share (``config.balance``).
An epoch has ``R = ceil(max_k W_k / round_words)`` rounds (``round_words`` is
``config.round_words(K)``: ``sync_every``, else ``sync_total // K``; or the lone replica's round
above; ``S`` for a dealt stream of merged replicas); in round j worker k trains the sentences that
start in words ``[j W_k / R, (j+1) W_k / R)`` of its stream (its piece j when dealt), so all
workers finish an epoch together.

One replica per machine.  When every worker can see the driver's shared-memory folder (a
LocalCluster, or workers started on the driver's machine) and ``config.replicas`` is ``"host"``,
the matrices are written there once as files and every worker maps them read-write
(:func:`worker.init_shared_replica`): all workers train the same matrices without locks, as the
threads of one worker do (Hogwild, Recht et al. 2011), nothing is merged and no rows travel.
Rounds are then sized as a lone replica's (``solo_round // K`` words a worker) and the driver
reads the model from the files at checkpoints and at the end; a lost worker sends the run back to
the last checkpoint (or the start), as with one worker.  With one worker elsewhere, or
``replicas = "worker"``, each worker keeps its own replica, merged every round; the ``hot_rows``
most-updated rows of each matrix are merged apart, by block momentum, ``hot_subrounds`` times a
round (5; 10 from 8 replicas) through a Dask actor, overlapped with training
(:mod:`w2v_dist.training.hot`); of the other rows, those expected to get fewer than
``rare_every`` updates in a replica's round are sent every few rounds
(:func:`~w2v_dist.training.merge.row_periods`, :func:`worker._due_rows`), all of them before an
epoch starts, a checkpoint is written and at the end.

Central copy.  Held by the driver up to ``config.central_partition_bytes``; above, partitioned by
row ranges across the workers, each owner merging its rows (:mod:`w2v_dist.training.partition`):
the driver then only schedules and keeps per-round statistics.

Failures.  A round is merged only once every replica's result is in; a lost worker makes the
driver re-host the lost replica, encode its shards again and redo the round from the central copy
(see :func:`train_vectors`).  Checkpoints: :mod:`w2v_dist.training.checkpoint`.

Learning rate.  As word2vec.c, alpha decays linearly with *global* progress, the raw words of all
workers over all epochs (``total = epochs * sum_k W_k``): ``alpha(p) = alpha - (alpha - min_alpha)
* p / total``.  In a round every worker is given the rate at the round's start and end, since the
workers progress together.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..config import Config
from ..corpus import discover_shards
from ..storage import StorageOptions
from ..errors import W2VError
from ..vectors import WordVectors
from ..vocab import Vocab, keep_probabilities, merge_counts, noise_cum_table
from . import balance as B
from . import encoded as E
from . import partition as P
from . import shm
from . import worker as W
from .hot import HOT_VELOCITY, HotRows, abort_files, choose_hot_rows, default_momentum, default_subrounds
from . import merge as M
from .merge import expected_updates, get_merge_rule, row_periods

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
    central : PartitionedCentral or None
        A central copy partitioned across the workers (``config.central_partition_bytes``): then
        ``wv``, ``syn0``, ``syn1neg`` and ``syn1`` are None, and the rows stay on the workers until
        ``central.close()`` (``run_job`` writes the outputs from it block by block, then closes it).
    """

    wv: WordVectors
    vocab: Vocab
    syn1neg: np.ndarray | None
    syn1: np.ndarray | None
    metrics: dict = field(default_factory=dict)
    syn0: np.ndarray | None = None
    phrases: Any = None
    central: Any = None


DEAL_TASK_WORDS = 4_000_000
"""Dealing the corpus out cuts a worker's consecutive pieces that come from one home stream in one
task of at most this many words (16 MB of int32 ids; a piece is a round's words, so one task a
piece would make about corpus words / ``sync_total`` x K tasks)."""

SUM_ROUND_WORDS = 200_000
"""With hot rows, ``merge="auto"`` sums the cold rows only when a round is at most this many words of
all workers together (the default ``sync_total``); longer rounds get scaled-sum."""


def phrase_model_for(config: Config, shards, storage_options: dict | None, client, progress: bool = False,
                     keep_partitions: list | None = None):
    """The phrase model a job applies: ``config.phrase_model`` read, else learned (or None).

    Learned with :func:`w2v_dist.phrases.learn_phrases` from the ``phrase_*`` parameters and the
    job's tokenization, on ``client``; ``keep_partitions`` is passed to it (filled only when the
    model is learned).
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
                         client=client, progress=progress, keep_partitions=keep_partitions,
                         **_tokenize_options(config))


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


def drop_empty(shards: Sequence) -> tuple[list, list[str]]:
    """The shards without the empty files (0 bytes), and the sorted URLs of those files.

    Raises
    ------
    CorpusError
        Every input file is empty.
    """
    from ..errors import CorpusError

    empty = sorted({s.url for s in shards if s.kind == "text" and s.size == 0})
    kept = [s for s in shards if not (s.kind == "text" and s.size == 0)]
    if not kept:
        raise CorpusError(f"every input file is empty ({len(empty)} file(s), e.g. {empty[0]})")
    return kept, empty


class _RoundFailed(Exception):
    """A worker was lost, or a task failed for a reason that is not the user's input."""


_POLL_SECONDS = 0.5
_RESTART_WAIT_SECONDS = 30.0
_JOIN_CHECK_SECONDS = 2.0  # between looks at the cluster's workers inside an epoch (a scheduler round trip each)


def _retryable(exc: BaseException) -> bool:
    """A task error that comes from losing a worker, not from the task: redo the round."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover - moved in another distributed version
        KilledWorker = ()  # noqa: N806
    if KilledWorker and isinstance(exc, KilledWorker):
        return True
    # a restarted worker has no replica (worker.train_round), or lost a dependency's data; a
    # replica's hot-row exchange failed because another replica or the actor's worker was lost
    return isinstance(exc, RuntimeError) and str(exc).startswith(("no replica of ", "hot rows: "))


def _scatter_each(client, data, hosts) -> dict:
    """Send ``data`` to every host, one copy each: ``{host: future}``.

    Not ``scatter(broadcast=True)``: its replication loops forever when a target worker dies
    during it (distributed's ``Scheduler.replicate`` waits for a copy on every worker it started
    with).  A failure here is a :class:`_RoundFailed`.
    """
    out = {}
    for h in sorted(set(hosts)):
        try:
            [out[h]] = client.scatter([data], workers=[h], hash=False)
        except Exception as exc:  # noqa: BLE001 - a dead or unknown worker
            raise _RoundFailed(f"sending data to {h}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    return out


def _release(futs) -> None:
    """Let the scheduler forget ``futs`` now (even while a traceback still holds them), not by cancelling.

    ``Client.cancel`` also cancels the keys' dependents, and distributed 2026.8's scheduler then
    fails an assertion on a dependent that no client wants but another task still needs (a
    round's ``after`` future, a balanced piece's cut): "Exception while handling op
    register-client ... assert ts.who_wants", logged at the end of every job.  Releasing drops
    this client's claim on each key, and the scheduler forgets what nobody needs.
    """
    for f in futs:
        f.release()


def _alive(client) -> dict:
    from ..cluster import cluster_workers

    return cluster_workers(client)


def _gather(client, futs, hosts, what: str, progress: bool = False):
    """``client.gather(futs)``, but raise :class:`_RoundFailed` when a host leaves the cluster.

    A task restricted to a worker that died would wait forever (``no-worker``), so the futures
    are polled and the cluster's worker list checked between polls.  Losses (a host gone, a
    future cancelled for lost dependencies, ``KilledWorker``, a replica missing on a restarted
    worker) are a :class:`_RoundFailed`; any other task error (a :class:`W2VError` about the
    input, or a bug) is raised as it is, never retried.
    """
    hosts = set(hosts)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futs), desc=what, unit="task", leave=True)
    try:
        return _poll(client, futs, hosts, what, bar)
    finally:
        if bar is not None:
            bar.close()


def _all_done_event(futs) -> threading.Event:
    """An event set once every future of ``futs`` is done (finished, erred or cancelled).

    Used instead of ``distributed.wait(futs, timeout=...)``: its TimeoutError holds the futures
    in a reference cycle (the traceback keeps ``distributed.utils.sync``'s frame, whose closure
    cell keeps the exception, and ``_wait``'s frame, which keeps ``futs``), so a polled round's
    futures, and their results in the workers' memory, outlived the round until the driver's
    cyclic garbage collector ran (worker memory grew by a round's results per round, then fell).
    The callbacks hold no future (:meth:`distributed.Future.add_done_callback`).
    """
    event, lock = threading.Event(), threading.Lock()
    pending = [f for f in futs if not f.done()]
    left = [len(pending)]

    def one(_fut) -> None:
        with lock:
            left[0] -= 1
            if left[0] <= 0:
                event.set()

    if not pending:
        event.set()
    for f in pending:  # (called at once for a future done meanwhile)
        f.add_done_callback(one)
    return event


def _gather_watched(client, futs, hosts, what):
    """``client.gather(futs)`` of finished futures, checking meanwhile that the hosts are alive.

    A finished future whose result was on a worker that died since is computed again, and when its
    task is restricted to that worker it never finishes, so ``client.gather`` alone waited forever
    (seen once in CI: a partitioned run's owner killed right after its merge finished).  The gather
    runs in a thread; the caller polls the cluster's workers and raises :class:`_RoundFailed` when
    a host is gone (the thread ends when the recovery cancels the futures).  (``Future.result``
    with a timeout instead kept the futures alive until a cyclic garbage collection:
    ``tests/test_memory.py``.)"""
    box: dict = {}

    def run() -> None:
        try:
            box["ok"] = client.gather(futs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["err"] = exc

    th = threading.Thread(target=run, name="w2v-gather", daemon=True)
    th.start()
    while True:
        th.join(_POLL_SECONDS)
        if not th.is_alive():
            break
        gone = hosts - set(_alive(client))
        if gone:
            raise _RoundFailed(f"{what}: lost worker(s) {', '.join(sorted(gone))}")
    if "err" in box:
        raise box.pop("err")
    return box.pop("ok")


def _poll(client, futs, hosts, what, bar):
    all_done = _all_done_event(futs)
    while True:
        all_done.wait(_POLL_SECONDS)
        if bar is not None:
            bar.update(sum(f.done() for f in futs) - bar.n)
        # a failed task fails the whole gather at once: the other tasks of a round may be waiting
        # for its hot rows (hot.py), and would hold their workers until hot_timeout
        for f in futs:
            if f.status == "error":
                exc = f.exception()
                if _retryable(exc):
                    raise _RoundFailed(f"{what}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
                gone = hosts - set(_alive(client))
                if gone:  # a lost worker explains it (e.g. the other end of an exchange)
                    raise _RoundFailed(f"{what}: lost worker(s) {', '.join(sorted(gone))}") from exc
                f.result()  # the task's own error (the input's, or a bug): raised as it is
        if all(f.done() for f in futs):
            try:
                return _gather_watched(client, futs, hosts, what)
            except (W2VError, _RoundFailed):
                raise
            except Exception as exc:  # noqa: BLE001 - cancelled for lost dependencies, comm errors
                raise _RoundFailed(f"{what}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
        try:
            gone = hosts - set(_alive(client))
        except Exception as exc:  # noqa: BLE001
            raise _RoundFailed(f"{what}: scheduler unreachable: {exc}") from exc
        if gone:
            raise _RoundFailed(f"{what}: lost worker(s) {', '.join(sorted(gone))}")


def train_vectors(client, inputs: Sequence[str], config: Config, **kwargs) -> TrainResult:
    job = uuid.uuid4().hex[:12]
    try:
        return _train_job(client, inputs, config, job=job, **kwargs)
    finally:  # the encoded-corpus cache and the shared-memory folder go with the job, however it ends
        shm.drop(shm.folder_of(job))  # (made before the rounds when the corpus is dealt out)
        try:
            client.run(E.drop_cache, job)
        except Exception:  # noqa: BLE001 - cleanup must not hide the real error
            log.debug("could not remove the encoded-corpus cache of %s", job, exc_info=True)


def _train_job(client, inputs: Sequence[str], config: Config, *, job: str, storage_options: dict | None = None,
               progress: bool = True, on_round: Callable[[dict], None] | None = None,
               shards: Sequence | None = None, checkpoint_url: str | None = None,
               resume: bool = False) -> TrainResult:
    """Run the whole job on a Dask cluster: vocabulary, encoding, distributed rounds.

    Parameters
    ----------
    client : distributed.Client
        The cluster to run on.  Every worker it has at the start is used, one replica each; a
        worker that joins later gets one from the next round (merged replicas on a dealt
        corpus) or the next epoch's start (Notes).
    inputs : list of str
        URLs or globs of text shards or Parquet files (any fsspec filesystem).
    config : Config
        Validated here.
    storage_options : dict, optional
        fsspec options for the inputs and the checkpoints.
    progress : bool
        Show tqdm progress bars on stderr.
    on_round : callable, optional
        Called with each round's statistics dict (after the round's checkpoint, if any).
    shards : list of Shard, optional
        ``discover_shards(inputs, ...)`` already made by the caller (not listed again).
    checkpoint_url : str, optional
        Checkpoint folder (default ``config.checkpoint``); written every ``config.checkpoint_every``
        rounds (see :mod:`w2v_dist.training.checkpoint`).
    resume : bool
        Continue from the newest complete checkpoint under the checkpoint folder: its
        vocabulary, central copy and position (round, words done, learning rate).

    Returns
    -------
    TrainResult
        ``metrics`` holds ``corpus_words`` (tokens read), ``vocab_size``, ``train_words``
        (in-vocabulary words per epoch), ``effective_words`` (words kept after subsampling, summed
        over epochs), ``train_seconds`` (wall seconds of the rounds; shipping the central copy and compiling or
        loading the Numba kernels on the workers is ``stage_seconds["init"]``), ``words_per_second``
        (effective words / train seconds), ``workers``, ``threads_per_worker``, ``rounds``,
        ``stage_seconds``, ``loss`` (per round), ``round_stats``, ``config``, and the input and
        failure accounting: ``empty_files``, ``skipped_shards`` (list of ``{url, error}``),
        ``invalid_utf8_replacements``, ``recovered_failures``, ``resumed_from_round``, the streams
        (``home_words``, ``replica_words``, ``balance_moved_words`` (words trained on another
        worker than the one that read them), ``balance_pieces``, ``balance_seconds``,
        ``dealt_stretches`` (0 when not dealt out)),
        ``checkpoints_written``, ``central`` (``partitioned`` and, when true, the owners and
        their row bounds), ``reshapes`` (one ``{epoch, round, round_of_epoch, workers_before,
        workers, hosts, seconds}`` a change of workers between rounds).  ``rounds`` counts the rounds run;
        ``workers``, ``rounds_per_epoch``, ``replica_words`` and ``home_words`` are the last
        shape's.  Each ``round_stats`` entry has ``replicas`` (workers training it), ``bytes_to_driver`` /
        ``bytes_from_driver`` (changed rows, int64 ids + float32 values, to and from the
        driver-held copy) or, partitioned, ``bytes_to_owners``, ``bytes_from_owners``,
        ``bytes_between_workers`` (the part that crosses processes) and ``changed_rows``.
        With a partitioned central copy ``wv``/``syn0``/``syn1neg``/``syn1`` are None and
        ``central`` is the handle: its rows stay on the workers until ``central.close()``.

    Notes
    -----
    Fault tolerance.  A round's results are merged only once every replica's result has arrived, so the central
    copy never takes a half-applied merge.  When a worker is lost (or a round task fails for a
    reason other than the input), the driver waits up to 30 s for the cluster to regain its size
    (a nanny restarts a killed worker), gives each lost replica a worker (a fresh one, else the
    least loaded survivor), encodes the lost replica's shards again there, re-creates every
    replica from the central copy and redoes the round.  With one worker the replica *is* the
    model, so the run goes back to the last checkpoint (or to the start).  After
    ``config.max_failures`` such recoveries the error is raised.

    Workers joining and leaving.  At each epoch's start, and every ``_JOIN_CHECK_SECONDS`` (2 s)
    between the rounds of merged replicas on a dealt corpus without overlapping rounds, the driver
    compares the cluster's workers with the replicas' hosts: a worker that joined gets a replica,
    and two replicas left on one worker by a loss become one.  The streams are dealt (or balanced)
    again over the new hosts (each shard stays where it was encoded) and the replicas made from
    the model (the central copy, or the lone or shared replica fetched first); progress is counted
    in words, so the learning rate and the epoch go on.  At an epoch's start the rounds are
    planned for the new count; inside an epoch, after a round that sent every changed row, the new
    deal keeps the old one's stretches (their boundaries depend on the corpus and the stretch
    count only), so the epoch goes on at the same round with the same words left (checked: a
    :class:`W2VError` if not, a bug).  Not with a partitioned central copy.

    Raises
    ------
    ConfigError
        A parameter is invalid, or differs from the checkpoint being resumed.
    CorpusError
        An input cannot be read (with ``on_bad_shard="error"``), or the vocabulary is empty.
    W2VError
        ``resume`` without a complete checkpoint; checkpoint I/O failed; too many failures.
    """
    from . import checkpoint as ckpt
    from ..errors import ConfigError, CorpusError, W2VError as _W2VError

    config.validate()
    storage_options = StorageOptions(storage_options)  # redacted in task reprs and worker logs
    checkpoint_url = checkpoint_url or config.checkpoint
    if (config.checkpoint_every or config.checkpoint_minutes or resume) and not checkpoint_url:
        raise ConfigError(f"checkpoint_every={config.checkpoint_every}: checkpoints need a folder; give an "
                          f"output or checkpoint URL")
    stage: dict[str, float] = {}
    t0 = time.perf_counter()
    info = client.scheduler_info()
    alive = _alive(client)
    workers = sorted(alive)
    if not workers:
        raise _W2VError("the Dask cluster has no workers")
    nthreads = {w: int(alive[w].get("nthreads", 1)) for w in workers}
    K = len(workers)
    try:
        link = client.dashboard_link if info.get("services", {}).get("dashboard") else None
    except Exception:  # noqa: BLE001 - the link is a convenience
        link = None
    log.info("Dask cluster: %d worker(s) x %s thread(s)%s", K, "/".join(str(nthreads[w]) for w in workers),
             f"; dashboard {link}" if link else "")

    disc = dict(format=config.format, text_column=config.text_column, on_bad_shard=config.on_bad_shard)
    if shards is None:
        shards = discover_shards(inputs, storage_options, blocksize=config.blocksize, **disc)
    want = 2 * sum(nthreads.values())
    splittable = [s for s in shards if s.kind == "text" and s.compression is None]
    if len(shards) < want and splittable:
        total = sum(s.size for s in shards)
        bs = max(64 * 1024, min(config.blocksize, total // want + 1))
        shards = discover_shards(inputs, storage_options, blocksize=bs, **disc)
    shards, empty = drop_empty(shards)
    if empty:
        log.warning("skipping %d empty input file(s), e.g. %s", len(empty), empty[0])
    stage["discover"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    tok = _tokenize_options(config)
    # Phrases come first: vocabulary and encoding tokenize through them.  On resume they are learned
    # again (deterministic: the same counts give the same model) rather than read from the checkpoint.
    # Learned phrases keep their last pass's input on the workers (tokenized, encoded), so the
    # single read below starts from it instead of reading the shards again.
    kept = [] if (config.phrases and not config.phrase_model and config.phrase_max_vocab_size is None
                  and not resume) else None
    phrases = phrase_model_for(config, shards, storage_options, client, progress, keep_partitions=kept)
    if not kept:
        kept = None
    if phrases is not None:
        tok["phrases"] = phrases
        stage["phrases"] = time.perf_counter() - t1
        log.info("phrases: %d in %d pass(es)", len(phrases), len(phrases.passes))
        t1 = time.perf_counter()
    # Logical replicas k = 0..K-1, each with its shards; hosts[k] is the worker that holds them.
    rid = [f"{job}-r{k}" for k in range(K)]  # replica ids (one replica per logical worker)
    hosts = list(workers)
    owner = _assign([s.size for s in shards], list(range(K)))
    mine = {k: [i for i in range(len(shards)) if owner[i] == k] for k in range(K)}
    attempt = [0]
    fut_state: dict[str, Any] = {}
    cache = config.encoded_cache

    def scatter_words():
        fut_state["words"] = _scatter_each(client, vocab.words_array(), hosts)

    def encode(ks) -> dict[int, list]:
        """Encode the shards of logical replicas ``ks`` on their hosts; their futures, in stream order."""
        attempt[0] += 1
        out = {}
        for k in ks:
            out[k] = [client.submit(E.encode_shard_once, shards[i], storage_options, fut_state["words"][hosts[k]],
                                    tok, config.on_bad_shard, job, i, cache, workers=[hosts[k]],
                                    allow_other_workers=False, pure=False, key=f"w2v-encode-{job}-{attempt[0]}-{i}")
                      for i in mine[k]]
        return out

    def alive_now() -> dict:
        """The cluster's live workers (:func:`_alive`); their thread counts are recorded in ``nthreads``."""
        alive = _alive(client)
        for a, wi in alive.items():
            nthreads.setdefault(a, int(wi.get("nthreads", 1)))
        return alive

    def rehost(reason: str) -> list[int]:
        """Wait (a while) for the cluster to regain its size; give each lost replica a new host."""
        deadline = time.monotonic() + _RESTART_WAIT_SECONDS
        while True:
            alive = alive_now()
            if len(alive) >= K or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        if not alive:
            raise _W2VError(f"every Dask worker was lost ({reason})")
        lost = [k for k in range(K) if hosts[k] not in alive]
        for k in lost:
            free = [a for a in sorted(alive) if a not in hosts]
            hosts[k] = free[0] if free else min(sorted(alive), key=lambda a: sum(h == a for h in hosts))
            log.warning("replica %d moves to %s; its shards are read again there", k, hosts[k])
        return lost

    def read_once():
        """The single read: each shard tokenized and locally encoded on its host, counts summed."""
        attempt[0] += 1
        def on(k):
            return dict(workers=[hosts[k]], allow_other_workers=False, pure=False)

        # one task per worker thread for its shards (counts summed on the worker: fewer tasks, fewer tables)
        groups = {k: [g for g in np.array_split(np.asarray(mine[k], dtype=np.int64),
                                                max(1, min(len(mine[k]), nthreads.get(hosts[k], 1))))
                      if g.size] for k in range(K)}
        pairs = {k: [(g.tolist(), client.submit(
            E.encode_local_group, [shards[i] for i in g], storage_options, tok, config.on_bad_shard, job, g.tolist(),
            cache, config.max_vocab_size, [kept[i] for i in g] if kept else None, **on(k),
            key=f"w2v-local-{job}-{attempt[0]}-{g[0]}")) for g in groups[k]] for k in range(K)}
        local = {k: [(g, client.submit(E.local_part, f, **on(k))) for g, f in pairs[k]] for k in range(K)}
        level = [client.submit(E.local_table, f, **on(k)) for k in range(K) for _, f in pairs[k]]
        del pairs  # each pair is freed once its two halves are taken
        depth = 0
        while len(level) > 1:
            depth += 1
            level = [client.submit(merge_counts, level[i:i + 8], config.max_vocab_size, pure=False,
                                   key=f"w2v-count-{job}-{attempt[0]}-{depth}-{j}")
                     for j, i in enumerate(range(0, len(level), 8))]
        return local, _gather(client, level, hosts, "counting", progress=progress)[0]

    saved = None
    local_parts = None
    if resume:
        saved = ckpt.latest(checkpoint_url, storage_options, load_mats=False)
        if saved is None:
            raise _W2VError(f"--resume: no complete checkpoint in {checkpoint_url}")
        ckpt.check_config(saved.state.get("config", {}), config)
        vocab = saved.vocab
        log.info("resuming from %s (%d rounds done)", saved.url, saved.state["rounds_done"])
    else:
        for n_try in range(config.max_failures + 1):
            try:
                local_parts, counts = read_once()
                kept = None  # released: the local parts hold what was needed
                break
            except _RoundFailed as exc:
                if n_try == config.max_failures:
                    raise _W2VError(f"giving up after {n_try + 1} failures while counting: {exc}") from exc
                log.warning("counting failed (%s); reading again", exc)
                kept = None
                rehost(str(exc))
        vocab = Vocab.from_counts(counts, min_count=config.min_count, max_final_vocab=config.max_final_vocab)
    stage["vocab"] = time.perf_counter() - t1
    V, D = len(vocab), config.vector_size
    log.info("vocabulary: %d words (min_count=%d) from %d tokens", V, config.min_count, vocab.corpus_words)

    # A central copy too large for the driver lives on the workers, by row ranges (partition.py).
    limit = config.central_partition_bytes
    partitioned = limit is not None and P.central_nbytes(V, D, config.negative, config.hs) > limit

    # Workers on the driver's machine exchange a round's rows by file in shared memory (shm.py);
    # which ones can is probed whenever the replicas are (re)created.  When all of them can
    # (``replicas = "host"``), they share one replica there instead and nothing is merged.
    shm_dir = shm_token = None

    def open_shm() -> None:
        """The job's shared-memory folder, made once several workers train (at the start or on a join)."""
        nonlocal shm_dir, shm_token
        if shm_dir is None and (config.exchange == "auto" or config.replicas == "host") and K > 1 and not partitioned:
            try:
                shm_dir, shm_token = shm.create(job)
            except OSError as exc:
                shm_dir = ""  # not again
                log.info("exchange through Dask only: no shared-memory folder (%s)", exc)

    def probe_shm() -> set:
        """The hosts that see the job's shared-memory folder."""
        if not shm_dir:
            return set()
        uniq = sorted(set(hosts))
        seen = _gather(client, [client.submit(shm.probe, shm_dir, shm_token, workers=[h], allow_other_workers=False,
                                              pure=False) for h in uniq], hosts, "probing shared memory")
        return {h for h, ok in zip(uniq, seen) if ok}

    shm_blind: set = set()  # hosts the last ``will_share`` found unable to see the folder

    def will_share() -> bool:
        """``replicas="host"``: every worker sees the job's shared-memory folder, so they will train one
        replica (``share_replica``); asked before the corpus is dealt, whose stretches are a merged
        round's words when the replicas are merged and a shared replica's otherwise."""
        shm_blind.clear()
        if config.replicas != "host" or K < 2 or partitioned:
            return False
        open_shm()
        try:
            shm_blind.update(set(hosts) - probe_shm())
        except _RoundFailed:  # a host lost while probing: the deal's own tasks will fail and recover
            return False
        return bool(shm_dir) and not shm_blind

    # Encode each shard on the worker that will train it; the result stays there for all epochs.
    t2 = time.perf_counter()
    parts: dict[int, list] = {k: [] for k in range(K)}
    # Balanced streams (balance.py): worker k trains the first W_k words of its home stream
    # (``home[k]`` words, its shards) and then ``pieces[k]``, cut from other workers' surplus.
    home: dict[int, int] = {}
    W_k: dict[int, int] = {}
    pieces: dict[int, list] = {k: [] for k in range(K)}
    balanced = {"moved_words": 0, "seconds": 0.0, "pieces": 0}
    # Dealt streams (config.deal, balance.deal_segments): worker k trains only ``pieces[k]``, its
    # piece of each of ``stretches`` stretches of the corpus; ``bounds[k][j]`` is where piece j starts.
    dealt: dict[str, Any] = {"stretches": 0, "bounds": {}, "keep": 0}  # keep: the stretches a re-deal must make
    streams_ready = [False]  # false while (re)building the streams: a failure there leaves them half made

    def words_a_round(merged: bool) -> int:
        """Words a worker trains a round: ``config.round_words(K)`` when replicas are merged; a lone or
        shared replica merges nothing, so its rounds (a scheduler round trip each, ~10 ms) only pace
        the progress bar, the loss log and checkpoints, and are at least ``solo_round // K`` words."""
        return config.round_words(K) if merged else max(config.round_words(K), config.solo_round // K)

    def stream(k: int) -> list:
        """The encoded partitions worker k trains, in order (its words ``[0, W_k)``)."""
        return list(pieces[k]) if dealt["stretches"] else list(parts[k]) + list(pieces[k])

    def deal():
        """Deal the corpus out: ``pieces[k]`` is worker k's piece of every stretch, in order."""
        sw = [int(infos[i]["words"]) for i in range(len(shards))]
        # one stretch a round: merged replicas' rounds, or a shared replica's (its workers train side
        # by side, so neighbouring pieces of long stretches suffice)
        per = words_a_round(not will_share())
        # (a re-shape inside an epoch keeps the stretches: their boundaries do not depend on K, so round
        # j of the new deal trains the same stretch of the corpus as round j of the old one)
        S = dealt["keep"] or max(1, math.ceil(math.ceil(sum(sw) / K) / per))
        asks = B.deal_asks(sw, owner, K, S)
        srcs = sorted(asks)
        got = _gather(client, [client.submit(B.sentence_starts_at, parts[src], asks[src], workers=[hosts[src]],
                                             allow_other_workers=False, pure=False) for src in srcs],
                      hosts, "dealing the corpus out")
        segments, bounds = B.deal_segments(sw, owner, K, S, {src: dict(zip(asks[src], g))
                                                               for src, g in zip(srcs, got)})
        for dst in range(K):  # one task for each run of consecutive pieces from one home stream
            for n_, (src, ranges) in enumerate(B.group_segments(segments[dst], DEAL_TASK_WORDS)):
                cut = client.submit(B.cut_pieces, ranges, *parts[src], workers=[hosts[src]], allow_other_workers=False,
                                    pure=False, key=f"w2v-dealcut-{job}-{attempt[0]}-{dst}-{n_}")
                pieces[dst].append(client.submit(B.store_piece, cut, job, f"deal-{attempt[0]}-{dst}-{n_}", cache,
                                                 workers=[hosts[dst]], allow_other_workers=False, pure=False,
                                                 key=f"w2v-deal-{job}-{attempt[0]}-{dst}-{n_}"))
        sizes = _gather(client, [client.submit(B.stream_words, *pieces[dst], workers=[hosts[dst]],
                                               allow_other_workers=False, pure=False) for dst in range(K)],
                        hosts, "dealing the corpus out")
        if sizes != [bounds[k][-1] for k in range(K)] or sum(sizes) != sum(home.values()):  # a bug, not bad input
            raise _W2VError(f"dealt streams hold {sizes} words, planned {[bounds[k][-1] for k in range(K)]}, "
                            f"the shards {sum(home.values())}")
        W_k.update({k: int(sizes[k]) for k in range(K)})
        dealt.update(stretches=S, bounds=bounds, per=per)
        balanced.update(moved_words=int(sum(hi - lo for d in range(K) for s, lo, hi in segments[d] if s != d)),
                        pieces=sum(len(pieces[d]) for d in range(K)))

    def rebalance():
        """(Re)build the streams from the home streams: sets ``W_k`` and ``pieces`` (dealt or balanced)."""
        t_b = time.perf_counter()
        streams_ready[0] = False
        _release([f for k in range(K) for f in pieces[k]])  # (not cancel: see _release)
        for k in range(K):
            pieces[k] = []
        W_k.clear()
        W_k.update(home)
        balanced["moved_words"] = balanced["pieces"] = 0
        dealt.update(stretches=0, bounds={})
        if config.deal and K > 1:
            deal()
            balanced["seconds"] += time.perf_counter() - t_b
            log.info("corpus dealt out in %d stretches: %d words moved in %d piece(s); %d-%d words a worker",
                     dealt["stretches"], balanced["moved_words"], balanced["pieces"], min(W_k.values()),
                     max(W_k.values()))
            streams_ready[0] = True
            return
        if not config.balance or K == 1:
            streams_ready[0] = True
            return
        keep, moves = B.plan_moves([home[k] for k in range(K)])
        srcs = sorted({m[0] for m in moves})
        if not srcs:
            streams_ready[0] = True
            return
        asked = {src: sorted({keep[src]} | {x for m in moves if m[0] == src for x in m[2:]}) for src in srcs}
        got = _gather(client, [client.submit(B.sentence_starts_at, parts[src], asked[src], workers=[hosts[src]],
                                             allow_other_workers=False, pure=False) for src in srcs],
                      hosts, "balancing the streams")
        at = {src: dict(zip(asked[src], g)) for src, g in zip(srcs, got)}
        new = []
        for src, dst, lo, hi in moves:
            a, b = at[src][lo], at[src][hi]
            if b <= a:
                continue
            cut = client.submit(B.cut_piece, a, b, *parts[src], workers=[hosts[src]], allow_other_workers=False,
                                pure=False, key=f"w2v-cut-{job}-{attempt[0]}-{src}-{dst}-{a}")
            new.append((dst, client.submit(B.store_piece, cut, job, f"piece-{attempt[0]}-{src}-{dst}-{a}", cache,
                                           workers=[hosts[dst]], allow_other_workers=False, pure=False,
                                           key=f"w2v-piece-{job}-{attempt[0]}-{src}-{dst}-{a}")))
        sizes = _gather(client, [client.submit(W.partition_words, f, workers=[hosts[d]], allow_other_workers=False,
                                               pure=False) for d, f in new], hosts, "balancing the streams")
        for src in srcs:
            W_k[src] = at[src][keep[src]]
        for (dst, f), n in zip(new, sizes):
            pieces[dst].append(f)
            W_k[dst] += int(n)
        if sum(W_k.values()) != sum(home.values()):  # every sentence once: a bug, not bad input
            raise _W2VError(f"balanced streams hold {sum(W_k.values())} words, the shards {sum(home.values())}")
        balanced.update(moved_words=int(sum(sizes)), pieces=len(new))
        balanced["seconds"] += time.perf_counter() - t_b
        log.info("streams balanced: %d words moved in %d piece(s); %d-%d words a worker", sum(sizes), len(new),
                 min(W_k.values()), max(W_k.values()))
        streams_ready[0] = True

    for n_try in range(config.max_failures + 1):
        try:
            scatter_words()
            if local_parts is not None:  # read once: map the local ids to vocabulary ids
                parts = {}
                for k in range(K):
                    parts[k] = []
                    for g, f in local_parts[k]:
                        res = client.submit(E.finish_group, f, fut_state["words"][hosts[k]], job, g, cache,
                                            workers=[hosts[k]], allow_other_workers=False, pure=False,
                                            key=f"w2v-finish-{job}-{attempt[0]}-{g[0]}")
                        parts[k] += [client.submit(E.group_item, res, j, workers=[hosts[k]], allow_other_workers=False,
                                                   pure=False, key=f"w2v-finish-{job}-{attempt[0]}-{g[0]}-{j}")
                                     for j in range(len(g))]
                local_parts = None
            else:
                parts = encode(range(K))
            # (no blocking distributed.progress here: it would wait forever for a lost worker's shards)
            infos_k = _gather(client, [client.submit(W.partition_info, f, workers=[hosts[k]], pure=False)
                                       for k in range(K) for f in parts[k]], hosts, "encoding",
                              progress=progress)
            infos = dict(zip([i for k in range(K) for i in mine[k]], infos_k))
            home.update({k: sum(infos[i]["words"] for i in mine[k]) for k in range(K)})
            rebalance()
            break
        except _RoundFailed as exc:
            if n_try == config.max_failures:
                raise _W2VError(f"giving up after {n_try + 1} failures while encoding: {exc}") from exc
            log.warning("encoding failed (%s); encoding again", exc)
            _release([f for k in range(K) for f in parts[k] + pieces[k]])
            rehost(str(exc))
    skipped = [{"url": infos[i]["url"], "error": infos[i]["error"]} for i in sorted(infos) if infos[i]["error"]]
    for s in skipped:
        log.warning("skipped bad shard %s", s["error"])
    invalid_utf8 = sum(x["invalid_utf8"] for x in infos.values())
    if invalid_utf8:
        log.warning("replaced %d invalid UTF-8 sequence(s) by U+FFFD", invalid_utf8)
    stage["encode"] = time.perf_counter() - t2
    per_epoch = sum(W_k.values())
    log.info("encoded %d partitions: %d in-vocabulary words per epoch", len(shards), per_epoch)
    if per_epoch == 0:
        raise CorpusError("no in-vocabulary words to train on after encoding")

    # Central copy and tables, shipped once; replicas made on every worker (compiles kernels).
    t3 = time.perf_counter()
    part = None
    if partitioned:
        part = P.PartitionedCentral(client, job, hosts, P.matrix_rows(V, config.negative, config.hs), D)
        log.info("central copy of %.2f GB > central_partition_bytes=%d: partitioned by rows across %d worker(s)",
                 P.central_nbytes(V, D, config.negative, config.hs) / 1e9, limit, K)
        if config.overlap and K > 1:
            log.warning("overlap is not used with a partitioned central copy")
    # where a partitioned run's rows come from: None (the seed) or checkpoint pieces
    source = [saved.pieces if saved is not None else None]
    if part is not None:
        mats = None
    elif saved is not None:
        mats = [np.ascontiguousarray(m, dtype=np.float32) for m in saved.load_mats()]
        want = [m.shape for m in initial_weights(V, 1, config.seed, config.negative, config.hs)]
        if [m.shape for m in mats] != [(n, D) for n, _ in want]:
            raise _W2VError(f"checkpoint {saved.url}: matrices {[m.shape for m in mats]} do not fit a "
                            f"vocabulary of {V} words and vector_size={D}")
    else:
        mats = initial_weights(V, D, config.seed, config.negative, config.hs)
    tables = training_tables(vocab.counts, config)
    params = {"sg": config.sg, "cbow_mean": config.cbow_mean, "window": config.window,
              "negative": config.negative, "hs": config.hs, "compute_loss": config.compute_loss,
              "shared_negatives": config.shared_negatives}

    open_shm()
    shm_hosts: set = set()
    shm_updates: dict[int, shm.Files] = {}  # merged round -> its update's files, until applied by all

    # One replica for the whole machine: the matrices as files in shared memory, mapped read-write
    # by every worker (worker.init_shared_replica); rounds then only pace progress and checkpoints,
    # as with one worker.  The driver's ``mats`` stay the initial, resumed or last checkpointed
    # matrices, where a lost worker sends the run back to.
    shared: dict[str, Any] = {}

    def share_replica(name: str) -> None:
        """``replicas="host"``: when every host sees the shared-memory folder, ``mats`` become the one
        replica's files there (``shared``), mapped by the next ``make_replicas``."""
        if not (config.replicas == "host" and shm_dir and K > 1):
            return
        try:
            if probe_shm() == set(hosts):
                shared["files"] = shm.write(os.path.join(shm_dir, name), mats)
                shared["fresh"] = True  # the next make_replicas maps these as they are
        except (OSError, _RoundFailed) as exc:
            log.info("one replica per worker: the matrices cannot be shared in memory (%s)", exc)
        if shared:
            log.info("%d workers on this machine train one replica in shared memory (replicas=host)", K)
        else:
            log.info("one replica per worker, merged every round: not every worker can see %s", shm_dir)

    share_replica("replica-0")

    def fetch_model() -> list[np.ndarray]:
        """Copies of the model's matrices (:data:`worker.MATRICES` order) when it lives on the workers,
        unmerged: the shared replica's files, or the lone replica (:class:`_RoundFailed` if lost)."""
        if shared:
            return [np.array(a, dtype=np.float32) for a in shm.read(shared["files"])]
        return _gather(client, [client.submit(W.fetch_replica, rid[0], workers=[hosts[0]], allow_other_workers=False,
                                              pure=False)], hosts, "fetching the replica")[0]

    def abort_hot():
        """Free the replicas of a failed round that wait for a lost one's hot rows (their worker
        threads would be held until ``hot_timeout``, and the recovery's tasks queue behind them)."""
        if hot.get("files"):
            abort_files(hot["files"], f"round failed ({failures} failure(s)); replicas re-created")
        if hot.get("actor") is not None:
            try:
                hot["actor"].abort(f"round failed ({failures} failure(s)); replicas re-created").result(timeout=10)
            except Exception:  # noqa: BLE001 - the actor's worker may be the lost one
                log.debug("could not abort the hot-row actor", exc_info=True)

    def make_replicas():
        """Ship the central copy and tables to the hosts and (re)create every replica from them."""
        if shared:
            if "tables" in fut_state:
                client.cancel(list(fut_state["tables"].values()))
            fut_state["tables"] = _scatter_each(client, tables, hosts)
            if not shared.pop("fresh", False):  # a recovery: new hosts may be elsewhere, the files trained
                blind = sorted(set(hosts) - probe_shm())
                if blind:
                    raise _W2VError(f"worker(s) {', '.join(blind)} cannot see the shared replica in {shm_dir}: "
                                    f"they are not on the driver's machine (run with replicas=worker)")
                old = shared["files"]
                try:  # new files: a task of a failed round still running trains the old ones
                    shared["files"] = shm.write(os.path.join(shm_dir, f"replica-{attempt[0]}-{failures}"), mats)
                except OSError as exc:
                    raise _W2VError(f"cannot write the shared replica in {shm_dir}: {exc} (run with "
                                    f"replicas=worker)") from exc
                shm.remove(old)
            _gather(client, [client.submit(W.init_shared_replica, rid[k], shared["files"],
                                           fut_state["tables"][hosts[k]], params, nthreads.get(hosts[k], 1),
                                           workers=[hosts[k]], allow_other_workers=False, pure=False)
                             for k in range(K)], hosts, "creating replicas")
            return
        if part is not None:  # made on the workers, from the seed or the checkpoint's pieces
            if "tables" in fut_state:
                client.cancel(list(fut_state["tables"].values()))
            fut_state["tables"] = _scatter_each(client, tables, hosts)
            try:
                client.run(P.drop_shards, job)  # stale ranges (a recovery)
            except Exception:  # noqa: BLE001 - a worker that is gone holds none
                log.debug("could not drop the old ranges of %s", job, exc_info=True)
            _gather(client, P.create_all(client, part, rid, fut_state["tables"], params, nthreads, config.seed,
                                         source[0], storage_options, n_updates), hosts, "creating replicas")
            return
        abort_hot()
        for key in ("mats", "tables"):
            if key in fut_state:
                client.cancel(list(fut_state[key].values()))
            fut_state[key] = _scatter_each(client, mats if key == "mats" else tables, hosts)
        inits = [client.submit(W.init_replica, rid[k], fut_state["mats"][hosts[k]],
                               fut_state["tables"][hosts[k]], params,
                               nthreads.get(hosts[k], 1), workers=[hosts[k]], allow_other_workers=False,
                               pure=False) for k in range(K)]
        _gather(client, inits, hosts, "creating replicas")
        if hot and len(set(hosts)) < K:  # each replica would wait for the other's hot rows on the one thread
            log.warning("two replicas on one worker (a lost worker's share moved to a survivor): hot rows "
                        "off from here, every row merged once a round")
            abort_hot()
            hot.clear()
            if config.merge == "auto":
                mg.update(name="scaled-sum", fn=get_merge_rule("scaled-sum"))
        shm_hosts.clear()
        if config.exchange == "auto":
            shm_hosts.update(probe_shm())
        if hot:  # a new exchange from the central hot rows and the block momentum of the last merged round
            if hot.get("actor") is not None:
                client.cancel([hot["actor_future"]])
                hot["actor"] = None
            hot["fresh"] = True  # the replicas' first round gets M for its look-ahead (and makes its HotFiles)
            hot["attempt"] = hot.get("attempt", 0) + 1
            hot["files"] = None
            if set(hosts) <= shm_hosts:  # all on this machine: through files, no actor (hot.HotFiles)
                folder = os.path.join(shm_dir, f"hot-{hot['attempt']}")
                try:
                    os.makedirs(folder)
                    hot["files"] = folder
                except OSError as exc:
                    log.warning("hot rows through an actor: cannot make %s: %s", folder, exc)
            if hot["files"] is None:
                hot["actor_future"] = client.submit(HotRows, [m[ix] for m, ix in zip(mats, hot["rows"])], K,
                                                    None, hot["M"], actor=True, workers=[hosts[0]],
                                                    allow_other_workers=False, pure=False)
                hot["actor"] = _gather(client, [hot["actor_future"]], hosts, "creating the hot-row actor")[0]

    total = config.epochs * per_epoch
    merging = False
    round_words = R = n_rounds = lag = 0
    n_updates = None
    mg: dict[str, Any] = {}
    hot: dict[str, Any] = {}
    periods: list = []

    def plan_rounds(initial: bool) -> None:
        """What follows from the cluster's shape (K replicas, shared or not, the streams): the round
        length, rounds an epoch, the merge rule, the expected updates, the hot and rare rows."""
        nonlocal merging, round_words, R, n_updates, n_rounds, periods, lag
        merging = K > 1 and not shared  # several replicas, merged every round
        round_words = words_a_round(merging)
        # merge="auto": the cold rows summed when the hot rows are merged apart and a round is at most
        # SUM_ROUND_WORDS words of all workers (they rarely collide; the damping of scaled-sum cost
        # WordSim-353 points there), else scaled-sum: summed over rounds of 800,000 words, 8 replicas'
        # cold rows overshoot and SG-NS collapses (benchmarks/README.md, "Hot rows")
        merge_name = config.merge if config.merge != "auto" else (
            "sum" if merging and part is None and config.hot_rows > 0 and round_words * K <= SUM_ROUND_WORDS
            else "scaled-sum")
        mg.update(name=merge_name, fn=get_merge_rule(merge_name))  # (hot rows off after a loss: scaled-sum)
        R = max(1, math.ceil(max(W_k.values()) / round_words))
        if merging and dealt["stretches"] and dealt["per"] == round_words:  # one stretch a round (round_words
            R = dealt["stretches"]  # within a sentence); replicas="host" without shared memory: longer stretches
        n_updates = None
        if merging:  # expected updates a round: row scales of scaled-sum, and which rows are hot
            n_updates = expected_updates(vocab.counts, tables["keep_prob"], max(W_k.values()) / R, sg=config.sg,
                                         window=config.window, negative=config.negative,
                                         ns_exponent=config.ns_exponent, hs=config.hs,
                                         points=tables.get("points"), codelens=tables.get("codelens"))
        n_rounds = config.epochs * R
        # Hot rows (hot.py): with replicas merged every round and the central copy here, the rows with
        # the most updates are merged by block momentum several times a round through an actor.
        old_rows, old_M, attempts = hot.get("rows"), hot.get("M"), hot.get("attempt", 0)
        hot.clear()
        for key_ in [key_ for key_ in tables if key_.startswith(("hot", "period"))]:
            del tables[key_]
        if merging and part is None and config.hot_rows > 0:
            hot_rows = choose_hot_rows(n_updates, config.hot_rows, [m.shape[0] for m in mats])
            if sum(h.size for h in hot_rows):
                hot.update(rows=hot_rows, subrounds=int(config.hot_subrounds) or default_subrounds(K), actor=None,
                           files=None,
                           M=[np.zeros((h.size, D), np.float32) for h in hot_rows], mu=default_momentum(K))
                kept = (saved.state.get("hot") or {}) if (saved is not None and initial) else {}
                if kept.get("rows") == [h.tolist() for h in hot_rows] and kept.get("workers") == K:
                    hot["M"] = saved.load_extra(HOT_VELOCITY)  # the block momentum the run had reached
                elif saved is not None and initial:
                    log.info("resuming with other hot rows or workers than the checkpoint's: block momentum from 0")
                elif old_M is not None and [h.tolist() for h in old_rows] == [h.tolist() for h in hot_rows]:
                    hot["M"] = old_M  # a new shape, the same hot rows: their block momentum goes on
                tables.update({f"hot{i}": h for i, h in enumerate(hot_rows)})
                hot["attempt"] = attempts  # (hot-row folders are numbered by make_replicas)
        elif K > 1 and part is not None and config.hot_rows > 0 and initial:
            log.info("hot rows are not used with a partitioned central copy: every row is merged once a round")
        # Rare rows less often (rare_every = P): a row expected to get n < P updates in a replica's
        # round is sent every min(P, floor(P / n)) rounds, when its changes add up to about P updates;
        # such rows are most of a round's bytes at 8 workers (benchmarks/README.md, "Rare rows").
        # Every changed row is sent before an epoch starts, a checkpoint is written and at the end
        # (``flush``), so checkpoints and outputs hold every change.
        periods = row_periods(n_updates, config.rare_every, [m.shape[0] for m in mats]) \
            if merging and part is None and config.rare_every > 1 else []
        tables.update({f"period{i}": p for i, p in enumerate(periods) if p is not None})
        # Overlapping rounds (config.overlap, several replicas): see ``submit``
        lag = 2 if (merging and config.overlap and part is None) else 1

    plan_rounds(initial=True)

    def alpha_at(p: int) -> float:
        return max(config.min_alpha, config.alpha - (config.alpha - config.min_alpha) * p / total)

    round_stats: list[dict] = []
    done = 0
    effective = 0
    r = 0
    if saved is not None:
        st = saved.state
        r = int(st["rounds_done"])
        if int(st.get("rounds_per_epoch", R)) != R:  # another cluster shape: continue at the same progress
            r = round(r * R / int(st["rounds_per_epoch"]))
        done, effective = int(st["words_done"]), int(st["effective_words"])
        round_stats = list(st.get("round_stats", []))
        if set(st.get("inputs", [])) != {s.url for s in shards}:
            log.warning("resuming with other input files than the checkpoint's (%d now, %d then)",
                        len({s.url for s in shards}), len(set(st.get("inputs", []))))
        if int(st.get("train_words", per_epoch)) != per_epoch:
            log.warning("the corpus has %d words per epoch, the checkpoint %d: the inputs changed",
                        per_epoch, st["train_words"])
    resumed_from = r if saved is not None else None
    # Where a lost worker sends the run back to: the start of the round for several replicas (the
    # central copy is the model), the last checkpoint (or start) for one replica (its copy is the
    # model; the driver's ``mats`` stay the initial, resumed or last checkpointed matrices then).
    safe = {"r": r, "done": done, "effective": effective, "stats": len(round_stats)}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rounds, initial=r, desc="training rounds", unit="round", leave=True)
    # Overlapping rounds (config.overlap, several replicas): round s is submitted while round s-1
    # is still training, with the central rows of the merge of round s-2; so the driver's merge and
    # the transfers of round s-1 hide behind the compute of round s.  ``lag`` is how many rounds
    # behind the merged rows a replica starts from (1: none in flight).  Rounds that start an epoch
    # or follow a checkpoint due by ``checkpoint_every`` wait for the full merge, so a run resumed
    # from a checkpoint trains exactly as the uninterrupted one.
    submitted: dict[int, list] = {}  # round -> its K futures (at most ``lag`` rounds in flight)
    sent_updates: dict[int, dict] = {}  # merged round u -> {host: future of the central rows}
    next_update = [r]  # the first merged round whose rows the replicas have not been sent

    def slice_of(k: int, s_: int) -> tuple[int, int]:
        """Words [lo, hi) of worker k's stream that round ``s_`` trains (a dealt stream: piece j)."""
        j_ = s_ % R
        if dealt["stretches"] == R:
            return dealt["bounds"][k][j_], dealt["bounds"][k][j_ + 1]
        return W_k[k] * j_ // R, W_k[k] * (j_ + 1) // R

    def words_of(s_: int) -> int:
        return sum(hi - lo for lo, hi in (slice_of(k, s_) for k in range(K)))

    def boundary(s_: int) -> bool:
        """Round ``s_`` starts an epoch or follows a checkpoint due by ``checkpoint_every``."""
        return s_ % R == 0 or bool(config.checkpoint_every and s_ % config.checkpoint_every == 0)

    flushed: set[int] = set()  # rounds that sent every changed row (rare_every), checkpoints after them

    def drained(s_: int) -> bool:
        """Round ``s_`` starts from the full merge of round ``s_ - 1`` (no overlap)."""
        return lag == 1 or boundary(s_)

    def time_for_checkpoint() -> bool:
        """``checkpoint_minutes`` have passed since the last checkpoint."""
        return bool(config.checkpoint_minutes and time.monotonic() - last_ckpt[0] >= 60 * config.checkpoint_minutes)

    def submit(s_: int, done_before: int) -> list:
        a0_, a1_ = alpha_at(done_before), alpha_at(done_before + words_of(s_))
        # every merge reaches every replica once, in order: those up to round s-lag (s-1 when drained)
        ups = list(range(next_update[0], (s_ - 1 if drained(s_) else s_ - lag) + 1)) if merging else []
        next_update[0] += len(ups)
        got = [sent_updates.pop(u) for u in ups]  # released here, not cancelled: the tasks hold them
        prev = submitted.get(s_ - 1)
        flush = s_ + 1 >= n_rounds or boundary(s_ + 1) or time_for_checkpoint() or flush_next[0]
        if flush:
            flushed.add(s_)
        out = []
        for k in range(K):
            lo, hi = slice_of(k, s_)
            spec = {"word_lo": lo, "word_hi": hi, "alpha_start": a0_,
                    "alpha_end": a1_, "collect": merging, "round": s_, "update_rounds": ups,
                    "flush": flush,
                    "keep_inflight": lag > 1,
                    "shm_stem": os.path.join(shm_dir, f"x{s_}-{k}-{failures}") if hosts[k] in shm_hosts else None,
                    "seed": (config.seed * 1_000_003 + s_ * 7919 + k * 104_729) & 0xFFFFFFFFFFFF}
            if hot:
                spec["hot"] = {"actor": hot["actor"], "files": hot["files"], "replicas": K,
                               # overlapping rounds: a round's last slice is taken one slice late
                               # like the others, but before a round that starts from the full merge
                               "sync_end": lag == 1 or s_ + 1 >= n_rounds or drained(s_ + 1),
                               "gen": s_ * hot["subrounds"], "subrounds": hot["subrounds"],
                               "replica": k, "report": k == 0, "timeout": config.hot_timeout, "mu": hot["mu"],
                               "velocity": hot["M"] if hot["fresh"] else None}
            if part is not None:  # every owner's merged rows (futures: worker to worker)
                spec.update(owners=part.bounds, update_rounds=[u for u, g in zip(ups, got) for _ in g])
                upd_k = [f for g in got for f in g] or None
            else:
                upd_k = [g[hosts[k]] for g in got] or None
            out.append(client.submit(W.train_round, rid[k], spec, upd_k, *stream(k),
                                     after=prev[k] if prev else None, workers=[hosts[k]],
                                     allow_other_workers=False, pure=False,
                                     key=f"w2v-round-{job}-{s_}-{k}-{failures}"))
        if hot:
            hot["fresh"] = False
        return out
    failures = 0
    checkpoints = 0
    run_id = uuid.uuid4().hex[:8]
    last_ckpt = [time.monotonic()]
    encoded_all = lambda: [f for k in range(K) for f in parts[k] + pieces[k]]  # noqa: E731

    def recover(reason: str):
        """Survive a failed round: new hosts for lost replicas, replicas re-created, round redone."""
        nonlocal failures
        while True:
            failures += 1
            if failures > config.max_failures:
                raise _W2VError(f"giving up after {failures} failures (max_failures={config.max_failures}); "
                                f"last: {reason}")
            log.warning("round %d failed (%s); recovering (%d of max_failures=%d)", r, reason, failures,
                        config.max_failures)
            try:
                _recover_once(reason)
                return
            except _RoundFailed as exc:
                reason = str(exc)

    def drop_in_flight():
        """Forget the rounds in flight and the merged rows not yet applied by every replica: the
        replicas are about to be made anew from the model (a recovery, a re-shape)."""
        client.cancel([f for fs in submitted.values() for f in fs]
                      + [f for d in sent_updates.values() for f in (d if isinstance(d, list) else d.values())
                         if not isinstance(f, shm.Files)])
        for u in list(shm_updates):
            shm.remove(shm_updates.pop(u))
        submitted.clear()
        sent_updates.clear()
        next_update[0] = r

    def _recover_once(reason: str):
        nonlocal r, done, effective
        abort_hot()
        lost = rehost(reason)
        if lost:
            # (never cancel the old vocabulary future: the survivors' encoded shards depend on it)
            _release([f for k in lost for f in parts[k]])  # (their dependents: dealt pieces' cuts)
            scatter_words()
            parts.update(encode(lost))
            again = _gather(client, [client.submit(W.partition_words, f, workers=[hosts[k]], pure=False)
                                     for k in lost for f in parts[k]], hosts, "encoding again")
            if sum(again) != sum(home[k] for k in lost):
                raise _W2VError("a lost worker's shards gave different words when read again; inputs changed?")
            rebalance()  # the same cuts again: pieces on or from the lost workers are made anew
        elif not streams_ready[0]:  # the last recovery failed while it rebuilt the streams
            rebalance()
        if not merging or part is not None:  # the model was on the workers: back to the last checkpoint (or start)
            r, done, effective = safe["r"], safe["done"], safe["effective"]
            del round_stats[safe["stats"]:]
        drop_in_flight()
        make_replicas()
        if bar is not None:
            bar.n = r
            bar.refresh()

    # The cluster's shape between rounds.  The driver looks at the workers at an epoch's start, and
    # every _JOIN_CHECK_SECONDS between rounds when the replicas are merged, dealt out and stay so: a
    # worker that joined gets a replica, and a lost worker's replica that moved onto a survivor (two
    # replicas on one worker) is drained, so that every worker trains one replica from then on.
    # The streams are dealt or balanced again over the new workers (each shard stays where it was
    # encoded), the round plan follows the new count (``plan_rounds``) and the replicas are made
    # from the model as it is (merged replicas: the central copy, which holds every change after an
    # epoch's last round or a round that sent every row, ``flush``; a lone or shared replica:
    # fetched first).  Inside an epoch the deal keeps its stretches (``dealt["keep"]``), whose
    # boundaries do not depend on the number of workers, so the epoch goes on at the same round
    # with the same words left; otherwise the next epoch starts on the new plan.  Progress is kept
    # in words, so the learning rate goes on where it was.  Not with a partitioned central copy (its
    # row ranges belong to the first workers), nor inside an epoch with overlapping rounds (a round
    # is always in flight) or a shape that may become one shared replica (its rounds are not the
    # stretches).
    reshapes: list[dict] = []
    next_look = [time.monotonic() + _JOIN_CHECK_SECONDS]  # the next look at the workers inside an epoch
    flush_next = [False]  # a re-shape waits for a round that sends every changed row

    def stays_dealt(to: list) -> bool:
        """A re-shape onto hosts ``to`` inside an epoch keeps merged replicas on dealt streams."""
        if not (merging and lag == 1 and part is None and dealt["stretches"] == R and len(to) > 1):
            return False
        # replicas="host" shares one replica when every host sees the shared-memory folder: not while
        # a host that stays was found not to see it when the corpus was dealt (or there is no folder)
        return config.replicas == "worker" or not shm_dir or bool(shm_blind & set(to))

    def reshape_hosts() -> list | None:
        """One host a replica, when the workers changed since the replicas were made; else None."""
        if part is not None:
            return None
        alive = alive_now()
        if any(h not in alive for h in hosts):  # a worker lost just now: the next round recovers it
            return None
        new = sorted(a for a in alive if a not in hosts)
        if not new and len(set(hosts)) == K:
            return None
        return list(dict.fromkeys(hosts)) + new

    def reshape(to: list) -> None:
        """Re-shape the run onto hosts ``to`` (one replica each) before round ``r``: an epoch's first, or
        (:func:`stays_dealt`, after a round that sent every changed row) any round of the epoch."""
        nonlocal K, mats, r
        t_s = time.perf_counter()
        before = K
        epoch_, j_ = divmod(r, R)

        def words_left() -> int:  # the dealt words from round j_ to the epoch's end
            return sum(dealt["bounds"][k_][-1] - dealt["bounds"][k_][j_] for k_ in range(K))

        dealt["keep"] = R if j_ else 0  # inside an epoch: the same stretches, so round j of the new deal
        left = words_left() if j_ else 0  # trains what the old one would have
        if not merging:  # a lone or shared replica is the model
            mats = fetch_model()
        abort_hot()
        if hot.get("actor_future") is not None:
            _release([hot["actor_future"]])
        for k_ in range(K):
            client.run(W.drop_replica, rid[k_])
        # the logical replicas of one host become one (each shard stays where it was encoded)
        at = {h: j for j, h in enumerate(to)}
        by_shard = {i: f for k_ in range(K) for i, f in zip(mine[k_], parts[k_])}
        _release([f for k_ in range(K) for f in pieces[k_]])
        owner[:] = [at[hosts[o]] for o in owner]
        K = len(to)
        hosts[:] = to
        rid[:] = [f"{job}-r{k_}" for k_ in range(K)]
        for d_ in (mine, parts, pieces, home):
            d_.clear()
        mine.update({j: [i for i in range(len(shards)) if owner[i] == j] for j in range(K)})
        parts.update({j: [by_shard[i] for i in mine[j]] for j in range(K)})
        pieces.update({j: [] for j in range(K)})
        home.update({j: sum(int(infos[i]["words"]) for i in mine[j]) for j in range(K)})
        attempt[0] += 1  # new task keys and piece names for the new cuts
        rebalance()
        old_files = shared.pop("files", None)
        shared.clear()
        open_shm()
        share_replica(f"replica-s{len(reshapes) + 1}")
        if old_files is not None:
            shm.remove(old_files)
        plan_rounds(initial=False)
        if j_ and not (merging and dealt["stretches"] == R == dealt["keep"] and words_left() == left):
            raise _W2VError(f"re-shaping inside epoch {epoch_}: the new deal does not leave the epoch's "
                            f"{left} words from round {j_} (a bug)")
        r = epoch_ * R + j_
        drop_in_flight()
        flushed.clear()  # (round numbers of the old plan)
        safe.update(r=r, done=done, effective=effective, stats=len(round_stats))  # ``mats`` is the model here
        make_replicas()
        if bar is not None:
            bar.total, bar.n = n_rounds, r
            bar.refresh()
        reshapes.append({"epoch": epoch_, "round": r, "round_of_epoch": j_, "workers_before": before,
                         "workers": K, "hosts": list(hosts), "seconds": time.perf_counter() - t_s})
        log.info("epoch %d, round %d: %d worker(s) now, %d before; %d rounds an epoch of %d words a worker",
                 epoch_, j_, K, before, R, round_words)

    t_train = time.perf_counter()
    finished = False
    try:
        try:
            make_replicas()
        except _RoundFailed as exc:
            recover(str(exc))
        stage["init"] = time.perf_counter() - t3
        t_train = time.perf_counter()  # rounds only: shipping the copy and compiling kernels are "init"
        while True:  # the rounds, then (one worker) the fetch of the replica
            while r < n_rounds:
                to = None
                if r % R == 0 and r > 0 and not submitted:  # an epoch's start, nothing in flight
                    flush_next[0] = False
                    to = reshape_hosts()
                elif r % R and not submitted and (flush_next[0] or time.monotonic() >= next_look[0]):
                    flush_next[0] = False
                    next_look[0] = time.monotonic() + _JOIN_CHECK_SECONDS
                    to = reshape_hosts()
                    if to is not None and not stays_dealt(to):
                        to = None  # at the next epoch's start
                    elif to is not None and periods and r - 1 not in flushed:
                        flush_next[0] = True  # round r sends every changed row; the re-shape follows it
                        to = None
                if to is not None:
                    try:
                        reshape(to)
                    except _RoundFailed as exc:
                        recover(str(exc))
                    continue
                epoch = r // R
                t_r = time.perf_counter()
                words = words_of(r)
                a0, a1 = alpha_at(done), alpha_at(done + words)
                pending = None
                if r not in submitted:
                    submitted[r] = submit(r, done)
                if lag > 1 and r + 1 < n_rounds and r + 1 not in submitted and not drained(r + 1):
                    submitted[r + 1] = submit(r + 1, done + words)  # trains while round r is merged
                futs = submitted[r]
                try:
                    results = _gather(client, futs, hosts, f"round {r}")
                except _RoundFailed as exc:
                    recover(str(exc))
                    continue
                del submitted[r]
                for u in [u for u in shm_updates if u <= r - lag]:  # applied by every replica now
                    shm.remove(shm_updates.pop(u))
                # Every replica's result is here: only now does the central copy change.
                t_m = time.perf_counter()
                bytes_out = bytes_back = 0
                exchange = {}
                if K > 1 and part is not None:  # owners merge their rows; the driver sees sizes only
                    try:
                        merges, sizes = P.merge_round(client, part, rid, r, mg["name"], config.alpha, failures)
                        merged = _gather(client, sizes, hosts, f"merging round {r}")
                        sent_updates[r] = merges
                    except _RoundFailed as exc:
                        recover(str(exc))
                        continue
                    exchange = {"bytes_to_owners": int(sum(sum(x["piece_bytes"]) for x in results)),
                                "bytes_from_owners": int(sum(merged)) * K,
                                "bytes_between_workers": int(sum(x["piece_bytes"][j] for k, x in enumerate(results)
                                                                 for j in range(K) if j != k)
                                                             + sum(merged) * (K - 1)),
                                "changed_rows": [sum(x["changed_rows"][i] for x in results) for i in range(3)]}
                elif merging:
                    if hot and "hot_values" in results[0]:
                        # worker 0's hot rows C and momentum M after the last slice of this round (every
                        # replica ends it with them), or, when the last round ended without waiting
                        # (overlapping rounds), after that round's
                        for m, ix, v in zip(mats, hot["rows"], results[0]["hot_values"]):
                            m[ix] = v
                        hot["M"] = results[0]["hot_velocity"]
                    if hot:
                        exchange_hot = {"hot_syncs": int(results[0]["hot_syncs"]),
                                        "hot_bytes_sent": int(sum(x["hot_bytes_sent"] for x in results)),
                                        "hot_wait_seconds": max(x["hot_wait_seconds"] for x in results)}
                    by_file = [x.get("files") for x in results]
                    for x, f in zip(results, by_file):
                        if f is not None:  # written in shared memory by the worker (shm.py)
                            arrs = shm.read(f)
                            x["rows"], x["deltas"] = arrs[:len(arrs) // 2], arrs[len(arrs) // 2:]
                    changed_all = []
                    for i, m in enumerate(mats):
                        extra = ({"scale": M.row_scales(n_updates[i], config.alpha, K)}
                                 if getattr(mg["fn"], "needs_row_scale", False) else {})
                        changed_all.append(mg["fn"](m, [x["rows"][i] for x in results],
                                                 [x["deltas"][i] for x in results], **extra))
                    bytes_out = sum(c.nbytes + c.size * m.shape[1] * m.itemsize for c, m in zip(changed_all, mats)) * K
                    bytes_back = sum(rr.nbytes + d.nbytes for x in results for rr, d in zip(x["rows"], x["deltas"]))
                    for x, f in zip(results, by_file):
                        if f is not None:
                            x["rows"] = x["deltas"] = None
                            shm.remove(f)
                    exchange = {"workers_by_file": sum(f is not None for f in by_file), **(exchange_hot if hot else {})}
                    def through_dask(to):  # the merged rows as (rows, values) per matrix, by Dask
                        return _scatter_each(client, [(c, m[c]) for c, m in zip(changed_all, mats)], to)

                    try:
                        others = sorted(set(hosts) - shm_hosts)
                        sent = through_dask(others) if others else {}
                        if shm_hosts:
                            try:
                                shm_updates[r] = shm.write_rows(os.path.join(shm_dir, f"u{r}-{failures}"), mats,
                                                                changed_all)
                                sent.update({h: shm_updates[r] for h in shm_hosts})
                            except OSError as exc:  # e.g. the folder is full: through Dask from now on
                                log.warning("exchange through Dask from round %d: %s", r, exc)
                                shm_hosts.clear()
                                sent.update(through_dask(sorted(set(hosts) - set(sent))))
                        sent_updates[r] = sent
                    except _RoundFailed as exc:  # merged already: replicas are re-created from it below
                        pending = str(exc)
                merge_s = time.perf_counter() - t_m
                done += words
                eff = sum(x["effective_words"] for x in results)
                effective += eff
                stats = {
                    "round": r, "epoch": epoch, "alpha_start": a0, "alpha_end": a1, "words": words,
                    "effective_words": eff, "raw_words": sum(int(x["raw_words"]) for x in results),
                    "loss": sum(x["loss"] for x in results),
                    "seconds": time.perf_counter() - t_r,
                    "compute_seconds": max(x["compute_seconds"] for x in results),
                    "task_seconds": max(x.get("task_seconds", 0.0) for x in results),
                    "apply_seconds": max(x.get("apply_seconds", 0.0) for x in results),
                    "merge_seconds": merge_s, "replicas": K,
                    "bytes_to_driver": int(bytes_back),
                    "bytes_from_driver": int(bytes_out),
                    **exchange,
                }
                round_stats.append(stats)
                r += 1
                if pending:
                    recover(pending)
                    pending = None
                due = (config.checkpoint_every and r % config.checkpoint_every == 0) or (
                    # with rare_every, only after a round that sent every changed row
                    time_for_checkpoint() and (not periods or r - 1 in flushed))
                if due and r < n_rounds:
                    if not merging and part is None:  # the model lives in the replica(s): fetch it
                        try:
                            mats = fetch_model()
                        except _RoundFailed as exc:
                            recover(str(exc))  # back to the last checkpoint
                            continue
                    state = {"rounds_done": r, "words_done": done, "effective_words": effective,
                             "rounds_per_epoch": R, "train_words": per_epoch, "epoch": r // R,
                             "alpha": alpha_at(done), "seed": config.seed, "workers": K,
                             "config": config.hyperparameters(), "inputs": [s.url for s in shards],
                             "round_stats": round_stats}
                    if hot:
                        state["hot"] = {"rows": [h.tolist() for h in hot["rows"]], "workers": K}
                    try:
                        written = ckpt.write(checkpoint_url, mats, vocab, json.loads(json.dumps(state, default=float)),
                                             storage_options, run_id,
                                             extra={HOT_VELOCITY: hot["M"]} if hot else None,
                                             write_pieces=None if part is None else
                                             P.checkpoint_writer(client, part, storage_options))
                    except _W2VError as exc:
                        if part is not None and set(hosts) - set(_alive(client)):
                            recover(str(exc))  # an owner was lost while writing its rows
                            continue
                        raise
                    if part is not None:  # a lost worker sends the run back here
                        source[0] = ckpt.latest(checkpoint_url, storage_options, load_mats=False).pieces
                        log.debug("partitioned checkpoint %s", written)
                    checkpoints += 1
                    last_ckpt[0] = time.monotonic()
                    safe.update(r=r, done=done, effective=effective, stats=len(round_stats))
                if on_round:
                    on_round(stats)
                if bar is not None:
                    el = time.perf_counter() - t_train
                    bar.set_postfix(epoch=epoch + 1, alpha=f"{a1:.5f}", words_s=f"{effective / max(el, 1e-9):,.0f}")
                    bar.update(1)
            if merging or part is not None:
                break
            try:  # a lone or shared replica is the model: fetch it once instead of merging every round
                mats = fetch_model()
                break
            except _RoundFailed as exc:
                recover(str(exc))  # back to the last checkpoint; train the rest again
        train_seconds = time.perf_counter() - t_train
        finished = True
    finally:
        if bar is not None:
            bar.close()
        if part is not None and not finished:
            part.close()
        if not finished:  # a replica still waiting for another's hot rows would hold its thread
            abort_hot()
        try:
            client.run(W.drop_job, job)
        except Exception:  # noqa: BLE001 - cleanup must not hide the real error
            log.debug("could not drop replicas of %s", job, exc_info=True)
        _release(encoded_all() + [f for d in fut_state.values() for f in d.values()]
                 + [f for fs in submitted.values() for f in fs])
        shm.drop(shm_dir)

    syn0, syn1neg, syn1 = mats if part is None else (None, None, None)
    wv = WordVectors(vocab.words, syn0, vocab.counts) if part is None else None
    compute = sum(s["compute_seconds"] for s in round_stats)
    metrics = {
        "corpus_words": int(vocab.corpus_words),
        "vocab_size": V,
        "train_words": int(per_epoch),
        "effective_words": int(effective),
        "train_seconds": train_seconds,
        "words_per_second": effective / train_seconds if train_seconds > 0 else 0.0,
        "workers": K,
        "threads_per_worker": [nthreads[h] for h in hosts],
        "reshapes": reshapes,
        "partitions": len(shards),
        "rounds": len(round_stats),  # run (r counts in the last shape's rounds after a re-shape)
        "rounds_per_epoch": R,
        "round_words": int(round_words),
        "replica_words": [int(W_k[k]) for k in range(K)],
        "home_words": [int(home[k]) for k in range(K)],
        "balance_moved_words": balanced["moved_words"],
        "balance_pieces": balanced["pieces"],
        "balance_seconds": balanced["seconds"],
        "dealt_stretches": int(dealt["stretches"]),
        "shared_replica": bool(shared),
        "hot_rows": [int(h.size) for h in hot["rows"]] if hot else [0, 0, 0],
        "hot_subrounds": hot["subrounds"] if hot else 0,
        "rare_every": int(config.rare_every) if periods else 1,
        "merge": mg["name"],
        "round_overhead_fraction": max(0.0, 1.0 - compute / train_seconds) if train_seconds > 0 else 0.0,
        "loss": [s["loss"] for s in round_stats],
        "stage_seconds": {**stage, "train": train_seconds},
        "round_stats": round_stats,
        "empty_files": len(empty),
        "skipped_shards": skipped,
        "invalid_utf8_replacements": int(invalid_utf8),
        "recovered_failures": failures,
        "resumed_from_round": resumed_from,
        "checkpoints_written": checkpoints,
        "config": config.hyperparameters(),
    }
    if phrases is not None:
        metrics["phrases"] = len(phrases)
    metrics["central"] = P.describe(part) if part is not None else {"partitioned": False}
    return TrainResult(wv=wv, vocab=vocab, syn1neg=syn1neg if config.negative > 0 else None,
                       syn1=syn1 if config.hs else None, metrics=metrics, syn0=syn0, phrases=phrases, central=part)


train_vectors.__doc__ = _train_job.__doc__
