"""DEFT (or any objective of ``deft.losses``) in your own ``transformers.Trainer``.

Two ways in:

* ``compute_loss_func(objective, **params)`` for ``Trainer(compute_loss_func=...)``. Its contract is
  Transformers': called as ``f(outputs, labels, num_items_in_batch=...)`` on the model's outputs
  (``outputs.logits`` [B, T, V]) and the unshifted labels [B, T] (``-100`` = not a target); it shifts
  them itself and returns the sum of per-token losses divided by ``num_items_in_batch``: the
  Trainer's count of target tokens over the whole optimizer step, summed over the gradient
  accumulation micro-batches (and over ranks with ``average_tokens_across_devices``). The Trainer
  then does not divide by the accumulation steps (and multiplies by the number of processes,
  undoing the data-parallel mean), so the step's gradient is that of the token mean over the
  global batch, as in one process with one big batch. Without ``num_items_in_batch`` (a direct
  call) it is this batch's token mean.
* ``DeftTrainer(objective="deft", ...)``: a ``Trainer`` that never materialises the [tokens x vocab]
  logits. While training it swaps the LM head for ``HeadBypass`` (the model returns hidden states)
  and applies the head only at target positions, chunked, through ``deft.losses.linear_terms``;
  outside ``training_step`` the model is an ordinary causal LM (evaluation, generation, saving).

Thresholded objectives (``only_top_p``, ...) also drop tokens from the normaliser: each micro-batch
is normalised by its kept tokens, weighted by its share of the step's target tokens (exact with one
micro-batch per step), as in the suite's own trainer (``deft.train.trainer``).
"""
from __future__ import annotations

import torch

import deft.losses as L

LOSS_PATHS = ("linear", "logits")


class HeadBypass(torch.nn.Module):
    """Stands in for the LM head: while ``active`` the model returns hidden states as ``logits`` and
    the loss applies the head itself, only at the counted (response) positions - on the linear path
    chunk by chunk (``deft.losses.linear_terms``), so the [tokens x vocab] logits never exist; on the
    logits path as one matmul. Holds the head's own (possibly tied) weight, so the state dict and the
    optimizer see the same parameter; ``active = False`` gives ordinary logits (generation)."""

    def __init__(self, head: torch.nn.Linear):
        super().__init__()
        if getattr(head, "bias", None) is not None:
            raise ValueError("the linear loss path needs an LM head without bias; use loss_path='logits'")
        self.weight = head.weight
        self.active = True
        self.forward_weight = None

    def forward(self, x):
        # The weight as the forward sees it, for the loss applied after the model returns: FSDP1
        # (use_orig_params) puts the gathered weight here only during the forward and turns
        # ``self.weight`` back into this rank's 1-D shard afterwards (FULL_SHARD on 2 ranks failed
        # with a size mismatch); the gathered tensor stays alive for the backward of the root.
        self.forward_weight = self.weight
        return x if self.active else torch.nn.functional.linear(x, self.weight)

    def take_weight(self):
        """The weight of the last forward (once: the reference is dropped), else the parameter."""
        weight, self.forward_weight = self.forward_weight, None
        return _full(self.weight if weight is None else weight)


def linear_head(model) -> HeadBypass:
    """A HeadBypass for ``model``'s LM head, refused where applying the head's weight alone would
    not reproduce the model's logits: a head that is not a plain bias-free Linear (a LoRA or
    modules_to_save wrapper: its adapter would leave the graph) or logit soft-capping (Gemma 2)."""
    head = model.get_output_embeddings()
    config = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text, "final_logit_softcapping", None)
    if type(head) is not torch.nn.Linear or head.bias is not None or cap is not None:
        why = f"soft-caps its logits (final_logit_softcapping={cap})" if cap is not None else \
            f"has an LM head of type {type(head).__name__}{' with a bias' if getattr(head, 'bias', None) is not None else ''}"
        raise ValueError(f"the chunked LM-head path needs a plain bias-free Linear head applied as is, and this model "
                         f"{why}; use the logits path (compute_loss_func, or loss_path='logits')")
    return HeadBypass(head)


def _full(weight):
    """An FSDP2 (DTensor) head weight, gathered: the hidden states are ordinary tensors."""
    return weight.full_tensor() if hasattr(weight, "full_tensor") else weight


def shifted_terms(output: torch.Tensor, labels: torch.Tensor, objective: str, params: dict, *,
                  head: HeadBypass | None = None, path: str = "linear", chunk_size: int = 512):
    """(sum of per-token losses, detached Terms, bool mask of target tokens) of ``objective`` on a
    causal LM's ``output`` [B, T, V] logits - or [B, T, H] hidden states when ``head`` is active -
    and its unshifted ``labels`` [B, T]."""
    out, y = output[:, :-1], labels[:, 1:]
    if head is not None and head.active:  # hidden states: the head at counted positions only
        counted = y != -100
        out, y = out[counted], y[counted]
        weight = head.take_weight()
        if path == "linear":
            total, t = L.linear_terms(objective, out, weight, y, num_items=1, chunk_size=chunk_size, **params)
        else:
            t = L.terms(objective, out @ weight.T, y, **params)
            total = t.loss.sum()
    else:
        t = L.terms(objective, out, y, **params)
        total = t.loss.sum()
    return total, t, (y != -100).reshape(-1)


class ObjectiveLossFunc:
    """A ``compute_loss_func`` for ``transformers.Trainer`` (see the module docstring)."""

    def __init__(self, objective: str, params: dict | None = None, *, head: HeadBypass | None = None,
                 path: str = "linear", chunk_size: int = 512):
        params = dict(params or {})
        L.resolve(objective, params)  # a bad name or parameter fails before any work
        if path not in LOSS_PATHS:
            raise ValueError(f"loss_path={path!r} is not allowed; allowed: {list(LOSS_PATHS)}")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size={chunk_size!r} is not allowed; it must be an integer >= 1")
        self.objective, self.params = objective, params
        self.head, self.path, self.chunk_size = head, path, int(chunk_size)

    def normaliser(self, t, valid, num_items_in_batch):
        """What the summed loss of this micro-batch is divided by (see the module docstring)."""
        n_valid, n_kept = valid.sum(), t.keep.sum()
        n = n_valid if num_items_in_batch is None else num_items_in_batch
        # At least 1: a micro-batch without a target token (truncation can make one) contributes a
        # zero loss and gradient, as in the authors' code, not 0 / 0.
        return (n_kept.clamp(min=1) * n / n_valid.clamp(min=1)).clamp(min=1)

    def __call__(self, outputs, labels, num_items_in_batch=None):
        if labels is None:
            raise ValueError(f"compute_loss_func({self.objective!r}) needs labels: the batch has none "
                             "(give the data collator a `labels` field, -100 where a token is not a target)")
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        total, t, valid = shifted_terms(logits, labels.to(logits.device), self.objective, self.params,
                                        head=self.head, path=self.path, chunk_size=self.chunk_size)
        self.last_terms, self.last_valid = t, valid  # for callers that log per-step statistics
        return total / self.normaliser(t, valid, num_items_in_batch)


def compute_loss_func(objective: str = "deft", **params) -> ObjectiveLossFunc:
    """``Trainer(compute_loss_func=compute_loss_func("deft"))``: any objective of ``deft.losses``
    (``deft.losses.order()``; plugins once loaded), its parameters as keywords."""
    return ObjectiveLossFunc(objective, params, path="logits")


def _deft_trainer_class():
    from transformers import Trainer

    class DeftTrainer(Trainer):
        """``transformers.Trainer`` training with ``objective`` through the chunked linear path.

        ``DeftTrainer(objective="deft", objective_params=None, chunk_size=512, model=..., args=..., ...)``;
        every other argument is the Trainer's (``compute_loss_func`` is set here). The LM head must have
        no bias (Llama, Qwen, Mistral, SmolLM and most causal LMs)."""

        def __init__(self, *args, objective: str = "deft", objective_params: dict | None = None,
                     chunk_size: int = 512, **kwargs):
            if kwargs.get("compute_loss_func") is not None:
                raise ValueError("DeftTrainer sets compute_loss_func itself; choose the loss with objective=...")
            model = kwargs.get("model", args[0] if args else None)
            if model is None:
                raise ValueError("DeftTrainer needs a model (the LM head is applied by the loss)")
            self._bypass = linear_head(model)
            self._bypass.active = False  # an ordinary causal LM outside training_step
            model.set_output_embeddings(self._bypass)
            loss = ObjectiveLossFunc(objective, objective_params, head=self._bypass, chunk_size=chunk_size)
            super().__init__(*args, compute_loss_func=loss, **kwargs)

        def training_step(self, *args, **kwargs):
            self._bypass.active = True  # forward and backward of this micro-batch see hidden states
            try:
                return super().training_step(*args, **kwargs)
            finally:
                self._bypass.active = False

    return DeftTrainer


def __getattr__(name):
    # DeftTrainer is built on first use: importing transformers' Trainer takes seconds, and the suite's
    # own trainer imports this module for HeadBypass and the loss alone.
    if name == "DeftTrainer":
        globals()[name] = _deft_trainer_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
