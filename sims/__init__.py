"""banditcurr.sims: synthetic GRPO learners for offline scheduler studies."""
