"""Skip-gram and CBOW with negative sampling and/or hierarchical softmax:
Numba kernels (Hogwild, nogil).

Model and update rule
---------------------
Negative sampling objective of Mikolov et al. (2013), "Distributed
Representations of Words and Phrases and their Compositionality", eq. (4)::

    log sigma(v'_O . v_I) + sum_{k=1..negative} log sigma(-v'_{n_k} . v_I)

optimised by plain SGD exactly as word2vec.c and gensim 4
(``gensim/models/word2vec_inner.pyx``: ``w2v_fast_sentence_sg_neg``,
``w2v_fast_sentence_cbow_neg``, ``train_batch_sg``, ``train_batch_cbow``).
For an input vector ``l1`` (a context row of ``syn0`` for skip-gram, the
sum/mean of the context rows for CBOW) and targets ``t_0`` (the positive,
label 1) and ``t_1..t_negative`` (noise words, label 0)::

    for each target t (in order):
        f     = dot(l1, syn1neg[t])
        g     = (label - sigmoid(f)) * alpha
        neu1e += g * syn1neg[t]          # uses syn1neg[t] before its update
        syn1neg[t] += g * l1
    input row(s) += neu1e

Hierarchical softmax (Morin & Bengio 2005; Mikolov et al. 2013, sec. 2.1;
gensim ``w2v_fast_sentence_sg_hs`` / ``_cbow_hs``) replaces the targets by the
inner nodes ``p = points[w, d]`` of the center word's Huffman path
(:mod:`w2v_dist.kernels.huffman`), with label ``1 - codes[w, d]`` and weights
``syn1[p]`` (:func:`hs_update`; same update rule as above). With both
``hs`` and ``negative > 0`` the HS update runs first and NS second, both on
the unchanged input and into one ``neu1e`` (word2vec.c; see
:func:`sg_hs_pair_step` for the small difference from gensim). HS draws no
random numbers, so the NS stream is the same with or without it.

Orientation is the word2vec.c / gensim one: in skip-gram the *context* word
``sent[j]`` is the input row and the *center* word ``sent[i]`` is predicted.

Deliberate difference from gensim / word2vec.c: the sigmoid is the exact
``1 / (1 + exp(-f))`` evaluated in float32; there is no ``EXP_TABLE`` lookup
and no skipping of targets with ``|f| >= 6`` (gensim ``continue``s there, i.e.
applies no update). The loss (when requested) is likewise exact
(``-log sigmoid(f)`` for the positive, ``-log sigmoid(-f)`` for each
negative, in float64 from the float32 ``exp(-f)`` the sigmoid needs: one ``log``
of a product per step, see :func:`_loss_term`) instead of gensim's
``LOG_TABLE`` restricted to ``[-6, 6]``.

Numerics and types
------------------
Weights are float32 and all per-pair arithmetic is float32 (constants are
``np.float32``; a Python float or float64 constant would promote the whole
expression). Word ids are int32, counts/offsets int64, the RNG state uint64.
The loops over the vector dimension are explicit (no array expressions: they
allocate and were measured 3.6x slower). The dot product keeps eight float32
partial sums (lane ``l`` sums the elements ``c = l mod 8``) written as an
explicit ``<8 x float>`` LLVM vector (:func:`_dot32_simd`): without fastmath
Numba would not vectorise the reduction. It is deterministic and equal to
the scalar :func:`dot32_scalar`, but differs from a strictly sequential sum
in the last float32 bits.

Performance notes
-----------------
* Every function is ``@njit(nogil=True, cache=True, fastmath=False,
  error_model="numpy")``. ``error_model="numpy"`` removes Python's
  ZeroDivisionError checks (and their exception paths), so nothing in here
  can raise. Rows are indexed as ``a[row, c]`` and never sliced into views (a
  view is a Numba reference-count update on the shared weight arrays, and
  atomic increments on the same counter contend between Hogwild threads).
* Compile time. Numba's own inlining (``inline="always"``) expands a
  callee's whole call tree at every call site, before dead branches are
  pruned, and re-does it at each site: the kernels inlined that way took
  125 s (exact) and 370 s (fast mode) to compile from nothing, and every
  worker compiled all of them. Now only the per-sentence bodies
  (``_train_slice_impl``, ``_train_slice_shared_impl``, whose flags must fold)
  and small helpers on the per-row or per-dimension paths are inlined by
  Numba; the per-step output layers (:func:`ns_update`, :func:`hs_update`,
  :func:`ns_shared_batch`, ``_hs_rows``) and scalar helpers are ordinary
  calls that LLVM inlines or not. Each ``(sg, hs, ns)`` variant is its own
  compiled function, compiled on first use: 9-25 s each, 138 s for all ten
  (the paired single-thread timings of ``bench_kernel.py --against`` showed
  no loss from the calls; benchmarks/README.md).
* :func:`hs_update` and :func:`ns_update` compute four dot products and
  ``exp``s before applying the four updates in order (the path's nodes are
  distinct rows; NS does so only when no noise word repeats): independent
  chains the CPU overlaps, bit-identical to one output at a time (+41% for
  the HS kernels, +17% CBOW-NS, see benchmarks/README.md). The loss of a
  step is one ``log`` of a product of the sigmoid's own ``1 + exp(-f)``
  (:func:`_loss_term`; the float64 ``exp`` + ``log1p`` per output it
  replaces was 42% of the skip-gram HS profile).
* Noise words are drawn as gensim does, ``bisect_left(cum_table, x)`` for a uniform integer
  ``x``, but the search starts in ``x``'s bucket of a 2^16-bucket index of the table
  (:func:`~w2v_dist.kernels._rng.noise_index`, built once per call): the same words, with no
  search step for most draws since a frequent word spans whole buckets. The full binary search
  over V = 53,574 entries (16 unpredictable branches) took 60 ns a draw, 300 ns of a skip-gram
  pair's 575; the indexed one 11 ns (+56% for the SG-NS kernel, +33% CBOW-NS).
* The last block of four dot products computes only the targets / path nodes left in it (with
  ``negative = 5``, 6 dots a step instead of 8; +9-15% for the SG-HS kernel).
* ``train_slice`` compiles its shared loop once per ``(sg, hs, ns)`` with
  these flags constant (NS only / HS only / both, for each model), so the
  NS-only path has no HS branch in it and runs as fast as before HS was added.
* ``train_slice`` draws each step's negatives ``PREFETCH_AHEAD`` steps early
  (the draw order is unchanged) and issues software prefetches
  (``llvm.prefetch``) for the rows they will touch; with V = 30k, D = 100 the
  rows do not fit in L2 and this is worth ~25%. With HS it also prefetches
  the ``syn1`` rows of the path below depth ``HS_PREFETCH_SKIP``.

Fast mode
---------
:func:`train_slice_shared` (``shared_negatives = N >= 1``) draws the noise words once per N
consecutive center words and trains each batch as one small matrix step with the gradient
applied once (HogBatch, Ji et al. 2016; :func:`ns_shared_batch`). It is separate code: the exact
functions above are untouched by it.

Once the draws were cheap, fast CBOW (N = 2) was barely faster than exact CBOW: the input side
(hidden sums, their update, the loop) was about 330 of its 740 ns a word. So in a pair of
centers the context rows that both centers' windows hold are read once, summed once and updated
once with the sum of the two errors; each center keeps its own reduced window, as word2vec (one
window for the pair was about 10% faster, but left SimLex-999 1.4-1.5 points below gensim's,
benchmarks/README.md). Both inputs' dot
products with a noise row are one pass over it (:func:`_dot32_pair_simd`, bit-identical; +6%
median, +14% best); see benchmarks/README.md.

Concurrency
-----------
All functions release the GIL: several Python threads may run
``train_slice`` on the same ``syn0``/``syn1neg``/``syn1`` at once (Hogwild, as
word2vec.c and gensim). Races on shared rows are accepted by design. Scratch
buffers are allocated per call, so calls share nothing else.

Errors
------
Nothing raises inside the kernels (no bounds checks, numpy error model).
Callers must respect the documented preconditions; violating them gives
undefined results or a crash, not an exception.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._rng import draw_negative_indexed, noise_index, random_int32

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
_MASK48 = np.uint64(281474976710655)

#: How many SGD steps ahead ``train_slice`` draws negatives and prefetches rows.
PREFETCH_AHEAD = 2
#: Hierarchical softmax: the first (topmost) path nodes not prefetched.
HS_PREFETCH_SKIP = 4


@intrinsic
def _prefetch_row(typingctx, arr, row):
    """Hint the CPU to fetch every 64-byte line of ``arr[row, :]`` (no effect on values).

    arr: 2-D C-contiguous array; row: integer in ``[0, arr.shape[0])`` (not
    checked; a prefetch of a bad address does not fault). Emits LLVM's
    ``llvm.prefetch`` (read, high locality, data cache).
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and arr.layout == "C"
            and isinstance(row, types.Integer)):
        return None
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty, rowty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        shape = cgutils.unpack_tuple(builder, ary.shape)
        strides = cgutils.unpack_tuple(builder, ary.strides)
        zero = context.get_constant(types.intp, 0)
        r = context.cast(builder, args[1], rowty, types.intp)
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, shape, strides,
                                        aryty.layout, [r, zero], wraparound=False,
                                        boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        base = builder.bitcast(ptr, i8p)
        nbytes = builder.mul(shape[1], context.get_constant(types.intp, aryty.dtype.bitwidth // 8))
        step = context.get_constant(types.intp, 64)
        with cgutils.for_range_slice(builder, zero, nbytes, step) as (off, _):
            builder.call(fn, [builder.gep(base, [off]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def dot32_scalar(a, ia, b, ib):
    """Scalar reference of :func:`dot32` (same operations, same order, same result).

    ``dot(a[ia, :], b[ib, :])`` for float32 [*, D] arrays. Lane ``l`` (0..7)
    sums ``a[ia, c] * b[ib, c]`` for ``c = l (mod 8)`` over the full 8-blocks,
    in increasing ``c``; lanes are combined as
    ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``; the ``D % 8`` tail
    is then added sequentially. Returns float32.
    """
    n = a.shape[1]
    s0 = _ZERO
    s1 = _ZERO
    s2 = _ZERO
    s3 = _ZERO
    s4 = _ZERO
    s5 = _ZERO
    s6 = _ZERO
    s7 = _ZERO
    c = 0
    while c + 8 <= n:
        s0 += a[ia, c] * b[ib, c]
        s1 += a[ia, c + 1] * b[ib, c + 1]
        s2 += a[ia, c + 2] * b[ib, c + 2]
        s3 += a[ia, c + 3] * b[ib, c + 3]
        s4 += a[ia, c + 4] * b[ib, c + 4]
        s5 += a[ia, c + 5] * b[ib, c + 5]
        s6 += a[ia, c + 6] * b[ib, c + 6]
        s7 += a[ia, c + 7] * b[ib, c + 7]
        c += 8
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while c < n:
        s += a[ia, c] * b[ib, c]
        c += 1
    return s


def _emit_row_dots(context, builder, a, aty, a_rows, b, bty, b_row, b_rowty):
    """Emit the LLVM IR of ``dot(a[r], b[b_row])`` for every ``(r, type)`` of ``a_rows``, in one
    loop over ``b[b_row]``: one ``<8 x float>`` accumulator per row (plain IEEE ``fmul`` and
    ``fadd``), its lanes combined as ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``, then
    the ``D % 8`` tail added in order (:func:`dot32_scalar`'s operations). Returns the float32
    values. Rows are addressed as ``data + row * D`` (C-contiguous, not bounds checked)."""
    intp = context.get_value_type(types.intp)
    A = context.make_array(aty)(context, builder, a)
    B = context.make_array(bty)(context, builder, b)
    n = cgutils.unpack_tuple(builder, A.shape)[1]
    nB = cgutils.unpack_tuple(builder, B.shape)[1]
    pas = [builder.gep(A.data, [builder.mul(context.cast(builder, r, t, types.intp), n)])
           for r, t in a_rows]
    pb0 = builder.gep(B.data, [builder.mul(context.cast(builder, b_row, b_rowty, types.intp), nB)])
    v8 = ir.VectorType(ir.FloatType(), 8)
    v8p = v8.as_pointer()
    nb = builder.ashr(n, ir.Constant(intp, 3))
    accs = [cgutils.alloca_once_value(builder, ir.Constant(v8, [0.0] * 8)) for _ in pas]
    with cgutils.for_range(builder, nb) as loop:
        off = builder.shl(loop.index, ir.Constant(intp, 3))
        vb = builder.load(builder.bitcast(builder.gep(pb0, [off]), v8p), align=4)
        for acc, pa in zip(accs, pas):
            va = builder.load(builder.bitcast(builder.gep(pa, [off]), v8p), align=4)
            builder.store(builder.fadd(builder.load(acc), builder.fmul(va, vb)), acc)
    start = builder.shl(nb, ir.Constant(intp, 3))
    out = []
    for acc, pa in zip(accs, pas):
        v = builder.load(acc)
        e = [builder.extract_element(v, ir.Constant(ir.IntType(32), k)) for k in range(8)]
        sv = builder.fadd(builder.fadd(builder.fadd(e[0], e[1]), builder.fadd(e[2], e[3])),
                          builder.fadd(builder.fadd(e[4], e[5]), builder.fadd(e[6], e[7])))
        sp = cgutils.alloca_once_value(builder, sv)
        with cgutils.for_range_slice(builder, start, n, ir.Constant(intp, 1)) as (c, _):
            x = builder.load(builder.gep(pa, [c]))
            y = builder.load(builder.gep(pb0, [c]))
            builder.store(builder.fadd(builder.load(sp), builder.fmul(x, y)), sp)
        out.append(builder.load(sp))
    return out


@intrinsic
def _dot32_simd(typingctx, a, ia, b, ib):
    """LLVM IR for :func:`dot32`: an explicit ``<8 x float>`` accumulator.

    Plain (non-fast-math) IEEE ``fmul``/``fadd`` on 8 lanes, so the result is
    bit-identical to :func:`dot32_scalar` on any x86/ARM CPU (LLVM splits the
    vector into SSE halves where AVX is missing). Needed because Numba's loop
    vectoriser does not vectorise a float reduction without fast-math, and
    its SLP vectoriser is off by default; the scalar loop is ~5x slower.
    Rows are addressed as ``data + row * D`` (C-contiguous, not bounds
    checked).
    """
    ok = all(isinstance(x, types.Array) and x.ndim == 2 and x.layout == "C"
             and x.dtype == types.float32 for x in (a, b))
    if not (ok and isinstance(ia, types.Integer) and isinstance(ib, types.Integer)):
        return None
    sig = types.float32(a, ia, b, ib)

    def codegen(context, builder, signature, args):
        aty, iaty, bty, ibty = signature.args
        return _emit_row_dots(context, builder, args[0], aty, [(args[1], iaty)], args[2], bty,
                              args[3], ibty)[0]

    return sig, codegen


@intrinsic
def _dot32_pair_simd(typingctx, a, ia0, ia1, b, ib):
    """``(dot32(a, ia0, b, ib), dot32(a, ia1, b, ib))`` in one pass over ``b[ib]``.

    Two ``<8 x float>`` accumulators in the same loop, each with :func:`_dot32_simd`'s
    operations in its order, so both results are bit-identical to two :func:`dot32` calls; the
    row ``b[ib]`` is loaded once, and the two independent chains overlap.
    """
    ok = all(isinstance(x, types.Array) and x.ndim == 2 and x.layout == "C"
             and x.dtype == types.float32 for x in (a, b))
    if not (ok and all(isinstance(x, types.Integer) for x in (ia0, ia1, ib))):
        return None
    sig = types.UniTuple(types.float32, 2)(a, ia0, ia1, b, ib)

    def codegen(context, builder, signature, args):
        aty, i0ty, i1ty, bty, ibty = signature.args
        out = _emit_row_dots(context, builder, args[0], aty, [(args[1], i0ty), (args[2], i1ty)],
                             args[3], bty, args[4], ibty)
        return context.make_tuple(builder, signature.return_type, out)

    return sig, codegen


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def dot32(a, ia, b, ib):
    """float32 ``dot(a[ia, :], b[ib, :])``; a, b: C-contiguous float32 [*, D].

    Eight float32 partial sums (explicit SIMD, see :func:`_dot32_simd`)
    combined in a fixed tree order, then the ``D % 8`` tail: deterministic and
    identical to :func:`dot32_scalar`. Rows must be in range (not checked).
    """
    return _dot32_simd(a, ia, b, ib)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def dot32_pair(a, ia0, ia1, b, ib):
    """``(dot32(a, ia0, b, ib), dot32(a, ia1, b, ib))`` with one pass over ``b[ib, :]``
    (:func:`_dot32_pair_simd`); bit-identical to the two calls. Rows must be in range."""
    return _dot32_pair_simd(a, ia0, ia1, b, ib)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def softplus64(x):
    """``log(1 + exp(x))`` in float64, stable for large ``|x|``.

    ``-log sigmoid(f) == softplus64(-f)``.
    """
    x = np.float64(x)
    if x > 0.0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


#: :func:`_loss_term` multiplies factors ``1 + e`` below this into its running product.
_LOSS_E_MAX = np.float32(1e30)
#: ... and folds the product into the sum (one ``log``) when it exceeds this.
_LOSS_PROD_MAX = 1e200


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _loss_term(f, e, negated, prod, loss):
    """Add one logistic loss to ``(prod, loss)`` from the ``e = exp(-f)`` the sigmoid computed.

    The loss of one output is ``-log sigmoid(f) = log(1 + e)`` (label 1; ``negated`` false) or
    ``-log sigmoid(-f) = f + log(1 + e)`` (label 0; ``negated`` true), i.e. :func:`softplus64`
    of ``-f`` / ``f``. Instead of a float64 ``exp`` and ``log1p`` per output (42% of the
    skip-gram HS kernel's profile), the factors ``1 + e`` are multiplied into ``prod`` (float64)
    and the ``f`` terms added to ``loss``; the caller adds ``log(prod)`` once per step.
    ``prod`` is folded into ``loss`` when it exceeds 1e200 (no overflow on a 40-node HS path);
    when ``e`` is 1e30 or more (``f <= -69``; ``inf`` when the float32 ``exp`` overflowed) the
    term is added exactly with :func:`softplus64` instead. Returns ``(prod, loss)``.
    """
    if e < _LOSS_E_MAX:
        prod *= 1.0 + np.float64(e)
        if negated:
            loss += np.float64(f)
        if prod > _LOSS_PROD_MAX:
            loss += np.log(prod)
            prod = 1.0
    elif negated:
        loss += softplus64(f)
    else:
        loss += softplus64(-f)
    return prod, loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def ns_update(l1, l1_row, syn1neg, targets, alpha, neu1e, touched1, compute_loss):
    """Negative-sampling output layer: one SGD step for one input vector.

    Parameters
    ----------
    l1 : float32 [R, D], C-contiguous
        Holds the input ("hidden") vector in row ``l1_row``; read only. For
        skip-gram this is ``syn0`` itself with ``l1_row = context`` (no view is
        made: views of shared arrays cost atomic refcount updates that
        contend between Hogwild threads); for CBOW the ``[1, D]`` ``neu1``
        buffer with ``l1_row = 0``.
    l1_row : int
        Row of ``l1``.
    syn1neg : float32 [V, D], C-contiguous
        Output weights, updated in place for every processed target.
    targets : int32 [n]
        ``targets[0]`` is the positive word (label 1); ``targets[1:]`` are the
        noise words (label 0). A noise entry equal to ``targets[0]`` is
        skipped (gensim/word2vec.c ``if target == word: continue``). Repeated
        noise words are processed again, sequentially (the second pass sees
        the row already updated by the first).
    alpha : float
        Learning rate (cast to float32).
    neu1e : float32 [D]
        Error accumulator; ``g * syn1neg[t]`` is ADDED to it (the caller zeroes
        it first), so a hierarchical-softmax update can add into the same
        buffer.
    touched1 : uint8 [V]
        Set to 1 at every ``syn1neg`` row updated.
    compute_loss : bool/int
        If true, return the exact NS loss of this step.

    Returns
    -------
    float64 : ``sum(-log sigmoid(f_pos)) + sum(-log sigmoid(-f_neg))`` over
    processed targets, or 0.0 when ``compute_loss`` is false.

    Per target ``t`` with label ``y`` (Mikolov et al. 2013, eq. 4; gensim
    ``w2v_fast_sentence_sg_neg``)::

        f = dot32(l1[l1_row], syn1neg[t]);  g = (y - 1 / (1 + exp(-f))) * alpha
        neu1e += g * syn1neg[t];  syn1neg[t] += g * l1[l1_row]

    Exact float32 sigmoid: no EXP_TABLE and no skipping of ``|f| >= 6``.
    Preconditions: ids in range, ``l1`` is not ``syn1neg``, ``neu1e`` has
    length D.
    """
    a32 = np.float32(alpha)
    D = syn1neg.shape[1]
    n = targets.shape[0]
    loss = 0.0
    prod = 1.0
    if n == 0:
        return loss
    pos = targets[0]
    d = 0
    # Without a repeated noise word no row is trained twice, so no update changes a later
    # target's dot product: four dots (and exps) at a time, as hs_update (bit-identical to one
    # target at a time); with one, blocks of one target (its dots past the first discarded).
    bs = 4 if _distinct_targets(targets, n) else 1
    last = n - 1
    while d < n:
        tt = (targets[d], targets[min(d + 1, last)], targets[min(d + 2, last)],
              targets[min(d + 3, last)])
        m = min(n - d, bs)  # targets in this block; no dot or exp is computed past them
        f0 = _dot32_simd(l1, l1_row, syn1neg, tt[0])
        f1 = _dot32_simd(l1, l1_row, syn1neg, tt[1]) if m > 1 else _ZERO
        f2 = _dot32_simd(l1, l1_row, syn1neg, tt[2]) if m > 2 else _ZERO
        f3 = _dot32_simd(l1, l1_row, syn1neg, tt[3]) if m > 3 else _ZERO
        f = (f0, f1, f2, f3)
        e = (np.exp(-f0), np.exp(-f1) if m > 1 else _ONE, np.exp(-f2) if m > 2 else _ONE,
             np.exp(-f3) if m > 3 else _ONE)
        for q in range(m):  # one copy of the target code (compile time), in order
            if (d + q == 0) or tt[q] != pos:
                prod, loss = _ns_node(l1, l1_row, syn1neg, tt[q], d + q != 0, f[q], e[q], a32,
                                      neu1e, touched1, compute_loss, prod, loss)
        d += bs
    if compute_loss:
        loss += np.log(prod)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _distinct_targets(targets, n):
    """True when no noise word of ``targets[1:n]`` other than ``targets[0]`` occurs twice."""
    pos = targets[0]
    for d in range(2, n):
        t = targets[d]
        if t == pos:
            continue
        for q in range(1, d):
            if targets[q] == t:
                return False
    return True


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _ns_node(l1, l1_row, syn1neg, t, noise, f, e, a32, neu1e, touched1, compute_loss, prod, loss):
    """One target of :func:`ns_update` given ``f = dot32(l1[l1_row], syn1neg[t])``, ``e = exp(-f)``.

    Label 0 when ``noise`` else 1; ``g = (label - 1 / (1 + e)) * a32``, ``neu1e += g *
    syn1neg[t]``, ``syn1neg[t] += g * l1[l1_row]``; flags ``touched1[t]``; adds the loss
    (:func:`_loss_term`). Returns ``(prod, loss)``.
    """
    D = syn1neg.shape[1]
    label = _ZERO if noise else _ONE
    g = (label - _ONE / (_ONE + e)) * a32
    for c in range(D):
        wc = syn1neg[t, c]
        neu1e[c] += g * wc
        syn1neg[t, c] = wc + g * l1[l1_row, c]
    touched1[t] = 1
    if compute_loss:
        prod, loss = _loss_term(f, e, noise, prod, loss)
    return prod, loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def hs_update(l1, l1_row, syn1, points, codes, codelens, word, alpha, neu1e, touched2,
              compute_loss):
    """Hierarchical-softmax output layer: one SGD step for one input vector.

    Same structure and conventions as :func:`ns_update` (gensim
    ``w2v_fast_sentence_sg_hs`` / ``w2v_fast_sentence_cbow_hs``, word2vec.c
    ``if (hs)`` block). For ``d`` in ``range(codelens[word])``, with
    ``p = points[word, d]`` and ``code = codes[word, d]``::

        f = dot32(l1[l1_row], syn1[p]);  g = (1 - code - 1 / (1 + exp(-f))) * alpha
        neu1e += g * syn1[p];  syn1[p] += g * l1[l1_row]

    i.e. a logistic regression with label ``1 - code`` at every inner node of
    the word's path (root first); the nodes are distinct, so the order only
    matters for rounding.

    Parameters
    ----------
    l1, l1_row : float32 [R, D] and row, as in :func:`ns_update` (read only).
    syn1 : float32 [>= V - 1, D], C-contiguous
        Inner-node weights, updated in place.
    points : int32 [V, L], codes : uint8 [V, L], codelens : int32 [V]
        Huffman paths (:func:`w2v_dist.kernels.huffman.build_huffman`).
    word : int
        The predicted word (the center word).
    alpha : float
    neu1e : float32 [D]
        Error accumulator, ADDED to (as :func:`ns_update`), so HS and NS can
        share it.
    touched2 : uint8 [rows of syn1]
        Set to 1 at every updated ``syn1`` row.
    compute_loss : bool/int

    Returns
    -------
    float64 : the exact HS loss ``-log P(word | l1)`` =
    ``sum_d -log sigmoid((1 - 2 * code) * f)``, i.e. ``-log sigmoid(f)`` where
    ``code == 0`` and ``-log sigmoid(-f)`` where ``code == 1`` (gensim's
    ``sgn = (-1)**code; loss -= log sigmoid(sgn * f)``, without its LOG_TABLE
    and ``|f| < 6`` window), or 0.0 when ``compute_loss`` is false.

    Exact float32 sigmoid, no skipping of ``|f| >= 6`` (as :func:`ns_update`).
    A word with ``codelens[word] == 0`` (V == 1) is a no-op.
    """
    a32 = np.float32(alpha)
    loss = 0.0
    prod = 1.0
    L = np.int64(codelens[word])
    d = np.int64(0)
    # The path's nodes are distinct rows and l1 is not syn1, so node d's update changes none of
    # the dot products of the nodes after it: four dots (and their exps) are issued together,
    # independent chains the CPU overlaps, then the four updates run in path order. Same
    # operations on the same values as one node at a time: bit-identical results.
    while d < L:
        m = L - d  # nodes in this block: min(m, 4); no dot or exp is computed past the path's end
        last = L - 1
        p0 = points[word, d]
        p1 = points[word, min(d + 1, last)]
        p2 = points[word, min(d + 2, last)]
        p3 = points[word, min(d + 3, last)]
        f0 = _dot32_simd(l1, l1_row, syn1, p0)
        f1 = _dot32_simd(l1, l1_row, syn1, p1) if m > 1 else _ZERO
        f2 = _dot32_simd(l1, l1_row, syn1, p2) if m > 2 else _ZERO
        f3 = _dot32_simd(l1, l1_row, syn1, p3) if m > 3 else _ZERO
        f = (f0, f1, f2, f3)
        e = (np.exp(-f0), np.exp(-f1) if m > 1 else _ONE, np.exp(-f2) if m > 2 else _ONE,
             np.exp(-f3) if m > 3 else _ONE)
        pp = (p0, p1, p2, p3)
        for q in range(min(m, 4)):  # one copy of the node code (compile time), in path order
            prod, loss = _hs_node(l1, l1_row, syn1, pp[q], codes[word, d + q], f[q], e[q], a32,
                                  neu1e, touched2, compute_loss, prod, loss)
        d += 4
    if compute_loss:
        loss += np.log(prod)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _hs_node(l1, l1_row, syn1, p, code, f, e, a32, neu1e, touched2, compute_loss, prod, loss):
    """One node of :func:`hs_update` given its ``f = dot32(l1[l1_row], syn1[p])`` and ``e = exp(-f)``.

    ``g = (1 - code - 1 / (1 + e)) * a32; neu1e += g * syn1[p]; syn1[p] += g * l1[l1_row]``;
    flags ``touched2[p]``; adds the node's loss with :func:`_loss_term`. Returns ``(prod, loss)``.

    This is :func:`_ns_node` with label ``1 - code`` (code 1 is a "noise" label 0): the same
    float32 operations, so the same bits.
    """
    return _ns_node(l1, l1_row, syn1, p, code != 0, f, e, a32, neu1e, touched2, compute_loss, prod, loss)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def sg_pair_step(syn0, syn1neg, context, targets, alpha, neu1e, touched0, touched1,
                 compute_loss=True):
    """One skip-gram NS step: input row ``syn0[context]``, predict ``targets``.

    gensim's ``w2v_fast_sentence_sg_neg`` with the targets already drawn
    (``word2_index = context``, ``word_index = targets[0]``)::

        neu1e = 0;  ns_update(syn0[context] -> syn1neg, targets);  syn0[context] += neu1e

    Parameters
    ----------
    syn0, syn1neg : float32 [V, D], C-contiguous, updated in place.
    context : int
        Input word id (the context word ``sent[j]``).
    targets : int32 [negative + 1]
        ``targets[0]`` the positive (center) word, then the noise words; see
        :func:`ns_update` for the skip / repeat semantics.
    alpha : float
        Learning rate.
    neu1e : float32 [D]
        Scratch buffer (zeroed here).
    touched0, touched1 : uint8 [V]
        Set to 1 at the changed ``syn0`` / ``syn1neg`` rows.
    compute_loss : bool/int, default True

    Returns
    -------
    float64 loss of the step (0.0 when ``compute_loss`` is false).
    """
    D = syn0.shape[1]
    for c in range(D):
        neu1e[c] = _ZERO
    loss = ns_update(syn0, context, syn1neg, targets, alpha, neu1e, touched1, compute_loss)
    for c in range(D):
        syn0[context, c] += neu1e[c]
    touched0[context] = 1
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def sg_hs_pair_step(syn0, syn1neg, syn1, points, codes, codelens, context, targets, hs,
                    negative, alpha, neu1e, touched0, touched1, touched2, compute_loss=True):
    """One skip-gram step with hierarchical softmax and/or negative sampling.

    Input row ``syn0[context]``, predicted word ``targets[0]``::

        neu1e = 0
        if hs:           hs_update(syn0[context] -> syn1, path of targets[0])
        if negative > 0: ns_update(syn0[context] -> syn1neg, targets)
        syn0[context] += neu1e

    Both outputs read the same, not yet updated, input row and accumulate into
    one ``neu1e``, HS first: word2vec.c's ``train_model_thread`` semantics.
    (gensim 4 calls ``fast_sentence_sg_hs`` then ``fast_sentence_sg_neg`` in
    the same order, but each applies its own ``syn0`` update, so its NS part
    sees the row already moved by HS; the difference is O(alpha**2).)

    Parameters
    ----------
    syn0, syn1neg, syn1, points, codes, codelens
        As :func:`train_slice`; ``syn1neg`` is never read when
        ``negative == 0`` and ``syn1``/``points``/``codes``/``codelens`` never
        when ``hs == 0`` (dummies allowed).
    context : int
    targets : int32 [negative + 1]
        ``targets[0]`` the center word (HS: the word whose path is trained);
        ``targets[1:]`` the noise words (see :func:`ns_update`).
    hs, negative : int or bool
        HS on iff ``hs``; NS on iff ``negative > 0`` (``train_slice`` passes
        constant bools here so that the disabled branch is compiled away).
    alpha : float
    neu1e : float32 [D]
        Scratch (zeroed here).
    touched0, touched1, touched2 : uint8
        Flags of changed ``syn0`` / ``syn1neg`` / ``syn1`` rows.
    compute_loss : bool/int, default True

    Returns
    -------
    float64 loss of the step (HS + NS; 0.0 when ``compute_loss`` is false).
    """
    D = syn0.shape[1]
    for c in range(D):
        neu1e[c] = _ZERO
    loss = 0.0
    if hs:
        loss += hs_update(syn0, context, syn1, points, codes, codelens, targets[0], alpha,
                          neu1e, touched2, compute_loss)
    if negative > 0:
        loss += ns_update(syn0, context, syn1neg, targets, alpha, neu1e, touched1,
                          compute_loss)
    for c in range(D):
        syn0[context, c] += neu1e[c]
    touched0[context] = 1
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _cbow_hidden(syn0, contexts, cbow_mean, neu1, neu1e):
    """CBOW input: ``neu1[0] = sum (or mean) of syn0[contexts]``; zero ``neu1e``.

    Returns ``inv_count = 1 / cw`` (float32). Requires ``cw >= 1``.
    """
    D = syn0.shape[1]
    cw = contexts.shape[0]
    for c in range(D):
        neu1[0, c] = _ZERO
        neu1e[c] = _ZERO
    for m in range(cw):
        w = contexts[m]
        for c in range(D):
            neu1[0, c] += syn0[w, c]
    inv_count = _ONE / np.float32(cw)
    if cbow_mean:
        for c in range(D):
            neu1[0, c] *= inv_count
    return inv_count


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _cbow_backprop(syn0, contexts, cbow_mean, inv_count, neu1e, touched0):
    """CBOW input update: ``neu1e *= inv_count`` unless ``cbow_mean``; then
    ``syn0[contexts[m]] += neu1e`` for every m."""
    D = syn0.shape[1]
    cw = contexts.shape[0]
    if not cbow_mean:
        for c in range(D):
            neu1e[c] *= inv_count
    for m in range(cw):
        w = contexts[m]
        for c in range(D):
            syn0[w, c] += neu1e[c]
        touched0[w] = 1


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def cbow_step(syn0, syn1neg, contexts, targets, alpha, cbow_mean, neu1, neu1e,
              touched0, touched1, compute_loss=True):
    """One CBOW NS step: input = sum (or mean) of ``syn0[contexts]``.

    Follows gensim's ``w2v_fast_sentence_cbow_neg``:

    * ``neu1 = sum_m syn0[contexts[m]]`` (in order); if ``cbow_mean``,
      ``neu1 *= 1/cw`` (gensim: ``sscal(inv_count, neu1)``);
    * :func:`ns_update` with ``l1 = neu1``;
    * ``if not cbow_mean: neu1e *= 1/cw`` -- gensim divides the error by the
      context count only for the *sum* variant (``if not cbow_mean: # divide
      error over summed window vectors``); with ``cbow_mean`` the full error
      is added to each context row (as word2vec.c);
    * ``syn0[contexts[m]] += neu1e`` for every m (a word present twice in the
      window receives the error twice).

    Parameters
    ----------
    syn0, syn1neg : float32 [V, D], C-contiguous, updated in place.
    contexts : int32 [cw]
        Context word ids. ``cw == 0`` is a no-op returning 0.0 (the slice loop
        never calls it so, like word2vec.c's ``if (cw)``).
    targets : int32 [negative + 1]
        Positive (center) word first; see :func:`ns_update`.
    alpha : float
    cbow_mean : bool/int
    neu1 : float32 [1, D]
        Scratch (overwritten); 2-D so it can be passed to :func:`ns_update`
        without making a view.
    neu1e : float32 [D]
        Scratch (overwritten).
    touched0, touched1 : uint8 [V]
    compute_loss : bool/int, default True

    Returns
    -------
    float64 loss of the step (0.0 when ``compute_loss`` is false).
    """
    if contexts.shape[0] == 0:
        return 0.0
    inv_count = _cbow_hidden(syn0, contexts, cbow_mean, neu1, neu1e)
    loss = ns_update(neu1, 0, syn1neg, targets, alpha, neu1e, touched1, compute_loss)
    _cbow_backprop(syn0, contexts, cbow_mean, inv_count, neu1e, touched0)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def cbow_hs_step(syn0, syn1neg, syn1, points, codes, codelens, contexts, targets, hs,
                 negative, alpha, cbow_mean, neu1, neu1e, touched0, touched1, touched2,
                 compute_loss=True):
    """One CBOW step with hierarchical softmax and/or negative sampling.

    As :func:`cbow_step` (same ``neu1`` / ``cbow_mean`` / ``1/cw`` handling,
    gensim ``w2v_fast_sentence_cbow_hs`` + ``w2v_fast_sentence_cbow_neg``),
    with the output layer of :func:`sg_hs_pair_step`: ``hs_update`` (if
    ``hs``) then ``ns_update`` (if ``negative > 0``) both on the same ``neu1``
    and into one ``neu1e`` (word2vec.c semantics), then the context rows.
    ``targets[0]`` is the center word. ``cw == 0`` is a no-op returning 0.0.
    Dummy arrays are never read for a disabled output (see
    :func:`sg_hs_pair_step`). Returns the float64 loss of the step.
    """
    if contexts.shape[0] == 0:
        return 0.0
    inv_count = _cbow_hidden(syn0, contexts, cbow_mean, neu1, neu1e)
    loss = 0.0
    if hs:
        loss += hs_update(neu1, 0, syn1, points, codes, codelens, targets[0], alpha, neu1e,
                          touched2, compute_loss)
    if negative > 0:
        loss += ns_update(neu1, 0, syn1neg, targets, alpha, neu1e, touched1, compute_loss)
    _cbow_backprop(syn0, contexts, cbow_mean, inv_count, neu1e, touched0)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def subsample_sentence(ids, start, end, keep_prob, state, out):
    """Copy the kept ids of ``ids[start:end]`` into ``out``; return (n_kept, state).

    One ``random_int32`` draw per id, in order; ``w`` is dropped when
    ``keep_prob[w] < draw`` (gensim ``train_batch_*``). Drawn for every id,
    also when ``keep_prob[w] == 2**32 - 1`` (always kept).
    out: int32 buffer of length >= end - start. state: uint64.
    """
    n = 0
    for p in range(start, end):
        w = ids[p]
        r, state = random_int32(state)
        if keep_prob[w] < r:
            continue
        out[n] = w
        n += 1
    return n, state


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def draw_reduced_windows(n, window, state, out):
    """``out[i] = random_int32() % window`` for i < n (word2vec's ``b``).

    Drawn for the whole (subsampled) sentence before training it, like gensim's
    precomputed ``reduced_windows`` (which gensim draws from numpy's RNG; here
    the LCG is used). Returns the new state.
    """
    w64 = np.uint64(window)
    for i in range(n):
        r, state = random_int32(state)
        out[i] = np.int64(r % w64)
    return state


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _fill_targets(slot, word, cum_table, nindex, nshift, state, neg, syn1neg, hs, syn1, points,
                  codelens):
    """``slot[0] = word``; ``slot[1..neg]`` = fresh negative draws; prefetch their rows.

    With ``hs``, also prefetches the ``syn1`` rows of the word's Huffman path
    below :data:`HS_PREFETCH_SKIP` (the top of the tree is shared by all words
    and stays cached). Nothing is drawn or prefetched from ``syn1neg`` when
    ``neg == 0`` nor from ``syn1`` when ``hs == 0`` (dummy arrays).
    slot: int32 [neg + 1]; ``nindex, nshift = noise_index(cum_table)`` (the draws are
    :func:`~w2v_dist.kernels._rng.draw_negative`'s); state: uint64. Returns the advanced state.
    """
    slot[0] = word
    if neg > 0:
        _prefetch_row(syn1neg, word)
    for d in range(1, neg + 1):
        t, state = draw_negative_indexed(cum_table, nindex, nshift, state)
        slot[d] = t
        _prefetch_row(syn1neg, t)
    if hs:
        for d in range(HS_PREFETCH_SKIP, codelens[word]):
            _prefetch_row(syn1, points[word, d])
    return state


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _sg_seek(i, j, n, win, rwin):
    """First skip-gram pair ``(center, context)`` at or after ``(i, j)``.

    Pairs are ordered by center position ``i`` then context position ``j``;
    center ``i`` has contexts ``j`` in ``[max(i - win + rwin[i], 0),
    min(i + win + 1 - rwin[i], n))``, ``j != i``. Returns ``(n, 0)`` when
    exhausted. All int64.
    """
    while i < n:
        b = rwin[i]
        j0 = i - win + b
        if j0 < 0:
            j0 = 0
        k = i + win + 1 - b
        if k > n:
            k = n
        if j < j0:
            j = j0
        if j == i:
            j += 1
        if j < k:
            return i, j
        i += 1
        j = np.int64(0)
    return n, np.int64(0)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _longest_sentence(offsets, sent_lo, sent_hi):
    """Length (words) of the longest sentence in [sent_lo, sent_hi): the size of the work buffers."""
    maxlen = np.int64(0)
    for s in range(sent_lo, sent_hi):
        L = offsets[s + 1] - offsets[s]
        if L > maxlen:
            maxlen = L
    return maxlen


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_words(offsets, sent_lo, sent_hi):
    """Raw words (int64) of the sentences [sent_lo, sent_hi)."""
    raw_total = np.int64(0)
    if sent_hi > sent_lo:
        raw_total = offsets[sent_hi] - offsets[sent_lo]
    return raw_total


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _linear_alpha(a0, a1, raw_done, raw_total):
    """float32 learning rate after ``raw_done`` of ``raw_total`` words, linear from a0 to a1 (word2vec.c)."""
    frac = 0.0
    if raw_total > 0:
        frac = raw_done / raw_total
    return np.float32(a0 + (a1 - a0) * frac)


def train_slice(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                points, codes, codelens, sg, cbow_mean, window, negative, hs,
                alpha_start, alpha_end, seed, touched0, touched1, touched2, compute_loss):
    """Train sentences ``sent_lo .. sent_hi-1`` of one partition (SG or CBOW; NS and/or HS).

    Parameters
    ----------
    syn0, syn1neg : float32 [V, D], C-contiguous
        Input / NS output weights, updated in place (Hogwild-safe to share).
        With ``negative == 0`` ``syn1neg`` is a dummy (e.g. ``zeros((1, D))``),
        never read.
    syn1 : float32 [>= V - 1, D], C-contiguous
        HS inner-node weights (zeros initially), updated in place; a dummy
        (e.g. ``zeros((1, D))``), never read, when ``hs == 0``.
    ids : int32 [N]
        Word ids of the partition, each in ``[0, V)``.
    offsets : int64 [S + 1]
        Sentence ``s`` is ``ids[offsets[s]:offsets[s + 1]]``; non-decreasing.
    sent_lo, sent_hi : int
        Half-open sentence range, ``0 <= sent_lo <= sent_hi <= S``. Sentences
        may be empty; the scratch buffer is sized from the longest one.
    keep_prob : uint32 [V]
        Subsampling thresholds (gensim ``sample_int``): w is dropped when
        ``keep_prob[w] < random_int32()``; ``2**32 - 1`` keeps always.
    cum_table : int64 [V]
        Cumulative noise distribution (unigram**0.75) scaled to a domain,
        ``cum_table[-1] > 0`` (e.g. 2**31 - 1). Unused when ``negative == 0``.
    points : int32 [V, L], codes : uint8 [V, L], codelens : int32 [V]
        Huffman paths (:func:`w2v_dist.kernels.huffman.build_huffman`); unused
        (dummies ``zeros((1, 1))`` / ``zeros(1)``) when ``hs == 0``.
    sg : int
        1 = skip-gram, 0 = CBOW.
    cbow_mean : int
        CBOW only: 1 = mean of context rows, 0 = sum (see :func:`cbow_step`).
    window : int >= 1
        Maximum window; each position uses ``window - b``, ``b`` uniform in
        ``[0, window)``.
    negative : int >= 0
        Noise words per positive; 0 disables negative sampling.
    hs : int in {0, 1}
        1 enables hierarchical softmax. ``hs == 0 and negative == 0`` is not
        allowed (nothing would be trained). With both, every step runs the HS
        update then the NS update into one shared error vector (see
        :func:`sg_hs_pair_step`).
    alpha_start, alpha_end : float
        Learning rate, linear over the slice's raw words:
        ``alpha = alpha_start + (alpha_end - alpha_start) * raw_done / raw_total``
        recomputed at the start of each sentence (``raw_done`` = raw ids of the
        previous sentences of the slice).
    seed : int in [0, 2**63)
        Initial LCG state (masked to 48 bits).
    touched0, touched1, touched2 : uint8 [rows of syn0 / syn1neg / syn1]
        Set to 1 for every ``syn0`` / ``syn1neg`` / ``syn1`` row this call
        changed (never cleared here; the disabled output's flags are untouched).
    compute_loss : int
        Nonzero: accumulate the exact loss (NS + HS, see :func:`ns_update`,
        :func:`hs_update`).

    Returns
    -------
    (raw_words: int64, effective_words: int64, loss: float64)
        ``raw_words`` = ids in the trained sentences before subsampling,
        ``effective_words`` = ids kept by subsampling, ``loss`` = summed loss
        (0.0 unless ``compute_loss``).

    Random stream (one LCG, see ``_rng``), per sentence, in gensim's order:
    one subsampling draw per raw id, then one reduced-window draw per kept
    position, then during training ``negative`` draws per (center, context)
    pair for skip-gram or per center position for CBOW (negatives equal to
    the center word are drawn but skipped). CBOW positions with no context
    (one-word sentences) are skipped without drawing (word2vec.c ``if (cw)``;
    gensim would still draw there). HS uses no random numbers, so the stream
    is the same with ``hs`` on or off.

    Raises ValueError when ``hs == 0`` and ``negative == 0``; nothing else
    raises, and out-of-range ids or malformed offsets are undefined behaviour.

    Implementation: a Python dispatcher over six compiled kernels, one per
    ``(sg, hs, negative > 0)``: each inlines the one loop
    (:func:`_train_slice_impl`) with those flags as constants, so a variant
    has no branch of the others in it (a runtime ``if hs`` in the hot loop
    cost the NS-only path ~15%), and Numba compiles only the variants a job
    uses (:func:`w2v_dist.kernels.warmup`).
    """
    kernel = _EXACT.get((1 if sg else 0, hs != 0, negative > 0))
    if kernel is None:
        raise ValueError("train_slice: hs=0 and negative=0 leave nothing to train")
    return kernel(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                  points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                  seed, touched0, touched1, touched2, compute_loss)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                      cum_table, points, codes, codelens, sg, cbow_mean, window, negative,
                      alpha_start, alpha_end, seed, touched0, touched1, touched2,
                      compute_loss, use_hs, use_ns):
    """Body of :func:`train_slice`; ``use_hs`` / ``use_ns`` are compile-time
    constants at each (inlined) call site. ``negative`` must be 0 when not
    ``use_ns``."""
    D = syn0.shape[1]
    state = np.uint64(seed) & _MASK48
    win = np.int64(window)
    neg = np.int64(negative)

    maxlen = _longest_sentence(offsets, sent_lo, sent_hi)
    sent = np.empty(maxlen, dtype=np.int32)
    rwin = np.empty(maxlen, dtype=np.int64)
    # ring of look-ahead slots: slot r holds the targets of one (future) step
    ring = np.empty((PREFETCH_AHEAD + 1, neg + 1), dtype=np.int32)
    ring_ctx = np.empty(PREFETCH_AHEAD + 1, dtype=np.int32)
    R = PREFETCH_AHEAD + 1
    contexts = np.empty(2 * win, dtype=np.int32)
    neu1 = np.zeros((1, D), dtype=np.float32)
    neu1e = np.zeros(D, dtype=np.float32)

    raw_total = _slice_words(offsets, sent_lo, sent_hi)
    a0 = np.float64(alpha_start)
    a1 = np.float64(alpha_end)
    nindex, nshift = noise_index(cum_table)  # exact draws, searching only the draw's bucket

    raw_done = np.int64(0)
    effective = np.int64(0)
    loss = 0.0
    for s in range(sent_lo, sent_hi):
        start = offsets[s]
        end = offsets[s + 1]
        alpha = _linear_alpha(a0, a1, raw_done, raw_total)

        n, state = subsample_sentence(ids, start, end, keep_prob, state, sent)
        raw_done += end - start
        effective += n
        state = draw_reduced_windows(n, win, state, rwin)

        if sg:
            # Pairs in (center asc, context asc) order. A look-ahead cursor
            # (qi, qj) draws each pair's negatives PREFETCH_AHEAD pairs early
            # (same draw order as drawing them just in time) and prefetches
            # the rows; the processing loop consumes the ring in order.
            qi, qj = _sg_seek(np.int64(0), np.int64(0), n, win, rwin)
            ahead = 0
            while ahead < PREFETCH_AHEAD and qi < n:
                r = ahead % R
                state = _fill_targets(ring[r], sent[qi], cum_table, nindex, nshift, state, neg,
                                      syn1neg, use_hs, syn1, points, codelens)
                ring_ctx[r] = sent[qj]
                _prefetch_row(syn0, sent[qj])
                qi, qj = _sg_seek(qi, qj + 1, n, win, rwin)
                ahead += 1
            p = 0
            while p < ahead:
                if qi < n:
                    r = ahead % R
                    state = _fill_targets(ring[r], sent[qi], cum_table, nindex, nshift, state,
                                          neg, syn1neg, use_hs, syn1, points, codelens)
                    ring_ctx[r] = sent[qj]
                    _prefetch_row(syn0, sent[qj])
                    qi, qj = _sg_seek(qi, qj + 1, n, win, rwin)
                    ahead += 1
                r = p % R
                loss += sg_hs_pair_step(syn0, syn1neg, syn1, points, codes, codelens,
                                        ring_ctx[r], ring[r], use_hs, use_ns, alpha, neu1e,
                                        touched0, touched1, touched2, compute_loss)
                p += 1
        elif n > 1:
            # CBOW: every position has cw >= 1 when n > 1 (window >= 1).
            # Negatives of position i + PREFETCH_AHEAD are drawn while
            # position i is trained (same draw order).
            ahead = 0
            while ahead < PREFETCH_AHEAD and ahead < n:
                state = _fill_targets(ring[ahead % R], sent[ahead], cum_table, nindex, nshift,
                                      state, neg, syn1neg, use_hs, syn1, points, codelens)
                ahead += 1
            for i in range(n):
                if ahead < n:
                    state = _fill_targets(ring[ahead % R], sent[ahead], cum_table, nindex, nshift,
                                          state, neg, syn1neg, use_hs, syn1, points, codelens)
                    e = ahead + win
                    if e < n:
                        _prefetch_row(syn0, sent[e])
                    ahead += 1
                b = rwin[i]
                j0 = i - win + b
                if j0 < 0:
                    j0 = 0
                k = i + win + 1 - b
                if k > n:
                    k = n
                cw = 0
                for j in range(j0, k):
                    if j == i:
                        continue
                    contexts[cw] = sent[j]
                    cw += 1
                loss += cbow_hs_step(syn0, syn1neg, syn1, points, codes, codelens, contexts[:cw],
                                     ring[i % R], use_hs, use_ns, alpha, cbow_mean, neu1, neu1e,
                                     touched0, touched1, touched2, compute_loss)

    if not compute_loss:
        loss = 0.0
    return raw_done, effective, loss


# ----------------------------------------------------------------------------
# Fast mode: shared negatives (HogBatch, Ji et al. 2016)
# ----------------------------------------------------------------------------


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_sg_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table, points,
                 codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end, seed,
                 touched0, touched1, touched2, compute_loss):
    return _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, 1, cbow_mean, window, negative,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, False, True)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_sg_hs(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table, points,
                 codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end, seed,
                 touched0, touched1, touched2, compute_loss):
    return _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, 1, cbow_mean, window, 0,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, True, False)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_sg_hs_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                    points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                    seed, touched0, touched1, touched2, compute_loss):
    return _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, 1, cbow_mean, window, negative,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, True, True)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_cbow_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                   points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                   seed, touched0, touched1, touched2, compute_loss):
    return _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, 0, cbow_mean, window, negative,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, False, True)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_cbow_hs(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                   points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                   seed, touched0, touched1, touched2, compute_loss):
    return _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, 0, cbow_mean, window, 0,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, True, False)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _slice_cbow_hs_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                      points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                      seed, touched0, touched1, touched2, compute_loss):
    return _train_slice_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, 0, cbow_mean, window, negative,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, True, True)


#: The compiled variants of :func:`train_slice`, by ``(sg, hs != 0, negative > 0)``.
_EXACT = {(1, False, True): _slice_sg_ns, (1, True, False): _slice_sg_hs,
          (1, True, True): _slice_sg_hs_ns, (0, False, True): _slice_cbow_ns,
          (0, True, False): _slice_cbow_hs, (0, True, True): _slice_cbow_hs_ns}

@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _batch_scores(inp, B, syn1neg, pos, negs, K, a32, G, compute_loss):
    """``G`` of :func:`ns_shared_batch` (its scaled gradients); returns the loss (or 0.0)."""
    loss = 0.0
    for b in range(B):
        p = pos[b]
        f = _dot32_simd(inp, b, syn1neg, p)
        e = np.exp(-f)
        G[b, 0] = (_ONE - _ONE / (_ONE + e)) * a32
        # loss of row b = log(prod_k (1 + e_k)) + sum_neg f_k: one log per row (_loss_term)
        prod = 1.0
        if compute_loss:
            prod, loss = _loss_term(f, e, False, prod, loss)
        for k in range(K):
            t = negs[k]
            if t == p:
                G[b, k + 1] = _ZERO
                continue
            f = _dot32_simd(inp, b, syn1neg, t)
            e = np.exp(-f)
            G[b, k + 1] = (_ZERO - _ONE / (_ONE + e)) * a32
            if compute_loss:
                prod, loss = _loss_term(f, e, True, prod, loss)
        if compute_loss:
            loss += np.log(prod)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _pair_scores(inp, syn1neg, pos, negs, K, a32, G, compute_loss):
    """:func:`_batch_scores` for ``B = 2``: each noise row is read once for both inputs' dot
    products (:func:`_dot32_pair_simd`). The same ``G``, bit for bit; the loss is the same sum
    (a product and a ``log`` per input, :func:`_loss_term`) added in another order."""
    loss = 0.0
    prod0 = 1.0
    prod1 = 1.0
    f = _dot32_simd(inp, 0, syn1neg, pos[0])
    e = np.exp(-f)
    G[0, 0] = (_ONE - _ONE / (_ONE + e)) * a32
    if compute_loss:
        prod0, loss = _loss_term(f, e, False, prod0, loss)
    f = _dot32_simd(inp, 1, syn1neg, pos[1])
    e = np.exp(-f)
    G[1, 0] = (_ONE - _ONE / (_ONE + e)) * a32
    if compute_loss:
        prod1, loss = _loss_term(f, e, False, prod1, loss)
    for k in range(K):
        t = negs[k]
        f0, f1 = _dot32_pair_simd(inp, 0, 1, syn1neg, t)
        if t == pos[0]:
            G[0, k + 1] = _ZERO
        else:
            e = np.exp(-f0)
            G[0, k + 1] = (_ZERO - _ONE / (_ONE + e)) * a32
            if compute_loss:
                prod0, loss = _loss_term(f0, e, True, prod0, loss)
        if t == pos[1]:
            G[1, k + 1] = _ZERO
        else:
            e = np.exp(-f1)
            G[1, k + 1] = (_ZERO - _ONE / (_ONE + e)) * a32
            if compute_loss:
                prod1, loss = _loss_term(f1, e, True, prod1, loss)
    if compute_loss:
        loss += np.log(prod0) + np.log(prod1)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def ns_shared_batch(inp, B, syn1neg, pos, negs, K, alpha, G, err, touched1, compute_loss):
    """Negative sampling for ``B`` input vectors sharing one draw of ``K`` noise words.

    The minibatch step of HogBatch (Ji, Shadeed, Vaidyanathan, Daga, Ghosh, Hicks, Shahbazi and
    Dubey 2016, "Parallelizing Word2Vec in Shared and Distributed Memory", sec. 3): the per-pair
    dot products of :func:`ns_update` become one small matrix product between the inputs
    ``inp[0:B]`` and the output rows ``syn1neg[pos[b]]`` (each input's own positive) and
    ``syn1neg[negs[0:K]]`` (the noise words, shared by all inputs); the gradient of the batch is
    computed from the weights as they were before the step and applied once::

        F[b, 0]   = dot32(inp[b], syn1neg[pos[b]]);   G[b, 0]   = (1 - sigmoid(F[b, 0])) * alpha
        F[b, k+1] = dot32(inp[b], syn1neg[negs[k]]);  G[b, k+1] = -sigmoid(F[b, k+1]) * alpha
        err[b]          += G[b, 0] * syn1neg[pos[b]] + sum_k G[b, k+1] * syn1neg[negs[k]]
        syn1neg[pos[b]] += G[b, 0] * inp[b]                  (for every b)
        syn1neg[negs[k]] += sum_b G[b, k+1] * inp[b]         (for every k)

    (the ``err`` products read ``syn1neg`` before its update). A noise word equal to
    ``pos[b]`` is skipped for that input (``G[b, k+1] = 0``; gensim/word2vec.c ``if target ==
    word: continue``); a noise word drawn twice is two columns whose updates add up.

    Parameters
    ----------
    inp : float32 [>= B, D], C-contiguous
        Input vectors in rows ``0..B-1``; read only. A private buffer (a copy of the context
        rows for skip-gram, the hidden vectors for CBOW), so the step sees a consistent
        snapshot.
    B : int >= 0
        Number of inputs (0: no-op).
    syn1neg : float32 [V, D], C-contiguous
        Output weights, updated in place.
    pos : int32 [>= B]
        The positive (predicted) word of each input.
    negs : int32 [>= K]
        The shared noise words.
    K : int >= 0
    alpha : float
    G : float32 [>= B, >= K + 1]
        Scratch (overwritten).
    err : float32 [>= B, D]
        The input errors are ADDED to rows ``0..B-1`` (the caller zeroes them, or puts the
        hierarchical-softmax errors there first).
    touched1 : uint8 [V]
        Set to 1 at every ``syn1neg`` row changed.
    compute_loss : bool/int
        If true, return the loss: ``softplus(-F[b, 0])`` plus ``softplus(F[b, k+1])`` over the
        entries not skipped (as :func:`ns_update`), computed per input row as
        ``log(prod_k (1 + exp(-F[b, k]))) + sum_noise F[b, k]`` in float64 from the float32
        ``exp`` the sigmoid needs (one ``log`` per row instead of a ``log1p`` and an ``exp``
        per entry: the exact loss was a quarter of the fast kernel's time; :func:`_loss_term`,
        which also keeps the entries with ``F <= -69`` exact).

    Returns
    -------
    float64 loss (0.0 when ``compute_loss`` is false).

    Exact float32 sigmoid (no table, no ``|f| >= 6`` skip). Preconditions: ids in range,
    ``inp`` and ``err`` are not ``syn1neg``.
    """
    a32 = np.float32(alpha)
    D = syn1neg.shape[1]
    if B == 2:  # CBOW's usual group: one pass over each noise row for both inputs
        loss = _pair_scores(inp, syn1neg, pos, negs, K, a32, G, compute_loss)
    else:
        loss = _batch_scores(inp, B, syn1neg, pos, negs, K, a32, G, compute_loss)
    if B == 2 and _distinct_rows(pos, B, negs, K):
        # CBOW's usual group (shared = 2): every output row once, so each row's errors and update
        # are one pass over it (the same operations in the same order as the passes below)
        _ns_shared_rows_fused(inp, syn1neg, pos, negs, K, G, err, touched1)
        return loss
    # input errors from the output rows as they were before the step
    for b in range(B):
        p = pos[b]
        g = G[b, 0]
        for c in range(D):
            err[b, c] += g * syn1neg[p, c]
        for k in range(K):
            t = negs[k]
            if t == p:
                continue
            g = G[b, k + 1]
            for c in range(D):
                err[b, c] += g * syn1neg[t, c]
    # output updates, accumulated over the inputs
    for b in range(B):
        p = pos[b]
        g = G[b, 0]
        for c in range(D):
            syn1neg[p, c] += g * inp[b, c]
        touched1[p] = 1
    for k in range(K):
        t = negs[k]
        for b in range(B):
            if t == pos[b]:
                continue
            g = G[b, k + 1]
            for c in range(D):
                syn1neg[t, c] += g * inp[b, c]
            touched1[t] = 1
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _hs_rows(inp, B, syn1, points, codes, codelens, pos, alpha, err, neu1e, touched2,
             compute_loss):
    """``err[b] = hs_update(inp[b] -> syn1, path of pos[b])`` for b < B (exact HS, sequential)."""
    D = inp.shape[1]
    loss = 0.0
    for b in range(B):
        for c in range(D):
            neu1e[c] = _ZERO
        loss += hs_update(inp, b, syn1, points, codes, codelens, pos[b], alpha, neu1e,
                          touched2, compute_loss)
        for c in range(D):
            err[b, c] = neu1e[c]
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def sg_shared_step(syn0, syn1neg, syn1, points, codes, codelens, contexts, center, negs, hs,
                   alpha, inp, pos, G, err, neu1e, touched0, touched1, touched2,
                   compute_loss=True):
    """One fast-mode skip-gram step: all contexts of one center word, one shared noise draw.

    Inputs ``syn0[contexts[b]]`` (copied to ``inp``), all predicting ``center``::

        err = 0;  if hs: err[b] = hs_update(syn0[contexts[b]] -> syn1, path of center)
        ns_shared_batch(inp, syn1neg, pos = center, negs)    # adds into err
        syn0[contexts[b]] += err[b]   for every b

    i.e. :func:`sg_hs_pair_step` for every (center, context) pair of the window, except that the
    NS part of all the pairs shares ``negs`` and is one batch step (:func:`ns_shared_batch`); HS
    is exact and per pair. Exposed for tests; :func:`train_slice_shared` runs the same code.

    Parameters
    ----------
    syn0, syn1neg : float32 [V, D]; syn1, points, codes, codelens : as :func:`train_slice`
        (dummies when ``hs`` is 0).
    contexts : int32 [B]
        The context word ids (``B >= 0``; B <= rows of the scratch buffers).
    center : int
    negs : int32 [K]
        The shared noise words (K = negative >= 1).
    hs : bool/int
    alpha : float
    inp, err : float32 [>= B, D]; G : float32 [>= B, K + 1]; pos : int32 [>= B];
    neu1e : float32 [D]
        Scratch buffers (overwritten).
    touched0, touched1, touched2 : uint8
        Flags of changed ``syn0`` / ``syn1neg`` / ``syn1`` rows.
    compute_loss : bool/int, default True

    Returns
    -------
    float64 loss of the step (0.0 when ``compute_loss`` is false).
    """
    D = syn0.shape[1]
    B = contexts.shape[0]
    for b in range(B):
        w = contexts[b]
        pos[b] = center
        for c in range(D):
            inp[b, c] = syn0[w, c]
            err[b, c] = _ZERO
    loss = 0.0
    if hs:
        loss += _hs_rows(inp, B, syn1, points, codes, codelens, pos, alpha, err, neu1e,
                         touched2, compute_loss)
    loss += ns_shared_batch(inp, B, syn1neg, pos, negs, negs.shape[0], alpha, G, err, touched1,
                            compute_loss)
    for b in range(B):
        w = contexts[b]
        for c in range(D):
            syn0[w, c] += err[b, c]
        touched0[w] = 1
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _distinct_rows(pos, B, negs, K):
    """True when the output rows ``pos[0:B]`` and ``negs[0:K]`` are all different words."""
    for k in range(K):
        t = negs[k]
        for b in range(B):
            if pos[b] == t:
                return False
        for q in range(k):
            if negs[q] == t:
                return False
    for b in range(1, B):
        for q in range(b):
            if pos[q] == pos[b]:
                return False
    return True


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _ns_shared_rows_fused(inp, syn1neg, pos, negs, K, G, err, touched1):
    """The error and update passes of :func:`ns_shared_batch` for ``B = 2`` inputs whose
    output rows are all distinct: one read and one write of each row instead of two reads.

    Each row's old value feeds the errors before its own update, and no other row of the step
    is the same word, so this equals the general passes (bit for bit: per ``err[b]`` the
    positive's term, then the noise words' in order; per noise row input 0's term, then 1's).
    """
    D = syn1neg.shape[1]
    for b in range(2):
        p = pos[b]
        g = G[b, 0]
        for c in range(D):
            w = syn1neg[p, c]
            err[b, c] += g * w
            syn1neg[p, c] = w + g * inp[b, c]
        touched1[p] = 1
    for k in range(K):
        t = negs[k]
        g0 = G[0, k + 1]
        g1 = G[1, k + 1]
        for c in range(D):
            w = syn1neg[t, c]
            err[0, c] += g0 * w
            err[1, c] += g1 * w
            syn1neg[t, c] = (w + g0 * inp[0, c]) + g1 * inp[1, c]
        touched1[t] = 1


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def cbow_shared_step(syn0, syn1neg, syn1, points, codes, codelens, ctx, ctx_off, centers, negs,
                     hs, alpha, cbow_mean, inp, G, err, neu1e, touched0, touched1, touched2,
                     compute_loss=True):
    """One fast-mode CBOW step: M consecutive center words sharing one noise draw.

    Center ``m`` has the context words ``ctx[ctx_off[m]:ctx_off[m + 1]]`` (``cw_m >= 1``); its
    hidden vector ``inp[m]`` is their sum (mean if ``cbow_mean``), all computed before any
    update of the step. Then::

        err = 0;  if hs: err[m] = hs_update(inp[m] -> syn1, path of centers[m])
        ns_shared_batch(inp, syn1neg, pos = centers, negs)   # adds into err
        if not cbow_mean: err[m] *= 1 / cw_m
        syn0[c] += err[m]   for every context c of every m

    With M = 1 this is :func:`cbow_hs_step` (only a noise word drawn twice differs: its second
    update no longer sees the first). Exposed for tests; :func:`train_slice_shared` runs the
    same arithmetic, except for the pairs of ``shared = 2``, whose context rows held by both
    windows are summed and updated once (:func:`_cbow_pair_hidden`; the NS step,
    :func:`ns_shared_batch`, is the same).

    Parameters
    ----------
    ctx : int32 [sum cw_m]; ctx_off : int64 [M + 1]
        The contexts, flattened; ``M = centers.shape[0]``.
    centers : int32 [M]
    negs : int32 [K]
    inp, err : float32 [>= M, D]; G : float32 [>= M, K + 1]; neu1e : float32 [D]
        Scratch.
    Other parameters as :func:`sg_shared_step`.

    Returns
    -------
    float64 loss of the step (0.0 when ``compute_loss`` is false).
    """
    M = centers.shape[0]
    loss = _cbow_shared_hidden(syn0, ctx, ctx_off, M, cbow_mean, inp, err)
    if hs:
        loss += _hs_rows(inp, M, syn1, points, codes, codelens, centers, alpha, err, neu1e,
                         touched2, compute_loss)
    loss += ns_shared_batch(inp, M, syn1neg, centers, negs, negs.shape[0], alpha, G, err,
                            touched1, compute_loss)
    _cbow_shared_backprop(syn0, ctx, ctx_off, M, cbow_mean, err, touched0)
    return loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _cbow_shared_hidden(syn0, ctx, ctx_off, M, cbow_mean, inp, err):
    """``inp[m]`` = sum (mean) of the context rows of center m; ``err[m] = 0``. Returns 0.0."""
    D = syn0.shape[1]
    for m in range(M):
        for c in range(D):
            inp[m, c] = _ZERO
            err[m, c] = _ZERO
        for q in range(ctx_off[m], ctx_off[m + 1]):
            w = ctx[q]
            for c in range(D):
                inp[m, c] += syn0[w, c]
        if cbow_mean:
            inv = _ONE / np.float32(ctx_off[m + 1] - ctx_off[m])
            for c in range(D):
                inp[m, c] *= inv
    return 0.0


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _cbow_shared_backprop(syn0, ctx, ctx_off, M, cbow_mean, err, touched0):
    """``err[m] *= 1/cw_m`` unless ``cbow_mean``; then ``syn0[c] += err[m]`` for m's contexts."""
    D = syn0.shape[1]
    for m in range(M):
        if not cbow_mean:
            inv = _ONE / np.float32(ctx_off[m + 1] - ctx_off[m])
            for c in range(D):
                err[m, c] *= inv
        for q in range(ctx_off[m], ctx_off[m + 1]):
            w = ctx[q]
            for c in range(D):
                syn0[w, c] += err[m, c]
            touched0[w] = 1


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _pair_windows(i, n, w0, w1):
    """Window bounds of the centers ``i`` (half-window ``w0``) and ``i + 1`` (``w1``), clipped to
    ``[0, n)``: ``(l0, r0, l1, r1)``, center m's contexts being the positions ``[l_m, r_m)``
    other than itself. Each window holds the other center (``w0, w1 >= 1``)."""
    l0 = i - w0
    if l0 < 0:
        l0 = 0
    r0 = i + w0 + 1
    if r0 > n:
        r0 = n
    l1 = i + 1 - w1
    if l1 < 0:
        l1 = 0
    r1 = i + w1 + 2
    if r1 > n:
        r1 = n
    return l0, r0, l1, r1


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _cbow_pair_hidden(syn0, sent, i, n, w0, w1, cbow_mean, inp, err, acc):
    """Hidden vectors of the centers ``sent[i]``, ``sent[i + 1]``, each with its own half-window
    (``w0``, ``w1`` >= 1, word2vec's reduced windows).

    Center i's contexts are ``sent[j]`` for j in ``[i - w0, i + w0]``, center i+1's for j in
    ``[i + 1 - w1, i + 1 + w1]`` (each without itself, clipped to ``[0, n)``; see
    :func:`_pair_windows`). Each row of the two windows other than the centers is read once and
    summed into ``acc[2]`` when both windows hold it, else into ``acc[m]`` of the one center m
    that does; then ``inp[0] = acc[2] + acc[0] + syn0[sent[i + 1]]`` and ``inp[1] = acc[2] +
    acc[1] + syn0[sent[i]]`` (each center is the other's context). ``err[0:2] = 0``. Returns
    ``(cw0, cw1)``, the context counts (means divide by them). ``acc``: float32 [3, D] scratch.
    """
    D = syn0.shape[1]
    l0, r0, l1, r1 = _pair_windows(i, n, w0, w1)
    for m in range(3):
        for c in range(D):
            acc[m, c] = _ZERO
    for c in range(D):
        err[0, c] = _ZERO
        err[1, c] = _ZERO
    lo = l0 if l0 < l1 else l1
    hi = r0 if r0 > r1 else r1
    for j in range(lo, hi):
        if j == i or j == i + 1:
            continue
        in0 = l0 <= j < r0
        in1 = l1 <= j < r1
        m = 2 if in0 and in1 else (0 if in0 else 1)
        r = sent[j]
        for c in range(D):
            acc[m, c] += syn0[r, c]
    a = sent[i + 1]
    b = sent[i]
    for c in range(D):
        s = acc[2, c]
        inp[0, c] = (s + acc[0, c]) + syn0[a, c]
        inp[1, c] = (s + acc[1, c]) + syn0[b, c]
    cw0 = r0 - l0 - 1
    cw1 = r1 - l1 - 1
    if cbow_mean:
        inv0 = _ONE / np.float32(cw0)
        inv1 = _ONE / np.float32(cw1)
        for c in range(D):
            inp[0, c] *= inv0
            inp[1, c] *= inv1
    return cw0, cw1


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _cbow_pair_backprop(syn0, sent, i, n, w0, w1, cw0, cw1, cbow_mean, err, acc, touched0):
    """The input update of :func:`_cbow_pair_hidden`'s two centers: ``err[m]`` (times
    ``1/cw_m`` unless ``cbow_mean``) to each of center m's context rows, in one pass over the
    two windows; the rows both windows hold get ``acc[2] = err[0] + err[1]`` in one update.
    ``acc``: float32 [3, D] scratch (overwritten)."""
    D = syn0.shape[1]
    l0, r0, l1, r1 = _pair_windows(i, n, w0, w1)
    if not cbow_mean:
        inv0 = _ONE / np.float32(cw0)
        inv1 = _ONE / np.float32(cw1)
        for c in range(D):
            err[0, c] *= inv0
            err[1, c] *= inv1
    for c in range(D):
        e0 = err[0, c]
        e1 = err[1, c]
        acc[0, c] = e0
        acc[1, c] = e1
        acc[2, c] = e0 + e1
    lo = l0 if l0 < l1 else l1
    hi = r0 if r0 > r1 else r1
    for j in range(lo, hi):
        if j == i or j == i + 1:
            continue
        in0 = l0 <= j < r0
        in1 = l1 <= j < r1
        m = 2 if in0 and in1 else (0 if in0 else 1)
        r = sent[j]
        for c in range(D):
            syn0[r, c] += acc[m, c]
        touched0[r] = 1
    a = sent[i + 1]
    b = sent[i]
    for c in range(D):
        syn0[a, c] += acc[0, c]
    for c in range(D):
        syn0[b, c] += acc[1, c]
    touched0[a] = 1
    touched0[b] = 1


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _draw_shared(negs, slot, K, cum_table, nindex, nshift, state, syn1neg):
    """``negs[slot, 0:K]`` = K fresh noise draws (in order); prefetch their rows. Returns state."""
    for k in range(K):
        t, state = draw_negative_indexed(cum_table, nindex, nshift, state)
        negs[slot, k] = t
        _prefetch_row(syn1neg, t)
    return state


def train_slice_shared(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                       cum_table, points, codes, codelens, sg, cbow_mean, window, negative, hs,
                       alpha_start, alpha_end, seed, touched0, touched1, touched2, compute_loss,
                       shared):
    """Fast mode of :func:`train_slice`: one noise draw shared by ``shared`` center words.

    Same parameters, returns and preconditions as :func:`train_slice`, plus ``shared`` (int >=
    1), and ``negative`` must be >= 1 (without negative sampling there is nothing to share: use
    :func:`train_slice`). Not word2vec's sampling: in the spirit of HogBatch (Ji et al. 2016),
    ``negative`` noise words are drawn once per group of ``shared`` consecutive center words of
    a (subsampled) sentence and shared by all their training examples:

    * skip-gram: each center word is one batch step over all its context words
      (:func:`sg_shared_step`: the window's context rows of ``syn0`` against the center word's
      ``syn1neg`` row and the shared noise rows, gradient applied once);
    * CBOW: the group's ``shared`` center words are one batch step
      (:func:`cbow_shared_step`: their hidden vectors against their own positives and the
      shared noise rows). With ``shared = 2`` each center of a pair keeps its own reduced
      window, as word2vec, and the context rows both windows hold are summed once and updated
      once with the sum of the two errors (:func:`_cbow_pair_hidden`,
      :func:`_cbow_pair_backprop`). Each noise row is read once for both dot products
      (:func:`_pair_scores`).

    Hierarchical softmax (``hs``) is unchanged (exact, per input, into the same error rows before
    the NS part). Random stream per sentence: the subsampling and reduced-window draws of
    :func:`train_slice`, then ``negative`` draws per group, groups in order (the draw for the
    next group is made, and its rows prefetched, while the current group trains). Groups start
    at each sentence's first kept word; sentences with fewer than two kept words train nothing
    and draw no negatives. ``shared`` 1 with CBOW is exact CBOW's draw count.

    Raises ValueError when ``negative == 0``. Like :func:`train_slice`, a Python dispatcher over
    compiled variants, one per ``(sg, hs)`` (:func:`_train_slice_shared_impl` inlined with those
    flags as constants), each compiled on first use.
    """
    kernel = _SHARED.get((1 if sg else 0, hs != 0))
    if negative < 1 or kernel is None:
        raise ValueError("train_slice_shared: needs negative >= 1 (nothing to share without it)")
    return kernel(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                  points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                  seed, touched0, touched1, touched2, compute_loss, shared)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy", inline="always")
def _train_slice_shared_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                             cum_table, points, codes, codelens, sg, cbow_mean, window, negative,
                             alpha_start, alpha_end, seed, touched0, touched1, touched2,
                             compute_loss, shared, use_hs):
    """Body of :func:`train_slice_shared`; ``use_hs`` is a compile-time constant."""
    D = syn0.shape[1]
    state = np.uint64(seed) & _MASK48
    win = np.int64(window)
    K = np.int64(negative)
    N = np.int64(shared)
    if N < 1:
        N = np.int64(1)

    maxlen = _longest_sentence(offsets, sent_lo, sent_hi)
    sent = np.empty(maxlen, dtype=np.int32)
    rwin = np.empty(maxlen, dtype=np.int64)
    rows = 2 * win if sg else N
    inp = np.zeros((rows, D), dtype=np.float32)
    err = np.zeros((rows, D), dtype=np.float32)
    G = np.zeros((rows, K + 1), dtype=np.float32)
    pos = np.empty(rows, dtype=np.int32)
    negs = np.empty((2, K), dtype=np.int32)
    neu1e = np.zeros(D, dtype=np.float32)
    acc3 = np.zeros((3, D), dtype=np.float32)  # CBOW pairs: the two own and the shared row sums
    contexts = np.empty(2 * win, dtype=np.int32)
    ctx = np.empty(2 * win * N, dtype=np.int32)
    ctx_off = np.zeros(N + 1, dtype=np.int64)

    raw_total = _slice_words(offsets, sent_lo, sent_hi)
    a0 = np.float64(alpha_start)
    a1 = np.float64(alpha_end)
    nindex, nshift = noise_index(cum_table)  # exact draws, searching only the draw's bucket

    raw_done = np.int64(0)
    effective = np.int64(0)
    loss = 0.0
    for s in range(sent_lo, sent_hi):
        start = offsets[s]
        end = offsets[s + 1]
        alpha = _linear_alpha(a0, a1, raw_done, raw_total)

        n, state = subsample_sentence(ids, start, end, keep_prob, state, sent)
        raw_done += end - start
        effective += n
        state = draw_reduced_windows(n, win, state, rwin)
        if n < 2:
            continue
        n_groups = (n + N - 1) // N
        state = _draw_shared(negs, 0, K, cum_table, nindex, nshift, state, syn1neg)
        for grp in range(n_groups):
            slot = grp & 1
            if grp + 1 < n_groups:  # next group's draw, rows prefetched while this one trains
                state = _draw_shared(negs, 1 - slot, K, cum_table, nindex, nshift,
                                     state, syn1neg)
            g0 = grp * N
            g1 = g0 + N
            if g1 > n:
                g1 = n
            if sg:
                for i in range(g0, g1):
                    b = rwin[i]
                    j0 = i - win + b
                    if j0 < 0:
                        j0 = 0
                    k = i + win + 1 - b
                    if k > n:
                        k = n
                    if k < n:
                        _prefetch_row(syn0, sent[k])
                    if i + 1 < n:
                        _prefetch_row(syn1neg, sent[i + 1])
                    cw = 0
                    for j in range(j0, k):
                        if j == i:
                            continue
                        contexts[cw] = sent[j]
                        cw += 1
                    loss += sg_shared_step(syn0, syn1neg, syn1, points, codes, codelens,
                                           contexts[:cw], sent[i], negs[slot], use_hs, alpha,
                                           inp, pos, G, err, neu1e, touched0, touched1,
                                           touched2, compute_loss)
            elif N == 2 and g1 - g0 == 2:
                # a pair of centers, each with its own reduced window: the rows both windows
                # hold summed and updated once (_cbow_pair_hidden / _cbow_pair_backprop)
                i = g0
                w0 = win - rwin[i]
                w1 = win - rwin[i + 1]
                pos[0] = sent[i]
                pos[1] = sent[i + 1]
                # the rows the next pair adds on its right: from this pair's right end to the
                # next pair's (its windows are drawn already)
                e0 = i + w0 + 1
                if i + w1 + 2 > e0:
                    e0 = i + w1 + 2
                e1 = e0
                if i + 2 < n:
                    e1 = i + 3 + win - rwin[i + 2]
                    if i + 3 < n and i + 4 + win - rwin[i + 3] > e1:
                        e1 = i + 4 + win - rwin[i + 3]
                if e1 > n:
                    e1 = n
                for e in range(e0, e1):
                    _prefetch_row(syn0, sent[e])
                cw0, cw1 = _cbow_pair_hidden(syn0, sent, i, n, w0, w1, cbow_mean, inp, err, acc3)
                if use_hs:
                    loss += _hs_rows(inp, 2, syn1, points, codes, codelens, pos, alpha, err,
                                     neu1e, touched2, compute_loss)
                loss += ns_shared_batch(inp, 2, syn1neg, pos, negs[slot], K, alpha, G, err,
                                        touched1, compute_loss)
                _cbow_pair_backprop(syn0, sent, i, n, w0, w1, cw0, cw1, cbow_mean, err, acc3,
                                    touched0)
            else:
                M = g1 - g0
                q = 0
                for m in range(M):
                    i = g0 + m
                    b = rwin[i]
                    j0 = i - win + b
                    if j0 < 0:
                        j0 = 0
                    k = i + win + 1 - b
                    if k > n:
                        k = n
                    for j in range(j0, k):
                        if j == i:
                            continue
                        ctx[q] = sent[j]
                        q += 1
                    ctx_off[m + 1] = q
                    pos[m] = sent[i]
                # the context rows the next group adds on its right: sent[g1 + win : g1 + N + win]
                e1 = g1 + N + win
                if e1 > n:
                    e1 = n
                for e in range(g1 + win, e1):
                    _prefetch_row(syn0, sent[e])
                loss += cbow_shared_step(syn0, syn1neg, syn1, points, codes, codelens,
                                         ctx[:q], ctx_off[:M + 1], pos[:M], negs[slot],
                                         use_hs, alpha, cbow_mean, inp, G, err, neu1e,
                                         touched0, touched1, touched2, compute_loss)

    if not compute_loss:
        loss = 0.0
    return raw_done, effective, loss


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _shared_sg_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table, points,
                  codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end, seed,
                  touched0, touched1, touched2, compute_loss, shared):
    return _train_slice_shared_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                                    cum_table, points, codes, codelens, 1, cbow_mean, window,
                                    negative, alpha_start, alpha_end, seed, touched0, touched1,
                                    touched2, compute_loss, shared, False)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _shared_sg_hs_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                     points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                     seed, touched0, touched1, touched2, compute_loss, shared):
    return _train_slice_shared_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                                    cum_table, points, codes, codelens, 1, cbow_mean, window,
                                    negative, alpha_start, alpha_end, seed, touched0, touched1,
                                    touched2, compute_loss, shared, True)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _shared_cbow_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                    points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                    seed, touched0, touched1, touched2, compute_loss, shared):
    return _train_slice_shared_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                                    cum_table, points, codes, codelens, 0, cbow_mean, window,
                                    negative, alpha_start, alpha_end, seed, touched0, touched1,
                                    touched2, compute_loss, shared, False)


@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _shared_cbow_hs_ns(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob, cum_table,
                       points, codes, codelens, cbow_mean, window, negative, alpha_start, alpha_end,
                       seed, touched0, touched1, touched2, compute_loss, shared):
    return _train_slice_shared_impl(syn0, syn1neg, syn1, ids, offsets, sent_lo, sent_hi, keep_prob,
                                    cum_table, points, codes, codelens, 0, cbow_mean, window,
                                    negative, alpha_start, alpha_end, seed, touched0, touched1,
                                    touched2, compute_loss, shared, True)


#: The compiled variants of :func:`train_slice_shared`, by ``(sg, hs != 0)``.
_SHARED = {(1, False): _shared_sg_ns, (1, True): _shared_sg_hs_ns,
           (0, False): _shared_cbow_ns, (0, True): _shared_cbow_hs_ns}
