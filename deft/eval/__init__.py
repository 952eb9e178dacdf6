"""Evaluation stage: lm-eval glue and task YAMLs (``evaluate``, ``tasks``), scoring (``scoring``,
``scoring_paper``), metric directions (``metrics``), token-level analyses under a model
(``analysis``) and the run record each evaluation writes (``records``)."""
