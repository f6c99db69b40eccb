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

# A scheduler module named here joins the registry's list before the suites are collected,
# as one more entry of SCHEDULER_MODULES would (tests/test_architecture.py's toy scheduler).
if os.environ.get("BANDITCURR_TEST_SCHEDULER"):
    from banditcurr._registry import register_module

    register_module(os.environ["BANDITCURR_TEST_SCHEDULER"])
