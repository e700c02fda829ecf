"""The findings format: a quick run says on every claim and every printed verdict that it only
checks the pipeline (fast, no training)."""
from pycx.replications.findings import QUICK_NOTE, claim, make_findings, verdict_line


def _claims():
    return [claim("H[s] falls with depth", {"h_s": [3.0, 2.0]}, True),
            claim("beta is near 1", {"beta": 1.4}, "partly")]


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
    assert verdict_line(f["claims"][0]) == "[   True] H[s] falls with depth"
