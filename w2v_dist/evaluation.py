"""Intrinsic evaluation of word vectors: word analogies and word-pair similarity.

* :func:`evaluate_word_analogies` scores the analogy questions of word2vec.c's
  ``questions-words.txt`` ("a is to b as c is to d") with 3CosAdd (Mikolov et al. 2013,
  "Efficient Estimation of Word Representations in Vector Space" and "Linguistic Regularities in
  Continuous Space Word Representations"); the results are those of gensim's
  ``KeyedVectors.evaluate_word_analogies``, computed in batched matrix products instead of one
  ``most_similar`` call per question.
* :func:`evaluate_word_analogies_cosmul` scores the same questions with 3CosMul (Levy & Goldberg
  2014, "Linguistic Regularities in Sparse and Explicit Word Representations").
* :func:`evaluate_word_pairs` correlates the cosine similarity of word pairs with human scores
  (WordSim-353, SimLex-999), as gensim's ``KeyedVectors.evaluate_word_pairs`` does.
* :func:`evaluate` runs all of them and returns the flat dict stored in ``metrics.json``.

Evaluation files are read through fsspec (local paths or URLs; ``.gz``/``.bz2``/``.xz`` are
decompressed).  A malformed line raises :class:`~w2v_dist.errors.W2VError` naming the file and the
line.  The functions accept a :class:`~w2v_dist.vectors.WordVectors` or any object with
``index_to_key`` (list of str, vocabulary order) and ``vectors`` (float32 [V, D]).

This module depends only on numpy, fsspec and the standard library.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Iterator, Sequence

import fsspec
import numpy as np
from fsspec.utils import infer_compression

from .errors import W2VError
from .vectors import WordVectors, _argsort_desc, _unitvec

__all__ = [
    "evaluate",
    "evaluate_word_analogies",
    "evaluate_word_analogies_cosmul",
    "evaluate_word_pairs",
    "metric_stem",
    "pearson",
    "rankdata",
    "spearman",
]

logger = logging.getLogger(__name__)

#: Upper bound on the float32 elements of one batch's score matrix (questions x candidates).
_BATCH_ELEMENTS = 1 << 25
#: Questions per batch at most.
_MAX_BATCH = 1024
#: gensim's ``evaluate_word_analogies`` asks ``most_similar`` for this many words per question.
_GENSIM_TOPN = 5


# ------------------------------------------------------------------------- reading


def _lines(url, storage_options: dict | None) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line without its newline) for every line of ``url``."""
    url = str(url)
    try:
        of = fsspec.open(url, "rb", compression="infer", **(storage_options or {}))
        f = of.open()
    except FileNotFoundError:
        raise W2VError(f"{url}: no such file") from None
    except (OSError, ValueError, ImportError) as exc:
        raise W2VError(f"{url}: cannot open: {' '.join(str(exc).split())}") from None
    with f:
        line_no = 0
        try:
            for raw in f:
                line_no += 1
                try:
                    yield line_no, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise W2VError(f"{url}: line {line_no}: not valid UTF-8") from None
        except (OSError, EOFError) as exc:
            raise W2VError(f"{url}: line {line_no + 1}: cannot read: {' '.join(str(exc).split())}") from None


def _vocab_view(wv, restrict_vocab: int | None, case_insensitive: bool):
    """gensim's ``ok_vocab`` for the first ``restrict_vocab`` words.

    Returns ``(ok_vocab, canon, n)``: ``ok_vocab`` maps each (upper-cased if ``case_insensitive``)
    word to the row of its first occurrence, ``canon[i]`` (int64 [n]) is ``ok_vocab`` of row ``i``'s
    word, ``n`` the number of rows used.
    """
    keys = wv.index_to_key[:restrict_vocab] if restrict_vocab is not None else wv.index_to_key
    ok_vocab: dict[str, int] = {}
    canon = np.empty(len(keys), dtype=np.int64)
    for i, k in enumerate(keys):
        canon[i] = ok_vocab.setdefault(k.upper() if case_insensitive else k, i)
    return ok_vocab, canon, len(keys)


class _Analogies:
    """The questions of an analogy file, mapped onto the restricted vocabulary."""

    def __init__(self, wv, url, restrict_vocab, case_insensitive, storage_options):
        ok_vocab, self.canon, self.n_vocab = _vocab_view(wv, restrict_vocab, case_insensitive)
        self.sections: list[str] = []
        self.questions = 0  # every well-formed question line
        rows = []           # (section, a, b, c, expected) of questions with all 4 words in vocabulary
        # every question in file order: (section, words as compared, row in the scored arrays or -1)
        self.lines: list[tuple[int, tuple[str, ...], int]] = []
        for line_no, line in _lines(url, storage_options):
            if line.startswith(": "):
                self.sections.append(line.lstrip(": ").strip())
                continue
            words = line.split()
            if not words:
                continue
            if not self.sections:
                raise W2VError(f"{url}: line {line_no}: question before the first ': section' header")
            if len(words) != 4:
                raise W2VError(f"{url}: line {line_no}: expected 4 words (a b c d), found {len(words)}")
            if case_insensitive:
                words = [w.upper() for w in words]
            self.questions += 1
            idx = [ok_vocab.get(w, -1) for w in words]
            self.lines.append((len(self.sections) - 1, tuple(words), len(rows) if min(idx) >= 0 else -1))
            if min(idx) >= 0:
                rows.append((len(self.sections) - 1, *idx))
        q = np.array(rows, dtype=np.int64).reshape(-1, 5)
        self.section, self.a, self.b, self.c, self.expected = (q[:, j] for j in range(5))
        self.scored = len(rows)

    def result(self, correct: np.ndarray) -> dict:
        n_sections = len(self.sections)
        per_correct = np.bincount(self.section, weights=correct, minlength=n_sections).astype(np.int64)
        per_total = np.bincount(self.section, minlength=n_sections).astype(np.int64)
        sections = [{"section": name, "correct": int(c), "total": int(t), "accuracy": c / t if t else 0.0}
                    for name, c, t in zip(self.sections, per_correct.tolist(), per_total.tolist())]
        n_correct = int(correct.sum())
        return {
            "accuracy": n_correct / self.scored if self.scored else 0.0,
            "correct": n_correct,
            "total": self.scored,
            "questions": self.questions,
            "oov_ratio": (self.questions - self.scored) / self.questions if self.questions else 0.0,
            "sections": sections,
        }

    def gensim_sections(self, correct: np.ndarray, dummy4unknown: bool = False) -> tuple[float, list[dict]]:
        """The result in the shape of gensim's ``evaluate_word_analogies``: ``(score, sections)``.

        ``sections`` is one dict ``{"section": str, "correct": [(a, b, c, d), ...], "incorrect":
        [...]}`` per section in file order, then ``{"section": "Total accuracy", ...}``; the words
        are as compared (upper-cased when case-insensitive).  With ``dummy4unknown`` a question
        with an unknown word counts as incorrect instead of being skipped.  ``score`` is correct /
        (correct + incorrect) of the total, 0.0 when there is nothing to score.
        """
        out = [{"section": name, "correct": [], "incorrect": []} for name in self.sections]
        for section, words, row in self.lines:
            if row >= 0:
                out[section]["correct" if correct[row] else "incorrect"].append(words)
            elif dummy4unknown:
                out[section]["incorrect"].append(words)
        total = {"section": "Total accuracy",
                 "correct": [q for s in out for q in s["correct"]],
                 "incorrect": [q for s in out for q in s["incorrect"]]}
        n = len(total["correct"]) + len(total["incorrect"])
        return (len(total["correct"]) / n if n else 0.0), out + [total]


def _batches(n_questions: int, n_vocab: int, copies: int = 1):
    size = max(1, min(_MAX_BATCH, _BATCH_ELEMENTS // max(1, n_vocab * copies)))
    for start in range(0, n_questions, size):
        yield slice(start, min(start + size, n_questions))


def _candidates(wv, n_vocab: int):
    """Float32 vectors [V, D], their float32 L2 norms [V] (as gensim computes them) and the first
    ``n_vocab`` rows scaled to unit length [n_vocab, D] (zero rows stay zero)."""
    if isinstance(wv, WordVectors):
        return wv.vectors, wv.vector_norms(), wv.get_normed_vectors()[:n_vocab]
    vectors = np.ascontiguousarray(wv.vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    safe = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)
    return vectors, norms, vectors[:n_vocab] / safe[:n_vocab, None]


def _top2(scores: np.ndarray, rows: np.ndarray):
    """Best column, its score and the runner-up score of every row of ``scores``."""
    best = scores.argmax(axis=1)
    top = scores[rows, best]
    scores[rows, best] = -np.inf
    second = scores.max(axis=1)
    scores[rows, best] = top
    return best, top, second


def _decide(ranked, canon, a, b, c):
    """gensim's choice among the words ``most_similar`` returned for one question.

    ``ranked`` are candidate rows best first (input rows already removed), at most 5 of them.  The
    answer is the first whose word (upper-cased when case-insensitive) is not one of the question
    words; if all are, the last one; if there are none, None.
    """
    predicted = None
    for i in ranked:
        predicted = canon[i]
        if predicted not in (a, b, c):
            break
    return predicted


def _gensim_3cosadd(vectors, norms, canon, n_vocab, a, b, c):
    """The word gensim predicts for one question, recomputed operation by operation as gensim does.

    ``KeyedVectors.evaluate_word_analogies`` -> ``most_similar(positive=[b, c], negative=[a], topn=5,
    restrict_vocab=n)``: float32 unit vectors, float32 sum, float64 mean, unit length, float32
    BLAS dot product with the candidate rows, gensim's partial argsort; then :func:`_decide`.
    Returns the canonical row of the predicted word (or None).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.zeros(vectors.shape[1], dtype=np.float32)
        for weight, i in ((1.0, b), (1.0, c), (-1.0, a)):
            mean += np.float64(weight) * (vectors[i] / norms[i])
        mean = _unitvec(mean / np.float64(3.0))
        dists = np.dot(vectors[:n_vocab], mean) / norms[:n_vocab]
    best = _argsort_desc(dists, _GENSIM_TOPN + 3)
    ranked = [i for i in best.tolist() if i not in (b, c, a)][:_GENSIM_TOPN]
    return _decide(ranked, canon, a, b, c)


def _score_batches(task: "_Analogies", score_fn, fallback, copies: int = 1) -> np.ndarray:
    """Correct (bool [scored]) for every scored question.

    ``score_fn(sl, out)`` writes the float32 scores of the questions ``sl`` into ``out`` (float32
    [B, n_vocab]) and returns it.  The input words are excluded, the best and runner-up candidates
    found, and a question is settled from them when the best candidate is not a case variant of a
    question word and ``fallback.clear`` accepts the margin; otherwise ``fallback.exact(k,
    row_scores)`` decides it.
    """
    correct = np.zeros(task.scored, dtype=bool)
    canon = task.canon
    buffer = None  # reused: a fresh 100 MB array per batch costs more in page faults than the product
    for sl in _batches(task.scored, task.n_vocab, copies):
        qa, qb, qc, qe = task.a[sl], task.b[sl], task.c[sl], task.expected[sl]
        if buffer is None:
            buffer = np.empty((sl.stop - sl.start, task.n_vocab), dtype=np.float32)
        scores = score_fn(sl, buffer[:sl.stop - sl.start])
        rows = np.arange(scores.shape[0])
        for q in (qa, qb, qc):
            scores[rows, q] = -np.inf
        best, top, second = _top2(scores, rows)
        pick = canon[best]
        settled = (pick != qa) & (pick != qb) & (pick != qc) & fallback.clear(top, second, sl)
        correct[sl] = settled & (pick == qe)
        for j in np.flatnonzero(~settled).tolist():
            k = sl.start + j
            predicted = fallback.exact(k, scores[j])
            correct[k] = predicted is not None and predicted == task.expected[k]
    return correct


class _AddFallback:
    """When a batched 3CosAdd ranking could differ from gensim's, and gensim's own computation.

    The batched scores differ from gensim's by float32 rounding only.  Both are float32 dot
    products of D terms of two (near) unit vectors, so each is within ``gamma_D + 8u`` of the exact
    cosine (``gamma_D = D u / (1 - D u)``, ``u = 2**-24``; Higham 2002, "Accuracy and Stability of
    Numerical Algorithms", section 3.1, for any summation order), and the two within
    ``delta = 2 gamma_D + 16u`` of each other.  A question whose best candidate leads the
    runner-up by more than ``2 delta`` has the same best candidate in gensim's ranking; the others
    (near or exact ties, NaN or zero vectors) are recomputed exactly as gensim does.  In practice
    about 0.1% of the questions of random 100-dimensional vectors are recomputed.
    """

    def __init__(self, task, vectors, norms, q_ok):
        self.task, self.vectors, self.norms, self.q_ok = task, vectors, norms, q_ok
        u = 2.0 ** -24
        d = vectors.shape[1]
        gamma = d * u / (1.0 - d * u)
        self.eps = 4.0 * gamma + 32.0 * u
        self.recomputed = 0

    def clear(self, top, second, sl):
        return np.isfinite(top) & (top - second > self.eps) & self.q_ok[sl]

    def exact(self, k, row_scores):
        self.recomputed += 1
        t = self.task
        return _gensim_3cosadd(self.vectors, self.norms, t.canon, t.n_vocab,
                               int(t.a[k]), int(t.b[k]), int(t.c[k]))


def evaluate_word_analogies(wv, analogies, restrict_vocab: int | None = 30000, case_insensitive: bool = True,
                            storage_options: dict | None = None) -> dict:
    """Accuracy on analogy questions "a is to b as c is to d" with 3CosAdd, exactly as gensim.

    Each question is answered by the word whose vector has the largest cosine with
    ``unit(b) - unit(a) + unit(c)`` (3CosAdd, the vector-offset method of Mikolov et al. 2013,
    "Linguistic Regularities in Continuous Space Word Representations"), among the first
    ``restrict_vocab`` words (vocabulary order) other than a, b and c.  The semantics are those of
    gensim's ``KeyedVectors.evaluate_word_analogies`` (word2vec.c's ``compute-accuracy``):

    * a line ``": name"`` starts a section; every other non-blank line is a question of 4 words;
    * a question with a word outside the first ``restrict_vocab`` words is skipped (counted in
      ``oov_ratio``, not in ``total``);
    * with ``case_insensitive``, question and vocabulary words are compared upper-cased and each
      upper-cased word stands for its first (most frequent) variant in the vocabulary; a predicted
      word that is a case variant of a question word is passed over as gensim does (among gensim's
      top 5).

    The questions are scored in batches of up to 1024 with one float32 matrix product each; the
    rare question whose two best candidates are within float32 rounding of each other is
    recomputed exactly as gensim computes it, so the counts equal gensim's.

    Parameters
    ----------
    wv : WordVectors
        Or any object with ``index_to_key`` and float32 ``vectors`` [V, D].
    analogies : str
        Path or fsspec URL of the question file (word2vec.c's ``questions-words.txt`` format).
    restrict_vocab : int or None
        Number of leading vocabulary words used as answers and accepted in questions
        (None: all).  Default 30000, as word2vec.c's ``compute-accuracy`` (gensim's default is 300000).
    case_insensitive : bool
        Compare upper-cased words, as gensim.
    storage_options : dict, optional
        Passed to fsspec.

    Returns
    -------
    dict
        ``accuracy`` (float, correct / total, 0.0 if total is 0), ``correct`` (int), ``total`` (int,
        questions scored), ``questions`` (int, every question in the file), ``oov_ratio`` (float,
        skipped / questions, as a fraction) and ``sections``: a list of dicts ``{"section": str,
        "correct": int, "total": int, "accuracy": float}`` in file order.

    Raises
    ------
    W2VError
        If the file cannot be read, a question comes before the first section header, or a
        question line does not have 4 words; the message names the file and line.
    """
    task, correct = _answer_3cosadd(wv, analogies, restrict_vocab, case_insensitive, storage_options)
    res = task.result(correct)
    logger.info("analogies %s: %.1f%% (%d/%d), %.1f%% of %d questions out of vocabulary", analogies,
                100 * res["accuracy"], res["correct"], res["total"], 100 * res["oov_ratio"], res["questions"])
    return res


def _answer_3cosadd(wv, analogies, restrict_vocab, case_insensitive, storage_options):
    """The questions of ``analogies`` and, per scored question, whether 3CosAdd answers it (bool [n])."""
    task = _Analogies(wv, analogies, restrict_vocab, case_insensitive, storage_options)
    vectors, norms, unit = _candidates(wv, task.n_vocab)
    if task.scored:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            qn = [vectors[q] / norms[q][:, None] for q in (task.a, task.b, task.c)]  # gensim: float32 division
            summed = (qn[1] + qn[2]) - qn[0]
            mean = summed.astype(np.float64) / 3.0
            length = np.sqrt(np.einsum("ij,ij->i", mean, mean))
            mean = np.where((length > 0)[:, None], mean * (1.0 / length)[:, None], mean).astype(np.float32)
        q_ok = np.isfinite(mean).all(axis=1) & (norms[task.a] > 0) & (norms[task.b] > 0) & (norms[task.c] > 0)
        zero_cols = np.flatnonzero(norms[:task.n_vocab] == 0)

        def scores(sl, out):
            np.matmul(mean[sl], unit.T, out=out)
            if zero_cols.size:
                out[:, zero_cols] = -np.inf  # gensim: 0/0 = NaN, ranked last
            return out

        fallback = _AddFallback(task, vectors, norms, q_ok)
        correct = _score_batches(task, scores, fallback)
        logger.debug("%s: %d of %d questions recomputed exactly (near ties)", analogies,
                     fallback.recomputed, task.scored)
    else:
        correct = np.zeros(0, dtype=bool)
    return task, correct


class _OwnRanking:
    """3CosMul has no reference implementation to match: a question whose best candidate is a case
    variant of a question word is settled by gensim's rule on our own scores."""

    def __init__(self, task):
        self.task = task

    def clear(self, top, second, sl):
        return np.isfinite(top)

    def exact(self, k, row_scores):
        t = self.task
        a, b, c = int(t.a[k]), int(t.b[k]), int(t.c[k])
        best = _argsort_desc(row_scores, _GENSIM_TOPN + 3)
        ranked = [i for i in best.tolist() if i not in (a, b, c) and np.isfinite(row_scores[i])]
        return _decide(ranked[:_GENSIM_TOPN], t.canon, a, b, c)


def evaluate_word_analogies_cosmul(wv, analogies, restrict_vocab: int | None = 30000, case_insensitive: bool = True,
                                   storage_options: dict | None = None, epsilon: float = 1e-3) -> dict:
    """Accuracy on analogy questions with 3CosMul (Levy & Goldberg 2014).

    Question "a is to b as c is to d" is answered by the word x among the first ``restrict_vocab``
    words, other than a, b and c, maximising ``cos'(x, b) * cos'(x, c) / (cos'(x, a) + epsilon)``
    with ``cos' = (1 + cos) / 2`` in [0, 1] (Levy & Goldberg 2014, "Linguistic Regularities in
    Sparse and Explicit Word Representations", CoNLL, eq. 4, with cosines shifted to [0, 1] as in
    their footnote 7; gensim's ``most_similar_cosmul`` computes the same with ``epsilon=1e-6`` and
    without ``restrict_vocab``).  File format, skipping, case handling and the
    returned dict are those of :func:`evaluate_word_analogies`; scores are float32.

    Parameters
    ----------
    wv, analogies, restrict_vocab, case_insensitive, storage_options
        As in :func:`evaluate_word_analogies`.
    epsilon : float
        Added to the denominator against division by zero; 1e-3 as in the paper.

    Returns
    -------
    dict
        Same keys as :func:`evaluate_word_analogies`.

    Raises
    ------
    W2VError
        As :func:`evaluate_word_analogies`.
    """
    task, correct = _answer_3cosmul(wv, analogies, restrict_vocab, case_insensitive, storage_options, epsilon)
    res = task.result(correct)
    logger.info("analogies (3CosMul) %s: %.1f%% (%d/%d)", analogies, 100 * res["accuracy"], res["correct"],
                res["total"])
    return res


def _answer_3cosmul(wv, analogies, restrict_vocab, case_insensitive, storage_options, epsilon):
    """The questions of ``analogies`` and, per scored question, whether 3CosMul answers it (bool [n])."""
    task = _Analogies(wv, analogies, restrict_vocab, case_insensitive, storage_options)
    vectors, norms, unit = _candidates(wv, task.n_vocab)
    if task.scored:
        safe = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)
        qn = [vectors[q] / safe[q][:, None] for q in (task.a, task.b, task.c)]
        one, half, eps = np.float32(1.0), np.float32(0.5), np.float32(epsilon)
        zero_cols = np.flatnonzero(norms[:task.n_vocab] == 0)

        extra: list[np.ndarray] = []

        def scores(sl, out):
            if not extra or extra[0].shape != out.shape:
                extra[:] = [np.empty_like(out), np.empty_like(out)]
            ca, cc = extra
            np.matmul(qn[1][sl], unit.T, out=out)
            np.matmul(qn[2][sl], unit.T, out=cc)
            np.matmul(qn[0][sl], unit.T, out=ca)
            for m in (out, cc, ca):
                m += one
                m *= half
            out *= cc
            ca += eps
            out /= ca
            if zero_cols.size:
                out[:, zero_cols] = -np.inf
            return out

        correct = _score_batches(task, scores, _OwnRanking(task), copies=3)
    else:
        correct = np.zeros(0, dtype=bool)
    return task, correct


# ---------------------------------------------------------------------- word pairs


def rankdata(x) -> np.ndarray:
    """Ranks 1..n of the values of ``x`` (float64 [n]), ties getting the average of their ranks.

    Same as ``scipy.stats.rankdata(x, method="average")``.
    """
    x = np.asarray(x).ravel()
    n = x.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.arange(n, dtype=np.intp)
    xs = x[order]
    new_value = np.r_[True, xs[1:] != xs[:-1]]
    dense = np.cumsum(new_value)[inverse]           # 1-based id of each value's tie group
    bounds = np.r_[np.flatnonzero(new_value), n]    # group g spans sorted positions bounds[g-1]..bounds[g]-1
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1).astype(np.float64)


def pearson(x, y) -> float:
    """Pearson correlation coefficient of two equally long sequences, in [-1, 1].

    Computed in float64 as ``scipy.stats.pearsonr`` does (centred, scaled by the largest deviation
    against overflow, normalised, dot product, clipped to [-1, 1]).

    Returns
    -------
    float
        NaN if there are fewer than 2 values or either sequence is constant.

    Raises
    ------
    ValueError
        If the lengths differ.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"pearson: x has {x.size} values, y has {y.size}")
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    xm = x - x.mean()
    ym = y - y.mean()
    xmax = np.max(np.abs(xm))
    ymax = np.max(np.abs(ym))
    with np.errstate(invalid="ignore", divide="ignore"):
        normx = xmax * np.linalg.norm(xm / xmax)
        normy = ymax * np.linalg.norm(ym / ymax)
        r = np.dot(xm / normx, ym / normy)
    return float(np.clip(r, -1.0, 1.0))


def spearman(x, y) -> float:
    """Spearman rank correlation: the Pearson correlation of the average ranks (:func:`rankdata`).

    Equals ``scipy.stats.spearmanr(x, y).statistic`` (ties get averaged ranks).  NaN if there are
    fewer than 2 values, either sequence is constant, or a value is NaN.

    Raises
    ------
    ValueError
        If the lengths differ.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"spearman: x has {x.size} values, y has {y.size}")
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return pearson(rankdata(x), rankdata(y))


def evaluate_word_pairs(wv, pairs, delimiter: str | None = "\t", restrict_vocab: int | None = 300000,
                        case_insensitive: bool = True, storage_options: dict | None = None,
                        dummy4unknown: bool = False) -> dict:
    """Correlation of the model's cosine similarities with human similarity scores, as gensim.

    Semantics of gensim's ``KeyedVectors.evaluate_word_pairs``: each line is ``word1 word2
    score`` separated by ``delimiter``; lines starting with ``#`` (and blank lines) are ignored;
    a pair with a word outside the first ``restrict_vocab`` words is skipped and counted; with
    ``case_insensitive`` words are compared upper-cased, each standing for its first (most
    frequent) variant.  The model similarity is the cosine of the two vectors, computed exactly as
    gensim does, so the results equal gensim's.

    Parameters
    ----------
    wv : WordVectors
        Or any object with ``index_to_key`` and float32 ``vectors`` [V, D].
    pairs : str
        Path or fsspec URL (e.g. WordSim-353 ``wordsim353.tsv``, SimLex-999 ``simlex999.txt``).
    delimiter : str or None
        Field separator (None: any whitespace).
    restrict_vocab : int or None
        Number of leading vocabulary words considered (None: all).
    case_insensitive : bool
        Compare upper-cased words.
    storage_options : dict, optional
        Passed to fsspec.
    dummy4unknown : bool
        As gensim: a pair with an unknown word is kept with model similarity 0.0 instead of being
        skipped (it still counts in ``skipped``).

    Returns
    -------
    dict
        ``spearman`` and ``pearson`` (float, NaN when fewer than 2 pairs are usable or the
        similarities are constant), ``spearman_pvalue`` and ``pearson_pvalue`` (two-sided, from
        ``scipy.stats`` as gensim reports them; NaN when scipy is not installed), ``oov_ratio``
        (float, skipped / (used + skipped), a fraction in [0, 1]; gensim reports the same as a
        percentage; with ``dummy4unknown`` skipped / used), ``pairs`` (int, pairs used) and
        ``skipped`` (int, pairs with an unknown word).

    Raises
    ------
    W2VError
        If the file cannot be read, or a line does not have 3 fields or its score is not a number;
        the message names the file and line.
    """
    ok_vocab, _, _ = _vocab_view(wv, restrict_vocab, case_insensitive)
    vectors = wv.vectors
    gold, model = [], []
    skipped = 0
    unit_cache: dict[int, np.ndarray] = {}

    def unit(i):
        if i not in unit_cache:
            unit_cache[i] = _unitvec(vectors[i])
        return unit_cache[i]

    for line_no, line in _lines(pairs, storage_options):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split(delimiter)
        if len(fields) != 3:
            raise W2VError(f"{pairs}: line {line_no}: expected 3 fields (word1, word2, score) separated by "
                           f"{delimiter!r}, found {len(fields)}")
        a, b, score = fields
        try:
            score = float(score)
        except ValueError:
            raise W2VError(f"{pairs}: line {line_no}: score {score.strip()[:30]!r} is not a number") from None
        if case_insensitive:
            a, b = a.upper(), b.upper()
        ia, ib = ok_vocab.get(a), ok_vocab.get(b)
        if ia is None or ib is None:
            skipped += 1
            if dummy4unknown:
                gold.append(score)
                model.append(0.0)
            continue
        gold.append(score)
        model.append(float(np.dot(unit(ia), unit(ib))))  # gensim: KeyedVectors.similarity
    used = len(gold)
    res = {
        "spearman": spearman(gold, model),
        "pearson": pearson(gold, model),
        "spearman_pvalue": float("nan"),
        "pearson_pvalue": float("nan"),
        "oov_ratio": (skipped / used if used else 0.0) if dummy4unknown else
                     (skipped / (used + skipped) if used + skipped else 0.0),
        "pairs": used,
        "skipped": skipped,
    }
    res["pearson_pvalue"], res["spearman_pvalue"] = _pvalues(gold, model, res["pearson"], res["spearman"])
    logger.info("word pairs %s: Spearman %.4f, Pearson %.4f, %d pairs, %.1f%% out of vocabulary", pairs,
                res["spearman"], res["pearson"], used, 100 * res["oov_ratio"])
    return res


def _pvalues(gold, model, r_pearson: float, r_spearman: float) -> tuple[float, float]:
    """Two-sided p-values of the Pearson and Spearman coefficients, from ``scipy.stats`` (gensim's
    source of them); NaN when scipy is missing or a coefficient is undefined."""
    if not (np.isfinite(r_pearson) and np.isfinite(r_spearman)):
        return float("nan"), float("nan")
    try:
        from scipy import stats
    except ImportError:
        return float("nan"), float("nan")
    return float(stats.pearsonr(gold, model)[1]), float(stats.spearmanr(gold, model)[1])


# ------------------------------------------------------------------------- summary


def metric_stem(url) -> str:
    """Metric-name prefix of an evaluation file: its name lower-cased, without extension (and
    compression suffix), non-alphanumerics removed (``SimLex-999.txt`` -> ``simlex999``).

    Raises
    ------
    W2VError
        If nothing is left.
    """
    name = posixpath.basename(str(url).replace("\\", "/").rstrip("/"))
    if infer_compression(name):
        name = name.rsplit(".", 1)[0]
    if "." in name.lstrip("."):
        name = name.rsplit(".", 1)[0]
    stem = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())
    if not stem:
        raise W2VError(f"{url}: cannot name metrics after this file (no letters or digits in its name)")
    return stem


def evaluate(wv, analogies=None, word_pairs: Sequence[str] | str | None = (), restrict_vocab: int | None = 30000,
             storage_options: dict | None = None, pairs_restrict_vocab: int | None = 300000) -> dict:
    """All evaluations, as the flat dict stored under ``"evaluation"`` in ``metrics.json``.

    Parameters
    ----------
    wv : WordVectors
    analogies : str, optional
        Analogy question file, scored by :func:`evaluate_word_analogies` (3CosAdd).
    word_pairs : str or sequence of str
        Word-pair files, each scored by :func:`evaluate_word_pairs`.
    restrict_vocab : int or None
        Vocabulary used for the analogies (word2vec.c's and this project's convention: 30000).
    storage_options : dict, optional
        Passed to fsspec.
    pairs_restrict_vocab : int or None
        Vocabulary used for the word pairs (gensim's default, 300000).

    Returns
    -------
    dict
        With ``analogies``: ``analogy_accuracy`` (float), ``analogy_total`` (int, questions
        scored), ``analogy_oov_ratio`` (float) and ``analogy_sections`` (the per-section list of
        :func:`evaluate_word_analogies`: ``section``, ``correct``, ``total``, ``accuracy``).  For each word-pairs file with stem ``s`` (see
        :func:`metric_stem`, e.g. ``wordsim353.tsv`` -> ``wordsim353``): ``s_spearman``,
        ``s_pearson`` (float, NaN if undefined) and ``s_oov_ratio``.  Always ``oov_ratio``: the
        fraction of all evaluation items (analogy questions plus word pairs) skipped for unknown
        words (0.0 when there are none).

    Raises
    ------
    W2VError
        If a file is unreadable or malformed, or two word-pairs files have the same stem.
    """
    out: dict = {}
    items = skipped = 0
    if analogies:
        r = evaluate_word_analogies(wv, analogies, restrict_vocab=restrict_vocab, storage_options=storage_options)
        out["analogy_accuracy"] = r["accuracy"]
        out["analogy_total"] = r["total"]
        out["analogy_oov_ratio"] = r["oov_ratio"]
        out["analogy_sections"] = r["sections"]
        items += r["questions"]
        skipped += r["questions"] - r["total"]
    if isinstance(word_pairs, str):
        word_pairs = [word_pairs]
    seen: dict[str, str] = {}
    for url in word_pairs or ():
        stem = metric_stem(url)
        if stem in seen:
            raise W2VError(f"{url}: word-pairs metrics would be named '{stem}_...' like those of {seen[stem]}")
        seen[stem] = str(url)
        r = evaluate_word_pairs(wv, url, restrict_vocab=pairs_restrict_vocab, storage_options=storage_options)
        out[f"{stem}_spearman"] = r["spearman"]
        out[f"{stem}_pearson"] = r["pearson"]
        out[f"{stem}_oov_ratio"] = r["oov_ratio"]
        items += r["pairs"] + r["skipped"]
        skipped += r["skipped"]
    out["oov_ratio"] = skipped / items if items else 0.0
    return out
