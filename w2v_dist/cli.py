"""The ``w2v-dist`` command.

::

    w2v-dist train INPUT... --output OUT [--sg 1 --negative 5 ...]
    w2v-dist run PIPELINE.toml [--set epochs=3] [--output OUT]
    w2v-dist evaluate VECTORS [--analogies FILE] [--word-pairs FILE...]
    w2v-dist similar VECTORS WORD [--topn 10]

Every :class:`w2v_dist.config.Config` field is an option of ``train`` (``vector_size`` is
``--vector-size``), with gensim's defaults.  Errors a user can cause print one line,
``w2v-dist: error: ...``, and exit with status 2; nothing is written to the output then.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from typing import Any, Sequence

from . import __version__
from .config import Config, load_pipeline, parameter_fields
from .errors import W2VError

log = logging.getLogger("w2v_dist")


def _storage_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in pairs or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise W2VError(f"--storage-option {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in parameter_fields():
        section = f.metadata["section"]
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
    t.add_argument("--storage-option", action="append", metavar="KEY=VALUE", help="fsspec storage option (repeatable)")
    _add_config_options(t)

    r = sub.add_parser("run", help="run a pipeline TOML file")
    r.add_argument("pipeline", help="pipeline TOML file (see pipelines/)")
    r.add_argument("--output", "-o", help="override the output URL")
    r.add_argument("--overwrite", action="store_true", help="replace a model already in the output")
    r.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    r.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter, e.g. --set epochs=3")
    r.add_argument("--scheduler", help="address of an existing Dask scheduler")

    e = sub.add_parser("evaluate", help="evaluate word vectors (word2vec text or binary format)")
    e.add_argument("vectors", help="vectors.bin or vectors.txt URL")
    e.add_argument("--analogies", help="questions-words.txt style file")
    e.add_argument("--word-pairs", nargs="+", default=[], metavar="FILE", help="WordSim-353 / SimLex-999 files")
    e.add_argument("--restrict-vocab", type=int, default=30000, help="analogies: most frequent words used (default 30000)")
    e.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("similar", help="nearest neighbours of a word")
    s.add_argument("vectors", help="vectors.bin or vectors.txt URL")
    s.add_argument("word")
    s.add_argument("--topn", type=int, default=10)
    s.add_argument("--json", action="store_true", help="print JSON")
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
        print(f"wrote {output}/{{vectors.txt,vectors.bin,vocab.parquet,metrics.json}}")
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
            return _run_training(args.inputs, args.output, config, _storage_options(args.storage_option),
                                 args.overwrite, args.quiet, args.resume)
        if args.command == "run":
            overrides = _parse_set(args.set)
            if args.scheduler:
                overrides["scheduler"] = args.scheduler
            pipe = load_pipeline(args.pipeline, overrides)
            return _run_training(pipe.inputs, args.output or pipe.output, pipe.config, pipe.storage_options,
                                 args.overwrite or pipe.overwrite, args.quiet, args.resume)
        if args.command == "evaluate":
            from .evaluation import evaluate
            from .vectors import WordVectors

            wv = WordVectors.load_word2vec_format(args.vectors)
            res = evaluate(wv, analogies=args.analogies, word_pairs=args.word_pairs, restrict_vocab=args.restrict_vocab)
            if args.json:
                print(json.dumps(res, indent=2))
            else:
                for k, v in res.items():
                    if not isinstance(v, (dict, list)):
                        print(f"{k}\t{v:.4f}" if isinstance(v, float) else f"{k}\t{v}")
            return 0
        if args.command == "similar":
            from .vectors import WordVectors

            wv = WordVectors.load_word2vec_format(args.vectors)
            if args.word not in wv:
                raise W2VError(f"word {args.word!r} is not in the vocabulary of {args.vectors}")
            res = wv.most_similar(positive=[args.word], topn=args.topn)
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
