"""Adapter: rules evaluate and evaluate_base -> deft.eval.evaluate.evaluate_to_record.

Guarded by __main__: vLLM's engine processes may start by spawn, which re-imports this file
(as __mp_main__) and would otherwise run the evaluation again inside the engine."""
from deft.eval.evaluate import evaluate_to_record
from deft.logs import to_log

if __name__ == "__main__":
    sm = snakemake  # noqa: F821
    ref = sm.input.get("reference")
    ref = ref if isinstance(ref, str) or not ref else ref[0]
    prior = sm.input.get("prior")
    prior_dev = stopped = None
    if prior:  # a built prior: its accuracy on prior_dev (measured after the build, never its stop) joins the check
        import json
        from pathlib import Path

        prior = prior if isinstance(prior, str) else prior[0]
        summary = json.loads(Path(prior).read_text())
        if "prior_dev" not in summary:
            raise ValueError(f"{prior}: a prior summary without its prior_dev measurement (built before the "
                             "stopping split was separated from the label split); rebuild the prior")
        history = summary.get("stop_history") or []
        prior_dev = {"prior_dev": summary["prior_dev"]["exact_match"]}
        stopped = {"split": summary["stop_split"]["name"], "step": history[-1]["step"],
                   "value": history[-1]["value"]} if history else None
    with to_log(sm.log[0], sm.threads):
        evaluate_to_record(sm.input.model, dict(sm.params.identity), sm.input.test, sm.output.record,
                           sm.output.samples, dict(sm.params.eval_cfg), dict(sm.params.config_slice),
                           train_summary=sm.input.get("summary"), audit=sm.input.get("audit"),
                           base_record=sm.input.get("base"), reference=ref or None,
                           reference_domain=sm.params.reference_domain, out_tokens=sm.output.tokens,
                           token_objectives=dict(sm.params.token_objectives), n_analysis=sm.params.n_analysis,
                           prior_dev=prior_dev, regime_bands=dict(sm.params.get("regime_bands") or {}),
                           prior_stop=stopped)
