"""Evaluation: analogies and word pairs give gensim's results; correlations equal scipy's."""

import itertools
import logging
import re
import zlib

import numpy as np
import pytest
import scipy.stats
from gensim.models import KeyedVectors, Word2Vec

from w2v_dist.errors import W2VError
from w2v_dist.evaluation import (evaluate, evaluate_word_analogies, evaluate_word_analogies_cosmul,
                                 evaluate_word_pairs, metric_stem, pearson, rankdata, spearman)
from w2v_dist.vectors import WordVectors


def _crc_hash(text):
    return zlib.crc32(text.encode("utf-8"))


@pytest.fixture(scope="module")
def trained(small_corpus):
    """A small gensim Word2Vec on the first 1500 lines of the shared corpus, and the same vectors as ours."""
    with open(small_corpus, encoding="utf-8") as f:
        sentences = [line.lower().split() for line in itertools.islice(f, 1500)]
    model = Word2Vec(sentences, vector_size=40, window=5, min_count=2, workers=1, seed=1, epochs=5,
                     hashfxn=_crc_hash)
    kv = model.wv
    return kv, WordVectors(list(kv.index_to_key), kv.vectors.copy())


def _planted(questions_path, out_path, dim=20, every=8, n_filler=1500, seed=0):
    """Every ``every``-th question of ``questions_path`` (written to ``out_path``) and vectors in
    which their offsets hold approximately, plus case variants (near duplicates) of some words,
    exact duplicates of others (exact ties), random filler words and a zero vector."""
    rng = np.random.default_rng(seed)
    kept, offset, vec, seen = [], None, {}, 0
    for line in open(questions_path, encoding="utf-8").read().splitlines():
        if line.startswith(": "):
            kept.append(line)
            offset = rng.standard_normal(dim)
            continue
        seen += 1
        if seen % every:
            continue
        kept.append(line)
        a, b, c, d = line.split()
        for x, y in ((a, b), (c, d)):
            vec.setdefault(x, rng.standard_normal(dim))
            vec.setdefault(y, vec[x] + offset + 0.3 * rng.standard_normal(dim))
    out_path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    words = list(vec)
    rng.shuffle(words)
    vectors = [vec[w] for w in words]
    for w in words[::7]:  # case variants, later in the vocabulary
        words.append(w.lower() if w != w.lower() else w.upper())
        vectors.append(vec[w] + 0.05 * rng.standard_normal(dim))
    for w in list(vec)[3::11][:60]:  # exact duplicates
        words.append("dup_" + w)
        vectors.append(vec[w])
    words += [f"filler{i}" for i in range(n_filler)]
    vectors += list(rng.standard_normal((n_filler, dim)))
    vectors = np.array(vectors, dtype=np.float32)
    vectors[words.index(kept[1].split()[0])] = 0.0  # a question word with a zero vector
    vectors[words.index("filler3")] = 0.0           # and a zero candidate
    return words, vectors


def _gensim_sections(result):
    _, sections = result
    return [(s["section"], len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections[:-1]]


def _our_sections(result):
    return [(s["section"], s["correct"], s["total"]) for s in result["sections"]]


def _assert_same_as_gensim(ours, theirs):
    assert _our_sections(ours) == _gensim_sections(theirs)
    assert ours["accuracy"] == pytest.approx(theirs[0], abs=1e-15)
    total = theirs[1][-1]
    assert ours["correct"] == len(total["correct"])
    assert ours["total"] == len(total["correct"]) + len(total["incorrect"])


# -------------------------------------------------------------------- analogies


@pytest.mark.parametrize("restrict_vocab", [300, 1000, 30000])
def test_analogies_equal_gensim_on_trained_vectors(trained, eval_dir, restrict_vocab):
    kv, wv = trained
    questions = str(eval_dir / "questions-words.txt")
    ours = evaluate_word_analogies(wv, questions, restrict_vocab=restrict_vocab)
    theirs = kv.evaluate_word_analogies(questions, restrict_vocab=restrict_vocab)
    _assert_same_as_gensim(ours, theirs)
    assert ours["questions"] == 19544
    assert ours["total"] > 0
    assert ours["oov_ratio"] == pytest.approx(1 - ours["total"] / 19544)
    assert len(ours["sections"]) == 14 and ours["sections"][0]["section"] == "capital-common-countries"


@pytest.mark.parametrize("restrict_vocab, case_insensitive", [(None, True), (None, False), (900, True)])
def test_analogies_equal_gensim_with_ties_case_variants_and_zero_vectors(tmp_path, eval_dir, caplog,
                                                                          restrict_vocab, case_insensitive):
    questions = tmp_path / "questions.txt"
    words, vectors = _planted(eval_dir / "questions-words.txt", questions)
    wv = WordVectors(words, vectors)
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors.copy())
    n = restrict_vocab or len(words)
    with caplog.at_level(logging.DEBUG, logger="w2v_dist.evaluation"):
        ours = evaluate_word_analogies(wv, str(questions), restrict_vocab=n, case_insensitive=case_insensitive)
    with np.errstate(all="ignore"):
        theirs = kv.evaluate_word_analogies(str(questions), restrict_vocab=n, case_insensitive=case_insensitive)
    _assert_same_as_gensim(ours, theirs)
    assert 0 < ours["correct"] < ours["total"]
    recomputed = [int(m.group(1)) for m in re.finditer(r"(\d+) of \d+ questions recomputed", caplog.text)]
    assert recomputed and recomputed[0] > 0  # the exact (gensim-order) path was exercised


def test_analogy_accuracy_is_high_on_planted_structure(tmp_path, eval_dir):
    questions = tmp_path / "questions.txt"
    words, vectors = _planted(eval_dir / "questions-words.txt", questions, dim=50, every=4)
    res = evaluate_word_analogies(WordVectors(words, vectors), str(questions), restrict_vocab=None)
    assert res["accuracy"] > 0.7
    assert sum(s["total"] for s in res["sections"]) == res["total"]
    assert sum(s["correct"] for s in res["sections"]) == res["correct"]


def _cosmul_reference(wv, path, restrict_vocab, epsilon):
    """3CosMul question by question, float64, over the first restrict_vocab words (lower-case vocabulary)."""
    keys = wv.index_to_key[:restrict_vocab]
    index = {k.upper(): i for i, k in reversed(list(enumerate(keys)))}
    unit = wv.vectors[:len(keys)].astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    correct = total = 0
    for line in open(path, encoding="utf-8"):
        if line.startswith(": "):
            continue
        q = [index.get(w.upper()) for w in line.split()]
        if None in q:
            continue
        a, b, c, d = q
        cos = (1 + unit @ unit[[a, b, c]].T) / 2
        score = cos[:, 1] * cos[:, 2] / (cos[:, 0] + epsilon)
        score[[a, b, c]] = -np.inf
        total += 1
        correct += int(np.argmax(score) == d)
    return correct, total


def test_cosmul_matches_reference(trained, eval_dir):
    kv, wv = trained
    questions = str(eval_dir / "questions-words.txt")
    for restrict_vocab in (300, 2000):
        res = evaluate_word_analogies_cosmul(wv, questions, restrict_vocab=restrict_vocab)
        assert (res["correct"], res["total"]) == _cosmul_reference(wv, questions, restrict_vocab, 1e-3)
        add = evaluate_word_analogies(wv, questions, restrict_vocab=restrict_vocab)
        assert res["questions"] == add["questions"] and res["total"] == add["total"]


def test_analogy_file_errors(tmp_path, trained):
    _, wv = trained
    bad = tmp_path / "bad.txt"
    bad.write_text(": family\nhe she his her\nking queen man\n")
    with pytest.raises(W2VError, match=r"bad\.txt: line 3: expected 4 words"):
        evaluate_word_analogies(wv, str(bad))
    bad.write_text("he she his her\n")
    with pytest.raises(W2VError, match=r"bad\.txt: line 1: .*section"):
        evaluate_word_analogies(wv, str(bad))
    with pytest.raises(W2VError, match="no such file"):
        evaluate_word_analogies(wv, str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text(": only-a-section\n\n")
    res = evaluate_word_analogies(wv, str(empty))
    assert res == {"accuracy": 0.0, "correct": 0, "total": 0, "questions": 0, "oov_ratio": 0.0,
                   "sections": [{"section": "only-a-section", "correct": 0, "total": 0, "accuracy": 0.0}]}


# ------------------------------------------------------------------- word pairs


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
@pytest.mark.parametrize("restrict_vocab", [300000, 1500])
def test_word_pairs_equal_gensim(trained, eval_dir, name, restrict_vocab):
    kv, wv = trained
    path = str(eval_dir / name)
    ours = evaluate_word_pairs(wv, path, restrict_vocab=restrict_vocab)
    g_pearson, g_spearman, g_oov = kv.evaluate_word_pairs(path, restrict_vocab=restrict_vocab)
    assert ours["pearson"] == pytest.approx(g_pearson.statistic, abs=1e-9)
    assert ours["spearman"] == pytest.approx(g_spearman.statistic, abs=1e-9)
    assert ours["oov_ratio"] == pytest.approx(g_oov / 100, abs=1e-12)
    assert ours["pairs"] >= 10 and ours["pairs"] + ours["skipped"] == (353 if name.startswith("wordsim") else 999)


def test_word_pairs_random_vectors_equal_gensim(eval_dir):
    # every pair in vocabulary: a full-size comparison, with upper/lower case variants in the vocabulary
    path = eval_dir / "wordsim353.tsv"
    words = []
    for line in open(path, encoding="utf-8"):
        if not line.startswith("#"):
            words += line.split("\t")[:2]
    words = list(dict.fromkeys(words))
    words += [w.upper() for w in words[::5]]
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((len(words), 30)).astype(np.float32)
    wv = WordVectors(words, vectors)
    kv = KeyedVectors(30)
    kv.add_vectors(words, vectors.copy())
    for case_insensitive in (True, False):
        ours = evaluate_word_pairs(wv, str(path), case_insensitive=case_insensitive)
        g_pearson, g_spearman, g_oov = kv.evaluate_word_pairs(str(path), case_insensitive=case_insensitive)
        assert ours["pearson"] == pytest.approx(g_pearson.statistic, abs=1e-9)
        assert ours["spearman"] == pytest.approx(g_spearman.statistic, abs=1e-9)
        assert ours["oov_ratio"] == pytest.approx(g_oov / 100, abs=1e-12)
        assert ours["pairs"] == 353 and ours["skipped"] == 0


def test_word_pairs_file_errors(tmp_path, trained):
    _, wv = trained
    bad = tmp_path / "pairs.tsv"
    bad.write_text("# comment\nman\twoman\t5.0\nking\tqueen\n")
    with pytest.raises(W2VError, match=r"pairs\.tsv: line 3: expected 3 fields"):
        evaluate_word_pairs(wv, str(bad))
    bad.write_text("man\twoman\tfive\n")
    with pytest.raises(W2VError, match=r"pairs\.tsv: line 1: score 'five'"):
        evaluate_word_pairs(wv, str(bad))
    bad.write_text("# nothing known\nzzzq\tqqqz\t1.0\n")
    res = evaluate_word_pairs(wv, str(bad))
    assert res["pairs"] == 0 and res["skipped"] == 1 and res["oov_ratio"] == 1.0
    assert np.isnan(res["spearman"]) and np.isnan(res["pearson"])


# ------------------------------------------------------------------ correlations


def test_spearman_and_pearson_equal_scipy_with_ties():
    rng = np.random.default_rng(5)
    for n in (2, 3, 10, 200, 1000):
        x = rng.integers(0, 7, n).astype(float)           # many ties
        y = x + rng.integers(0, 4, n) * 0.5                # ties too, correlated
        z = rng.standard_normal(n)
        for a, b in ((x, y), (x, z), (z, y), (y, y)):
            if np.all(a == a[0]) or np.all(b == b[0]):
                continue
            assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
            assert pearson(a, b) == pytest.approx(scipy.stats.pearsonr(a, b).statistic, abs=1e-12)
        np.testing.assert_array_equal(rankdata(x), scipy.stats.rankdata(x))
        np.testing.assert_array_equal(rankdata(z), scipy.stats.rankdata(z))
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3])) and np.isnan(pearson([1.0], [2.0]))
    assert np.isnan(spearman([1, np.nan, 3], [1, 2, 3]))
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])


# ----------------------------------------------------------------------- summary


def test_evaluate_summary(trained, eval_dir):
    _, wv = trained
    questions = str(eval_dir / "questions-words.txt")
    pairs = [str(eval_dir / "wordsim353.tsv"), str(eval_dir / "simlex999.txt")]
    res = evaluate(wv, analogies=questions, word_pairs=pairs, restrict_vocab=1000)
    assert set(res) == {"analogy_accuracy", "analogy_total", "analogy_oov_ratio", "analogy_sections",
                        "wordsim353_spearman", "wordsim353_pearson", "wordsim353_oov_ratio",
                        "simlex999_spearman", "simlex999_pearson", "simlex999_oov_ratio", "oov_ratio"}
    analogies = evaluate_word_analogies(wv, questions, restrict_vocab=1000)
    ws = evaluate_word_pairs(wv, pairs[0])
    sl = evaluate_word_pairs(wv, pairs[1])
    assert res["analogy_accuracy"] == analogies["accuracy"] and res["analogy_total"] == analogies["total"]
    assert res["analogy_sections"] == analogies["sections"] and len(res["analogy_sections"]) == 14
    assert res["wordsim353_spearman"] == ws["spearman"] and res["simlex999_pearson"] == sl["pearson"]
    skipped = (analogies["questions"] - analogies["total"]) + ws["skipped"] + sl["skipped"]
    assert res["oov_ratio"] == pytest.approx(skipped / (analogies["questions"] + 353 + 999))
    assert evaluate(wv) == {"oov_ratio": 0.0}
    only_pairs = evaluate(wv, word_pairs=pairs[0])
    assert set(only_pairs) == {"wordsim353_spearman", "wordsim353_pearson", "wordsim353_oov_ratio", "oov_ratio"}
    with pytest.raises(W2VError, match="wordsim353"):
        evaluate(wv, word_pairs=[pairs[0], pairs[0]])


def test_metric_stem():
    assert metric_stem("wordsim353.tsv") == "wordsim353"
    assert metric_stem("s3://bucket/eval/SimLex-999.txt") == "simlex999"
    assert metric_stem("memory://x/MEN_3k.txt.gz") == "men3k"
    with pytest.raises(W2VError):
        metric_stem("-.txt")


def test_memory_url(trained, eval_dir):
    import fsspec

    _, wv = trained
    fs = fsspec.filesystem("memory")
    fs.pipe("/w2v-eval/ws.tsv", (eval_dir / "wordsim353.tsv").read_bytes())
    assert evaluate_word_pairs(wv, "memory://w2v-eval/ws.tsv") == evaluate_word_pairs(wv, str(eval_dir / "wordsim353.tsv"))
    fs.rm("/w2v-eval", recursive=True)


# ------------------------------------------------- WordVectors methods, gensim's shapes


@pytest.mark.parametrize("dummy4unknown", [False, True])
def test_wordvectors_evaluate_word_analogies_has_gensims_shape(trained, eval_dir, dummy4unknown):
    kv, wv = trained
    questions = str(eval_dir / "questions-words.txt")
    score, sections = wv.evaluate_word_analogies(questions, restrict_vocab=1000, dummy4unknown=dummy4unknown)
    g_score, g_sections = kv.evaluate_word_analogies(questions, restrict_vocab=1000, dummy4unknown=dummy4unknown)
    assert score == g_score
    assert [s["section"] for s in sections] == [s["section"] for s in g_sections]
    for ours, theirs in zip(sections, g_sections):
        assert ours["correct"] == theirs["correct"] and ours["incorrect"] == theirs["incorrect"], ours["section"]
    assert len(sections[-1]["correct"]) + len(sections[-1]["incorrect"]) > 100


def test_wordvectors_evaluate_word_analogies_cosmul(trained, eval_dir):
    _, wv = trained
    questions = str(eval_dir / "questions-words.txt")
    score, sections = wv.evaluate_word_analogies(questions, restrict_vocab=1000,
                                                 similarity_function="most_similar_cosmul")
    # each scored question answered as most_similar_cosmul answers it (case variants aside)
    for a, b, c, d in sections[-1]["correct"][:40] + sections[-1]["incorrect"][:40]:
        w = {x.upper(): x for x in reversed(wv.index_to_key[:1000])}
        top = wv.most_similar_cosmul(positive=[w[b], w[c]], negative=[w[a]], topn=1, restrict_vocab=1000)[0][0]
        assert (top.upper() == d) == ((a, b, c, d) in sections[-1]["correct"])
    assert score == len(sections[-1]["correct"]) / (len(sections[-1]["correct"]) + len(sections[-1]["incorrect"]))
    with pytest.raises(ValueError, match="similarity_function"):
        wv.evaluate_word_analogies(questions, similarity_function="nearest")


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
@pytest.mark.parametrize("dummy4unknown", [False, True])
def test_wordvectors_evaluate_word_pairs_has_gensims_shape(trained, eval_dir, name, dummy4unknown):
    kv, wv = trained
    (p, p_p), (s, s_p), oov = wv.evaluate_word_pairs(str(eval_dir / name), dummy4unknown=dummy4unknown)
    (gp, gp_p), (gs, gs_p), g_oov = kv.evaluate_word_pairs(str(eval_dir / name), dummy4unknown=dummy4unknown)
    assert p == pytest.approx(gp, abs=1e-12) and s == pytest.approx(gs, abs=1e-12)
    assert p_p == pytest.approx(gp_p, rel=1e-9) and s_p == pytest.approx(gs_p, rel=1e-9)
    assert oov == pytest.approx(g_oov, abs=1e-12) and 0 < oov < 100
