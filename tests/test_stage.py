"""make stage (deft.stage): what a configuration reads from the network, and the offline check of it."""
import subprocess
import sys
from pathlib import Path

import pytest

from deft import stage

ROOT = Path(__file__).resolve().parents[1]


def test_paper_plan_names_every_backbone_training_set_and_evaluation_set():
    items = stage.plan(stage.load_configs([ROOT / "config/paper.yaml"]))
    by_kind = {k: {i["ref"] for i in items if i["kind"] == k} for k in ("backbone", "train", "eval")}
    assert len(by_kind["backbone"]) == 7 and "meta-llama/Llama-3.1-8B" in by_kind["backbone"]
    assert by_kind["train"] == {"gaotang/numina-cot-subset-67k", "gaotang/medical_sft_processed", "gaotang/figlet_font"}
    assert {"HuggingFaceH4/MATH-500", "math-ai/minervamath", "Hothan/OlympiadBench", "HuggingFaceH4/aime_2024",
            "math-ai/amc23", "GBaker/MedQA-USMLE-4-options-hf", "openlifescienceai/medmcqa", "qiaojin/PubMedQA",
            "cais/mmlu", "data/m1_eval_data_processed.json"} == by_kind["eval"]
    figfont = [(i["split"]) for i in items if i["ref"] == "gaotang/figlet_font"]
    assert sorted(figfont) == ["test", "train"]  # its test set comes from the Hub too
    olympiad = next(i for i in items if i["ref"] == "Hothan/OlympiadBench")
    assert (olympiad["name"], olympiad["split"]) == ("OE_TO_maths_en_COMP", "train")
    m1 = next(i for i in items if i["ref"].endswith("m1_eval_data_processed.json"))
    assert m1["used_by"] == ["medical-llama:deft_medical_m1", "medical-qwen:deft_medical_m1"]


def test_offline_check_names_what_is_missing_and_how_to_get_a_gated_model(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "deft.stage", "--check", "--configfile", "config/paper.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "HF_HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert "stage: 0 of 21 items ready" in proc.stdout
    assert "MISSING  meta-llama/Llama-3.2-3B" in proc.stdout and "hf auth login" in proc.stdout
    assert "make stage fetches it from https://raw.githubusercontent.com/luludus/DEFT/" in proc.stdout


def test_offline_check_passes_where_everything_is_local():
    """paper-smoke reads only the repository's fixtures and a tiny local backbone (run from a
    folder one level below the repository, as make paper-smoke does)."""
    proc = subprocess.run([sys.executable, "-m", "deft.stage", "--check", "--configfile", "../config/paper-smoke.yaml"],
                          cwd=ROOT / "tests", capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISSING" not in proc.stdout and "items ready" in proc.stdout


def test_m1_file_is_verified_by_its_git_blob_hash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake = tmp_path / "data" / "m1_eval_data_processed.json"  # where paper.yaml reads it
    fake.parent.mkdir()
    fake.write_text("[]")
    want = subprocess.run(["git", "hash-object", str(fake)], capture_output=True, text=True).stdout.strip()
    assert stage.git_blob_sha1(fake) == want
    why = stage.verify({"kind": "eval", "ref": "data/m1_eval_data_processed.json", "repo_type": "dataset",
                        "name": None, "split": None})
    assert why and "is not the authors' m1 file" in why and stage.M1_BLOB in why


@pytest.mark.parametrize("bad", ["config/nope.yaml"])
def test_unknown_config_file_is_a_clear_error(bad):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        stage.load_configs([ROOT / bad])
