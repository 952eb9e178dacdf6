"""Adapter: rule collect_token_stats -> one tidy CSV of all token statistics."""
import pandas as pd

from deft.io import write_bytes_atomic
from deft.logs import to_log

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    df = pd.concat([pd.read_csv(p) for p in sm.input], ignore_index=True)
    write_bytes_atomic(sm.output[0], df.to_csv(index=False).encode())
