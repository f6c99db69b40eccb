"""The README's and the core docs' examples run as written.

Every ```python block of a page is executed, in order, in one namespace per page; a
block whose first line is ``# file: NAME`` is written to NAME in a temporary directory
on ``sys.path`` instead (an importable module). An illustration that must not run is
fenced as ```py.
"""

import re
import sys
from pathlib import Path

import pytest

import banditcurr as bc

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = ["README.md", "docs/getting-started.md", "docs/contract.md", "docs/schedulers/uniform.md",
         "docs/schedulers/dump-ucb.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(path):
    return BLOCK.findall(path.read_text())


def run_page(path, directory):
    """Execute the page's blocks; return the namespace."""
    namespace = {"__name__": "docs_example"}
    sys.path.insert(0, str(directory))
    try:
        for block in python_blocks(path):
            first = block.partition("\n")[0]
            match = re.fullmatch(r"# file: (\S+)", first.strip())
            if match:
                (directory / match.group(1)).write_text(block)
            else:
                exec(compile(block, str(path), "exec"), namespace)
    finally:
        sys.path.remove(str(directory))
    return namespace


def test_readme_has_a_short_usage_example():
    blocks = python_blocks(README)
    assert blocks, "README.md has no ```python block"
    assert "bc.make(" in blocks[0] and 0 < len(blocks[0].strip().splitlines()) <= 15


def test_readme_example_shows_what_it_says(capsys, tmp_path):
    run_page(README, tmp_path)
    printed = capsys.readouterr().out
    probs = [float(x) for x in re.findall(r"\d\.\d+", printed.splitlines()[0])]
    assert len(probs) == 12 and abs(sum(probs) - 1.0) < 0.01
    # the claim in the comment: the mixed-outcome (middle) distributions get the mass
    assert sum(probs[3:9]) > sum(probs[:3]) + sum(probs[9:])


@pytest.mark.parametrize("page", PAGES[1:])
def test_docs_examples_run(page, tmp_path, capsys):
    registered = set(bc.REGISTRY)
    try:
        namespace = run_page(ROOT / page, tmp_path)
    finally:
        for name in set(bc.REGISTRY) - registered:  # pages may register example schedulers
            del bc.REGISTRY[name]
    printed = capsys.readouterr().out
    if page == "docs/contract.md":
        assert "arm id 7 at position 1, outside 0..3" in printed
        assert printed.rstrip().endswith("[0.85 0.05 0.05 0.05]")
        assert namespace["GreedyMean"].name == "greedy-mean"
    if page == "docs/schedulers/dump-ucb.md":
        assert "[0.050796, 9e-06, 0.949195]" in printed


def test_every_core_page_is_linked_from_the_readme():
    text = README.read_text()
    for page in PAGES[1:]:
        assert f"({page})" in text, f"README.md does not link {page}"
