"""Bad configurations are refused before any work, naming the key, the value and what is allowed."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

import deft.config as dc

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
BASE = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def check(cfg):
    validate(cfg, SCHEMA)
    dc.check(cfg)


def edit(path, value):
    cfg = copy.deepcopy(BASE)
    *parents, last = path
    node = cfg
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


DELETE = object()


@pytest.mark.parametrize("config_file", ["config.yaml", "tiny.yaml", "cpu-study.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(config_file):
    check(yaml.safe_load((ROOT / "config" / config_file).read_text()))


@pytest.mark.parametrize("path,value,match", [
    (["grid", "objectives"], ["nll", "deftt"], "grid.objectives\\[1\\] = 'deftt' is not allowed; allowed: \\['cayley'"),
    (["objective_params"], {"neg_p_pow": {"k": -1}}, "objective_params.neg_p_pow: .*k=-1 is not allowed"),
    (["objective_params"], {"eaft": {"tau": 0.1}}, "unknown parameter\\(s\\) \\['tau'\\]; allowed: \\['alpha', 'k'\\]"),
    (["grid", "noise_rates"], [0.0, 1.0], "1.0 is greater than or equal to the maximum of 1"),
    (["grid", "noise_rates"], [-0.1], "-0.1 is less than the minimum of 0"),
    (["grid", "noise_kinds"], ["labels"], "'labels' is not one of \\['answer', 'shuffle'\\]"),
    (["regimes", "weak", "domain"], "medical", "regimes.weak.domain = 'medical' is not allowed; allowed: \\['arithmetic'"),
    (["regimes", "weak", "backbone"], "llama-8b", "regimes.weak.backbone = 'llama-8b' is not allowed"),
    (["data", "domains", "medqa"], {}, "data.domains = 'medqa' is not allowed; allowed: \\['arithmetic', 'figfont', 'math', 'medical'\\]"),
    (["data", "domains", "arithmetic", "min_term"], 2, "data.domains.arithmetic = 'min_term' is not allowed"),
    (["backbones", "mine"], {"source": "local", "path": "/no/such/folder"}, "backbones.mine.path = '/no/such/folder' is not"),
    (["backbones", "hubby"], {"source": "hub"}, "backbones.hubby \\(source hub\\) needs the key 'id'"),
    (["train", "learning_rate"], 0, "0 is less than or equal to the minimum of 0"),
    (["train", "learning_rate"], -1e-5, "-1e-05 is less than or equal to the minimum of 0"),
    (["train", "batch_size"], 0, "0 is less than the minimum of 1"),
    (["train", "max_steps"], 0, "should not be valid"),
    (["prior", "eval_every"], -3, "-3 is less than the minimum of 1"),
    (["grid", "objectives"], ["nll", "deft", "nll"], "grid.objectives has duplicate entries \\['nll'\\]"),
    (["grid", "seeds"], [0, 0], "grid.seeds has duplicate entries"),
    (["grid", "seeds"], [0, 1.5], "1.5 is not of type 'integer'"),
    (["grid", "seeds"], ["zero"], "'zero' is not of type 'integer'"),
    (["train", "learnig_rate"], 1e-4, "Additional properties are not allowed \\('learnig_rate' was unexpected\\)"),
    (["evaluate", "backend"], "tgi", "'tgi' is not one of \\['hf', 'vllm'\\]"),
    (["gird"], {}, "'gird' was unexpected"),
    (["data", "sizes", "prior"], 0, "is a prior backbone: set `prior:`"),
    (["data", "sizes", "prior_stop"], 0, "prior_stop of its domain 'arithmetic' .*'prior_stop': 0"),
    # a domain's own sizes count too (before, only data.sizes was checked and the build failed later)
    (["data", "domains", "arithmetic", "sizes"], {"prior_dev": 0}, "sizes .*of its domain 'arithmetic' .*'prior_dev': 0"),
    (["data", "train_sample"], 513, "data.train_sample = 513 is not allowed; allowed: at most the train pool of 'arithmetic'"),
    (["prior"], DELETE, "is a prior backbone: set `prior:`"),
    (["launch"], {"kind": "accelerate", "config_file": "configs/accelerate/nope.yaml", "num_processes": 2},
     "launch.config_file = 'configs/accelerate/nope.yaml' is not allowed; allowed: an accelerate config file"),
    (["launch"], {"kind": "torchrun"}, "launch.kind 'torchrun' needs launch.num_processes"),
    (["launch"], {"kind": "mpirun"}, "'mpirun' is not one of \\['python', 'accelerate', 'torchrun'\\]"),
    (["data", "domains", "medical-llama"], {}, "data.domains.medical-llama: a medical domain needs `hub:`"),
    (["analysis"], {"reference": {"smollm2-135m": "arithmetic"}},
     "analysis.reference.smollm2-135m = 'arithmetic' is not allowed; it is a domain smollm2-135m is fine-tuned on "
     "\\(\\['arithmetic'\\]\\); allowed: \\['arithmetic-mult'\\]"),
    (["analysis"], {"reference": {"smollm2-135m-prior": "arithmetic"}}, "smollm2-135m-prior is fine-tuned on"),
    (["analysis"], {"reference": {"llama": "arithmetic-mult"}}, "analysis.reference = 'llama' is not allowed"),
    (["analysis"], {"reference": {"smollm2-135m": "chess"}}, "analysis.reference.smollm2-135m = 'chess' is not allowed"),
    (["analysis"], {"reference_answers": "both"}, "'both' is not one of \\['model', 'gold'\\]"),
    (["data", "domains", "chess-llama"], {"hub": {"dataset": "x"}}, "data.domains = 'chess-llama' is not allowed"),
    (["data", "domains", "figfont-llama"], {"hub": {"dataset": "x", "prompt_format": "jinja"}},
     "prompt_format = 'jinja' is not allowed"),
    (["train"], {**BASE["train"], "trunk_cache": True, "train_blocks": None},
     "regime .*trunk_cache: true cannot be combined with train_blocks: null"),
    (["train"], {**BASE["train"], "trunk_cache": True, "save_steps": 8}, "trunk_cache: true cannot be combined with save_steps"),
    (["data", "domains", "arithmetic", "eval_task"], "deft_medicall",
     "data.domains.arithmetic.eval_task = 'deft_medicall' is not allowed; allowed: \\['deft_aime24'.*'deft_medical'"),
])
def test_bad_config_is_refused(path, value, match):
    with pytest.raises(Exception, match=match):
        check(edit(path, value))


def test_grid_expansion_dedupes_the_clean_run_across_noise_kinds():
    cfg = edit(["grid", "noise_kinds"], ["answer", "shuffle"])
    runs = dc.runs(cfg)
    # 4 objectives x 3 seeds x (2 regimes x (1 clean + 2 kinds x 1 noisy rate) + weak: clean only),
    # then the strong noise contrast's cells (deft and nll per noisy kind, nll clean) on seeds 3-19
    assert len(runs) == 4 * 3 * (2 * 3 + 1) + 5 * 17
    assert {r["noise"] for r in runs} == {"clean", "answer-0.3", "shuffle-0.3"}
    assert dc.parse_noise("answer-0.3") == ("answer", 0.3) and dc.parse_noise("clean") == ("none", 0.0)


def test_a_contrast_with_more_seeds_runs_only_its_own_and_its_controls_cells_on_them():
    cfg = copy.deepcopy(BASE)
    grid_runs = 4 * 3 * 5  # 4 objectives x 3 seeds x (clean + noisy in 2 regimes, clean in the weak one)
    contrasts = cfg["analysis"]["contrasts"]
    assert dc.contrast_seeds([0, 1, 2], 20) == list(range(20)) and dc.contrast_seeds([4, 7], 4) == [4, 7, 8, 9]
    assert dc.contrast_seeds([0, 1, 2], 2) == [0, 1, 2] and dc.contrast_seeds([0, 1, 2], None) == [0, 1, 2]
    extra = [r for r in dc.runs(cfg) if r["seed"] > 2]
    # the shipped strong noise contrast (seeds: 20): deft and nll at 0.3, and its noise_cost control's clean nll
    assert len(dc.runs(cfg)) == grid_runs + 3 * 17
    assert {(r["regime"], r["objective"], r["noise"]) for r in extra} == \
        {("strong", "deft", "answer-0.3"), ("strong", "nll", "answer-0.3"), ("strong", "nll", "clean")}
    assert sorted({r["seed"] for r in extra}) == list(range(3, 20))
    # each control kind adds the cells it reads; cells the grid lacks (a noisy weak cell) are not invented
    for spec, cells in [
        ({"regime": "weak", "noise_rate": 0.0, "a": "deft", "b": "neg_p", "seeds": 5,
          "control": {"kind": "beats_base", "objective": "nll"}}, {("deft", "clean"), ("neg_p", "clean"), ("nll", "clean")}),
        ({"regime": "intermediate", "noise_rate": 0.3, "a": "cayley", "b": "nll", "seeds": 5,
          "control": {"kind": "above_zero", "objective": "neg_p"}},
         {("cayley", "answer-0.3"), ("nll", "answer-0.3"), ("neg_p", "answer-0.3")}),
        ({"regime": "weak", "noise_rate": 0.3, "a": "deft", "b": "nll", "seeds": 5}, set()),
    ]:
        one = edit(["analysis", "contrasts"], [spec])
        check(one)
        extra = [r for r in dc.runs(one) if r["seed"] > 2]
        assert {(r["objective"], r["noise"]) for r in extra} == cells and all(r["regime"] == spec["regime"] for r in extra)
        assert sorted({r["seed"] for r in extra}) == ([3, 4] if cells else [])
    # a regime without clean runs gets none for the control either (it is then "not measured")
    noisy_only = copy.deepcopy(cfg)
    noisy_only["regimes"]["strong"]["noise_rates"] = [0.3]
    assert {(r["objective"], r["noise"]) for r in dc.runs(noisy_only) if r["seed"] > 2} == \
        {("deft", "answer-0.3"), ("nll", "answer-0.3")}
    # a contrast left out of a reduced grid adds nothing
    strong_only = edit(["grid", "regimes"], ["intermediate"])
    assert len(dc.runs(strong_only)) == 4 * 3 * 2
    del contrasts[0]["seeds"]
    assert len(dc.runs(cfg)) == grid_runs
    with pytest.raises(Exception, match="seeds"):
        check(edit(["analysis", "contrasts"], [{"regime": "strong", "noise_rate": 0.3, "a": "deft", "b": "nll", "seeds": 1}]))


def test_snakemake_refuses_a_bad_config_before_writing_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(edit(["grid", "objectives"], ["nll", "deftt"])))
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s", str(ROOT / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(bad)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode != 0
    assert "grid.objectives[1] = 'deftt' is not allowed" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_train_command_per_launcher():
    assert dc.train_command({}, "py") == "py -m deft.train.cli"
    cfg = {"launch": {"kind": "accelerate", "config_file": "configs/accelerate/deepspeed_zero3.yaml", "num_processes": 4}}
    assert dc.train_command(cfg, "py") == ("py -m accelerate.commands.launch --config_file "
                                           "configs/accelerate/deepspeed_zero3.yaml --num_processes 4 --num_machines 1 "
                                           '--main_process_port "$(py -m deft.train.free_port)" -m deft.train.cli')
    assert dc.train_command({"launch": {"kind": "torchrun", "num_processes": 2}}, "py") == (
        "py -m torch.distributed.run --standalone --nproc_per_node 2 -m deft.train.cli")


def test_accelerate_parses_the_training_command_as_ours():
    """accelerate's own parser leaves every deft.train.cli option to the script (no prefix clash)."""
    import shlex

    from accelerate.commands.launch import launch_command_parser

    cmd = dc.train_command({"launch": {"kind": "accelerate", "config_file": "configs/accelerate/fsdp.yaml",
                                       "num_processes": 8}}, "py")
    cmd = shlex.split(cmd.replace('"$(py -m deft.train.free_port)"', "31234"))[3:]
    ours = shlex.split("--model-dir m --train-data d --out-dir o --train-log l --summary-json s --torch-threads 1 "
                       "--settings-json '{}'")
    args = launch_command_parser().parse_args(cmd + ours)
    assert args.module and args.training_script == "deft.train.cli" and args.training_script_args == ours
    assert args.num_processes == 8 and args.config_file == "configs/accelerate/fsdp.yaml"
    assert args.main_process_port == 31234


def test_each_accelerate_launch_gets_a_free_port_of_its_own():
    """The shell substitution in the accelerate command runs deft.train.free_port: a port nothing
    listens on, which can be bound at once (so two launches at once do not share 29500)."""
    import socket

    cmd = dc.train_command({"launch": {"kind": "accelerate", "config_file": "c.yaml"}}, sys.executable)
    sub = cmd.split('"$(')[1].split(')"')[0]
    port = int(subprocess.run(sub, shell=True, capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_train_overrides_match_a_domain_by_name_or_kind():
    cfg = {"train": {"learning_rate": 1.0, "max_len": 10},
           "train_overrides": [{"match": {"domain": "figfont"}, "set": {"max_len": 800}},
                               {"match": {"backbone": "b", "domain": "figfont-qwen"}, "set": {"learning_rate": 2.0}}]}
    assert dc.train_settings(cfg, "b", "figfont-llama") == {"learning_rate": 1.0, "max_len": 800}
    assert dc.train_settings(cfg, "b", "figfont-qwen") == {"learning_rate": 2.0, "max_len": 800}
    assert dc.train_settings(cfg, "a", "arithmetic") == {"learning_rate": 1.0, "max_len": 10}


def test_evaluate_settings_fit_every_paper_cell_in_its_backbones_context():
    """Prompt budget + generation never exceed the backbone's own maximum context, in all 12
    cells; where the authors' budget would fill a 4096-token context (Qwen2.5-Math, DeepSeek-Math)
    it is capped so that the prompt keeps PROMPT_RESERVE tokens, and says so."""
    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    cells = [cfg["regimes"][r] for r in cfg["grid"]["regimes"]]
    assert len(cells) == 12
    capped = []
    for cell in cells:
        s = dc.evaluate_settings(cfg, cell["backbone"], cell["domain"])
        context = dc.backbone_facts(cfg["backbones"][cell["backbone"]]["id"])["max_context"]
        assert s["max_model_len"] == context == s["model_args"]["max_model_len"]
        assert s["prompt_budget"] + s["max_gen_toks"] <= context and s["prompt_budget"] >= dc.PROMPT_RESERVE
        if s["capped_from"]:
            capped.append((cell["backbone"], cell["domain"]))
            assert s["max_gen_toks"] == context - dc.PROMPT_RESERVE < s["capped_from"]
        family = dc.backbone_facts(cfg["backbones"][cell["backbone"]]["id"])["family"]
        if cell["domain"] == "math":
            assert "<|im_end|>" in s["until"] and "<|eot_id|>" in s["until"]
            assert s["prompt_wrapper"] == {"qwen": "qwen-boxed", "llama": "llama-base-boxed-with-bos",
                                           "deepseek": "deepseek-math"}[family]
        elif cell["domain"].startswith("medical"):  # the authors' family wrapper, which writes its own BOS
            assert s["prompt_wrapper"] == f"medical-{family}" and s["model_args"]["add_bos_token"] is False
            assert s["tasks"][0] == "deft_medical_m1" and "deft_medical" in s["tasks"]
        else:  # figfont: pre-formatted prompts, the tokenizer's BOS where training added one
            assert s["prompt_wrapper"] == "raw" and s["model_args"]["add_bos_token"] is True
        if s["prompt_wrapper"] not in ("raw", "chat"):
            assert s["model_args"]["add_bos_token"] is False
        # token analyses encode as training does (Qwen math trains in its chat template, authors')
        assert s["analysis_wrapper"] == dc.train_settings(cfg, cell["backbone"], cell["domain"]).get("prompt_wrapper")
        if cell["domain"] == "math":
            assert s["analysis_wrapper"] == {"qwen": "chat", "llama": "llama-base-boxed-with-bos",
                                             "deepseek": "deepseek-math"}[family]
    assert sorted(capped) == [("deepseekmath-7b-base", "math"), ("qwen2.5-math-1.5b", "math"),
                              ("qwen2.5-math-7b", "math"), ("qwen2.5-math-7b", "medical-qwen")]
    with pytest.raises(ValueError, match="backbone id 'org/unknown' has no facts in .*backbones.csv"):
        dc.backbone_facts("org/unknown")


@pytest.mark.parametrize("contrast,match", [
    ({"regime": "stronk", "noise_rate": 0.3, "a": "deft", "b": "nll"},
     "analysis.contrasts\\[0\\].regime = 'stronk' is not allowed; allowed: a regime label of the config "
     "\\['intermediate', 'strong', 'weak'\\]"),
    ({"regime": "strong", "noise_rate": 0.3, "a": "deftt", "b": "nll"}, "analysis.contrasts\\[0\\].a = 'deftt'"),
    ({"regime": "strong", "noise_rate": 0.3, "a": "deft", "b": "nll", "control": {"kind": "noise", "objective": "nll"}},
     "analysis.contrasts\\[0\\].control.kind = 'noise' is not allowed; allowed: \\['noise_cost', 'beats_base', 'above_zero', 'headroom'\\]"),
    ({"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll", "control": {"kind": "noise_cost", "objective": "nll"}},
     "control.kind = 'noise_cost' is not allowed; allowed only for a contrast at a noise rate above 0"),
    ({"regime": "weak", "noise_rate": 0.0, "a": "nll", "b": "neg_p", "control": {"kind": "beats_base", "objective": "nl"}},
     "control.objective = 'nl' is not allowed"),
])
def test_a_misspelt_contrast_is_refused_even_in_a_reduced_grid(contrast, match):
    cfg = edit(["analysis", "contrasts"], [contrast])
    cfg["grid"]["regimes"] = ["strong"]
    with pytest.raises(ValueError, match=match):
        check(cfg)


def test_a_reduced_grid_keeps_its_contrasts_and_says_which_it_leaves_out():
    contrasts = BASE["analysis"]["contrasts"]
    assert dc.grid_contrasts(BASE) == (contrasts, [])
    strong = edit(["grid", "regimes"], ["strong"])
    check(strong)  # the weak regime's contrasts no longer refuse the grid
    kept, left_out = dc.grid_contrasts(strong)
    assert [(c["a"], c["b"], c["regime"], c["noise_rate"]) for c in kept] == [("deft", "nll", "strong", 0.3),
                                                                             ("deft", "nll", "strong", 0.0),
                                                                             ("deft", "nll", "strong", 0.0)]
    assert [(c["a"], c["b"], c["regime"]) for c, _ in left_out] == [("deft", "nll", "intermediate"),
                                                                    ("nll", "neg_p", "weak"), ("deft", "neg_p", "weak"),
                                                                    ("deft", "nll", "intermediate"), ("deft", "nll", "weak"),
                                                                    ("deft", "nll", "intermediate"), ("deft", "nll", "weak")]
    assert all(why == f"regime {c['regime']} is not in grid.regimes ['strong']" for c, why in left_out)
    fewer = edit(["grid", "objectives"], ["nll", "deft"])
    fewer["grid"]["noise_rates"] = [0.0]
    check(fewer)
    kept, left_out = dc.grid_contrasts(fewer)
    assert [(c["regime"], c["noise_rate"]) for c in kept] == [("strong", 0.0), ("intermediate", 0.0), ("weak", 0.0)] * 2
    assert [why for _, why in left_out] == [
        "noise rate 0.3 is not among the cell's rates [0.0]",
        "noise rate 0.3 is not among the cell's rates [0.0]",
        "objective neg_p is not in grid.objectives ['nll', 'deft']",
        "objective neg_p is not in grid.objectives ['nll', 'deft']"]
    # a rate the grid lacks cannot be told from a grid reduced on the command line: left out, and said
    odd = edit(["analysis", "contrasts"], [{"regime": "strong", "noise_rate": 0.25, "a": "deft", "b": "nll"}])
    check(odd)
    assert [why for _, why in dc.grid_contrasts(odd)[1]] == ["noise rate 0.25 is not among the cell's rates [0.0, 0.3]"]


def test_bf16_master_weights_under_an_upcasting_fsdp_launcher_are_refused():
    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    dc.check(cfg)  # the authors' launcher keeps bf16 weights
    cfg["launch"]["config_file"] = "configs/accelerate/fsdp.yaml"  # mixed_precision bf16: FSDP1 upcasts
    with pytest.raises(ValueError, match=r"launch.config_file = 'configs/accelerate/fsdp.yaml' is not allowed; with "
                                         r"train.master_weights bf16"):
        dc.check(cfg)


@pytest.mark.parametrize("overlay", [None, "config/paper-corrected.yaml"])
def test_paper_batch_layout_is_the_released_one(overlay):
    """scripts/training/*/example.sh: global batch 256 on 2 GPUs, micro-batch 4 (math) or 16
    (medical, figfont); under the authors' normalisation the split changes the gradient."""
    import yaml

    from deft.data.domains import kind_of

    cfg = yaml.safe_load(open("config/paper.yaml"))
    if overlay:
        extra = yaml.safe_load(open(overlay))
        cfg = {**cfg, **{k: v for k, v in extra.items() if k not in ("train", "data")},
               "train": {**cfg["train"], **extra["train"]}}
    assert cfg["launch"]["num_processes"] == 2
    for run in dc.runs(cfg):
        s = dc.train_settings(cfg, run["backbone"], run["domain"])
        assert s["batch_size"] == {"math": 4, "medical": 16, "figfont": 16}[kind_of(run["domain"])], run
        assert s["batch_size"] * s["grad_accum"] * cfg["launch"]["num_processes"] == 256, run


def test_disk_per_job_follows_the_backbone_and_the_master_weights():
    import yaml

    paper = yaml.safe_load(open("config/paper.yaml"))
    bf16 = dc.disk_mb(paper, "llama-3.1-8b", "train")
    fp32 = dc.disk_mb({**paper, "train": {**paper["train"], "master_weights": "fp32"}}, "llama-3.1-8b", "train")
    assert 8.03e9 * 16 / 1e6 < bf16 < fp32 and fp32 > 8.03e9 * 28 / 1e6
    assert dc.disk_mb({"backbones": {"b": {"source": "embedded"}}, "train": {}}, "b", "train") == 1000
    with pytest.raises(ValueError, match="rule 'shard' is not known; allowed"):
        dc.disk_mb(paper, "llama-3.1-8b", "shard")
