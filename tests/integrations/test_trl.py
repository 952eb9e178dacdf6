"""deft.integrations.trl.DeftSFTTrainer anchored to TRL itself: one SGD step with objective nll / dft
gives TRL's loss_type nll / dft weights (with gradient accumulation, so the step-level normalisation
is compared too), and deft moves the weights elsewhere (the comparison can fail)."""
import pytest

from . import _steps
from .test_hf import _close

pytest.importorskip("trl")


@pytest.mark.parametrize("objective", ["nll", "dft"])
def test_objective_equals_trls_own_loss_type(tiny_model, tmp_path, objective):
    ours = _steps.step(tiny_model, 2, 2, objective, "deft_sft", tmp_path / "ours")
    trl = _steps.step(tiny_model, 2, 2, objective, "trl", tmp_path / "trl")
    ok, err = _close(ours, trl, rtol=1e-5)  # the stated tolerance: 1e-5 of the largest weight change (fp32)
    assert ok, f"DeftSFTTrainer({objective}) vs SFTTrainer(loss_type={objective}): relative difference {err:.2e}"
    if objective == "nll":
        ok, err = _close(ours, _steps.step(tiny_model, 2, 2, "deft", "deft_sft", tmp_path / "deft"), rtol=1e-4)
        assert not ok, err


def test_conflicting_settings_are_refused(tiny_model, tmp_path):
    from trl import SFTConfig

    from deft.integrations.trl import DeftSFTTrainer

    args = SFTConfig(output_dir=str(tmp_path), loss_type="dft", report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="loss_type='dft'"):
        DeftSFTTrainer(objective="deft", model=str(tiny_model), args=args)
    with pytest.raises(ValueError, match="unknown objective 'defft'"):
        DeftSFTTrainer(objective="defft", model=str(tiny_model), args=SFTConfig(output_dir=str(tmp_path), use_cpu=True))
