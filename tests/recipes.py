"""Read the copy-paste recipes out of docs/ so the tests run what readers copy.

A recipe block is a fenced ```python block whose first line is ``# file: NAME``, or a
fenced ```bash block holding one command (lines joined at trailing backslashes).
"""

import re
import shlex
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(doc, language):
    """The bodies of all fenced blocks of ``language`` in docs/``doc``, in order."""
    text = (DOCS / doc).read_text()
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def python_files(doc):
    """{file name: source} of the ``# file: NAME`` python blocks of docs/``doc``."""
    files = {}
    for body in blocks(doc, "python"):
        first, _, rest = body.partition("\n")
        match = re.fullmatch(r"# file: (\S+)", first.strip())
        if match:
            files[match.group(1)] = body
    return files


def bash_command(doc, program, containing=None):
    """The argument list of the (first) bash block of docs/``doc`` that runs ``program``
    (e.g. ``"verl.trainer.main_ppo"``) and, if given, has the word ``containing``, with
    the program's own words removed."""
    for body in blocks(doc, "bash"):
        words = shlex.split(body.replace("\\\n", " "))
        if program in words and (containing is None or containing in words):
            return words[words.index(program) + 1:]
    with_word = f" with {containing}" if containing else ""
    raise AssertionError(f"docs/{doc} has no bash block running {program}{with_word}")
