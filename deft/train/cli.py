"""Command line for one training run: what the `train` rule runs, in one process or under a
multi-process launcher (accelerate launch, torchrun):

    python -m deft.train.cli --model-dir M --train-data train.jsonl --out-dir model \\
        --train-log train_log.jsonl --summary-json train.json --settings-json '{"objective": "deft"}'
    accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 8 -m deft.train.cli ...

With several processes, every rank trains on its share of each global batch and rank 0 writes the
model, the log and the summary.
"""
import argparse
import json
import os


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Long, distinct option names: launchers (torchrun, accelerate) would take a prefix such as --log as theirs.
    for name in ("model-dir", "train-data", "out-dir", "train-log", "summary-json"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--settings-json", default="{}", help="JSON object of deft.train.trainer.DEFAULTS keys")
    ap.add_argument("--torch-threads", type=int, default=0, help="torch CPU threads per process (0: torch's default)")
    args = ap.parse_args(argv)
    settings = json.loads(args.settings_json)  # a malformed JSON fails before torch is imported
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")  # models and data are staged by earlier rules; never wait on a hub

    import torch
    import torch.distributed as dist

    from ..io import write_json_atomic
    from .trainer import train

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    summary = train(args.model_dir, args.train_data, args.out_dir, args.train_log, settings)
    if not dist.is_initialized() or dist.get_rank() == 0:
        write_json_atomic(args.summary_json, summary)


if __name__ == "__main__":
    main()
