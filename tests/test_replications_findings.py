"""The findings format: a quick run says on every claim and every printed verdict that it only
checks the pipeline (fast, no training)."""
from pycx.replications.findings import QUICK_NOTE, claim, make_findings, verdict_line


def _claims():
    return [claim("H[s] falls with depth", {"h_s": [3.0, 2.0]}, True, key="h_s_falls"),
            claim("beta is near 1", {"beta": 1.4}, "partly", key="beta_near_one")]


def test_quick_run_marks_every_claim_and_verdict():
    f = make_findings("x", "paper", "title", quick=True, seeds=[0], settings={},
                      claims=_claims())
    assert all(c["quick"] is True and c["quick_note"] == QUICK_NOTE for c in f["claims"])
    assert [c["reproduces"] for c in f["claims"]] == [True, "partly"]  # verdicts unchanged
    for c in f["claims"]:
        assert verdict_line(c).endswith(f"({QUICK_NOTE})")
        assert "quick run" in verdict_line(c)


def test_full_run_claims_carry_no_quick_note():
    f = make_findings("x", "paper", "title", quick=False, seeds=[0], settings={},
                      claims=_claims())
    assert all("quick" not in c for c in f["claims"])
    assert verdict_line(f["claims"][0]) == "[   True] h_s_falls: H[s] falls with depth"


def test_claims_without_a_key_or_with_a_repeated_key_are_refused():
    import pytest
    with pytest.raises(ValueError, match="snake_case key"):
        make_findings("x", "paper", "title", quick=False, seeds=[0], settings={},
                      claims=[claim("H[s] falls", {"h": 1}, True)])
    with pytest.raises(ValueError, match="repeated keys"):
        make_findings("x", "paper", "title", quick=False, seeds=[0], settings={},
                      claims=[claim("a", {}, True, key="k"), claim("b", {}, False, key="k")])
