"""Job configuration: every hyper-parameter in one place, validated in one place.

Parameter names and defaults follow gensim 4's ``Word2Vec`` (which follow word2vec.c): a gensim
user can carry a parameter dictionary over unchanged.  :class:`Config` is built from keyword
arguments, from the command line (one option per field, generated from the field list below) or
from a pipeline TOML file (:func:`load_pipeline`), and :meth:`Config.validate` is the only place
where values are checked, with one error style: ``ConfigError("<name>=<value>: <reason>")``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def _f(default, help, section):
    meta = {"help": help, "section": section}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Config:
    """All parameters of a training job.

    Model and vocabulary parameters carry gensim's names and defaults (``sg=0`` is CBOW, as in
    gensim).  The distributed parameters are w2v-dist's own.  Units: ``sync_every``,
    ``sync_total``, ``solo_round`` and ``max_sentence_length`` are in words (tokens),
    ``blocksize`` in bytes.

    Raises
    ------
    ConfigError
        From :meth:`validate`, naming the parameter, when a value is out of range or two values
        are inconsistent.
    """

    # --- model (gensim Word2Vec names and defaults)
    sg: int = _f(0, "1 for skip-gram, 0 for CBOW", "train")
    hs: int = _f(0, "1 for hierarchical softmax (may be combined with negative>0)", "train")
    negative: int = _f(5, "negative samples per positive pair", "train")
    window: int = _f(5, "maximum distance between the center and a context word", "train")
    vector_size: int = _f(100, "dimensionality of the word vectors", "train")
    alpha: float = _f(0.025, "initial learning rate", "train")
    min_alpha: float = _f(0.0001, "final learning rate (linear decay over all words of all epochs)", "train")
    epochs: int = _f(5, "passes over the corpus", "train")
    sample: float = _f(1e-3, "subsampling threshold for frequent words (word2vec formula); 0 disables", "train")
    ns_exponent: float = _f(0.75, "exponent of the unigram noise distribution", "train")
    cbow_mean: int = _f(1, "CBOW: 1 uses the mean of the context vectors, 0 their sum", "train")
    seed: int = _f(1, "random seed (initial vectors, subsampling, windows, negatives)", "train")
    compute_loss: int = _f(1, "1 records the training loss per round in metrics.json", "train")
    shared_negatives: int = _f(0, "fast mode: N>=1 draws `negative` noise words once per N consecutive center words, shared by "
                                  "all their contexts (HogBatch, Ji et al. 2016; SG: one batch step per center, CBOW: one per N "
                                  "centers, a pair (N=2) also sharing its reduced window); faster, not word2vec's exact sampling. 0: exact", "train")
    # --- vocabulary and tokenization
    min_count: int = _f(5, "ignore words with a lower total count", "vocab")
    max_vocab_size: int | None = _f(None, "prune the counts during counting to at most this many words (as gensim)", "vocab")
    max_final_vocab: int | None = _f(None, "keep at most this many most frequent words", "vocab")
    max_sentence_length: int = _f(10000, "split longer sentences (tokens)", "tokenize")
    lowercase: bool = _f(True, "lowercase before splitting", "tokenize")
    token_pattern: str | None = _f(None, "RE2 regex of what separates tokens (default: anything but letters, digits, apostrophes)", "tokenize")
    # --- phrases (gensim Phrases parameters, prefixed; off unless phrases is set)
    phrases: bool = _f(False, "detect phrases (gensim Phrases) and join them into single tokens before the vocabulary", "phrases")
    phrase_passes: int = _f(1, "phrase learn-and-apply passes (2 gives phrases of up to 4 words)", "phrases")
    phrase_min_count: int = _f(5, "phrases: gensim Phrases min_count (enters the score)", "phrases")
    phrase_threshold: float = _f(10.0, "phrases: a pair is joined when its score is above this", "phrases")
    phrase_scoring: str = _f("default", "phrases: default (gensim), word2phrase (total words instead of vocabulary size) or npmi", "phrases")
    phrase_connector_words: str | None = _f(None, "phrases: words allowed inside a phrase: 'english' (gensim ENGLISH_CONNECTOR_WORDS) or a comma-separated list", "phrases")
    phrase_delimiter: str = _f("_", "phrases: joins the words of a phrase", "phrases")
    phrase_max_vocab_size: int | None = _f(None, "phrases: prune the unigram + bigram counts to at most this many keys (as gensim max_vocab_size)", "phrases")
    phrase_model: str | None = _f(None, "apply this phrases.parquet (from an earlier run) instead of learning phrases", "phrases")
    # --- input
    format: str = _f("auto", "input format: auto, text or parquet", "input")
    text_column: str = _f("text", "Parquet column holding the text", "input")
    blocksize: int = _f(64 * 2**20, "bytes per partition of uncompressed text", "input")
    on_bad_shard: str = _f("error", "a shard that cannot be read (corrupt gzip or Parquet): error, or skip it and count it in metrics.json", "input")
    # --- distribution
    workers: int = _f(1, "Dask workers of the local cluster (one replica each)", "cluster")
    threads_per_worker: int | None = _f(None, "threads per worker sharing its replica (Hogwild); default: cores / workers", "cluster")
    scheduler: str | None = _f(None, "address of an existing Dask scheduler (default: $DASK_SCHEDULER_ADDRESS, else a LocalCluster)", "cluster")
    tls_ca_file: str | None = _f(None, "TLS to the scheduler: CA certificate file (PEM)", "cluster")
    tls_cert: str | None = _f(None, "TLS to the scheduler: client certificate file (PEM)", "cluster")
    tls_key: str | None = _f(None, "TLS to the scheduler: client private key file (PEM)", "cluster")
    sync_every: int = _f(0, "words per worker between merges into the central copy (one round); 0: sync_total // workers, so the round's total work stays the same as workers are added", "train")
    sync_total: int = _f(100_000, "with sync_every=0, words all workers together train between merges (each of K workers sync_total // K)", "train")
    solo_round: int = _f(1_000_000, "words per round when one worker trains: a lone replica merges nothing, so its rounds only pace the progress bar, the loss log and checkpoint_every; rounds are max(round words, solo_round) words (0: the round words)", "train")
    exchange: str = _f("auto", "how a round's changed rows travel between the workers and the driver: auto (as files in shared memory for the workers on the driver's machine, through Dask for the others; the hot rows as files when every worker is on the driver's machine, else through a Dask actor) or dask (always through Dask)", "cluster")
    replicas: str = _f("host", "host: when every worker is on the driver's machine, they all train one replica in shared memory (/dev/shm; Hogwild across processes, as the threads of one worker) and nothing is merged; worker: one replica per worker, merged into the central copy every round (what workers on several machines do)", "cluster")
    deal: bool = _f(True, "deal the corpus out: cut the stream of all shards (input order) into one stretch a round and each stretch into one piece a worker, so that in every round all workers train neighbouring text, as one worker would (moves (workers - 1) / workers of the encoded corpus once); false: each worker trains its own shards (balanced by `balance`), K distant stretches at a time, which costs SG-NS about a SimLex-999 point at 2-8 merged workers", "train")
    balance: bool = _f(True, "with deal=false: cut the encoded shards at sentence boundaries so that every worker trains total / workers words an epoch (only the surplus moves, once); false: each worker trains its whole shards", "train")
    overlap: bool = _f(False, "train the next round while the last one is merged; each replica then receives the merged rows one round later, and with hot_rows a round's last hot-row exchange is taken one slice late like the others (hides merge, transfer and waiting time; costs some quality at the same sync_every)", "train")
    hot_rows: int = _f(1000, "with one replica per worker merged every round: the rows of each matrix with the most updates (the most frequent words) are merged by block momentum hot_subrounds times a round (through files in shared memory when every worker is on the driver's machine and exchange=auto, else through a Dask actor), overlapped with training, the rest once a round by merge (0: every row once a round)", "train")
    hot_subrounds: int = _f(0, "hot-row exchanges per round (each after round words / hot_subrounds words of every worker); 0: 5 with fewer than 8 replicas, 10 with 8 or more (measured in benchmarks/README.md)", "train")
    rare_every: int = _f(8, "with one replica per worker merged every round: a changed row expected to get n < rare_every updates in a replica's round (a rarer word's row) is sent to the driver every min(rare_every, rare_every / n) rounds, its changes adding up on the replica meanwhile, and every changed row before an epoch starts, a checkpoint is written and at the end (1: every changed row every round)", "train")
    hot_timeout: float = _f(600.0, "seconds a replica waits for the other replicas' hot rows before its round fails", "train")
    merge: str = _f("auto", "merge rule for the replicas' changes (with hot_rows, of the cold rows): auto (sum with hot rows and rounds of at most 200,000 words of all workers, else scaled-sum), scaled-sum, sum, mean or touched-mean", "train")
    central_partition_bytes: int | None = _f(2**30, "above this many bytes of central matrices (V x D float32 each) the central copy is partitioned by row ranges across the workers, never held by the driver (0: always)", "cluster")
    encoded_cache: str = _f("disk", "where each worker keeps its encoded shards between rounds: disk (.npy files in the worker's local directory, read per round; memory stays vocabulary-sized) or memory (about 4.4 bytes a token)", "cluster")
    max_failures: int = _f(3, "lost workers (or failed rounds) survived by redoing the round before giving up", "cluster")
    # --- checkpoints
    checkpoint_every: int = _f(0, "write a checkpoint every N rounds (0: never)", "checkpoint")
    checkpoint_minutes: float = _f(0.0, "also write a checkpoint when this many minutes have passed since the last one (0: never)", "checkpoint")
    checkpoint: str | None = _f(None, "checkpoint folder URL (default: OUTPUT/_checkpoint)", "checkpoint")
    # --- evaluation
    analogies: str | None = _f(None, "analogy questions file (questions-words.txt format)", "evaluate")
    word_pairs: list[str] = _f([], "word-pair similarity files (WordSim-353, SimLex-999)", "evaluate")
    restrict_vocab: int = _f(30000, "analogies: only the most frequent words are candidates and questions", "evaluate")
    # --- output
    export: str = _f("input", "vectors written: input (syn0), output (syn1neg), sum or concat of the two", "output")

    def validate(self) -> "Config":
        """Check every value; return ``self``.

        Raises
        ------
        ConfigError
            ``"<name>=<value>: <reason>"`` for the first value out of range or inconsistent.
        """

        def bad(name, why):
            raise ConfigError(f"{name}={getattr(self, name)!r}: {why}")

        for f in dataclasses.fields(self):  # types first, so that comparisons below cannot raise TypeError
            v, t = getattr(self, f.name), str(f.type)
            if v is None and "None" in t:
                continue
            if t.startswith("bool"):
                ok = isinstance(v, bool) or v in (0, 1)
            elif t.startswith("int"):
                ok = isinstance(v, int) and not isinstance(v, bool)
            elif t.startswith("float"):
                ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            elif t.startswith("str"):
                ok = isinstance(v, str)
            elif t.startswith("list"):
                ok = isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)
            else:  # pragma: no cover - a new field type
                ok = True
            if not ok:
                bad(f.name, f"must be of type {t}")

        for name in ("sg", "hs", "cbow_mean", "compute_loss"):
            if getattr(self, name) not in (0, 1):
                bad(name, "must be 0 or 1")
        if self.negative < 0:
            bad("negative", "must be >= 0")
        if self.negative == 0 and not self.hs:
            bad("negative", "hs=0 and negative=0 leave nothing to train; set negative>0 or hs=1")
        if self.shared_negatives < 0:
            bad("shared_negatives", "must be >= 0 (0: exact sampling)")
        if self.shared_negatives > 0 and self.negative == 0:
            bad("shared_negatives", "shares negative samples: needs negative>0 (hierarchical softmax has none)")
        if self.encoded_cache not in ("disk", "memory"):
            bad("encoded_cache", "must be disk or memory")
        if self.exchange not in ("auto", "dask"):
            bad("exchange", "must be auto or dask")
        if self.replicas not in ("host", "worker"):
            bad("replicas", "must be host or worker")
        if self.on_bad_shard not in ("error", "skip"):
            bad("on_bad_shard", "must be error or skip")
        for name in ("checkpoint_every", "checkpoint_minutes", "max_failures", "solo_round", "sync_every", "hot_rows",
                     "hot_subrounds"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        if self.checkpoint is not None and not self.checkpoint:
            bad("checkpoint", "must be a non-empty URL when given")
        for name in ("window", "vector_size", "epochs", "min_count", "max_sentence_length",
                     "workers", "sync_total", "restrict_vocab", "blocksize"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        if not 1 <= self.rare_every <= 255:
            bad("rare_every", "must be in [1, 255] rounds")
        if not self.hot_timeout > 0:
            bad("hot_timeout", "must be > 0 seconds")
        if self.central_partition_bytes is not None and self.central_partition_bytes < 0:
            bad("central_partition_bytes", "must be >= 0 (0: always partition) or None (never)")
        for name in ("max_vocab_size", "max_final_vocab", "threads_per_worker"):
            v = getattr(self, name)
            if v is not None and v < 1:
                bad(name, "must be >= 1 when given")
        if self.sample < 0:
            bad("sample", "must be >= 0")
        if not self.alpha > 0:
            bad("alpha", "must be > 0")
        if not 0 <= self.min_alpha <= self.alpha:
            bad("min_alpha", f"must be in [0, alpha={self.alpha}]")
        if self.tls_key and not self.tls_cert:
            bad("tls_key", "needs tls_cert as well")
        if self.phrase_passes < 1:
            bad("phrase_passes", "must be >= 1")
        if self.phrase_min_count < 1:
            bad("phrase_min_count", "must be >= 1 (as gensim Phrases)")
        if self.phrase_scoring not in ("default", "word2phrase", "npmi"):
            bad("phrase_scoring", "must be default, word2phrase or npmi")
        if self.phrase_scoring == "npmi" and not -1 <= self.phrase_threshold <= 1:
            bad("phrase_threshold", "must be in [-1, 1] for npmi scoring")
        if self.phrase_scoring != "npmi" and not self.phrase_threshold > 0:
            bad("phrase_threshold", f"must be > 0 for {self.phrase_scoring} scoring")
        if not isinstance(self.phrase_delimiter, str) or not self.phrase_delimiter:
            bad("phrase_delimiter", "must be a non-empty string")
        if self.phrase_max_vocab_size is not None and self.phrase_max_vocab_size < 1:
            bad("phrase_max_vocab_size", "must be >= 1 when given")
        if self.format not in ("auto", "text", "parquet"):
            bad("format", "must be auto, text or parquet")
        from .vectors import EXPORTS

        if self.export not in EXPORTS:
            bad("export", f"must be one of {', '.join(EXPORTS)}")
        if self.export != "input" and self.negative == 0:
            bad("export", "output, sum and concat use the negative-sampling output vectors (syn1neg): "
                          "they need negative>0")
        from .training.merge import MERGE_RULES  # local: config must not import training eagerly

        if self.merge != "auto" and self.merge not in MERGE_RULES:
            bad("merge", f"unknown merge rule; choose one of {sorted(MERGE_RULES)}")
        return self

    def round_words(self, replicas: int) -> int:
        """Words each of ``replicas`` workers trains in one round, before the lone-replica rule.

        ``sync_every`` when set; else ``sync_total // replicas`` (at least 1), so that a round is
        the same total work, and the central copy sees about the same progress between merges,
        at any number of workers.  Why: with 100,000 words a worker, CBOW-NS at 8 workers lost
        3.6 analogy points against one worker; at 25,000 (200,000 in all) it was within 0.3
        (benchmarks/README.md, "Row scales from the initial learning rate").
        """
        if self.sync_every:
            return int(self.sync_every)
        return max(1, int(self.sync_total) // max(int(replicas), 1))

    def hyperparameters(self) -> dict[str, Any]:
        """Every parameter as a JSON-serialisable dict (for ``metrics.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "parameters") -> "Config":
        """Build from a flat dict, rejecting unknown names.

        Raises
        ------
        ConfigError
            When a key is not a parameter name (``origin`` names where it came from).
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{origin}: unknown parameter {unknown[0]!r}")
        return cls(**values)


def parameter_fields():
    """The dataclass fields of :class:`Config`, in declaration order."""
    return dataclasses.fields(Config)


@dataclass
class Pipeline:
    """A job read from a pipeline TOML file.

    Attributes
    ----------
    inputs : list of str
        Input URLs or globs; relative local paths are resolved against the TOML file's folder.
    output : str
        Output URL (folder).
    config : Config
    storage_options : dict
        fsspec options for inputs and outputs (credentials; never written to metrics.json).
    overwrite : bool
    """

    inputs: list[str]
    output: str
    config: Config
    storage_options: dict = field(default_factory=dict)
    overwrite: bool = False


def _resolve(path: str, base: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base, path))


def load_pipeline(path: str, overrides: dict[str, Any] | None = None) -> Pipeline:
    """Read a pipeline TOML file.

    Sections: ``[input]`` (``urls``, ``format``, ``text_column``, ``storage_options``),
    ``[tokenize]``, ``[phrases]`` (``phrases = true``, ``phrase_threshold``, ...), ``[vocab]``,
    ``[train]``, ``[evaluate]`` (``analogies``, ``word_pairs``, ``restrict_vocab``), ``[cluster]``
    (``workers``, ``threads_per_worker``, ``scheduler``, ``tls_ca_file``, ``tls_cert``, ``tls_key``)
    and ``[output]`` (``url``, ``overwrite``, ``export``).  Every key other than ``urls``, ``url``,
    ``storage_options`` and ``overwrite`` is a :class:`Config` field; a key may sit in any section
    (sections are for the reader).  Relative local paths are relative to the TOML file.

    Raises
    ------
    ConfigError
        The file is missing or not valid TOML (with line), a key is unknown, or ``urls``/``url``
        is missing.
    """
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"pipeline file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    flat: dict[str, Any] = {}
    inputs = output = None
    storage_options: dict = {}
    overwrite = False
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: top-level key {section!r} must be a [section]")
        for key, value in table.items():
            if section == "input" and key == "urls":
                inputs = [value] if isinstance(value, str) else list(value)
            elif section == "output" and key == "url":
                output = value
            elif key == "storage_options":
                storage_options.update(value)
            elif key == "overwrite":
                overwrite = bool(value)
            else:
                flat[key] = value
    if overrides:
        flat.update(overrides)
    if not inputs:
        raise ConfigError(f"{path}: [input] urls is missing")
    if not output:
        raise ConfigError(f"{path}: [output] url is missing")
    for key in ("analogies", "phrase_model", "tls_ca_file", "tls_cert", "tls_key"):
        if flat.get(key):
            flat[key] = _resolve(flat[key], base)
    if flat.get("word_pairs"):
        flat["word_pairs"] = [_resolve(p, base) for p in flat["word_pairs"]]
    config = Config.from_dict(flat, origin=path)
    return Pipeline(
        inputs=[_resolve(u, base) for u in inputs],
        output=_resolve(output, base),
        config=config,
        storage_options=storage_options,
        overwrite=overwrite,
    )
