"""DEFT in your own transformers.Trainer (CPU, offline: a tiny random Llama, eight examples, two steps).

Run: python examples/trainer_deft.py
"""
import tempfile

from datasets import Dataset
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Trainer,
    TrainingArguments,
)

from deft.integrations.hf import DeftTrainer, compute_loss_func
from deft.train.backbones import prepare_tiny_llama

work = tempfile.mkdtemp()
model_dir = prepare_tiny_llama(f"{work}/tiny-llama")  # any causal LM folder or hub id of yours
tok = AutoTokenizer.from_pretrained(model_dir)


def encode(prompt, answer):  # labels -100 on the prompt: only the answer is a target
    p, a = tok(prompt)["input_ids"], tok(answer + tok.eos_token, add_special_tokens=False)["input_ids"]
    return {"input_ids": p + a, "labels": [-100] * len(p) + a}


data = Dataset.from_list([encode(f"{i} + {i} =", f" {2 * i}") for i in range(8)])
args = TrainingArguments(f"{work}/out", per_device_train_batch_size=4, max_steps=2, report_to=[], use_cpu=True)
collate = DataCollatorForSeq2Seq(tok)

# 1. Any Trainer: DEFT as its compute_loss_func (any objective of deft.losses, parameters as keywords).
model = AutoModelForCausalLM.from_pretrained(model_dir)
print(Trainer(model=model, args=args, train_dataset=data, data_collator=collate,
              compute_loss_func=compute_loss_func("deft")).train())

# 2. DeftTrainer: the same loss without materialising the [tokens x vocab] logits (chunked LM head).
model = AutoModelForCausalLM.from_pretrained(model_dir)
print(DeftTrainer(objective="deft", model=model, args=args, train_dataset=data, data_collator=collate).train())
