"""Command line for one training run, for launchers (accelerate launch, torchrun) at paper scale:

    accelerate launch --config_file configs/accelerate/fsdp.yaml -m deft.train_cli \\
        --model M --data train.jsonl --out model --log train_log.jsonl --summary train.json \\
        --settings '{"objective": "deft", "bf16": true}'
"""
import argparse
import json

from .io import write_json_atomic
from .train import train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("model", "data", "out", "log", "summary"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--settings", default="{}", help="JSON object of deft.train.DEFAULTS keys")
    args = ap.parse_args(argv)
    summary = train(args.model, args.data, args.out, args.log, json.loads(args.settings))
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        write_json_atomic(args.summary, summary)


if __name__ == "__main__":
    main()
