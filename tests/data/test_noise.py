"""Label noise: exact counts, determinism, nesting, plausible wrong answers, test sets untouched."""
import json

import pytest

from deft.data.noise import corrupted_indices, draw, inject, make_noisy


def arithmetic(n=50):
    return [{"id": f"a{i}", "domain": "arithmetic", "prompt": f"Calculate {i} + 1.", "answer": str(i + 1)}
            for i in range(n)]


def figfont(n=40):
    words = ["CAT", "DOG", "COW", "BIRD", "FISH", "LION", "HORSE", "SHEEP"]
    return [{"id": f"f{i}", "domain": "figfont", "prompt": f"art {i}", "answer": words[i % len(words)]}
            for i in range(n)]


@pytest.mark.parametrize("rate,expected", [(0.0, 0), (0.1, 5), (0.3, 15), (0.5, 25), (0.99, 50), (0.01, 0)])
def test_exactly_round_rate_times_n_examples_are_corrupted(rate, expected):
    noisy, audit = inject(arithmetic(50), rate, "answer", seed=3)
    changed = [i for i, (a, b) in enumerate(zip(arithmetic(50), noisy)) if a["answer"] != b["answer"]]
    assert len(changed) == expected == audit["n_corrupted"]
    assert [c["index"] for c in audit["corrupted"]] == changed
    assert audit["realized_rate"] == expected / 50


def test_deterministic_and_seed_dependent():
    a = inject(arithmetic(), 0.3, "answer", seed=1)
    assert a == inject(arithmetic(), 0.3, "answer", seed=1)
    assert a[1]["corrupted"] != inject(arithmetic(), 0.3, "answer", seed=2)[1]["corrupted"]


@pytest.mark.parametrize("kind,data", [("answer", arithmetic), ("answer", figfont), ("shuffle", arithmetic)])
def test_corrupted_sets_nest_as_the_rate_grows(kind, data):
    audits = [inject(data(), r, kind, seed=7)[1] for r in (0.1, 0.3, 0.5)]
    sets = [{(c["index"], c["corrupted"]) for c in a["corrupted"]} for a in audits]
    assert sets[0] < sets[1] < sets[2]
    assert corrupted_indices(len(data()), 0.1, 7) == sorted(c["index"] for c in audits[0]["corrupted"])


def test_arithmetic_wrong_answers_are_off_by_a_nonzero_offset_up_to_ten():
    _, audit = inject(arithmetic(200), 0.5, "answer", seed=0)
    offsets = {int(c["corrupted"]) - int(c["original"]) for c in audit["corrupted"]}
    assert 0 not in offsets and max(map(abs, offsets)) <= 10 and len(offsets) > 5


def test_figfont_wrong_answers_are_other_words_of_the_same_length():
    _, audit = inject(figfont(), 0.5, "answer", seed=0)
    for c in audit["corrupted"]:
        assert c["corrupted"] != c["original"] and len(c["corrupted"]) == len(c["original"])


def test_shuffle_takes_another_examples_answer():
    data = arithmetic()
    _, audit = inject(data, 0.4, "shuffle", seed=0)
    answers = {e["answer"] for e in data}
    assert all(c["corrupted"] in answers and c["corrupted"] != c["original"] for c in audit["corrupted"])


@pytest.mark.parametrize("rate,kind,match", [
    (1.0, "answer", "noise rate 1.0 is not allowed; it must be a number in \\[0, 1\\)"),
    (-0.1, "answer", "noise rate -0.1"),
    ("0.1", "answer", "noise rate '0.1'"),
    (0.1, "label", "unknown noise kind 'label'; allowed: \\['answer', 'shuffle'\\]"),
])
def test_bad_rate_or_kind_raises(rate, kind, match):
    with pytest.raises(ValueError, match=match):
        inject(arithmetic(), rate, kind, seed=0)


def test_make_noisy_writes_train_and_audit_only(tmp_path):
    src = tmp_path / "train.jsonl"
    test = tmp_path / "test.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in arithmetic(20)))
    test.write_text("untouched\n")
    audit = make_noisy(src, "answer", 0.5, 0, tmp_path / "n" / "train.jsonl", tmp_path / "n" / "audit.json")
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["audit.json", "train.jsonl"]
    assert test.read_text() == "untouched\n"
    rows = [json.loads(x) for x in (tmp_path / "n" / "train.jsonl").read_text().splitlines()]
    assert sum(r["answer"] != e["answer"] for r, e in zip(rows, arithmetic(20))) == 10 == audit["n_corrupted"]
    # the training file carries no trace of which rows were corrupted
    assert all(set(r) == {"id", "domain", "prompt", "answer"} for r in rows)
    import hashlib
    assert audit["train_sha256"] == hashlib.sha256((tmp_path / "n" / "train.jsonl").read_bytes()).hexdigest()


def test_each_seed_draws_its_own_sample_and_its_clean_and_noisy_sets_hold_the_same_examples(tmp_path):
    """data.train_sample: the seeds vary the training sample (not only its noise and order); within a
    seed the noisy set is the clean set with some answers corrupted, so noise cost is paired."""
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in arithmetic(40)))
    audits, rows = {}, {}
    for seed in (0, 1):
        for rate in (0.0, 0.5):
            out = tmp_path / f"{seed}-{rate}"
            audits[seed, rate] = make_noisy(src, "answer", rate, seed, out / "train.jsonl", out / "audit.json", sample=16)
            rows[seed, rate] = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    for seed in (0, 1):
        clean, noisy = rows[seed, 0.0], rows[seed, 0.5]
        assert len(clean) == 16 and [r["id"] for r in clean] == [r["id"] for r in noisy]
        assert audits[seed, 0.5]["sample"] == {"pool": 40, "drawn": 16, "ids": [r["id"] for r in clean]}
        assert sum(a["answer"] != b["answer"] for a, b in zip(clean, noisy)) == 8 == audits[seed, 0.5]["n_corrupted"]
        assert all(r == e for r in clean for e in arithmetic(40) if e["id"] == r["id"])  # clean rows untouched
    assert {r["id"] for r in rows[0, 0.0]} != {r["id"] for r in rows[1, 0.0]}  # another seed, another sample
    assert draw(arithmetic(40), 16, 0) == draw(arithmetic(40), 16, 0)  # from the seed alone
    # without a sample size every seed trains on the whole pool, as before
    whole = make_noisy(src, "answer", 0.0, 1, tmp_path / "w" / "train.jsonl", tmp_path / "w" / "audit.json")
    assert whole["sample"]["drawn"] is None and whole["n_examples"] == 40


@pytest.mark.parametrize("n", [0, 41, 2.5, True])
def test_a_sample_larger_than_the_pool_or_not_a_count_is_refused_naming_it(n):
    with pytest.raises(ValueError, match=rf"train sample {n!r} is not allowed; it must be an integer in \[1, 40\]"):
        draw(arithmetic(40), n, 0)


def test_paper_scale_corruption_changes_only_the_final_boxed_answer():
    import random

    from deft.data.domains import DOMAINS
    from deft.eval.scoring_paper import last_boxed, medical_letter

    math = "So x = 3 and \\boxed{3} is wrong; finally \\boxed{12}."
    wrong = DOMAINS["math"].corrupt(math, random.Random(0), [math])
    assert wrong.startswith("So x = 3 and \\boxed{3} is wrong; finally \\boxed{") and last_boxed(wrong) != "12"
    assert 0 < abs(int(last_boxed(wrong)) - 12) <= 10
    frac = "Thus \\boxed{\\frac{1}{2}}."
    wrong = DOMAINS["math"].corrupt(frac, random.Random(0), [frac, "\\boxed{7}"])
    assert wrong == "Thus \\boxed{7}."
    med = "The nerve is ulnar. \\boxed{B}"
    wrong = DOMAINS["medical"].corrupt(med, random.Random(0), [med])
    assert wrong.startswith("The nerve is ulnar. \\boxed{") and medical_letter(wrong) in "ACD"


@pytest.mark.parametrize("clean, letter", [
    ("The answer is \\boxed{B}.", "B"), ("So \\boxed{Option C}", "C"), ("\\boxed{(D)}", "D"),
    ("\\boxed{\\text{A}}", "A"), ("\\boxed{C. Ulnar nerve}", "C"), ("\\boxed{Answer: B}", "B")])
def test_medical_noise_always_names_another_option_in_the_same_format(clean, letter):
    """`\\boxed{Option C}` used to be read as I (of OPTION), so the noise could write back C."""
    import random

    from deft.data.answers import medical_letter
    from deft.data.domains import DOMAINS

    assert medical_letter(clean) == letter
    for seed in range(20):
        wrong = DOMAINS["medical"].corrupt(clean, random.Random(seed), [clean])
        assert medical_letter(wrong) in set("ABCD") - {letter}
        assert sum(a != b for a, b in zip(wrong, clean)) == 1 and len(wrong) == len(clean)  # only the letter


def test_medical_noise_refuses_a_response_without_a_choice_letter():
    import random

    from deft.data.domains import DOMAINS

    with pytest.raises(ValueError, match="states no choice letter"):
        DOMAINS["medical"].corrupt("So \\boxed{Diabetes}", random.Random(0), [])
