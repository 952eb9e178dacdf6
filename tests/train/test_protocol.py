"""The protocol switch of training (config/paper.yaml the authors', paper-corrected.yaml the suite's):
loss normalisation, bf16 weights, truncation and the family prompt wrappers, each measured."""
import json

import pytest
import torch

from deft.data.wrappers import wrap
from deft.train.trainer import ObjectiveLoss, encode_example, encode_raw, tokenize_examples, train

from .test_train import _grad_of_first_step


@pytest.fixture(scope="module")
def llama_tokenizer(tmp_path_factory):
    """A tokenizer that behaves like Llama-3's: its BOS text, and a BOS prepended to every text."""
    from transformers import AutoTokenizer

    from deft.train.backbones import prepare_tiny_llama

    return AutoTokenizer.from_pretrained(prepare_tiny_llama(tmp_path_factory.mktemp("l") / "m", family="llama"))


def test_llama_like_tokenizer_prepends_its_bos(llama_tokenizer):
    ids = llama_tokenizer("1 + 2")["input_ids"]
    assert ids[0] == llama_tokenizer.bos_token_id and llama_tokenizer.bos_token == "<|begin_of_text|>"


def test_wrapped_math_prompt_is_the_authors_text_with_exactly_one_bos(llama_tokenizer):
    e = {"prompt": "What is {x} + 1?", "answer": "\\boxed{2}"}
    ids, labels = encode_example(llama_tokenizer, e, "llama-base-boxed-with-bos")
    text = wrap("llama-base-boxed-with-bos", e["prompt"])
    assert text.startswith("<|begin_of_text|><|start_header_id|>system") and "What is {x} + 1?\nPlease reason" in text
    p_ids = llama_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[:len(p_ids)] == p_ids and ids.count(llama_tokenizer.bos_token_id) == 1
    assert labels[:len(p_ids)] == [-100] * len(p_ids) and ids[-1] == llama_tokenizer.eos_token_id
    assert llama_tokenizer.decode(ids[len(p_ids):]) == "\\boxed{2}<|end_of_text|>"


def test_preformatted_medical_prompt_keeps_its_two_bos_and_gets_no_third(llama_tokenizer):
    """The authors' medical Llama prompts begin with the BOS text twice, tokenised without
    special tokens: the suite must not add a third."""
    prompt = wrap("medical-llama", "Q?\nA. x\nB. y")
    assert prompt.startswith("<|begin_of_text|><|begin_of_text|>")
    ids, _ = encode_raw(llama_tokenizer, prompt, "B")
    assert ids[:3].count(llama_tokenizer.bos_token_id) == 2 and ids.count(llama_tokenizer.bos_token_id) == 2
    # a bare raw prompt gets the BOS the tokenizer adds, once
    ids, _ = encode_raw(llama_tokenizer, "Q?", "B")
    assert ids.count(llama_tokenizer.bos_token_id) == 1 and ids[0] == llama_tokenizer.bos_token_id


def test_overlong_examples_are_dropped_or_right_truncated(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    ex = [{"prompt": "short", "answer": "1"}, {"prompt": "long " * 300, "answer": "2"}]
    rows, n = tokenize_examples(tok, ex, max_len=64, overlong="drop")
    assert n == 1 and len(rows) == 1
    rows, n = tokenize_examples(tok, ex, max_len=64, overlong="truncate")
    assert n == 1 and len(rows) == 2 and len(rows[1]["input_ids"]) == 64
    full, _ = encode_example(tok, ex[1])
    assert rows[1]["input_ids"] == full[:64] and set(rows[1]["labels"]) == {-100}  # its answer was cut away
    with pytest.raises(ValueError, match="overlong='cut' is not allowed; allowed: \\['drop', 'truncate'\\]"):
        tokenize_examples(tok, ex, max_len=64, overlong="cut")


class Out:
    def __init__(self, logits):
        self.logits = logits


def test_authors_normalisation_is_the_micro_batch_mean_whatever_the_step_count():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    labels = torch.tensor([[-100, 1, 2, 3, -100], [-100, -100, 4, 5, 6]])
    per_token = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1),
                                                  reduction="sum", ignore_index=-100)
    n = int((labels[:, 1:] != -100).sum())
    step = ObjectiveLoss("nll", {}, path="logits")(Out(logits), labels, num_items_in_batch=torch.tensor(4 * n))
    authors = ObjectiveLoss("nll", {}, path="logits", normalisation="authors")(Out(logits), labels,
                                                                              num_items_in_batch=torch.tensor(4 * n))
    assert torch.allclose(step, per_token / (4 * n)) and torch.allclose(authors, per_token / n)
    with pytest.raises(ValueError, match="loss_normalisation='mean' is not allowed"):
        ObjectiveLoss("nll", {}, normalisation="mean")


def _equal_rows(n=4):
    """Examples whose answers have equal token counts: every micro-batch counts the same tokens."""
    return [{"prompt": f"Calculate {i}.", "answer": str(10 + i)} for i in range(n)]


def test_authors_gradient_is_the_sum_of_micro_batch_means(tiny_model, tmp_path):
    """verl < 0.6 divides by the number of micro-batches after backward(): with two micro-batches
    of equal token counts, its gradient is twice the step's token mean; with one, the same."""
    rows = _equal_rows()
    step = _grad_of_first_step(tiny_model, tmp_path, 2, 2, "s", rows)
    authors = _grad_of_first_step(tiny_model, tmp_path, 2, 2, "a", rows, loss_normalisation="authors")
    one = _grad_of_first_step(tiny_model, tmp_path, 4, 1, "o", rows, loss_normalisation="authors")
    assert torch.allclose(authors, 2 * step, rtol=1e-4, atol=1e-7)
    assert torch.allclose(one, step, rtol=1e-4, atol=1e-7)


def test_bf16_master_weights_train_and_save_bf16_weights(tiny_model, tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _equal_rows()))
    train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl", {"batch_size": 4, "max_steps": 1,
                                                                    "master_weights": "bf16"})
    weights = load_file(tmp_path / "m" / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    train(tiny_model, data, tmp_path / "f", tmp_path / "f.jsonl", {"batch_size": 4, "max_steps": 1})
    assert {t.dtype for t in load_file(tmp_path / "f" / "model.safetensors").values()} == {torch.float32}
    with pytest.raises(ValueError, match="train.master_weights = 'fp16' is not allowed; allowed: \\['fp32', 'bf16'\\]"):
        train(tiny_model, data, tmp_path / "x", tmp_path / "x.jsonl", {"master_weights": "fp16"})


@pytest.mark.parametrize("normalisation", ["authors", "step_tokens"])
def test_a_micro_batch_without_targets_gives_zero_not_nan(normalisation):
    """Truncation can leave a micro-batch with no counted token: loss and gradient 0 (the authors'
    code), not NaN."""
    logits = torch.randn(2, 5, 11, requires_grad=True)
    labels = torch.full((2, 5), -100)
    fn = ObjectiveLoss("deft", {}, path="logits", normalisation=normalisation)
    for n in (None, torch.tensor(0), torch.tensor(7)):
        loss = fn(Out(logits), labels, num_items_in_batch=n)
        loss.backward()
        assert loss.item() == 0 and torch.isfinite(logits.grad).all() and (logits.grad == 0).all()


# ---- train.encoding: authors, against the released logic -------------------------------------------

def released_getitem(tokenizer, prompt: str, response: str, tokenizer_name: str, use_original_prompt: bool):
    """luludus/DEFT main_verl/utils/dataset/sft_dataset.py, SFTDataset.__init__'s flags and
    __getitem__'s encoding, copied (DeepSeek's branch and padding left out): (input ids, loss-mask
    start). Its loss mask trains the response ids and nothing before them."""
    from deft.data.wrappers import WRAPPERS

    use_llama_base = ("llama" in tokenizer_name.lower()) and ("instruct" not in tokenizer_name.lower())
    prompt_chat = [{"role": "user", "content": prompt}]
    if use_llama_base:
        prompt_chat_str = WRAPPERS["llama-base-boxed-with-bos"].replace("{input}", prompt)  # LLAMA_BASE_BOXED_WITH_BOS
    elif use_original_prompt:
        prompt_chat_str = prompt
    else:
        prompt_chat_str = tokenizer.apply_chat_template(prompt_chat, add_generation_prompt=True, tokenize=False)
    response_chat_str = response + tokenizer.eos_token
    prompt_ids = tokenizer(prompt_chat_str, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response_chat_str, add_special_tokens=False)["input_ids"]
    return prompt_ids + response_ids, len(prompt_ids)


@pytest.fixture()
def qwen_like_tokenizer(tiny_model):
    """Qwen base's arrangement: the chat template closes a turn with <|im_end|>, but eos_token is
    another token (<|endoftext|>)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.eos_token = "<|endoftext|>"
    assert tok.eos_token_id != tok.convert_tokens_to_ids("<|im_end|>")
    return tok


def test_authors_encoding_ends_qwen_responses_with_eos_token_as_released(qwen_like_tokenizer):
    tok = qwen_like_tokenizer
    e = {"prompt": "What is 2 + 2?", "answer": "\\boxed{4}"}
    ids, labels = encode_example(tok, e, "chat", encoding="authors")
    want, start = released_getitem(tok, e["prompt"], e["answer"], "Qwen/Qwen2.5-Math-1.5B", use_original_prompt=False)
    assert ids == want and labels == [-100] * start + want[start:]
    assert ids[-1] == tok.eos_token_id  # <|endoftext|>
    suite_ids, _ = encode_example(tok, e, "chat")  # the suite ends the turn as the template does
    assert tok.decode(suite_ids).endswith("<|im_end|>\n") and suite_ids != ids


def test_authors_encoding_wraps_preformatted_prompts_of_base_llama_again(llama_tokenizer):
    from deft.data.wrappers import authors_base_wrapper

    raw = "<|begin_of_text|><|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhich option?<|eot_id|>"
    e = {"prompt": raw, "answer": "\\boxed{B}", "format": "raw"}
    wrapper = authors_base_wrapper("llama", "meta-llama/Llama-3.1-8B")
    ids, labels = encode_example(llama_tokenizer, e, wrapper, encoding="authors")
    want, start = released_getitem(llama_tokenizer, raw, e["answer"], "meta-llama/Llama-3.1-8B", use_original_prompt=True)
    assert ids == want and labels == [-100] * start + want[start:]
    assert ids.count(llama_tokenizer.bos_token_id) == 3  # the wrapper's BOS and the prompt's own two
    suite_ids, _ = encode_example(llama_tokenizer, e, None)  # the suite trains the prompt as formatted
    assert suite_ids.count(llama_tokenizer.bos_token_id) == 2
    # an instruct model is not a "base": its pre-formatted prompt stays as it is
    assert authors_base_wrapper("llama", "meta-llama/Llama-3.1-8B-Instruct") is None
    inst, start = released_getitem(llama_tokenizer, raw, e["answer"], "meta-llama/Llama-3.1-8B-Instruct", True)
    assert encode_example(llama_tokenizer, e, None, encoding="authors")[0] == inst


def test_paper_configs_choose_the_encoding_per_protocol():
    import yaml

    import deft.config as dc

    paper = yaml.safe_load(open("config/paper.yaml"))
    s = dc.train_settings(paper, "llama-3.1-8b", "medical-llama")
    assert (s["encoding"], s["prompt_wrapper"]) == ("authors", "llama-base-boxed-with-bos")
    assert dc.evaluate_settings(paper, "llama-3.1-8b", "medical-llama")["analysis_encoding"] == "authors"
    q = dc.train_settings(paper, "qwen2.5-math-1.5b", "math")
    assert (q["encoding"], q["prompt_wrapper"]) == ("authors", "chat")
    corrected = {**paper, "train": {**paper["train"], **yaml.safe_load(open("config/paper-corrected.yaml"))["train"]}}
    c = dc.train_settings(corrected, "llama-3.1-8b", "medical-llama")
    assert c["encoding"] == "suite" and c.get("prompt_wrapper") in (None, "raw")


def test_unknown_encoding_is_refused(llama_tokenizer):
    with pytest.raises(ValueError, match="train.encoding = 'verl'.*allowed"):
        encode_example(llama_tokenizer, {"prompt": "x", "answer": "y"}, None, encoding="verl")


def test_authors_warm_up_is_verls_floor_of_total_times_ratio(tiny_model, tmp_path):
    """verl: int(total x ratio) warm-up steps (transformers rounds a ratio up): 5 steps x 0.3 -> 1
    step at rate 0, then the peak (the suite's above_zero: 2 warm-up steps)."""
    from transformers import TrainerCallback

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "prompt": f"{i} + 1 =", "answer": str(i + 1)}) + "\n"
                            for i in range(16)))
    lrs = []

    class Grab(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kw):
            lrs.append(optimizer.param_groups[0]["lr"])

    settings = {"batch_size": 2, "max_steps": 5, "warmup_ratio": 0.3, "learning_rate": 1e-3}
    train(tiny_model, data, tmp_path / "z", tmp_path / "z.jsonl", {**settings, "warmup_start": "zero"}, callbacks=[Grab()])
    assert lrs[:2] == [0.0, pytest.approx(1e-3)]
    lrs.clear()
    train(tiny_model, data, tmp_path / "a", tmp_path / "a.jsonl", settings, callbacks=[Grab()])
    assert lrs[:3] == [pytest.approx(1e-3 / 3), pytest.approx(2e-3 / 3), pytest.approx(1e-3)]


def test_drop_last_keeps_whole_global_batches(monkeypatch):
    from deft.train.trainer import whole_batches

    monkeypatch.setenv("WORLD_SIZE", "2")
    rows, dropped = whole_batches(list(range(19)), {"batch_size": 2, "grad_accum": 2})  # global batch 8
    assert rows == list(range(16)) and dropped == 3
    with pytest.raises(ValueError, match="7 examples make no whole global batch of 8"):
        whole_batches(list(range(7)), {"batch_size": 2, "grad_accum": 2})
