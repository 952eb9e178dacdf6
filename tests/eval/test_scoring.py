import pytest

from deft.eval.scoring import jaro_winkler_100, score


@pytest.mark.parametrize("response,gold,hit", [(" 42", "42", 1.0), (" -7\n", "-7", 1.0), ("007", "7", 1.0),
                                               ("5 + 3 = 8", "8", 0.0), ("The answer is 16", "16", 0.0),
                                               ("To calculate 0 + 7,", "7", 0.0), (" 11.", "11", 0.0),
                                               ("", "0", 0.0), (" 12", "13", 0.0)])
def test_arithmetic_is_scored_strictly_in_the_trained_format(response, gold, hit):
    """The whole response must be the integer: no credit for a number inside words or an echoed operand."""
    assert score("arithmetic", response, gold) == {"exact_match": hit}


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
