"""Adapter: rule train_evaluate_shard -> deft.train.trainer.train + deft.eval.evaluate.evaluate_to_record,
run after run in one process (what rules train and evaluate do in two processes per run). Each
run's model lives in a temporary folder beside its record and is removed once evaluated.

Guarded by __main__ as evaluate.py is: vLLM's engine processes may start by spawn, which re-imports
this file (as __mp_main__) and would otherwise train and evaluate the shard again inside the engine."""
import shutil
from pathlib import Path

from deft.eval.evaluate import evaluate_to_record
from deft.io import write_json_atomic
from deft.logs import to_log
from deft.train.trainer import train

if __name__ == "__main__":
    sm = snakemake  # noqa: F821
    ref = sm.input.get("reference")
    ref = ref if isinstance(ref, str) or not ref else ref[0]
    with to_log(sm.log[0], sm.threads):
        for run in sm.params.runs:
            out = run["outputs"]
            model = Path(out["record"]).with_name("model")
            print(f"shard run: {run['identity']}", flush=True)
            summary = train(sm.input.model, run["train"], model, out["log"], run["settings"])
            write_json_atomic(out["summary"], summary)
            evaluate_to_record(model, run["identity"], sm.input.test, out["record"], out["samples"], run["eval_cfg"],
                               run["config_slice"], train_summary=out["summary"], audit=run["audit"],
                               base_record=sm.input.base, reference=ref or None,
                               reference_domain=sm.params.reference_domain, out_tokens=out["tokens"],
                               token_objectives=run["token_objectives"], n_analysis=sm.params.n_analysis)
            shutil.rmtree(model)
