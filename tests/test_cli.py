"""The command line: bad input gives a one-line error naming the culprit, exit 2, nothing written."""

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_dist.cli import main


def _run(capsys, *argv):
    code = main(["--quiet", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.txt.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("the cat sat on the mat\n" * 20)
    return p


@pytest.mark.parametrize(
    "option, value, culprit",
    [
        ("--negative", "-1", "negative"),
        ("--window", "0", "window"),
        ("--vector-size", "0", "vector_size"),
        ("--sample", "-0.1", "sample"),
        ("--alpha", "0", "alpha"),
        ("--epochs", "0", "epochs"),
        ("--min-count", "0", "min_count"),
        ("--merge", "median", "merge"),
    ],
)
def test_invalid_hyperparameter(tmp_path, capsys, corpus, option, value, culprit):
    out = tmp_path / "out"
    code, err = _run(capsys, "train", str(corpus), "--output", str(out), option, value)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("w2v-dist: error: ") and culprit in err[0]
    assert not out.exists()


def test_negative_zero_without_hs_is_inconsistent(tmp_path, capsys, corpus):
    code, err = _run(capsys, "train", str(corpus), "--output", str(tmp_path / "o"), "--negative", "0")
    assert code == 2 and "negative" in err[0] and "hs" in err[0]


def test_missing_path(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    code, err = _run(capsys, "train", str(missing), "--output", str(tmp_path / "o"))
    assert code == 2 and len(err) == 1 and "nope.txt" in err[0]
    assert not (tmp_path / "o").exists()


def test_glob_matching_nothing(tmp_path, capsys):
    code, err = _run(capsys, "train", str(tmp_path / "*.txt.gz"), "--output", str(tmp_path / "o"))
    assert code == 2 and len(err) == 1 and "*.txt.gz" in err[0]


def test_unknown_parquet_column(tmp_path, capsys):
    f = tmp_path / "part.parquet"
    pq.write_table(pa.table({"body": ["a b c"] * 3}), f)
    code, err = _run(capsys, "train", str(f), "--output", str(tmp_path / "o"), "--text-column", "text")
    assert code == 2 and len(err) == 1 and "part.parquet" in err[0] and "text" in err[0]
    assert not (tmp_path / "o").exists()


def test_output_holding_a_model_is_refused(tmp_path, capsys, corpus):
    out = tmp_path / "o"
    out.mkdir()
    (out / "vectors.bin").write_bytes(b"keep me")
    code, err = _run(capsys, "train", str(corpus), "--output", str(out))
    assert code == 2 and "overwrite" in err[0]
    assert (out / "vectors.bin").read_bytes() == b"keep me"


def test_unknown_pipeline_key(tmp_path, capsys):
    p = tmp_path / "job.toml"
    p.write_text('[input]\nurls = ["x.txt"]\n[train]\nepoch = 3\n[output]\nurl = "o"\n')
    code, err = _run(capsys, "run", str(p))
    assert code == 2 and "epoch" in err[0] and "job.toml" in err[0]


def test_pipeline_files_parse():
    from w2v_dist.config import load_pipeline

    root = Path(__file__).resolve().parents[1]
    for name in ("demo.toml", "real-en.toml"):
        pipe = load_pipeline(str(root / "pipelines" / name))
        pipe.config.validate()
        assert pipe.inputs and pipe.output
    demo = load_pipeline(str(root / "pipelines" / "demo.toml"))
    assert Path(demo.config.analogies).is_file()
    assert all(Path(p).is_file() for p in demo.config.word_pairs)


@pytest.mark.parametrize("argv, hs, negative", [
    (["--hs", "1", "--negative", "0"], 1, 0),
    (["--hs", "1"], 1, 5),
    ([], 0, 5),
])
def test_hs_and_negative_options(argv, hs, negative):
    from w2v_dist.cli import _given, build_parser
    from w2v_dist.config import Config

    args = build_parser().parse_args(["train", "in.txt", "--output", "o", *argv])
    config = Config.from_dict(_given(args)).validate()
    assert (config.hs, config.negative) == (hs, negative)


def test_pipeline_hs_section(tmp_path):
    from w2v_dist.config import load_pipeline

    p = tmp_path / "job.toml"
    p.write_text('[input]\nurls = ["x.txt"]\n[train]\nhs = 1\nnegative = 0\nsg = 1\n[output]\nurl = "o"\n')
    config = load_pipeline(str(p)).config.validate()
    assert (config.hs, config.negative, config.sg) == (1, 0, 1)
