"""The ``w2v-dist`` command.

::

    w2v-dist train INPUT... --output OUT [--sg 1 --negative 5 ...]
    w2v-dist run PIPELINE.toml [--set epochs=3] [--output OUT] [--scheduler tcp://HOST:8786]
    w2v-dist phrases INPUT... --output OUT [--phrase-threshold 10 --phrase-connector-words english ...]
    w2v-dist evaluate VECTORS [--analogies FILE] [--word-pairs FILE...] [--json]
    w2v-dist similar VECTORS WORD [--topn 10] [--json]
    w2v-dist similar VECTORS --positive king woman --negative man [--cosmul]

VECTORS is an output folder (native format, memory-mapped), ``vectors.bin``/``vectors.txt``
(word2vec formats) or ``vectors.parquet``.

Every :class:`w2v_dist.config.Config` field is an option of ``train`` (``vector_size`` is
``--vector-size``), with gensim's defaults; ``run`` takes the cluster ones (``--scheduler``,
``--tls-ca-file``, ``--tls-cert``, ``--tls-key``, ``--workers``) over the pipeline's ``[cluster]``.
Storage options (credentials) come from ``--storage-option KEY=VALUE`` and
``--storage-options-file FILE.json`` and are never printed.  Errors a user can cause print one line,
``w2v-dist: error: ...``, and exit with status 2; nothing is written to the output then.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from typing import Any, Sequence

from . import __version__
from .config import Config, load_pipeline, parameter_fields
from .errors import W2VError

log = logging.getLogger("w2v_dist")


def _storage_options(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pipeline TOML options, then ``--storage-options-file``, then ``--storage-option`` (later wins)."""
    from .storage import merge_storage_options, parse_storage_option_pairs, read_storage_options_file

    from_file = read_storage_options_file(args.storage_options_file) if args.storage_options_file else None
    return merge_storage_options(base, from_file, parse_storage_option_pairs(args.storage_option))


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-option", action="append", metavar="KEY=VALUE",
                        help="fsspec storage option for inputs and outputs (repeatable; JSON values allowed)")
    parser.add_argument("--storage-options-file", metavar="FILE.json",
                        help="fsspec storage options as one JSON object (keeps credentials off the command line)")


def _add_config_options(parser: argparse.ArgumentParser, sections: Sequence[str] | None = None,
                        exclude: Sequence[str] = ()) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in parameter_fields():
        section = f.metadata["section"]
        if (sections is not None and section not in sections) or f.name in exclude:
            continue
        group = groups.setdefault(section, parser.add_argument_group(f"{section} parameters"))
        opt = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_ = f"{f.metadata['help']} (default: {default})"
        if isinstance(default, bool):
            group.add_argument(opt, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif isinstance(default, list):
            group.add_argument(opt, dest=f.name, nargs="+", default=None, metavar="FILE", help=help_)
        else:
            kind = "float" in str(f.type) and float or "int" in str(f.type) and int or str
            group.add_argument(opt, dest=f.name, type=kind, default=None, help=help_)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in parameter_fields() if getattr(args, f.name, None) is not None}


_PHRASE_SECTIONS = ("phrases", "tokenize", "input", "cluster")


def _parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise W2VError(f"--set {item!r}: expected NAME=VALUE")
        key = key.rpartition(".")[2]  # "train.epochs=3" and "epochs=3" both work
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``w2v-dist`` (all subcommands)."""
    p = argparse.ArgumentParser(prog="w2v-dist", description="Streaming, distributed word2vec on Dask.")
    p.add_argument("--version", action="version", version=f"w2v-dist {__version__}")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train word vectors from text shards or Parquet files")
    t.add_argument("inputs", nargs="+", metavar="INPUT", help="URLs or globs (local, s3://, gs://, abfs://, memory://)")
    t.add_argument("--output", "-o", required=True, help="output folder URL")
    t.add_argument("--overwrite", action="store_true", help="replace a model already in the output")
    t.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    _add_storage_options(t)
    _add_config_options(t)

    r = sub.add_parser("run", help="run a pipeline TOML file")
    r.add_argument("pipeline", help="pipeline TOML file (see pipelines/)")
    r.add_argument("--output", "-o", help="override the output URL")
    r.add_argument("--overwrite", action="store_true", help="replace a model already in the output")
    r.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    r.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter, e.g. --set epochs=3")
    _add_storage_options(r)
    _add_config_options(r, sections={"cluster"})  # --scheduler, --tls-*, --workers override [cluster]

    ph = sub.add_parser("phrases", help="learn phrases (gensim Phrases) and write OUT/phrases.parquet")
    ph.add_argument("inputs", nargs="+", metavar="INPUT", help="URLs or globs (local, s3://, gs://, abfs://, memory://)")
    ph.add_argument("--output", "-o", required=True, help="output folder URL")
    ph.add_argument("--overwrite", action="store_true", help="replace a phrases.parquet already in the output")
    _add_storage_options(ph)
    _add_config_options(ph, _PHRASE_SECTIONS, exclude=("phrases", "phrase_model"))

    vectors_help = "output folder, vectors.bin, vectors.txt or vectors.parquet (path or URL)"
    e = sub.add_parser("evaluate", help="evaluate word vectors")
    e.add_argument("vectors", help=vectors_help)
    e.add_argument("--analogies", help="questions-words.txt style file")
    e.add_argument("--word-pairs", nargs="+", default=[], metavar="FILE", help="WordSim-353 / SimLex-999 files")
    e.add_argument("--restrict-vocab", type=int, default=30000, help="analogies: most frequent words used (default 30000)")
    e.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("similar", help="nearest neighbours of a word, or analogies (--positive/--negative)")
    s.add_argument("vectors", help=vectors_help)
    s.add_argument("word", nargs="?", help="a word (or use --positive/--negative)")
    s.add_argument("--positive", nargs="+", default=[], metavar="WORD", help="words added (as gensim's positive=)")
    s.add_argument("--negative", nargs="+", default=[], metavar="WORD", help="words subtracted (negative=)")
    s.add_argument("--cosmul", action="store_true", help="3CosMul (most_similar_cosmul) instead of 3CosAdd")
    s.add_argument("--topn", type=int, default=10)
    s.add_argument("--json", action="store_true", help="print JSON")
    for command in (t, r, e, s):  # also after the command: `w2v-dist run job.toml --quiet`
        command.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                             help="no progress bars or log lines")
    return p


def _run_training(inputs, output, config: Config, storage_options, overwrite, quiet, resume=False) -> int:
    from .api import run_job

    result = run_job(inputs, config, output=output, storage_options=storage_options, overwrite=overwrite,
                     progress=not quiet, resume=resume)
    m = result.metrics
    if not quiet:
        print(f"vocabulary {m['vocab_size']:,} words from {m['corpus_words']:,} tokens; "
              f"{m['effective_words']:,} effective words in {m['train_seconds']:.1f} s "
              f"({m['words_per_second']:,.0f} words/s, {m['workers']} worker(s), {m['rounds']} rounds)")
        if "evaluation" in m:
            print("evaluation: " + json.dumps({k: v for k, v in m["evaluation"].items() if not isinstance(v, (dict, list))}))
        from .output import OUTPUT_FILES

        print(f"wrote {output}/{{{','.join(OUTPUT_FILES)}}}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``w2v-dist`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("w2v-dist: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        if args.command == "train":
            config = Config.from_dict(_given(args))
            return _run_training(args.inputs, args.output, config, _storage_options(args),
                                 args.overwrite, args.quiet, args.resume)
        if args.command == "run":
            given = _given(args)
            for key in ("tls_ca_file", "tls_cert", "tls_key"):  # relative to the shell, not the TOML
                if key in given:
                    given[key] = os.path.abspath(given[key])
            overrides = {**_parse_set(args.set), **given}
            pipe = load_pipeline(args.pipeline, overrides)
            return _run_training(pipe.inputs, args.output or pipe.output, pipe.config,
                                 _storage_options(args, pipe.storage_options),
                                 args.overwrite or pipe.overwrite, args.quiet, args.resume)
        if args.command == "phrases":
            from .api import detect_phrases

            config = Config.from_dict(_given(args))
            model = detect_phrases(args.inputs, config, output=args.output, overwrite=args.overwrite,
                                   storage_options=_storage_options(args), progress=not args.quiet)
            if not args.quiet:
                per_pass = ", ".join(f"{t.num_rows:,}" for t in model.passes)
                print(f"{len(model):,} phrases ({per_pass} per pass); wrote {args.output.rstrip('/')}/phrases.parquet")
            return 0
        if args.command == "evaluate":
            from .evaluation import evaluate
            from .vectors import load_vectors

            wv = load_vectors(args.vectors)
            res = evaluate(wv, analogies=args.analogies, word_pairs=args.word_pairs, restrict_vocab=args.restrict_vocab)
            if args.json:
                print(json.dumps(res, indent=2))
            else:
                for k, v in res.items():
                    if not isinstance(v, (dict, list)):
                        print(f"{k}\t{v:.4f}" if isinstance(v, float) else f"{k}\t{v}")
            return 0
        if args.command == "similar":
            from .vectors import load_vectors

            positive = ([args.word] if args.word else []) + args.positive
            if not positive and not args.negative:
                raise W2VError("similar: give a WORD or --positive/--negative words")
            if args.cosmul and not positive:
                raise W2VError("similar --cosmul: needs at least one positive word")
            wv = load_vectors(args.vectors)
            for w in positive + args.negative:
                if w not in wv:
                    raise W2VError(f"word {w!r} is not in the vocabulary of {args.vectors}")
            query = wv.most_similar_cosmul if args.cosmul else wv.most_similar
            res = query(positive=positive, negative=args.negative, topn=args.topn)
            if args.json:
                print(json.dumps([{"word": w, "similarity": s} for w, s in res], indent=2))
            else:
                for w, sim in res:
                    print(f"{w}\t{sim:.4f}")
            return 0
    except W2VError as exc:
        print(f"w2v-dist: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("w2v-dist: interrupted; no model was written (with checkpoints, continue with --resume)",
              file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
