"""The verl adapter's tests run in their own environment (.venv-verl, made by
``make test``): verl pins versions (numpy < 2, its transformers) that the main
environment does not have. In an environment without verl these files are not
collected, and the run's summary says so; with BANDITCURR_REQUIRE_VERL=1 (how
``make test`` runs them) a missing verl is an error, never a silent pass.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/recipes.py

HAVE_VERL = importlib.util.find_spec("verl") is not None

if not HAVE_VERL:
    if os.environ.get("BANDITCURR_REQUIRE_VERL") == "1":
        raise pytest.UsageError(
            "BANDITCURR_REQUIRE_VERL=1 but verl is not importable: run these tests with .venv-verl "
            "(make test builds it)."
        )
    collect_ignore_glob = ["test_*.py"]


def pytest_terminal_summary(terminalreporter):
    if not HAVE_VERL:
        terminalreporter.write_line(
            "tests/integrations_verl: not collected here (no verl in this environment); "
            "`make test` runs them in .venv-verl."
        )
