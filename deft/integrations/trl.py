"""DEFT (or any objective of ``deft.losses``) in TRL's ``SFTTrainer``.

``DeftSFTTrainer(objective="deft", objective_params=None, chunk_size=512, model=..., args=SFTConfig(...),
train_dataset=..., ...)`` is an ``SFTTrainer`` whose ``compute_loss`` is the objective's, as TRL
recommends for custom losses (its ``compute_loss_func`` is deprecated and costs an extra forward).
TRL prepares the data as usual (chat templates, prompt-completion masking, packing); while training
the LM head is applied by the loss, only at target positions and in chunks
(``deft.losses.linear_terms``), so the [tokens x vocab] logits never exist. Normalisation is
TRL's: the sum over target tokens divided by the step's target-token count
(``num_items_in_batch``, across accumulation micro-batches and, with
``average_tokens_across_devices``, ranks). ``objective="nll"`` and ``"dft"`` reproduce TRL's own
``loss_type="nll"`` / ``"dft"`` (tested). Logged per step: ``objective_nll`` (mean -log p of the
targets), ``mean_p`` and ``mean_gate`` instead of TRL's entropy and token accuracy.

Install: ``pip install 'deft-repro[trl]'`` (here: ``.venv/bin/pip install -c constraints.txt -e '.[trl]'``).
"""
from __future__ import annotations

import torch

try:
    from trl import SFTTrainer
except ImportError as err:  # the optional extra
    raise ImportError("deft.integrations.trl needs TRL: pip install 'deft-repro[trl]' "
                      "(or pip install -c constraints.txt 'trl==1.16.0')") from err

from .hf import ObjectiveLossFunc, linear_head


class DeftSFTTrainer(SFTTrainer):
    def __init__(self, *args, objective: str = "deft", objective_params: dict | None = None, chunk_size: int = 512,
                 loss_path: str = "linear", **kwargs):
        if kwargs.get("compute_loss_func") is not None:
            raise ValueError("DeftSFTTrainer computes the loss itself; choose it with objective=..., "
                             "not compute_loss_func")
        sft_args = kwargs.get("args", args[1] if len(args) > 1 else None)
        loss_type = getattr(sft_args, "loss_type", "nll")
        if loss_type != "nll":
            raise ValueError(f"SFTConfig(loss_type={loss_type!r}) and DeftSFTTrainer(objective={objective!r}) both "
                             f"choose the loss; leave loss_type at 'nll' (objective='dft' is TRL's dft)")
        loss = ObjectiveLossFunc(objective, objective_params, path=loss_path, chunk_size=chunk_size)  # checks first
        super().__init__(*args, **kwargs)
        if self.aux_loss_enabled:
            raise ValueError("DeftSFTTrainer does not add MoE router losses; set SFTConfig(router_aux_loss_coef=0.0) "
                             "or use SFTTrainer")
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        self._bypass = linear_head(model) if loss_path == "linear" else None
        if self._bypass is not None:
            self._bypass.active = False  # an ordinary causal LM outside training_step
            model.set_output_embeddings(self._bypass)
        loss.head = self._bypass
        self._objective_loss = loss
        # The Trainer counts num_items_in_batch (target tokens of the whole step) and takes the loss as
        # already scaled for gradient accumulation when a compute_loss_func is set; the override below is
        # what calls it, on the one forward pass.
        self.compute_loss_func = loss

    def training_step(self, *args, **kwargs):
        if self._bypass is None:
            return super().training_step(*args, **kwargs)
        self._bypass.active = True  # forward and backward of this micro-batch see hidden states
        try:
            return super().training_step(*args, **kwargs)
        finally:
            self._bypass.active = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "shift_labels" in inputs:
            raise ValueError("DeftSFTTrainer does not support pre-shifted labels (context/sequence parallelism)")
        mode = "train" if self.model.training else "eval"
        inputs = {**inputs, "use_cache": False}
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = self._objective_loss(outputs, labels, num_items_in_batch=num_items_in_batch)
        # As TRL and Trainer.compute_loss: num_items_in_batch counts every rank's tokens and DDP averages
        # the gradients over the ranks.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        self._log_terms(mode, inputs)
        return (loss, outputs) if return_outputs else loss

    @torch.no_grad()
    def _log_terms(self, mode, inputs):
        t, valid = self._objective_loss.last_terms, self._objective_loss.last_valid
        logp = torch.where(valid, t.logp, torch.zeros_like(t.logp))
        sums = torch.stack([valid.sum().to(logp.dtype), -logp.sum(), (logp.exp() * valid).sum(), t.gate.sum(),
                            t.keep.sum().to(logp.dtype)])
        n, nll, p, gate, kept = self.accelerator.gather_for_metrics(sums[None]).sum(0).tolist()
        self._metrics[mode]["objective_nll"].append(nll / n if n else 0.0)
        self._metrics[mode]["mean_p"].append(p / n if n else 0.0)
        self._metrics[mode]["mean_gate"].append(gate / kept if kept else 0.0)
        if mode == "train" and "attention_mask" in inputs:  # TRL's token counter
            tokens = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()[None]).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
