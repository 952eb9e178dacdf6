"""One optimizer step of the tiny backbone through deft.train.trainer.train; saves the synced gradient of
one weight (rank 0). Run alone, or under torchrun with 2 CPU processes (gloo)."""
import json
import os
import sys

import torch
from transformers import TrainerCallback

from deft.train.trainer import train

model_dir, data, out, objective = sys.argv[1:5]
rank = int(os.environ.get("RANK", 0))
world = int(os.environ.get("WORLD_SIZE", 1))


class Grab(TrainerCallback):
    def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
        m = getattr(model, "module", model)
        if rank == 0 and state.global_step == 0:
            torch.save(m.model.layers[0].mlp.up_proj.weight.grad.clone(), out)


train(model_dir, data, f"{out}.model", f"{out}.log.jsonl",
      {"objective": objective, "batch_size": 4 // world, "max_steps": 1, "max_grad_norm": 1e9, "seed": 0},
      callbacks=[Grab()])
print(json.dumps({"rank": rank, "world": world}))
