"""Trained word vectors: lookup, cosine similarity and the word2vec.c file formats.

:class:`WordVectors` holds a vocabulary (``index_to_key``, in vocabulary order, normally by
descending frequency) and a float32 matrix of one row per word.  It answers the queries gensim's
``KeyedVectors`` answers (``most_similar``, ``most_similar_cosmul``, ``similarity``,
``doesnt_match``, ``evaluate_word_analogies``, ``evaluate_word_pairs``) with the same results, and
reads and writes:

* word2vec.c text: a header ``"V D\\n"`` then one line per word, ``"word v1 v2 ... vD\\n"``;
* word2vec.c binary: the same header, then per word ``b"word "`` + D little-endian float32 + ``b"\\n"``;
* the native format, a folder with ``vectors.npy`` (float32 [V, D]), ``vocab.parquet`` and
  ``vectors.json`` (metadata), memory-mapped on load (:meth:`WordVectors.save`, :meth:`WordVectors.load`);
* Parquet with one row per word, ``word`` and ``vector`` (list<float32>), for Dask and Spark.

Files go through fsspec, so any fsspec URL works (local paths, ``memory://``, ``s3://`` ...), and a
``.gz``/``.bz2``/``.xz`` suffix is (de)compressed on the fly.  The readers treat every file as
hostile: the header is checked against the file size before anything is allocated, every row is
checked, and a bad file raises :class:`~w2v_dist.errors.W2VError` with a one-line message naming
the file and the line (text) or row (binary).  Nothing is ever unpickled.

This module depends only on numpy, pyarrow, fsspec and the standard library.
"""

from __future__ import annotations

import json
import logging
import lzma
import math
import posixpath
import uuid
import zlib
from numbers import Integral
from typing import Sequence

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fsspec.utils import infer_compression

from .errors import W2VError

__all__ = ["WordVectors", "combine_vectors", "load_vectors", "EXPORTS"]

logger = logging.getLogger(__name__)

#: Largest vector size a file header may declare.
MAX_VECTOR_SIZE = 1 << 20
#: Longest word, in bytes, the readers accept (word2vec.c itself truncates words at 100 bytes).
MAX_WORD_BYTES = 1 << 16
#: Longest header line, in bytes.
_MAX_HEADER_BYTES = 256
#: Read size of the file readers.
_CHUNK_BYTES = 1 << 22
#: Rows per allocation block when the row count cannot be checked against the file size.
_BLOCK_BYTES = 1 << 24
#: Values formatted per block when writing text.
_TEXT_BLOCK_VALUES = 1 << 22


def _unitvec(vec: np.ndarray) -> np.ndarray:
    """``vec`` scaled to unit L2 length exactly as ``gensim.matutils.unitvec`` does it.

    gensim takes the norm with BLAS ``dnrm2`` on the float64 copy and scales with ``dscal`` by the
    reciprocal; ``math.hypot`` gives the same correctly rounded norm.  A zero (or non-finite-norm)
    vector is returned unchanged.  Returns float32 [D].
    """
    v64 = np.asarray(vec, dtype=np.float64)
    length = math.hypot(*v64.tolist()) if v64.size else 0.0
    if length > 0.0:
        return (v64 * (1.0 / length)).astype(np.float32)
    return np.asarray(vec, dtype=np.float32)


def _argsort_desc(x: np.ndarray, topn: int) -> np.ndarray:
    """Indices of the ``topn`` largest values of ``x``, largest first (``gensim.matutils.argsort``).

    Same numpy calls as gensim, so ties and NaNs come out in the same order.
    """
    if topn <= 0:
        return np.empty(0, dtype=np.intp)
    x = -x
    if topn >= x.size:
        return np.argsort(x)[:topn]
    most_extreme = np.argpartition(x, topn)[:topn]
    return most_extreme.take(np.argsort(x.take(most_extreme)))


class WordVectors:
    """A vocabulary with one float32 vector per word, in vocabulary order.

    Parameters
    ----------
    words : sequence of str, length V
        The words, unique, in vocabulary order (row ``i`` of ``vectors`` belongs to ``words[i]``).
        Queries with ``restrict_vocab=n`` use the first ``n`` words, so the order should be by
        descending frequency, as word2vec.c and gensim write it.
    vectors : array-like [V, D]
        The vectors; stored as a C-contiguous float32 array (copied only when needed).
    counts : array-like [V] of int, optional
        Corpus frequency of each word, stored as int64; ``None`` when unknown (e.g. after
        :meth:`load_word2vec_format`, whose formats carry no counts).

    Attributes
    ----------
    index_to_key : list of str
        The words, in vocabulary order.
    key_to_index : dict of str to int
        Row of each word.
    vectors : numpy.ndarray, float32 [V, D]
    counts : numpy.ndarray, int64 [V], or None
    vector_size : int
        D.
    metadata : dict
        Free-form facts about the vectors (``vectors.json`` after :meth:`load`; empty otherwise).

    Raises
    ------
    ValueError
        If a word is not a str, a word repeats, ``vectors`` is not 2-D with V rows, or ``counts``
        does not have V entries.

    Notes
    -----
    The normalised vectors and the norms are computed on first use and cached: after changing
    ``vectors`` in place, call :meth:`clear_cache`.
    """

    def __init__(self, words: Sequence[str], vectors, counts=None):
        words = list(words)
        key_to_index: dict[str, int] = {}
        for i, w in enumerate(words):
            if not isinstance(w, str):
                raise ValueError(f"word #{i} is a {type(w).__name__}, not a str")
            if key_to_index.setdefault(w, i) != i:
                raise ValueError(f"word {w!r} appears twice (rows {key_to_index[w]} and {i})")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"vectors must have shape ({len(words)}, D); got {vectors.shape}")
        if counts is not None:
            counts = np.asarray(counts, dtype=np.int64)
            if counts.shape != (len(words),):
                raise ValueError(f"counts must have shape ({len(words)},); got {counts.shape}")
        self.index_to_key: list[str] = words
        self.key_to_index: dict[str, int] = key_to_index
        self.vectors: np.ndarray = vectors
        self.counts: np.ndarray | None = counts
        self.vector_size: int = int(vectors.shape[1])
        self._norms: np.ndarray | None = None
        self._normed: np.ndarray | None = None
        self.metadata: dict = {}

    # ------------------------------------------------------------------ lookup

    def __len__(self) -> int:
        """Number of words, V."""
        return len(self.index_to_key)

    def __contains__(self, word) -> bool:
        """Whether ``word`` is in the vocabulary."""
        return word in self.key_to_index

    def __repr__(self) -> str:
        return f"WordVectors(V={len(self)}, D={self.vector_size})"

    def _index(self, word: str) -> int:
        try:
            return self.key_to_index[word]
        except (KeyError, TypeError):
            raise KeyError(f"word {word!r} not in vocabulary") from None

    def __getitem__(self, words):
        """Vector of one word (float32 [D], a view) or of a list of words (float32 [n, D], a copy).

        Raises
        ------
        KeyError
            If a word is not in the vocabulary; the message names it.
        TypeError
            If ``words`` is neither a str nor a list/tuple of str.
        """
        if isinstance(words, str):
            return self.vectors[self._index(words)]
        if isinstance(words, (list, tuple)):
            return self.vectors[np.array([self._index(w) for w in words], dtype=np.intp)]
        raise TypeError(f"WordVectors keys are str or lists of str, not {type(words).__name__}")

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        """Vector of ``word``: float32 [D]; with ``norm=True`` scaled to unit L2 length.

        A zero vector stays zero when normalised (gensim would return NaNs).

        Raises
        ------
        KeyError
            If ``word`` is not in the vocabulary.
        """
        i = self._index(word)
        if norm:
            return self.get_normed_vectors()[i]
        return self.vectors[i]

    def vector_norms(self) -> np.ndarray:
        """L2 norm of every row, float32 [V], computed as gensim does (``np.linalg.norm(axis=1)``); cached."""
        if self._norms is None:
            self._norms = np.linalg.norm(self.vectors, axis=1)
        return self._norms

    def get_normed_vectors(self) -> np.ndarray:
        """All vectors scaled to unit L2 length: float32 [V, D], cached (do not modify it).

        Row ``i`` is ``vectors[i] / ||vectors[i]||`` (float32 division, as gensim); zero rows stay zero.
        """
        if self._normed is None:
            norms = self.vector_norms()
            safe = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)
            self._normed = self.vectors / safe[:, None]
        return self._normed

    def clear_cache(self) -> None:
        """Forget the cached norms and normalised vectors (call after modifying ``vectors`` in place)."""
        self._norms = None
        self._normed = None

    # ------------------------------------------------------------- similarity

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words, in [-1, 1] (0.0 when either vector is zero).

        Computed as gensim's ``KeyedVectors.similarity`` (both vectors scaled to unit length in
        float64, rounded to float32, float32 dot product), so the values are identical.

        Raises
        ------
        KeyError
            If either word is not in the vocabulary.
        """
        return float(np.dot(_unitvec(self[w1]), _unitvec(self[w2])))

    def most_similar(self, positive=None, negative=None, topn: int | None = 10,
                     restrict_vocab: int | None = None):
        """Words nearest by cosine to the mean of the unit vectors of ``positive`` minus ``negative``.

        Same semantics and results as gensim's ``KeyedVectors.most_similar``: every input word
        vector is scaled to unit length, weighted +1 (positive) or -1 (negative) unless a
        ``(word, weight)`` pair gives the weight, the weighted sum is divided by the sum of the
        absolute weights and scaled to unit length, and every word is ranked by the cosine of its
        vector with that mean.  The input words are not returned.  ``most_similar(positive=[b, c],
        negative=[a])`` is the 3CosAdd analogy rule "a is to b as c is to ?" (Mikolov et al. 2013,
        "Linguistic Regularities in Continuous Space Word Representations").

        Parameters
        ----------
        positive, negative : str, float32 [D] array, or list of str / arrays / (str or array, float) pairs
            Arrays are used as given (not normalised), as in gensim.
        topn : int or None
            How many words to return; ``None`` returns the cosine of every candidate instead.
        restrict_vocab : int, optional
            Only the first ``restrict_vocab`` words (vocabulary order) are candidates.

        Returns
        -------
        list of (str, float)
            At most ``topn`` (word, cosine) pairs, most similar first; or, with ``topn=None``, a
            float32 array [min(V, restrict_vocab)] of the cosine of every candidate.

        Raises
        ------
        KeyError
            If an input word is not in the vocabulary.
        ValueError
            If there is no input word, or an array has the wrong size.

        Notes
        -----
        A zero vector has cosine 0 with everything (gensim gives NaN).
        """
        if isinstance(topn, Integral) and topn < 1:
            return []
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        items = [(p, 1.0) for p in positive] + [(n, -1.0) for n in negative]
        keys, weights = [], np.empty(len(items), dtype=np.float64)
        for k, (item, default) in enumerate(items):
            if isinstance(item, (str, np.ndarray)):
                keys.append(item)
                weights[k] = default
            else:
                keys.append(item[0])
                weights[k] = item[1]
        if not keys:
            raise ValueError("most_similar needs at least one positive or negative word")

        # gensim's get_mean_vector(pre_normalize=True, post_normalize=True), operation by operation.
        mean = np.zeros(self.vector_size, dtype=np.float32)
        total_weight = 0.0
        exclude = []
        for key, w in zip(keys, weights):
            if isinstance(key, np.ndarray):
                if key.shape != (self.vector_size,):
                    raise ValueError(f"vector argument has shape {key.shape}, expected ({self.vector_size},)")
                vec = key
            else:
                i = self._index(key)
                exclude.append(i)
                vec = self.get_normed_vectors()[i]
            mean += w * vec
            total_weight += abs(w)
        if total_weight > 0:
            mean = mean / total_weight
        mean = _unitvec(mean)

        end = len(self) if not restrict_vocab else min(int(restrict_vocab), len(self))
        norms = self.vector_norms()[:end]
        safe = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)
        dists = np.dot(self.vectors[:end], mean) / safe
        if not topn:
            return dists
        best = _argsort_desc(dists, topn + len(exclude))
        excluded = set(exclude)
        result = [(self.index_to_key[i], float(dists[i])) for i in best if i not in excluded]
        return result[:topn]

    def most_similar_cosmul(self, positive=None, negative=None, topn: int | None = 10,
                            restrict_vocab: int | None = None):
        """Words maximising the product of shifted cosines with ``positive`` over those with ``negative``.

        The multiplicative objective of Levy & Goldberg 2014 ("Linguistic Regularities in Sparse
        and Explicit Word Representations", CoNLL, eq. 4, cosines shifted to [0, 1] by
        ``(1 + cos) / 2`` as in their footnote 7), computed operation by operation as gensim's
        ``KeyedVectors.most_similar_cosmul``: for every candidate x, ``prod_p cos'(x, p) /
        (prod_n cos'(x, n) + 1e-6)``.  ``most_similar_cosmul(positive=[b, c], negative=[a])`` is
        the 3CosMul analogy rule; with one positive word the ranking is that of
        :meth:`most_similar`.  The input words are not returned.

        Parameters
        ----------
        positive, negative : str, float32 [D] array, or list of them
            Words (scaled to unit length) or vectors (used as given, as in gensim).
        topn : int or None
            How many words to return; ``None`` returns the score of every candidate instead.
        restrict_vocab : int, optional
            Only the first ``restrict_vocab`` words are candidates (gensim 4.4 accepts and
            ignores this argument).

        Returns
        -------
        list of (str, float)
            At most ``topn`` (word, score) pairs, best first; with ``topn=None`` a float32 array
            [min(V, restrict_vocab)] of the scores.

        Raises
        ------
        KeyError
            If an input word is not in the vocabulary.
        ValueError
            If there is no positive word.
        """
        if isinstance(topn, Integral) and topn < 1:
            return []
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        exclude = {self._index(w) for w in positive + negative if not isinstance(w, np.ndarray)}
        normed = self.get_normed_vectors()
        pos = [normed[self._index(w)] if isinstance(w, str) else w for w in positive]
        neg = [normed[self._index(w)] if isinstance(w, str) else w for w in negative]
        if not pos:
            raise ValueError("most_similar_cosmul needs at least one positive word")
        end = len(self) if not restrict_vocab else min(int(restrict_vocab), len(self))
        vectors = self.vectors[:end]
        norms = self.vector_norms()[:end]
        norms = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)
        # gensim's expressions, so that the float32 results are identical
        pos_dists = [((1 + np.dot(vectors, term) / norms) / 2) for term in pos]
        neg_dists = [((1 + np.dot(vectors, term) / norms) / 2) for term in neg]
        dists = np.prod(pos_dists, axis=0) / (np.prod(neg_dists, axis=0) + 0.000001)
        if not topn:
            return dists
        best = _argsort_desc(dists, topn + len(exclude))
        return [(self.index_to_key[i], float(dists[i])) for i in best if i not in exclude][:topn]

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word of ``words`` farthest from the mean of their unit vectors (gensim's ``doesnt_match``).

        Words not in the vocabulary are ignored (with a warning logged).  The mean of the unit
        vectors is scaled to unit length and the word with the smallest cosine to it is returned;
        ties go as in gensim (the smallest word of the tied ones).

        Raises
        ------
        ValueError
            If none of ``words`` is in the vocabulary.
        """
        used = [w for w in words if w in self]
        if len(used) != len(words):
            logger.warning("doesnt_match: ignoring words not in the vocabulary: %s", set(words) - set(used))
        if not used:
            raise ValueError("doesnt_match: none of the words is in the vocabulary")
        vectors = np.vstack([self.get_vector(w, norm=True) for w in used]).astype(np.float32)
        mean = np.zeros(self.vector_size, dtype=np.float32)
        total = np.float32(0.0)
        for row in vectors:  # gensim's get_mean_vector, over a handful of rows
            mean += np.float32(1.0) * row
            total += np.float32(1.0)
        mean = _unitvec(mean / total)
        dists = np.dot(vectors, mean)
        return sorted(zip(dists.tolist(), used), reverse=True)[-1][1]

    def evaluate_word_analogies(self, analogies: str, restrict_vocab: int | None = 300000,
                                case_insensitive: bool = True, dummy4unknown: bool = False,
                                similarity_function: str = "most_similar", storage_options: dict | None = None):
        """Analogy accuracy in gensim's return shape (``KeyedVectors.evaluate_word_analogies``).

        Scored by :func:`w2v_dist.evaluation.evaluate_word_analogies` (3CosAdd, batched, the same
        answers as gensim) or, with ``similarity_function="most_similar_cosmul"``, by 3CosMul as
        :meth:`most_similar_cosmul` (epsilon 1e-6; gensim 4.4 accepts this argument but always
        uses 3CosAdd).  Defaults are gensim's (``restrict_vocab=300000``).

        Parameters
        ----------
        analogies : str
            Path or fsspec URL of a ``questions-words.txt`` style file.
        restrict_vocab : int or None
            Questions and answers use only the first ``restrict_vocab`` words.
        case_insensitive : bool
            Compare upper-cased words.
        dummy4unknown : bool
            Count a question with an unknown word as incorrect instead of skipping it.
        similarity_function : {"most_similar", "most_similar_cosmul"}
        storage_options : dict, optional
            Passed to fsspec.

        Returns
        -------
        score : float
            correct / (correct + incorrect) over all sections.
        sections : list of dict
            Per section in file order, then ``"Total accuracy"``: ``{"section": str, "correct":
            [(a, b, c, d), ...], "incorrect": [...]}`` (words as compared, upper-cased when
            ``case_insensitive``).

        Raises
        ------
        W2VError
            The file cannot be read or is malformed (gensim skips malformed lines; this raises).
        ValueError
            Unknown ``similarity_function``.
        """
        from .evaluation import _answer_3cosadd, _answer_3cosmul

        if similarity_function == "most_similar":
            task, correct = _answer_3cosadd(self, analogies, restrict_vocab, case_insensitive, storage_options)
        elif similarity_function == "most_similar_cosmul":
            task, correct = _answer_3cosmul(self, analogies, restrict_vocab, case_insensitive, storage_options,
                                            1e-6)
        else:
            raise ValueError(f"similarity_function={similarity_function!r}: use 'most_similar' or "
                             f"'most_similar_cosmul'")
        return task.gensim_sections(correct, dummy4unknown)

    def evaluate_word_pairs(self, pairs: str, delimiter: str | None = "\t", restrict_vocab: int | None = 300000,
                            case_insensitive: bool = True, dummy4unknown: bool = False,
                            storage_options: dict | None = None):
        """Correlation with human similarity scores in gensim's return shape (``evaluate_word_pairs``).

        Computed by :func:`w2v_dist.evaluation.evaluate_word_pairs` (the same similarities and
        coefficients as gensim).

        Returns
        -------
        pearson : tuple of (float, float)
            Pearson coefficient and two-sided p-value (the p-value is NaN without scipy).
        spearman : tuple of (float, float)
            Spearman coefficient and two-sided p-value.
        oov_ratio : float
            Percentage (0-100) of pairs with an unknown word, as gensim reports it.

        Raises
        ------
        W2VError
            The file cannot be read or is malformed.
        """
        from .evaluation import evaluate_word_pairs

        r = evaluate_word_pairs(self, pairs, delimiter=delimiter, restrict_vocab=restrict_vocab,
                                case_insensitive=case_insensitive, storage_options=storage_options,
                                dummy4unknown=dummy4unknown)
        return (r["pearson"], r["pearson_pvalue"]), (r["spearman"], r["spearman_pvalue"]), 100.0 * r["oov_ratio"]

    # ----------------------------------------------------------------- gensim

    def to_gensim(self):
        """The same vectors as a ``gensim.models.KeyedVectors`` (requires gensim).

        Returns
        -------
        gensim.models.KeyedVectors
            float32 [V, D] vectors (a copy) in the same order; the counts, when known, are set as
            gensim's ``count`` attribute (``kv.get_vecattr(word, "count")``).

        Raises
        ------
        ImportError
            If gensim is not installed.
        """
        try:
            from gensim.models import KeyedVectors
        except ImportError as exc:
            raise ImportError("to_gensim() needs gensim: pip install gensim") from exc
        kv = KeyedVectors(self.vector_size, count=0, dtype=np.float32)
        kv.add_vectors(list(self.index_to_key), np.array(self.vectors, dtype=np.float32))
        if self.counts is not None:  # (add_vectors(extras=) of gensim 4.4 fails on a dict)
            kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
            kv.expandos["count"][:] = self.counts
        return kv

    @classmethod
    def from_gensim(cls, kv) -> "WordVectors":
        """Vectors from a ``gensim.models.KeyedVectors`` (or a gensim model's ``.wv``), copied.

        The ``count`` attribute becomes ``counts`` when gensim has it for every word.
        """
        counts = None
        if "count" in getattr(kv, "expandos", {}):
            counts = np.asarray(kv.expandos["count"], dtype=np.int64)
        return cls(list(kv.index_to_key), np.array(kv.vectors, dtype=np.float32), counts)

    # -------------------------------------------------------------- file I/O

    def save_word2vec_format(self, url: str, binary: bool = False, storage_options: dict | None = None) -> None:
        """Write the vectors in word2vec.c's text or binary format.

        Text: header ``"V D\\n"``, then ``"word v1 ... vD\\n"`` per word with each value written in
        the shortest form that reads back as the same float32 (so a text round trip is exact).
        Binary: the same header, then ``b"word "`` + D little-endian float32 + ``b"\\n"`` per word,
        as word2vec.c writes it.  Both are read by gensim's ``KeyedVectors.load_word2vec_format``
        and by word2vec.c.  A ``.gz``/``.bz2``/``.xz`` suffix compresses the file.

        The whole file is built in memory, written under a temporary name beside ``url`` and then
        moved onto ``url``, so a failure never leaves a partial file under the final name.

        Parameters
        ----------
        url : str
            Local path or fsspec URL of the file to write (replaced if it exists).
        binary : bool
            Binary format instead of text.
        storage_options : dict, optional
            Passed to fsspec.

        Raises
        ------
        W2VError
            If a word is empty or contains a space or newline (the formats cannot hold it), or the
            file cannot be written.
        """
        words = self.index_to_key
        for w in words:
            if not w or " " in w or "\n" in w:
                raise W2VError(f"cannot write {url}: word {w!r} is empty or contains a space or newline")
        header = f"{len(self)} {self.vector_size}\n".encode("ascii")
        if binary:
            payload = header + _binary_rows(words, self.vectors)
        else:
            payload = header + _text_rows(words, self.vectors)
        _write_atomically(url, payload, storage_options)

    @classmethod
    def load_word2vec_format(cls, url: str, binary: bool | None = None, limit: int | None = None,
                             storage_options: dict | None = None) -> "WordVectors":
        """Read vectors in word2vec.c's text or binary format (as written by word2vec.c or gensim).

        Parameters
        ----------
        url : str
            Local path or fsspec URL; ``.gz``/``.bz2``/``.xz`` files are decompressed.
        binary : bool, optional
            Binary format; by default inferred from the name (``.bin``, before any compression
            suffix, means binary).
        limit : int, optional
            Read only the first ``limit`` words.
        storage_options : dict, optional
            Passed to fsspec.

        Returns
        -------
        WordVectors
            float32 vectors, ``counts=None``.

        Raises
        ------
        W2VError
            If the file cannot be opened, the header is not two integers ``V D`` with V >= 0 and
            0 < D <= 2**20, the file ends before the V rows the header declares (for an
            uncompressed binary file this is checked against the file size before allocating
            anything), a row is truncated or malformed (wrong number of values,
            a value that is not a number, a word that is not UTF-8 or repeats), or data follows the
            declared rows.  The message names the file and the line (text) or row (binary).

        Notes
        -----
        Binary rows may or may not end with a newline (word2vec.c and gensim write one).  Text rows
        may end with a space (word2vec.c writes one).  Memory use is bounded by the data actually
        present (text and compressed files allocate rows in blocks of at most 16 MiB as they are
        read): a hostile header cannot trigger a large allocation.
        """
        if limit is not None and (not isinstance(limit, Integral) or limit < 0):
            raise W2VError(f"limit must be a non-negative integer, got {limit!r}")
        fs, path = _url_to_fs(url, storage_options)
        compression = infer_compression(path)
        if binary is None:
            stem = path.rsplit(".", 1)[0] if compression else path
            binary = stem.lower().endswith(".bin")
        try:
            size = None if compression else fs.size(path)
            size = None if size is None else int(size)
            fobj = fs.open(path, "rb", compression=compression)
        except FileNotFoundError:
            raise W2VError(f"{url}: no such file") from None
        except (OSError, ValueError, TypeError) as exc:
            raise W2VError(f"{url}: cannot open: {_one_line(exc)}") from None
        try:
            with fobj:
                reader = _Reader(fobj, url)
                words, vectors = (_read_binary if binary else _read_text)(reader, url, limit, size)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:  # I/O or decompression failure
            raise W2VError(f"{url}: cannot read: {_one_line(exc)}") from None
        return cls(words, vectors)


    # ---------------------------------------------------------- native format

    def save(self, url: str, storage_options: dict | None = None, metadata: dict | None = None,
             write_vocab: bool = True) -> None:
        """Write the native format into the folder ``url``: ``vectors.npy``, ``vocab.parquet``, ``vectors.json``.

        * ``vectors.npy``: the float32 [V, D] matrix in numpy's ``.npy`` format (little-endian,
          C order), so it can be memory-mapped (:meth:`load`);
        * ``vocab.parquet``: ``word`` (string) and, when the counts are known, ``count`` (int64),
          in row order;
        * ``vectors.json``: ``{"format": "w2v-dist-vectors", "version": 1, "vocab_size": V,
          "vector_size": D, "dtype": "float32", "has_counts": bool, ...metadata}``.

        Each file is written under a temporary name and moved into place (the metadata last).

        Parameters
        ----------
        url : str
            Folder, local path or fsspec URL (created when local; files in it are replaced).
        storage_options : dict, optional
            Passed to fsspec.
        metadata : dict, optional
            Extra JSON-serialisable entries for ``vectors.json`` (e.g. ``{"export": "sum"}``).
        write_vocab : bool
            Also write ``vocab.parquet`` (False when the caller writes its own with the same rows).

        Raises
        ------
        W2VError
            If a file cannot be written.
        """
        base = str(url).rstrip("/")
        vectors = np.ascontiguousarray(self.vectors, dtype="<f4")
        _write_atomically(f"{base}/vectors.npy", lambda f: np.lib.format.write_array(f, vectors, allow_pickle=False),
                          storage_options)
        _write_native_meta(base, self.index_to_key, self.counts, self.vector_size, metadata, write_vocab,
                           storage_options)

    @classmethod
    def load(cls, url: str, mmap: str | None = "r", storage_options: dict | None = None) -> "WordVectors":
        """Read the native format written by :meth:`save` (a folder with ``vectors.json``).

        Parameters
        ----------
        url : str
            The folder, local path or fsspec URL.
        mmap : {"r", "c", None}
            For a local folder, memory-map ``vectors.npy`` (``np.load(mmap_mode=mmap)``): nothing
            is read until used, and processes share the pages.  ``None`` reads it into memory.
            Remote files are always read into memory.
        storage_options : dict, optional
            Passed to fsspec.

        Returns
        -------
        WordVectors
            ``vectors`` float32 [V, D] (read-only when memory-mapped), ``counts`` int64 [V] when
            ``vocab.parquet`` has a ``count`` column, else None.  ``metadata`` holds ``vectors.json``.

        Raises
        ------
        W2VError
            A file is missing or unreadable, ``vectors.json`` is not this format, the matrix is not
            float32 [V, D] as the metadata says, or the vocabulary has a different length.
        """
        if mmap not in ("r", "c", None):
            raise W2VError(f"mmap={mmap!r}: use 'r', 'c' or None")
        base = str(url).rstrip("/")
        fs, path = _url_to_fs(base, storage_options)
        path = path.rstrip("/")
        try:
            meta = json.loads(fs.cat_file(f"{path}/vectors.json"))
        except FileNotFoundError:
            raise W2VError(f"{base}: no vectors.json: not a folder written by WordVectors.save") from None
        except (OSError, ValueError) as exc:
            raise W2VError(f"{base}/vectors.json: cannot read: {_one_line(exc)}") from None
        if not isinstance(meta, dict) or meta.get("format") != NATIVE_FORMAT or meta.get("version") != 1:
            raise W2VError(f"{base}/vectors.json: not w2v-dist vectors version 1")
        n, dim = meta.get("vocab_size"), meta.get("vector_size")
        table = _read_parquet(f"{base}/vocab.parquet", storage_options, columns=None)
        if "word" not in table.column_names:
            raise W2VError(f"{base}/vocab.parquet: no 'word' column")
        words = table.column("word").to_pylist()
        counts = table.column("count").to_numpy() if "count" in table.column_names else None
        npy = f"{path}/vectors.npy"
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        try:
            if mmap and ("file" in protocols or "local" in protocols):
                vectors = np.load(npy, mmap_mode=mmap, allow_pickle=False)
            else:
                with fs.open(npy, "rb") as f:
                    vectors = np.lib.format.read_array(f, allow_pickle=False)
        except FileNotFoundError:
            raise W2VError(f"{base}/vectors.npy: no such file") from None
        except (OSError, ValueError) as exc:
            raise W2VError(f"{base}/vectors.npy: cannot read: {_one_line(exc)}") from None
        if vectors.dtype.kind != "f" or vectors.dtype.itemsize != 4 or vectors.shape != (n, dim):
            raise W2VError(f"{base}/vectors.npy: holds {vectors.dtype} {vectors.shape}, but vectors.json "
                           f"declares float32 ({n}, {dim})")
        if len(words) != n:
            raise W2VError(f"{base}/vocab.parquet: {len(words)} words, but vectors.json declares {n}")
        try:
            wv = cls(words, vectors, counts)
        except ValueError as exc:
            raise W2VError(f"{base}: {exc}") from None
        wv.metadata = meta
        return wv

    # ---------------------------------------------------------------- Parquet

    def save_parquet(self, url: str, storage_options: dict | None = None, row_group_size: int = 65536) -> None:
        """Write one row per word, columns ``word`` (string) and ``vector`` (list<float32>), for Dask/Spark.

        ``dask.dataframe.read_parquet`` and Spark's ``spark.read.parquet`` read it as they are
        (Spark sees ``vector: array<float>``).  Written under a temporary name, then moved.

        Raises
        ------
        W2VError
            If the file cannot be written.
        """
        n, dim = self.vectors.shape
        flat = pa.array(np.ascontiguousarray(self.vectors, dtype=np.float32).reshape(-1), type=pa.float32())
        if n * dim < 2**31:
            vec = pa.ListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32)), flat)
        else:
            vec = pa.LargeListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int64)), flat)
        table = pa.table({"word": pa.array(self.index_to_key, type=pa.string()), "vector": vec})
        _write_parquet(url, table, storage_options, row_group_size=row_group_size)

    @classmethod
    def load_parquet(cls, url: str, storage_options: dict | None = None) -> "WordVectors":
        """Read a ``word``/``vector`` Parquet file (as :meth:`save_parquet` writes it; order kept).

        Raises
        ------
        W2VError
            The file is unreadable, a column is missing, a vector is null, or the vectors do not
            all have the same length.
        """
        table = _read_parquet(url, storage_options, columns=["word", "vector"])
        words = table.column("word").to_pylist()
        col = table.column("vector").combine_chunks()
        if not pa.types.is_list(col.type) and not pa.types.is_large_list(col.type) \
                and not pa.types.is_fixed_size_list(col.type):
            raise W2VError(f"{url}: column 'vector' is {col.type}, not a list of floats")
        if col.null_count:
            raise W2VError(f"{url}: {col.null_count} null vectors")
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        dim = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and (lengths != dim).any():
            bad = int(np.flatnonzero(lengths != dim)[0])
            raise W2VError(f"{url}: row {bad + 1} ({words[bad]!r}) has {lengths[bad]} values, row 1 has {dim}")
        values = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        try:
            return cls(words, values.reshape(len(words), dim))
        except (ValueError, TypeError) as exc:
            raise W2VError(f"{url}: {exc}") from None

# ------------------------------------------------------------- export and loading

#: The ``export`` choices: which trained matrix (or combination) becomes the word vectors.
EXPORTS = ("input", "output", "sum", "concat")
#: ``format`` of ``vectors.json``.
NATIVE_FORMAT = "w2v-dist-vectors"


def combine_vectors(words: Sequence[str], syn0: np.ndarray, syn1neg: np.ndarray | None, export: str = "input",
                    counts=None) -> WordVectors:
    """The word vectors to export from a trained model's input and output matrices.

    word2vec learns two vectors per word: the input (target) vector t_i (``syn0``) and the output
    (context) vector c_i (``syn1neg``, negative sampling).  The usual choice is t_i; Jurafsky &
    Martin ("Speech and Language Processing", 3rd ed. draft, ch. 6.8) note that a word can also be
    represented by t_i + c_i or by the concatenation [t_i; c_i].

    Parameters
    ----------
    words : sequence of str, length V
    syn0 : float32 [V, D]
    syn1neg : float32 [V, D] or None
    export : {"input", "output", "sum", "concat"}
        ``input``: t_i; ``output``: c_i; ``sum``: t_i + c_i (float32 [V, D]); ``concat``:
        [t_i; c_i] (float32 [V, 2D]).
    counts : int64 [V], optional

    Returns
    -------
    WordVectors

    Raises
    ------
    ConfigError
        ``export`` is not one of :data:`EXPORTS`, or it needs ``syn1neg`` and there is none
        (trained with ``negative=0``).
    """
    from .errors import ConfigError

    if export not in EXPORTS:
        raise ConfigError(f"export={export!r}: choose one of {', '.join(EXPORTS)}")
    if export != "input" and syn1neg is None:
        raise ConfigError(f"export={export!r}: needs the output vectors of negative sampling (negative>0)")
    if export == "input":
        mat = syn0
    elif export == "output":
        mat = syn1neg
    elif export == "sum":
        mat = np.add(syn0, syn1neg, dtype=np.float32)
    else:
        mat = np.concatenate([syn0, syn1neg], axis=1).astype(np.float32, copy=False)
    return WordVectors(words, mat, counts)


def load_vectors(url: str, storage_options: dict | None = None, mmap: str | None = "r") -> WordVectors:
    """Read word vectors in any format this package writes, chosen from the URL.

    A folder holding ``vectors.json`` (an output folder) is read as the native format
    (memory-mapped when local, :meth:`WordVectors.load`), a folder with only ``vectors.bin`` as
    that file; a ``.parquet`` file as
    :meth:`WordVectors.load_parquet`; anything else as word2vec text or binary (``.bin`` means
    binary, :meth:`WordVectors.load_word2vec_format`).

    Raises
    ------
    W2VError
        As the reader chosen.
    """
    url = str(url)
    fs, path = _url_to_fs(url, storage_options)
    if fs.isdir(path):
        base = path.rstrip("/")
        if not fs.exists(f"{base}/vectors.json") and fs.exists(f"{base}/vectors.bin"):
            # an output folder written before the native format existed
            return WordVectors.load_word2vec_format(f"{url.rstrip('/')}/vectors.bin", binary=True,
                                                    storage_options=storage_options)
        return WordVectors.load(url, mmap=mmap, storage_options=storage_options)
    if path.lower().endswith(".parquet"):
        return WordVectors.load_parquet(url, storage_options)
    return WordVectors.load_word2vec_format(url, storage_options=storage_options)

# ----------------------------------------------------------------------- helpers


def _ensure_list(value) -> list:
    """gensim's ``_ensure_list``: None -> [], a single key or 1-D array -> [it], 2-D array -> rows."""
    if value is None:
        return []
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [value]
    return list(value)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _url_to_fs(url: str, storage_options: dict | None):
    try:
        return fsspec.core.url_to_fs(str(url), **(storage_options or {}))
    except (ValueError, ImportError, TypeError) as exc:
        raise W2VError(f"{url}: cannot open: {_one_line(exc)}") from None


def _text_rows(words: list[str], vectors: np.ndarray) -> bytes:
    """``"word v1 ... vD\\n"`` for every row.

    Arrow formats the floats (vectorised, shortest decimal form that reads back as the same
    float32) and joins them; rows are processed in blocks of about 2**22 values so that string
    offsets stay 32-bit and temporary memory stays bounded.
    """
    n, dim = vectors.shape
    if n == 0:
        return b""
    step = max(1, _TEXT_BLOCK_VALUES // max(dim, 1))
    out = []
    for start in range(0, n, step):
        block = vectors[start:start + step]
        rows = len(block)
        values = pc.cast(pa.array(block.reshape(-1)), pa.string())
        offsets = pa.array(np.arange(0, rows * dim + 1, dim, dtype=np.int32))
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, values), " ")
        lines = pc.binary_join_element_wise(pa.array(words[start:start + rows], type=pa.string()), joined, " ")
        out.append(("\n".join(lines.to_pylist()) + "\n").encode("utf-8"))
    return b"".join(out)


def _binary_rows(words: list[str], vectors: np.ndarray) -> bytes:
    """``b"word " + float32 LE bytes + b"\\n"`` for every row (word2vec.c's binary layout)."""
    n, dim = vectors.shape
    raw = memoryview(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
    step = 4 * dim
    parts: list = []
    for i, w in enumerate(words):
        parts.append(w.encode("utf-8") + b" ")
        parts.append(raw[i * step:(i + 1) * step])
        parts.append(b"\n")
    return b"".join(parts)


def _write_native_meta(base: str, words, counts, vector_size: int, metadata: dict | None, write_vocab: bool,
                       storage_options: dict | None) -> None:
    """The native format's ``vocab.parquet`` (words, and counts when known; if ``write_vocab``) and
    ``vectors.json``, written after ``vectors.npy`` (each file atomically).

    Raises
    ------
    W2VError
        If a file cannot be written.
    """
    if write_vocab:
        cols = {"word": pa.array(words, type=pa.string())}
        if counts is not None:
            cols["count"] = pa.array(counts, type=pa.int64())
        _write_parquet(f"{base}/vocab.parquet", pa.table(cols), storage_options)
    meta = {"format": NATIVE_FORMAT, "version": 1, "vocab_size": len(words), "vector_size": vector_size,
            "dtype": "float32", "has_counts": counts is not None, **(metadata or {})}
    _write_atomically(f"{base}/vectors.json", json.dumps(meta, indent=2).encode("utf-8"), storage_options)


def _write_atomically(url: str, payload, storage_options: dict | None) -> None:
    """Write ``payload`` (bytes, or a callable given the open binary file) to ``url`` via a
    temporary name + move (compressed per the final name)."""
    fs, path = _url_to_fs(url, storage_options)
    compression = infer_compression(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        parent = posixpath.dirname(path)
        if "file" in protocols and parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(tmp, "wb", compression=compression) as f:
            if callable(payload):
                payload(f)
            else:
                f.write(payload)
        fs.mv(tmp, path)
    except (OSError, ValueError) as exc:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except Exception:  # noqa: BLE001 - best effort clean-up; the original error is what matters
            pass
        raise W2VError(f"cannot write {url}: {_one_line(exc)}") from None


def _write_parquet(url: str, table: pa.Table, storage_options: dict | None, **kwargs) -> None:
    import pyarrow.parquet as pq

    _write_atomically(url, lambda f: pq.write_table(table, f, **kwargs), storage_options)


def _read_parquet(url: str, storage_options: dict | None, columns) -> pa.Table:
    import pyarrow.parquet as pq

    fs, path = _url_to_fs(url, storage_options)
    try:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=columns)
    except FileNotFoundError:
        raise W2VError(f"{url}: no such file") from None
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise W2VError(f"{url}: cannot read Parquet: {_one_line(exc)}") from None


class _Reader:
    """Buffered reads from a binary file object with bounded look-ahead, tracking the byte offset."""

    def __init__(self, fobj, url: str):
        self.f = fobj
        self.url = url
        self.buf = b""
        self.pos = 0          # next unread byte of buf
        self.base = 0         # file offset of buf[0]
        self.eof = False

    def available(self) -> int:
        return len(self.buf) - self.pos

    def offset(self) -> int:
        return self.base + self.pos

    def fill(self, need: int) -> bool:
        """Make at least ``need`` unread bytes available; False if the file ends first."""
        while self.available() < need and not self.eof:
            data = self.f.read(max(_CHUNK_BYTES, need - self.available()))
            if not data:
                self.eof = True
                break
            self.base += self.pos
            self.buf = self.buf[self.pos:] + data
            self.pos = 0
        return self.available() >= need

    def find(self, byte: bytes, max_len: int) -> int:
        """Index in ``buf`` of the next ``byte`` within the next ``max_len`` unread bytes, else -1."""
        searched = 0
        while True:
            end = min(self.available(), max_len)
            i = self.buf.find(byte, self.pos + searched, self.pos + end)
            if i >= 0:
                return i
            searched = end
            if end >= max_len or self.eof:
                return -1
            self.fill(min(self.available() + _CHUNK_BYTES, max_len))

    def readline(self, max_len: int) -> bytes | None:
        """Next line without its ``\\n`` (the last line may lack one); None at end of file.

        Raises W2VError if no newline comes within ``max_len`` bytes.
        """
        if not self.fill(1):
            return None
        i = self.find(b"\n", max_len + 1)
        if i < 0:
            if self.eof and self.available() <= max_len:
                line, self.pos = self.buf[self.pos:], len(self.buf)
                return line
            raise W2VError(f"{self.url}: byte {self.offset()}: line longer than {max_len} bytes")
        line, self.pos = self.buf[self.pos:i], i + 1
        return line

    def rest_is_blank(self) -> bool:
        """True if only whitespace (at most a few KiB of it) remains in the file."""
        self.fill(4096 + 1)
        rest = self.buf[self.pos:self.pos + 4097]
        return len(rest) <= 4096 and not rest.strip()


def _parse_header(reader: _Reader, url: str) -> tuple[int, int]:
    line = reader.readline(_MAX_HEADER_BYTES)
    if line is None:
        raise W2VError(f"{url}: line 1: empty file, expected a header 'V D'")
    fields = line.split()
    try:
        if len(fields) != 2:
            raise ValueError
        n_words, dim = int(fields[0]), int(fields[1])
    except ValueError:
        shown = line[:60].decode("utf-8", "replace")
        raise W2VError(f"{url}: line 1: expected a header 'V D' (two integers), got {shown!r}") from None
    if n_words < 0 or not 0 < dim <= MAX_VECTOR_SIZE:
        raise W2VError(f"{url}: line 1: header 'V D' = '{n_words} {dim}' out of range "
                       f"(need V >= 0 and 0 < D <= {MAX_VECTOR_SIZE})")
    return n_words, dim


class _RowSink:
    """Destination of the rows read: one preallocated array when the count was checked against the
    file size, otherwise blocks of at most ``_BLOCK_BYTES`` allocated as rows actually arrive."""

    def __init__(self, n: int, dim: int, checked: bool):
        self.n, self.dim = n, dim
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        self.block_rows = n if checked else max(1, min(n, _BLOCK_BYTES // (4 * dim)))
        self.blocks: list[np.ndarray] = []
        self.filled = 0  # rows in the last block

    def add(self, word: str, values, url: str, where: str) -> None:
        if self.index.setdefault(word, len(self.words)) != len(self.words):
            raise W2VError(f"{url}: {where}: word {word!r} repeats (first at row {self.index[word] + 1})")
        if not self.blocks or self.filled == len(self.blocks[-1]):
            rows = min(self.block_rows, self.n - len(self.words))
            self.blocks.append(np.empty((rows, self.dim), dtype=np.float32))
            self.filled = 0
        self.blocks[-1][self.filled] = values
        self.filled += 1
        self.words.append(word)

    def result(self) -> tuple[list[str], np.ndarray]:
        if not self.blocks:
            return self.words, np.empty((0, self.dim), dtype=np.float32)
        if len(self.blocks) == 1:
            return self.words, self.blocks[0]
        return self.words, np.concatenate(self.blocks)


def _decode_word(raw: bytes, url: str, where: str) -> str:
    try:
        word = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise W2VError(f"{url}: {where}: word is not valid UTF-8: {raw[:40]!r}") from None
    if not word:
        raise W2VError(f"{url}: {where}: empty word")
    return word


def _read_binary(reader: _Reader, url: str, limit: int | None, size: int | None):
    n_words, dim = _parse_header(reader, url)
    body = None if size is None else size - reader.offset()
    row_min = 4 * dim + 2  # a 1-byte word, the space, the floats; the newline is optional
    if body is not None and n_words * (row_min - 1) > body:
        raise W2VError(f"{url}: header declares {n_words} rows of {dim} float32 (at least "
                       f"{n_words * (row_min - 1)} bytes) but the file has only {body} bytes after the "
                       f"header: truncated file or wrong header")
    n = n_words if limit is None else min(n_words, limit)
    sink = _RowSink(n, dim, checked=body is not None)
    nbytes = 4 * dim
    for row in range(1, n + 1):
        where = f"row {row} (byte {reader.offset()})"
        # word2vec.c ends each row with '\n'; some writers omit it: skip any newlines before the word
        while True:
            if not reader.fill(1):
                raise W2VError(f"{url}: {where}: file ends after {row - 1} of the {n_words} rows "
                               f"its header declares")
            if reader.buf[reader.pos] != 0x0A:
                break
            reader.pos += 1
        space = reader.find(b" ", MAX_WORD_BYTES + 1)
        if space < 0:
            if reader.eof and reader.available() <= MAX_WORD_BYTES:
                raise W2VError(f"{url}: {where}: file ends inside a word (row {row} of {n_words})")
            raise W2VError(f"{url}: {where}: no space within {MAX_WORD_BYTES} bytes: not a word2vec "
                           f"binary row (is this the text format?)")
        word = _decode_word(reader.buf[reader.pos:space], url, where)
        reader.pos = space + 1
        if not reader.fill(nbytes):
            raise W2VError(f"{url}: {where}: file ends inside the vector of {word!r} (row {row} of "
                           f"{n_words}): truncated file")
        values = np.frombuffer(reader.buf, dtype="<f4", count=dim, offset=reader.pos)
        sink.add(word, values, url, where)
        reader.pos += nbytes
    if limit is None and not reader.rest_is_blank():
        raise W2VError(f"{url}: byte {reader.offset()}: data after the {n_words} rows the header "
                       f"declares (wrong header or not a word2vec binary file)")
    return sink.result()


def _read_text(reader: _Reader, url: str, limit: int | None, size: int | None = None):
    n_words, dim = _parse_header(reader, url)
    n = n_words if limit is None else min(n_words, limit)
    # Rows are allocated as they arrive (blocks of <= 16 MiB), so memory follows the data, not the
    # header, and a short file fails at the line where it ends.
    sink = _RowSink(n, dim, checked=False)
    max_line = MAX_WORD_BYTES + 64 * dim
    line_no = 1
    for _ in range(n):
        line_no += 1
        line = reader.readline(max_line)
        if line is None:
            raise W2VError(f"{url}: line {line_no}: file ends after {line_no - 2} of the {n_words} rows "
                           f"its header declares")
        word_raw, _, rest = line.rstrip().partition(b" ")
        word = _decode_word(word_raw, url, f"line {line_no}")
        fields = rest.split()
        if len(fields) != dim:
            raise W2VError(f"{url}: line {line_no}: expected the word and {dim} values, found "
                           f"{len(fields)} values (is this really the text format?)")
        try:
            values = [float(x) for x in fields]
        except ValueError:
            bad = next(x for x in fields if not _is_float(x))
            raise W2VError(f"{url}: line {line_no}: value {bad[:30].decode('utf-8', 'replace')!r} "
                           f"is not a number") from None
        sink.add(word, values, url, f"line {line_no}")
    if limit is None and not reader.rest_is_blank():
        raise W2VError(f"{url}: line {line_no + 1}: data after the {n_words} rows the header declares")
    return sink.result()


def _is_float(x: bytes) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True

