import pytest

from deft.eval.scoring import extract_last_integer, jaro_winkler_100, score


@pytest.mark.parametrize("response,expected", [("42", "42"), (" -7\n", "-7"), ("5 + 3 = 8", "8"),
                                               ("The answer is 1,234.", "1234"), ("none", "")])
def test_extract_last_integer(response, expected):
    assert extract_last_integer(response) == expected


def test_jaro_winkler_textbook_values():
    # Winkler's examples: prefix weight 0.1, max prefix 4
    assert jaro_winkler_100("MARTHA", "MARHTA") == pytest.approx(96.111, abs=1e-3)
    assert jaro_winkler_100("DWAYNE", "DUANE") == pytest.approx(84.0)
    assert jaro_winkler_100("DIXON", "DICKSONX") == pytest.approx(81.333, abs=1e-3)
    assert jaro_winkler_100("  Cat ", "CAT") == 100.0


def test_score_per_domain():
    assert score("arithmetic", "12", "12") == {"exact_match": 1.0}
    assert score("arithmetic", "13", "12") == {"exact_match": 0.0}
    s = score("figfont", "Rase\nmore text", "RASE")
    assert s == {"exact_match": 1.0, "jaro_winkler": 100.0}
    with pytest.raises(ValueError, match="no scorer for domain 'medical'"):
        score("medical", "A", "A")
