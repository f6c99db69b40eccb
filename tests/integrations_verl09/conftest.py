"""The verl >= 0.9 plugin's tests run in their own environment (.venv-verl09, made by
``make test``): verl 0.9 needs numpy >= 2 and its own transformers, and the 0.7
adapter's environment (.venv-verl) has verl 0.7.1. Elsewhere these files are not
collected and the run's summary says so; with BANDITCURR_REQUIRE_VERL09=1 (how ``make
test`` runs them) a missing or older verl is an error, never a silent pass.
"""

import importlib.metadata
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/recipes.py


def _verl_version():
    try:
        return importlib.metadata.version("verl")
    except importlib.metadata.PackageNotFoundError:
        return None


VERSION = _verl_version()
HAVE_VERL09 = VERSION is not None and tuple(int(part) for part in VERSION.split(".")[:2]) >= (0, 9)

if not HAVE_VERL09:
    if os.environ.get("BANDITCURR_REQUIRE_VERL09") == "1":
        raise pytest.UsageError(
            f"BANDITCURR_REQUIRE_VERL09=1 but verl >= 0.9 is not installed here (found {VERSION}): run these "
            "tests with .venv-verl09 (make test builds it).")
    collect_ignore_glob = ["test_*.py"]


def pytest_terminal_summary(terminalreporter):
    if not HAVE_VERL09:
        terminalreporter.write_line(
            f"tests/integrations_verl09: not collected here (verl {VERSION}, not >= 0.9); "
            "`make test` runs them in .venv-verl09.")
