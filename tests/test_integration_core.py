"""The trainer-free part of the adapters (banditcurr.integrations._curriculum): keys to
arms, the row-picking kernel against its twin, pending batches, exact state round trip,
refused input that changes nothing, and an import that pulls in no trainer library.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from naive import Xoshiro, pick_rows as naive_pick_rows

import banditcurr as bc
from banditcurr._rng import seed_state
from banditcurr.integrations._curriculum import (
    MAX_PENDING, ArmIndex, Curriculum, dataset_keys, pick_rows, repeated_key,
)


class Table:
    """The column interface of a datasets.Dataset (and of verl's RLHFDataset.dataframe)."""

    def __init__(self, rows):
        self.rows = rows
        self.column_names = list(rows[0])

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, item):
        if isinstance(item, str):
            return [row[item] for row in self.rows]
        return self.rows[item]


ROWS = [{"data_source": s, "extra_info": {"index": 10 + j}} for j, s in enumerate(["b", "a", "b", "c", "a", "b"])]


def test_arm_index_sorted_names_and_rows():
    index = ArmIndex([3, "x", 1, 3, "a", np.int64(1)])
    assert index.names == [1, 3, "a", "x"]  # numbers first, then strings, each sorted
    assert index.starts.tolist() == [0, 2, 4, 5, 6]
    assert index.rows.tolist() == [2, 5, 0, 3, 4, 1]
    assert index.arms([np.int64(3), "x", 1.0]).tolist() == [1, 3, 0]


def test_arm_index_refuses_bad_keys():
    with pytest.raises(ValueError, match="dataset is empty"):
        ArmIndex([])
    with pytest.raises(ValueError, match="row 1 is None"):
        ArmIndex(["a", None])
    with pytest.raises(TypeError, match=r"row 0 is \[1\] \(list\)"):
        ArmIndex([[1]])
    with pytest.raises(ValueError, match="Feedback key 1 is 'zz', which no training row carries"):
        ArmIndex(["a", "b"]).arms(["a", "zz"])


def test_dataset_keys_from_columns_rows_and_nested_paths():
    assert dataset_keys(Table(ROWS), "data_source") == ["b", "a", "b", "c", "a", "b"]
    assert dataset_keys(Table(ROWS), "extra_info.index") == [10, 11, 12, 13, 14, 15]
    assert dataset_keys(ROWS, "extra_info.index") == [10, 11, 12, 13, 14, 15]  # plain list of dicts
    with pytest.raises(ValueError, match=r"no column 'task' \(arm_key='task'\)"):
        dataset_keys(Table(ROWS), "task")
    with pytest.raises(ValueError, match=r"Row 0's 'extra_info' has no 'id' \(looked up for arm_key='extra_info.id'\)"):
        dataset_keys(Table(ROWS), "extra_info.id")
    with pytest.raises(ValueError, match="'arm_key' setting must be a column name"):
        dataset_keys(ROWS, "extra_info.")


def test_composite_keys_and_repeats():
    keys = dataset_keys(Table(ROWS), ["data_source", "extra_info.index"])
    assert keys[:2] == [("b", 10), ("a", 11)]
    assert repeated_key(keys) is None
    assert repeated_key(dataset_keys(ROWS, "data_source")) == (0, 2)
    index = ArmIndex(keys)
    assert index.names[0] == ("a", 11)
    assert index.arms([("b", np.int64(10))]).tolist() == [index.names.index(("b", 10))]
    with pytest.raises(ValueError, match="every part of a row's key must be set"):
        ArmIndex([("a", None)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pick_rows_matches_twin(seed):
    generator = np.random.default_rng(seed)
    index = ArmIndex(generator.integers(0, 5, 40).tolist())
    order, cursor = index.rows.copy(), np.diff(index.starts)
    twin_order, twin_cursor = order.tolist(), cursor.tolist()
    rng = seed_state(seed)
    twin_rng = Xoshiro(rng)
    for _ in range(6):
        arms = generator.integers(0, index.n_arms, int(generator.integers(1, 30))).astype(np.int64)
        out = np.empty(len(arms), dtype=np.int64)
        pick_rows(rng, order, index.starts, cursor, arms, out)
        expected = naive_pick_rows(twin_rng, twin_order, index.starts.tolist(), twin_cursor, arms.tolist())
        assert out.tolist() == expected
    assert order.tolist() == twin_order and cursor.tolist() == twin_cursor
    np.testing.assert_array_equal(rng, twin_rng.state())


def test_each_cycle_visits_every_row_of_the_arm_once():
    index = ArmIndex(["a"] * 7 + ["b"] * 3)
    order, cursor, rng = index.rows.copy(), np.diff(index.starts), seed_state(5)
    out = np.empty(21, dtype=np.int64)
    pick_rows(rng, order, index.starts, cursor, np.zeros(21, dtype=np.int64), out)
    for cycle in out.reshape(3, 7):
        assert sorted(cycle.tolist()) == list(range(7))
    assert len({tuple(c) for c in out.reshape(3, 7).tolist()}) > 1  # reshuffled between cycles


def feedback_for(curriculum, rows, group_size=4, seed=0):
    """Groups of 0/1 rewards for the given rows, keyed like a trainer would send them."""
    keys = [ROWS[r]["data_source"] for r in rows]
    rewards = np.random.default_rng(seed).integers(0, 2, len(rows) * group_size).astype(float)
    return keys, rewards, np.arange(len(rows) + 1) * group_size


def test_pending_batches_retire_in_draw_order():
    curriculum = Curriculum("dump-ucb", [row["data_source"] for row in ROWS], seed=0)
    first, second = curriculum.draw(4), curriculum.draw(4)
    assert len(curriculum.pending) == 2
    curriculum.feedback(*feedback_for(curriculum, second[::-1][:3]))  # reordered, one group dropped
    assert len(curriculum.pending) == 0  # the second batch, and the older one with it
    assert curriculum.last_lag == 0
    curriculum.draw(2)
    curriculum.feedback(*feedback_for(curriculum, [3, 3, 3]))  # three 'c' groups: matches nothing drawn
    assert len(curriculum.pending) == 1  # still waiting: two arms drawn cannot hold three groups
    assert curriculum.last_lag is None
    curriculum.draw(3)
    curriculum.feedback(*feedback_for(curriculum, curriculum.pending[0][1]))
    assert curriculum.last_lag == 1 and len(curriculum.pending) == 1
    for _ in range(MAX_PENDING + 3):
        curriculum.draw(1)
    assert len(curriculum.pending) == MAX_PENDING
    assert first.shape == (4,)


def test_state_round_trip_is_exact():
    keys = [row["data_source"] for row in ROWS]
    one = Curriculum("dump-ucb", keys, seed=7)
    for step in range(3):
        one.feedback(*feedback_for(one, one.draw(5), seed=step))
    pending = one.draw(5)
    state = one.state_dict()
    two = Curriculum("dump-ucb", keys, seed=123)
    two.load_state_dict(state)
    assert [rows.tolist() for _, rows in two.pending] == [pending.tolist()]
    for step in range(3, 6):
        one.feedback(*feedback_for(one, one.pending[0][1], seed=step))
        two.feedback(*feedback_for(two, two.pending[0][1], seed=step))
        np.testing.assert_array_equal(one.draw(5), two.draw(5))
    np.testing.assert_array_equal(one.probs(), two.probs())


def test_refused_state_changes_nothing():
    keys = [row["data_source"] for row in ROWS]
    curriculum = Curriculum("dump-ucb", keys, seed=1)
    curriculum.feedback(*feedback_for(curriculum, curriculum.draw(3)))
    before = curriculum.state_dict()
    other = Curriculum("dump-ucb", keys + ["d"], seed=1).state_dict()
    with pytest.raises(ValueError, match="is for 4 arm keys"):
        curriculum.load_state_dict(other)
    bad = dict(before, picker_cursor=np.array([9, 0, 0]))
    with pytest.raises(ValueError, match="'picker_cursor' does not fit"):
        curriculum.load_state_dict(bad)
    bad = dict(before, pending_arms=[np.array([0, 7])], pending_rows=[np.array([0, 1])])
    with pytest.raises(ValueError, match="pending batches must pair arm ids in 0..2"):
        curriculum.load_state_dict(bad)
    bad = dict(before, scheduler=dict(before["scheduler"], n_arms=5))
    with pytest.raises(ValueError, match="n_arms"):
        curriculum.load_state_dict(bad)
    with pytest.raises(ValueError, match="lacks \\['picker_rng'\\]"):
        curriculum.load_state_dict({k: v for k, v in before.items() if k != "picker_rng"})
    after = curriculum.state_dict()
    for name in ("picker_rng", "picker_order", "picker_cursor"):
        np.testing.assert_array_equal(after[name], before[name])
    np.testing.assert_array_equal(after["scheduler"]["counts"], before["scheduler"]["counts"])


def test_scheduler_by_name_or_instance():
    keys = ["a", "b", "c"]
    ready = bc.make("dump-ucb", 3, seed=0, temperature=0.5)
    assert Curriculum(ready, keys).scheduler is ready
    with pytest.raises(ValueError, match="n_arms=4, but the dataset holds 3 distinct arm keys"):
        Curriculum(bc.make("uniform", 4), keys)
    with pytest.raises(ValueError, match="together with a ready scheduler instance"):
        Curriculum(ready, keys, hyperparameters={"c": 2.0})
    with pytest.raises(TypeError, match="registered name"):
        Curriculum(3, keys)
    with pytest.raises(ValueError, match="Unknown scheduler 'dump_ucb'"):
        Curriculum("dump_ucb", keys)
    assert Curriculum("dump-ucb", keys, hyperparameters={"temperature": 0.2}).scheduler.hyperparameters["temperature"] == 0.2


def test_importing_integrations_pulls_in_no_trainer_library():
    code = ("import sys, json, banditcurr.integrations, banditcurr.integrations._curriculum; "
            "print(json.dumps([m for m in ('torch', 'trl', 'verl', 'transformers') if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
