"""The training report: its numbers against references, its plots and tables, and its place in the output."""

import base64
import json
import logging
import re

import numpy as np
import pytest

from w2v_dist.output import OUTPUT_FILES, write_outputs
from w2v_dist.report import WORD_GROUPS, pca_2d, render_report, zipf_slope
from w2v_dist.vectors import WordVectors


def _group_words():
    return [w for items in WORD_GROUPS.values() for item in items
            for w in ((item,) if isinstance(item, str) else item)]


def _wv(drop=(), dim=12, seed=0):
    rng = np.random.default_rng(seed)
    words = [w for w in _group_words() if w not in drop] + [f"filler{i}" for i in range(200)]
    counts = np.sort(rng.integers(5, 100_000, len(words)))[::-1]
    return WordVectors(words, rng.standard_normal((len(words), dim)).astype(np.float32), counts)


def _metrics(rounds=6, compute_loss=1):
    stats = [dict(round=r, epoch=r // 2, words=1000, effective_words=800, loss=800.0 * (3 - 0.2 * r),
                  seconds=0.5, alpha_start=0.025 * (1 - r / rounds), alpha_end=0.025 * (1 - (r + 1) / rounds))
             for r in range(rounds)]
    sections = [dict(section="capital-common-countries", correct=3, total=4, accuracy=0.75),
                dict(section="family", correct=0, total=0, accuracy=0.0)]
    return dict(corpus_words=10_000, vocab_size=300, effective_words=4800, train_seconds=3.0,
                words_per_second=1600.0, workers=2, threads_per_worker=[1, 1], rounds=rounds, rounds_per_epoch=2,
                round_stats=stats, loss=[s["loss"] for s in stats],
                config=dict(sg=1, hs=0, negative=5, alpha=0.025, min_alpha=0.0001, compute_loss=compute_loss,
                            export="input", vector_size=12),
                evaluation=dict(analogy_accuracy=0.75, analogy_total=4, analogy_oov_ratio=0.2,
                                analogy_sections=sections, wordsim353_spearman=0.4, wordsim353_pearson=0.41,
                                wordsim353_oov_ratio=0.1, oov_ratio=0.15))


def _pngs(html):
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_zipf_slope_recovers_the_exponent():
    ranks = np.arange(1, 20_001)
    for s in (0.8, 1.0, 1.2):
        counts = np.round(1e7 / ranks ** s).astype(np.int64)
        assert zipf_slope(counts) == pytest.approx(-s, abs=0.01)
    assert np.isnan(zipf_slope(np.array([5, 4])))


def test_pca_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 8)) @ np.diag([5, 3, 1, 1, 0.5, 0.5, 0.2, 0.1]) + 7.0
    got = pca_2d(x)
    c = x - x.mean(axis=0)
    vals, vecs = np.linalg.eigh(c.T @ c)
    ref = c @ vecs[:, ::-1][:, :2]
    for k in range(2):  # the same axes up to sign
        assert np.allclose(got[:, k], ref[:, k], atol=1e-9) or np.allclose(got[:, k], -ref[:, k], atol=1e-9)
    assert pca_2d(x[:1]).shape == (1, 2)


def test_report_has_every_plot_and_the_section_table():
    html = render_report(_wv(), _metrics())
    pngs = _pngs(html)
    assert len(pngs) == 5 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    for title in ("Training", "Word groups", "Evaluation", "Analogy accuracy per section"):
        assert title in html
    assert "<td>capital-common-countries</td><td>3</td><td>4</td><td>75.0%</td>" in html
    assert "<td>family</td><td>0</td><td>0</td><td>n/a</td>" in html
    assert "75.0%" in html and "wordsim353 Spearman" in html


def test_report_without_rounds_counts_or_group_words():
    wv = WordVectors([f"w{i}" for i in range(20)], np.ones((20, 4), np.float32))
    html = render_report(wv, {})
    assert _pngs(html) == [] and "Too few" in html and "No evaluation ran" in html
    # loss not recorded: still a loss panel (with a note) and the others
    assert len(_pngs(render_report(_wv(), _metrics(compute_loss=0)))) == 5


def test_pca_skips_words_not_in_the_vocabulary():
    full = render_report(_wv(), _metrics())
    assert "Not in the vocabulary" not in full
    html = render_report(_wv(drop=("paris", "tokyo", "aunt")), _metrics())
    assert "Not in the vocabulary (left out, with their pair): paris, tokyo, aunt</p>" in html
    pngs = _pngs(html)
    assert len(pngs) == 5 and pngs[4] != _pngs(full)[4]


class _Vocab:
    def __init__(self, wv):
        self.counts = wv.counts

    def write_parquet(self, url, storage_options=None):
        import fsspec
        import pyarrow as pa
        import pyarrow.parquet as pq

        with fsspec.open(url, "wb", **(storage_options or {})) as f:
            pq.write_table(pa.table({"word": ["x"], "count": [1]}), f)


def test_output_folder_holds_the_report(tmp_path):
    wv = _wv()
    written = write_outputs(str(tmp_path / "o"), wv, None, _metrics())
    assert sorted(p.rsplit("/", 1)[1] for p in written) == sorted(OUTPUT_FILES)
    assert len(_pngs((tmp_path / "o" / "report.html").read_text(encoding="utf-8"))) == 5
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["rounds"] == 6
    # vocab=None: vocab.parquet comes from the vectors (words and counts)
    assert WordVectors.load(str(tmp_path / "o")).counts.tolist() == wv.counts.tolist()


def test_a_failing_report_costs_only_the_report(tmp_path, monkeypatch, caplog):
    import w2v_dist.report

    def boom(*a, **k):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(w2v_dist.report, "render_report", boom)
    with caplog.at_level(logging.WARNING, logger="w2v_dist"):
        written = write_outputs(str(tmp_path / "o"), _wv(), None, _metrics())
    assert "report.html" not in [p.rsplit("/", 1)[1] for p in written]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(set(OUTPUT_FILES) - {"report.html"})
    assert "no fonts" in caplog.text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.partial")]


def test_report_rewritten_from_an_output_folder(tmp_path, capsys):
    from w2v_dist.report import main

    out = tmp_path / "o"
    write_outputs(str(out), _wv(), None, _metrics(), report=False)
    assert not (out / "report.html").exists()
    assert main([str(out)]) == 0
    assert len(_pngs((out / "report.html").read_text(encoding="utf-8"))) == 5
    assert main([str(tmp_path / "nothing")]) == 2
    assert "vectors.json" in capsys.readouterr().err
