"""banditcurr.llm: a GRPO loop (vLLM rollouts, torch policy) driven by banditcurr schedulers."""

if __name__ != "banditcurr.llm":  # e.g. `import llm` with the repository root on sys.path
    raise ImportError("The folder llm/ is the package banditcurr.llm: use `from banditcurr import llm`. "
                      "A top-level `import llm` would load a second copy of it (and could shadow another "
                      "package named llm).")
