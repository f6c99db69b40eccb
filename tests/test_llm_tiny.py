"""The noisy-teacher warm start of banditcurr.llm.tiny (``--warm-carry-drop``)."""

import numpy as np
import pytest

from banditcurr.llm.tasks import Addition, Multiplication
from banditcurr.llm.tiny import dropped_carry_target


def _carries(problem):
    a, b = problem.prompt.rstrip("=").split("+")
    count, carry = 0, 0
    for x, y in zip(a, b):
        carry = (int(x) + int(y) + carry) // 10
        count += carry
    return count


@pytest.mark.parametrize("digits", [1, 2, 4, 6])
def test_no_drop_is_the_exact_answer_and_full_drop_the_digit_sums(digits):
    rng = np.random.default_rng(0)
    for problem in Addition(digits).generate(300, seed=digits):
        assert dropped_carry_target(problem, 0.0, rng) == problem.answer
        a, b = problem.prompt.rstrip("=").split("+")
        assert dropped_carry_target(problem, 1.0, rng) == "".join(str((int(x) + int(y)) % 10) for x, y in zip(a, b))


def test_each_carry_survives_with_probability_one_minus_drop():
    """A problem whose exact carry chain has c carries is answered right with
    probability (1 - q)^c: the teacher's carries fail independently."""
    rng = np.random.default_rng(1)
    problems = [p for p in Addition(3).generate(4000, seed=7) if _carries(p) == 1]
    right = np.mean([dropped_carry_target(p, 0.6, rng) == p.answer for p in problems])
    assert abs(right - 0.4) < 4 * np.sqrt(0.24 / len(problems))


def test_carry_drop_is_refused_for_other_tasks_and_outside_0_1(tmp_path):
    pytest.importorskip("torch")
    from banditcurr.llm.tiny import build_model, warm_start

    model = build_model(str(tmp_path / "m"))
    with pytest.raises(ValueError, match="carry_drop applies to addition tasks only"):
        warm_start(model, [Multiplication(2)], steps=1, carry_drop=0.5, progress=False)
    with pytest.raises(ValueError, match=r"carry_drop must be a probability in \[0, 1\]. Got 1.5"):
        warm_start(model, [Addition(2)], steps=1, carry_drop=1.5, progress=False)
