"""Real FSDP1 on CPU ranks, for tests (on PYTHONPATH, Python imports this at start-up).

accelerate runs an FSDP config on a machine without accelerators as MULTI_CPU (plain data
parallel over gloo), so sharding, the sharded loss path, FSDP checkpoints and the gathered final
save were never exercised off a GPU; two bugs lived there (the head's weight read after the
forward was this rank's 1-D shard; the AdamW moments were not restored on resume). torch's FSDP1
itself runs on CPU with gloo; three things in accelerate's path stand in the way, undone here:
  * AcceleratorState keeps MULTI_CPU for an FSDP config: set FSDP and keep the plugin;
  * accelerate passes device_id 'cpu:0', which FSDP compares unequal to the parameters' 'cpu';
  * FullStateDictConfig(offload_to_cpu=True) makes no copy of CPU tensors, so the gathered state
    dict would point into storage FSDP frees when the gather ends: keep FSDP's own clone.
Only in processes that `accelerate launch` started for an FSDP config (ACCELERATE_USE_FSDP) on a
machine where CUDA is unusable."""
import os


def _install() -> None:
    import torch
    from accelerate import state as _state
    from accelerate.utils import DistributedType
    from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel

    _state_init = _state.AcceleratorState.__init__

    def _init(self, *args, fsdp_plugin=None, **kwargs):
        _state_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type in (DistributedType.MULTI_CPU, DistributedType.NO):
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            _state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    _state.AcceleratorState.__init__ = _init

    _fsdp_init = FullyShardedDataParallel.__init__

    def _fsdp(self, *args, **kwargs):
        if kwargs.get("device_id") is not None and torch.device(kwargs["device_id"]).type == "cpu":
            kwargs["device_id"] = torch.device("cpu")
        _fsdp_init(self, *args, **kwargs)

    FullyShardedDataParallel.__init__ = _fsdp

    _config_init = FullStateDictConfig.__init__

    def _config(self, *args, **kwargs):
        _config_init(self, *args, **kwargs)
        self.offload_to_cpu = False

    FullStateDictConfig.__init__ = _config


if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
    import torch

    if not torch.cuda.is_available():
        _install()
