"""Test-suite settings. Under CI (CI=true) hypothesis runs derandomized, so a CI run is
reproducible; elsewhere it explores new examples each run. The verl environment has no
hypothesis (its tests use none), hence the guarded import."""

import os

try:
    from hypothesis import settings
except ImportError:
    settings = None

if settings is not None:
    settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        settings.load_profile("ci")
