"""One SGD step of a tiny Llama through a Trainer built as a user would (deft.integrations), with
gradient accumulation or several processes; saves the weights. Imported by the tests, and run under
torchrun by them for the two-process case:

    python -m torch.distributed.run --nproc_per_node 2 _steps.py MODEL OUT PER_DEVICE GRAD_ACCUM OBJECTIVE TRAINER
"""
import sys

import torch

# Four examples whose answers have 1, 2, 4 and 8 tokens (+ end of sequence): however a step splits
# them into micro-batches or ranks, the parts count different numbers of target tokens, so a per-part
# token mean would give another gradient than the mean over the whole batch.
ANSWERS = [" 1", " 12", " 1234", " 12345678"]
PROMPTS = [f"Repeat{a}:" for a in ANSWERS]


def args_for(out, per_device, grad_accum, sft=False, **extra):
    """SGD, no clipping, no schedule, no decay: the weight change is lr x the step's gradient. The
    gradients of a random tiny model are ~1e-5: at lr 1e3 the change is far above the float32 rounding
    of the weights, so two ways of computing it can be compared to 1e-4 of the largest change."""
    from transformers import TrainingArguments

    kind = TrainingArguments
    if sft:
        from trl import SFTConfig

        kind = SFTConfig
        extra.setdefault("bf16", False)  # TRL's default is bf16 autocast: compare the math in fp32
    return kind(output_dir=str(out), per_device_train_batch_size=per_device, gradient_accumulation_steps=grad_accum,
                max_steps=1, learning_rate=1e3, optim="sgd", lr_scheduler_type="constant", warmup_steps=0,
                weight_decay=0.0, max_grad_norm=0.0, report_to=[], use_cpu=True, save_strategy="no", seed=0,
                average_tokens_across_devices=True, dataloader_num_workers=0, disable_tqdm=True, **extra)


def encoded(tokenizer):
    from datasets import Dataset

    rows = []
    for prompt, answer in zip(PROMPTS, ANSWERS):
        p = tokenizer(prompt)["input_ids"]
        a = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        rows.append({"input_ids": p + a, "labels": [-100] * len(p) + a})
    return Dataset.from_list(rows)


def step(model_dir, per_device, grad_accum, objective, trainer, out, **extra):
    """One step; returns {name: weight after - weight before}. ``trainer``: func (Trainer with
    compute_loss_func; func_mean: the same normalised per micro-batch), deft (DeftTrainer), trl (TRL's SFTTrainer with loss_type=objective) or
    deft_sft (DeftSFTTrainer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if trainer in ("trl", "deft_sft"):
        from datasets import Dataset
        from trl import SFTTrainer

        data = Dataset.from_list([{"prompt": p, "completion": a} for p, a in zip(PROMPTS, ANSWERS)])
        if trainer == "trl":
            args = args_for(out, per_device, grad_accum, sft=True, loss_type=objective, **extra)
            t = SFTTrainer(model=model, args=args, train_dataset=data)
        else:
            from deft.integrations.trl import DeftSFTTrainer

            t = DeftSFTTrainer(objective=objective, model=model, args=args_for(out, per_device, grad_accum, sft=True,
                                                                               **extra), train_dataset=data)
    else:
        tok = AutoTokenizer.from_pretrained(model_dir)
        common = {"model": model, "args": args_for(out, per_device, grad_accum, **extra), "train_dataset": encoded(tok),
                  "data_collator": DataCollatorForSeq2Seq(tok)}
        if trainer in ("func", "func_mean"):
            from deft.integrations.hf import compute_loss_func

            fn = compute_loss_func(objective)
            if trainer == "func_mean":  # the mistake the contract prevents: each micro-batch's own token mean
                def fn(outputs, labels, num_items_in_batch=None, _f=fn):
                    return _f(outputs, labels) / grad_accum
            t = Trainer(compute_loss_func=fn, **common)
        else:
            from deft.integrations.hf import DeftTrainer

            t = DeftTrainer(objective=objective, chunk_size=5, **common)
    t.train()
    if trainer in ("deft", "deft_sft"):  # the chunked head was really used: the loss saw target positions only
        loss = t.compute_loss_func
        assert loss.head is not None and bool(loss.last_valid.all()), "the LM-head bypass was not active"
    after = t.model.state_dict()
    return {k: after[k].detach() - before[k] for k in before}


if __name__ == "__main__":
    model_dir, out, per_device, grad_accum, objective, trainer = sys.argv[1:7]
    torch.set_num_threads(1)
    delta = step(model_dir, int(per_device), int(grad_accum), objective, trainer, out + ".work")
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        torch.save(delta, out)
        print({"world": dist.get_world_size() if dist.is_initialized() else 1})
