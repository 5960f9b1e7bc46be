"""Overlapping rounds: a replica that receives a merge one round late ends as the central copy
plus its own unmerged changes (numpy reference of the bookkeeping in worker._apply_update)."""

import numpy as np

from w2v_dist.training import worker as W
from w2v_dist.training.merge import merge_sum


def _replica(mats):
    return W.Replica(mats=[m.copy() for m in mats], bases=[m.copy() for m in mats], tables={}, params={},
                     threads=1)


def _train(rep, rnd, rows_per_mat, rng):
    """What train_round does around the kernel: change rows, return deltas, remember them in flight."""
    rows_out, deltas_out = [], []
    for m, b, rows in zip(rep.mats, rep.bases, rows_per_mat):
        rows = np.array(sorted(rows), dtype=np.int64)
        m[rows] += rng.standard_normal((rows.size, m.shape[1])).astype(np.float32)
        rows_out.append(rows)
        deltas_out.append(m[rows] - b[rows])
        b[rows] = m[rows]
    rep.inflight.append((rnd, rows_out, deltas_out))
    return rows_out, deltas_out


def test_late_merge_keeps_the_replicas_own_unmerged_changes():
    rng = np.random.default_rng(0)
    V, D = 12, 4
    central = [rng.standard_normal((V, D)).astype(np.float32), np.zeros((V, D), np.float32)]
    a, b = _replica(central), _replica(central)
    # round 0 on both replicas, then round 1 on both before round 0's merge reaches them
    ra0, da0 = _train(a, 0, [{1, 2, 7}, {0, 2}], rng)
    rb0, db0 = _train(b, 0, [{2, 5}, {2, 3}], rng)
    update = []
    for i, m in enumerate(central):
        changed = merge_sum(m, [ra0[i], rb0[i]], [da0[i], db0[i]])
        update.append((changed, m[changed].copy()))
    ra1, da1 = _train(a, 1, [{2, 3}, {0, 9}], rng)
    # the merge of round 0 arrives at the start of round 2
    W._apply_update(a, update, 0)
    for i in range(2):
        ref = central[i].copy()
        ref[ra1[i]] += da1[i]  # central after round 0 + a's round-1 change
        np.testing.assert_allclose(a.mats[i], ref, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(a.bases[i], a.mats[i])  # the round-1 change is not sent twice
    assert [x[0] for x in a.inflight] == [1]
    # b trained only round 0: the merge makes it the central copy exactly
    W._apply_update(b, update, 0)
    for i in range(2):
        np.testing.assert_array_equal(b.mats[i], central[i])
    assert b.inflight == []
