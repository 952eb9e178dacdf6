"""Adapter: rule aggregate -> deft.aggregate.aggregate."""
from pathlib import Path

from deft.aggregate import aggregate
from deft.logs import to_log

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    out = aggregate(list(sm.input.runs) + list(sm.input.base), Path(sm.output.runs).parent, **dict(sm.params.options))
    for bad in out["skipped"]:
        print(f"skipped bad record: {bad}")
