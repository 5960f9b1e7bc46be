"""Merge rules on hand-made examples, against values worked out by hand."""

import numpy as np
import pytest

from w2v_dist.training.merge import MERGE_RULES, get_merge_rule


def _example():
    central = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], dtype=np.float32)
    # replica 0 changed rows 0 and 2, replica 1 changed rows 2 and 3
    rows = [np.array([0, 2]), np.array([2, 3])]
    deltas = [np.array([[1, 0], [0, 2]], dtype=np.float32), np.array([[0, 4], [-1, -1]], dtype=np.float32)]
    return central, rows, deltas


def test_sum_adds_every_replicas_delta():
    central, rows, deltas = _example()
    changed = get_merge_rule("sum")(central, rows, deltas)
    np.testing.assert_array_equal(changed, [0, 2, 3])
    np.testing.assert_array_equal(central, [[1, 0], [1, 1], [2, 8], [2, 2]])


def test_mean_divides_by_number_of_replicas():
    central, rows, deltas = _example()
    changed = get_merge_rule("mean")(central, rows, deltas)
    np.testing.assert_array_equal(changed, [0, 2, 3])
    np.testing.assert_allclose(central, [[0.5, 0], [1, 1], [2, 5], [2.5, 2.5]])


def test_touched_mean_divides_by_replicas_that_touched_the_row():
    central, rows, deltas = _example()
    changed = get_merge_rule("touched-mean")(central, rows, deltas)
    np.testing.assert_array_equal(changed, [0, 2, 3])
    # row 0: only replica 0 -> full delta; row 2: both -> mean of (0,2) and (0,4); row 3: only replica 1
    np.testing.assert_allclose(central, [[1, 0], [1, 1], [2, 5], [2, 2]])


@pytest.mark.parametrize("name", sorted(MERGE_RULES))
def test_one_replica_every_rule_applies_its_delta(name):
    central, rows, deltas = _example()
    expected = central.copy()
    expected[rows[0]] += deltas[0]
    get_merge_rule(name)(central, rows[:1], deltas[:1])
    np.testing.assert_array_equal(central, expected)


def test_unknown_rule():
    with pytest.raises(KeyError):
        get_merge_rule("median")
