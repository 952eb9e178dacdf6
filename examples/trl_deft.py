"""DEFT in TRL's SFTTrainer (CPU, offline: a tiny random Llama, eight examples, two steps).

Needs the extra: pip install 'deft-repro[trl]'.  Run: python examples/trl_deft.py
"""
import tempfile

from datasets import Dataset
from trl import SFTConfig

from deft.integrations.trl import DeftSFTTrainer
from deft.train.backbones import prepare_tiny_llama

work = tempfile.mkdtemp()
model_dir = str(prepare_tiny_llama(f"{work}/tiny-llama"))  # any causal LM folder or hub id of yours

# TRL's prompt-completion format: the loss counts the completion tokens only.
data = Dataset.from_list([{"prompt": f"{i} + {i} =", "completion": f" {2 * i}"} for i in range(8)])
args = SFTConfig(f"{work}/out", per_device_train_batch_size=4, max_steps=2, report_to=[], use_cpu=True)
trainer = DeftSFTTrainer(objective="deft", model=model_dir, args=args, train_dataset=data)
print(trainer.train())
