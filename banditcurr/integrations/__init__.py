"""Adapters that put a banditcurr scheduler inside the trainers people already use.

- ``banditcurr.integrations.verl``: ``BanditCurriculumSampler``, a verl 0.5-0.7
  curriculum sampler (``data.sampler.class_path=pkg://banditcurr.integrations.verl``);
  needs ``pip install "banditcurr[verl]"``. Guide: docs/integrations/verl.md.
- ``banditcurr.integrations.verl_v1``: the verl >= 0.9 plugin (entry point group
  ``verl.plugins``, loaded by ``import verl``): trainer modes ``banditcurr_sync``,
  ``banditcurr_colocate_async``, ``banditcurr_separate_async``; needs
  ``pip install "banditcurr[verl09]"``. Same guide.
- ``banditcurr.integrations.trl``: ``CurriculumGRPOTrainer``, TRL's ``GRPOTrainer``
  with a curriculum sampler, reward feedback and checkpointed curriculum state, and
  ``CurriculumFeed``, the same through TRL's public API only; needs
  ``pip install "banditcurr[trl]"``. Guide: docs/integrations/trl.md.

Importing this package imports neither verl, TRL nor torch: each adapter imports its
library when the adapter module itself is imported. Task and prompt ids (strings or
numbers in the dataset) become arms 0..K-1 here, at the boundary
(``banditcurr.integrations._curriculum``).
"""
