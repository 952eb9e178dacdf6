"""Drop-ins for other people's training loops: ``hf`` (transformers.Trainer) and ``trl`` (TRL's
SFTTrainer, optional extra ``deft-repro[trl]``). Imports run downward: integrations -> losses."""
