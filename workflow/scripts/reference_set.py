"""Adapter: rule reference_set -> deft.eval.forgetting.model_reference."""
from deft.eval.forgetting import model_reference
from deft.logs import to_log

sm = snakemake  # noqa: F821
with to_log(sm.log[0], sm.threads):
    model_reference(sm.input.model, sm.input.test, sm.output[0], sm.params.n_examples, sm.params.max_new_tokens)
