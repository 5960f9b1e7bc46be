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
        ("--export", "both", "export"),
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


def test_export_needs_negative_sampling(tmp_path, capsys, corpus):
    code, err = _run(capsys, "train", str(corpus), "--output", str(tmp_path / "o"), "--hs", "1",
                     "--negative", "0", "--export", "sum")
    assert code == 2 and len(err) == 1 and "export" in err[0] and "negative>0" in err[0]
    assert not (tmp_path / "o").exists()


def test_run_set_overrides_dotted_names():
    from w2v_dist.cli import _parse_set
    from w2v_dist.config import load_pipeline

    root = Path(__file__).resolve().parents[1]
    overrides = _parse_set(["train.epochs=3", "output.export=concat", "sample=0", "merge=mean"])
    config = load_pipeline(str(root / "pipelines" / "demo.toml"), overrides).config.validate()
    assert (config.epochs, config.export, config.sample, config.merge) == (3, "concat", 0, "mean")
    assert load_pipeline(str(root / "pipelines" / "demo.toml")).config.epochs == 5


@pytest.fixture
def planted(tmp_path):
    """Vectors where king - man + woman is nearest to queen, in all four formats."""
    import numpy as np

    from w2v_dist.vectors import WordVectors

    rng = np.random.default_rng(0)
    base = {w: rng.standard_normal(16) for w in ("man", "king", "paris", "france", "rome")}
    royal, female = rng.standard_normal(16), rng.standard_normal(16)
    base["woman"] = base["man"] + female
    base["queen"] = base["man"] + royal + female + 0.05 * rng.standard_normal(16)
    base["king"] = base["man"] + royal
    words = list(base) + [f"w{i}" for i in range(40)]
    vectors = np.array([base[w] for w in base] + list(rng.standard_normal((40, 16))), dtype=np.float32)
    wv = WordVectors(words, vectors)
    wv.save(str(tmp_path / "folder"))
    wv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    wv.save_word2vec_format(str(tmp_path / "v.txt"))
    wv.save_parquet(str(tmp_path / "v.parquet"))
    return wv, tmp_path


@pytest.mark.parametrize("name", ["folder", "v.bin", "v.txt", "v.parquet"])
def test_similar_analogy_json(capsys, planted, name):
    import json

    wv, d = planted
    assert main(["--quiet", "similar", str(d / name), "--positive", "king", "woman", "--negative", "man",
                 "--topn", "3", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = wv.most_similar(positive=["king", "woman"], negative=["man"], topn=3)
    assert got[0]["word"] == "queen"
    assert [(g["word"], g["similarity"]) for g in got] == [(w, s) for w, s in want]
    assert main(["--quiet", "similar", str(d / name), "--positive", "king", "woman", "--negative", "man",
                 "--cosmul", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [g["word"] for g in got] == [w for w, _ in wv.most_similar_cosmul(["king", "woman"], ["man"])]
    assert main(["--quiet", "similar", str(d / name), "paris", "--topn", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [w for w, _ in wv.most_similar("paris", topn=2)]


def test_similar_errors(capsys, planted):
    _, d = planted
    code, err = _run(capsys, "similar", str(d / "v.bin"))
    assert code == 2 and "--positive" in err[0]
    code, err = _run(capsys, "similar", str(d / "v.bin"), "--positive", "king", "--negative", "zzz")
    assert code == 2 and "'zzz'" in err[0] and "v.bin" in err[0]
    code, err = _run(capsys, "similar", str(d / "v.bin"), "--negative", "king", "--cosmul")
    assert code == 2 and "positive" in err[0]


def test_evaluate_json_reads_a_folder(capsys, planted, tmp_path):
    import json

    from w2v_dist.evaluation import evaluate

    wv, d = planted
    q = tmp_path / "q.txt"
    q.write_text(": royal\nman king woman queen\nman woman king queen\n: other\nparis france rome nope\n")
    assert main(["--quiet", "evaluate", str(d / "folder"), "--analogies", str(q), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads(json.dumps(evaluate(wv, analogies=str(q))))
    assert got["analogy_total"] == 2 and got["analogy_sections"][1]["total"] == 0


def test_quiet_sets_the_log_level(capsys, planted):
    import logging

    _, d = planted
    main(["similar", str(d / "v.txt"), "paris"])
    assert logging.getLogger("w2v_dist").level == logging.INFO
    main(["--quiet", "similar", str(d / "v.txt"), "paris"])
    assert logging.getLogger("w2v_dist").level == logging.WARNING
    main(["similar", str(d / "v.txt"), "paris"])
    main(["similar", str(d / "v.txt"), "paris", "--quiet"])
    assert logging.getLogger("w2v_dist").level == logging.WARNING
