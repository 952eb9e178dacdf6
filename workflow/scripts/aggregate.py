"""Adapter: rule aggregate -> deft.report.aggregate.aggregate."""
from pathlib import Path

from deft.logs import to_log
from deft.report.aggregate import aggregate

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    out = aggregate(list(sm.input.runs) + list(sm.input.base), Path(sm.output.runs).parent, **dict(sm.params.options),
                    contrast_specs=list(sm.params.contrasts), mde_target=sm.params.mde_target,
                    left_out_contrasts=list(sm.params.left_out_contrasts))
    for bad in out["skipped"]:
        print(f"skipped bad record: {bad}")
