"""Tasks of banditcurr.llm: specs, verifiers, pools and arms (no model, no torch)."""

import numpy as np
import pytest

from banditcurr.llm import tasks
from banditcurr.llm.grpo import group_advantages, rollout_seeds
from banditcurr.llm.tasks import Addition, Distribution, Problem, TaskPool, parse_spec, parse_specs


def test_addition_levels_answers_and_verifier():
    dists = parse_spec("addition:1-3")
    assert [d.name for d in dists] == ["addition-1", "addition-2", "addition-3"]
    for d in dists:
        for p in d.generate(50, seed=3):
            a, b = (int(x[::-1]) for x in p.prompt.rstrip("=").split("+"))  # least-significant digit first
            assert len(str(a)) == d.digits and len(str(b)) == d.digits
            assert p.answer == str(a + b)[::-1]
            assert d.reward(d.target(p), p) == 1.0
            assert d.reward(" " + p.answer + "\n", p) == 1.0  # surrounding whitespace is ignored
            assert d.reward(str(a + b + 1)[::-1], p) == 0.0
    plain = Addition(2, reverse=False).generate(1, 0)[0]
    assert plain.answer == str(sum(map(int, plain.prompt.rstrip("=").split("+"))))
    assert plain.answer == Addition(2).generate(1, 0)[0].answer[::-1]


def test_generation_is_deterministic_in_the_seed():
    d = Addition(4)
    assert d.generate(20, 7) == d.generate(20, 7)
    assert d.generate(20, 7) != d.generate(20, 8)


@pytest.mark.parametrize("spec, names", [
    ("knights_knaves:3-4", ["knights_knaves-3", "knights_knaves-4"]),
    ("basic_arithmetic:2", ["basic_arithmetic-2"]),
    ("countdown:3", ["countdown-3"]),
    ("rg/leg_counting:max_animals=3-4", ["leg_counting-max_animals3", "leg_counting-max_animals4"]),
])
def test_reasoning_gym_families_score_their_own_answers(spec, names):
    dists = parse_spec(spec)
    assert [d.name for d in dists] == names
    for d in dists:
        problems = d.generate(3, seed=1)
        assert problems == d.generate(3, seed=1)
        for p in problems:
            assert p.prompt.endswith(tasks.ANSWER_INSTRUCTION)
            assert d.reward("thinking... " + d.target(p), p) == 1.0
            assert d.reward(p.answer, p) == 0.0  # no <answer> tags: no reward
            assert d.reward("<answer>surely not this</answer>", p) < 1.0


def test_knights_knaves_level_sets_the_number_of_people():
    for n in (3, 5):
        entry = parse_spec(f"knights_knaves:{n}")[0].generate(1, 0)[0].entry
        assert entry["metadata"]["names"].__len__() == n


@pytest.mark.parametrize("spec, match", [
    ("additon:1-3", "Unknown task family 'additon'.*Did you mean 'addition'"),
    ("addition", "names no level"),
    ("addition:3-1", "empty level range"),
    ("addition:digits=1-3", "'PARAM=' is for 'rg/DATASET'"),
    ("rg/leg_counting:2-3", "needs the parameter"),
    ("addition:one", "is not of the form"),
    ("rg/no_such_dataset:x=1", "reasoning-gym rejected dataset 'no_such_dataset'"),
    ("addition:0", "must be an int in 1..18"),
])
def test_bad_specs_are_named(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_spec(spec)


def test_duplicate_distributions_are_rejected():
    with pytest.raises(ValueError, match=r"more than once"):
        parse_specs(["addition:1-2", "addition:2-3"])


def test_a_user_family_takes_a_few_lines():
    class Multiply(Distribution):
        def __init__(self, digits):
            self.name, self.digits = f"multiply-{digits}", digits

        def generate(self, n, seed):
            rng = np.random.default_rng(seed)
            a, b = (rng.integers(10 ** (self.digits - 1), 10 ** self.digits, n) for _ in range(2))
            return [Problem(f"{x}*{y}=", str(x * y)) for x, y in zip(a, b)]

    tasks.register("multiply-test", Multiply)
    try:
        (d,) = parse_spec("multiply-test:2")
        p = d.generate(1, 0)[0]
        assert d.reward(p.answer, p) == 1.0 and d.reward("0", p) == 0.0
    finally:
        del tasks.FAMILIES["multiply-test"]
    with pytest.raises(TypeError, match="callable"):
        tasks.register("x", 3)


def test_pool_holds_out_test_prompts_and_maps_arms():
    dists = parse_spec("addition:1-3")
    pool = TaskPool(dists, n_train=40, n_test=20, seed=0)
    for train, test in zip(pool.train, pool.test):
        assert not {p.prompt for p in train} & {p.prompt for p in test}
        assert len(test) == 20
    assert pool.n_arms == 3
    rng = np.random.default_rng(0)
    picked = pool.pick(np.array([2, 0, 2]), rng)
    assert [d for d, _ in picked] == [2, 0, 2]
    assert all(p in pool.train[d] for d, p in picked)

    prompt_pool = TaskPool(dists, n_train=40, n_test=20, seed=0, arm_level="prompt")
    assert prompt_pool.n_arms == sum(len(t) for t in prompt_pool.train)
    arm_dist = prompt_pool.arm_distribution()
    arms = np.arange(prompt_pool.n_arms)
    for arm, (d, p) in zip(arms, prompt_pool.pick(arms, rng)):
        assert d == arm_dist[arm] and p in prompt_pool.train[d]


def test_group_advantages_flat_with_offsets():
    rewards = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.0, 1.0])
    offsets = np.array([0, 4, 6, 9])
    adv = group_advantages(rewards, offsets)
    for a, b in zip(offsets[:-1], offsets[1:]):
        r = rewards[a:b]
        np.testing.assert_allclose(adv[a:b], (r - r.mean()) / (r.std(ddof=1) + 1e-6))
    np.testing.assert_array_equal(adv[4:6], 0.0)  # a group without variance teaches nothing
    np.testing.assert_allclose(group_advantages(rewards, offsets, scale=False)[:4], [0.5, -0.5, -0.5, 0.5])


def test_rollout_seeds_depend_on_seed_and_step_only():
    assert rollout_seeds(0, 5, 4) == rollout_seeds(0, 5, 4)
    assert rollout_seeds(0, 5, 4) != rollout_seeds(0, 6, 4)
    assert rollout_seeds(0, 5, 4) != rollout_seeds(1, 5, 4)
    assert len(set(rollout_seeds(0, 5, 64))) == 64


def test_the_docs_family_example_runs_as_written():
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "llm.md").read_text()
    (block,) = [b for b in re.findall(r"^```python\n(.*?)^```", page, re.MULTILINE | re.DOTALL) if "register(" in b]
    try:
        exec(compile(block, "docs/llm.md", "exec"), {"__name__": "docs_example"})
        dists = parse_spec("multiply:1-2")
        assert [d.name for d in dists] == ["multiply-1", "multiply-2"]
        p = dists[1].generate(1, 0)[0]
        x, y = map(int, p.prompt.rstrip("=").split("*"))
        assert dists[1].reward(str(x * y), p) == 1.0
    finally:
        tasks.FAMILIES.pop("multiply", None)
