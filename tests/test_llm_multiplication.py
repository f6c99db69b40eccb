"""The built-in multiplication family: n-digit times one digit, least-significant digit first."""

import pytest

from banditcurr.llm.tasks import Multiplication, parse_spec


def test_multiplication_levels_answers_and_verifier():
    dists = parse_spec("multiplication:1-4")
    assert [d.name for d in dists] == [f"multiplication-{n}" for n in range(1, 5)]
    for d in dists:
        for p in d.generate(50, seed=5):
            left, right = p.prompt.rstrip("=").split("*")
            a, b = int(left[::-1]), int(right)
            assert len(left) == d.digits and (d.digits == 1 or left[-1] != "0")  # no leading zero
            assert 2 <= b <= 9
            assert p.answer == str(a * b)[::-1]
            assert d.reward(d.target(p), p) == 1.0
            assert d.reward(str(a * b + 1)[::-1], p) == 0.0
    assert dists[2].generate(10, 1) == dists[2].generate(10, 1) != dists[2].generate(10, 2)


@pytest.mark.parametrize("digits", [0, 19, 2.0, True, "3"])
def test_multiplication_rejects_bad_levels(digits):
    with pytest.raises(ValueError, match="'digits' level of multiplication"):
        Multiplication(digits)
