"""The README's examples run as written.

Every ```python block of README.md is executed, in order, in one fresh namespace
(an illustration that must not run would be fenced as ```py instead).
"""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks():
    return BLOCK.findall(README.read_text())


def test_readme_has_a_usage_example():
    blocks = python_blocks()
    assert blocks, "README.md has no ```python block"
    assert "bc.make(" in blocks[0] and 0 < len(blocks[0].strip().splitlines()) <= 15


def test_readme_examples_run(capsys):
    namespace = {"__name__": "readme"}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    probs = [float(x) for x in re.findall(r"\d\.\d+", printed.splitlines()[0])]
    assert len(probs) == 12 and abs(sum(probs) - 1.0) < 0.01
    # the claim in the comment: the mixed-outcome (middle) distributions get the mass
    assert sum(probs[3:9]) > sum(probs[:3]) + sum(probs[9:])
