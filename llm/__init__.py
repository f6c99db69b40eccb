"""banditcurr.llm: a GRPO loop (vLLM rollouts, torch policy) driven by banditcurr schedulers."""
