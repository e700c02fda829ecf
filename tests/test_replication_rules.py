"""Every replication's verdict rules: each rule has one synthetic case that must come out true
and one that must come out false (``RULE_CASES`` in the ``tests/test_replications_*.py`` file
of its paper: ``{"<replication>/<key>": (measured_true, measured_false)}``), and every committed
full run's verdicts are the ones its rules compute from its measured values."""
import importlib.util
import json
from pathlib import Path

import pytest

from pycx import replications
from pycx.replications.findings import Rule, check_claims, rule_table

TESTS = Path(__file__).parent
RESULTS = TESTS.parent / "replications"


def _rules():
    out = []
    for name in replications.available():
        module = replications._load(name)
        for rule in rule_table(module.RULES).values():
            out.append((name, rule))
    return out


def _cases() -> dict:
    cases = {}
    for path in sorted(TESTS.glob("test_replications_*.py")):
        spec = importlib.util.spec_from_file_location(f"_rule_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for k, v in getattr(module, "RULE_CASES", {}).items():
            assert k not in cases, f"{k} has cases in two files"
            cases[k] = v
    return cases


RULES = _rules()
CASES = _cases()


@pytest.mark.parametrize("name,rule", RULES, ids=[f"{n}/{r.key}" for n, r in RULES])
def test_rule_has_a_true_and_a_false_case(name, rule):
    assert isinstance(rule, Rule)
    case = CASES.get(f"{name}/{rule.key}")
    assert case is not None, f"no RULE_CASES entry for {name}/{rule.key}"
    holds, fails = case
    assert rule(holds)["reproduces"] is True
    assert rule(fails)["reproduces"] is False


def test_no_case_without_a_rule():
    known = {f"{n}/{r.key}" for n, r in RULES}
    assert sorted(set(CASES) - known) == []


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*/findings.json")),
                         ids=lambda p: p.parent.name)
def test_committed_full_run_verdicts_follow_the_rules(path):
    findings = json.loads(path.read_text())
    assert not findings["quick"], "only full runs are committed"
    assert findings["replication"] == path.parent.name
    module = replications._load(path.parent.name)
    table = rule_table(module.RULES)
    # Rules unchanged since the run must reproduce its verdicts; changed or added ones are
    # marked in the README's table instead (tools/replication_table.py).
    same = [c for c in findings["claims"] if c.get("key") in table
            and c["expected"] == table[c["key"]].expected and c["claim"] == table[c["key"]].claim]
    check_claims(same, [table[c["key"]] for c in same])


def test_readme_claim_table_is_current():
    import subprocess
    import sys
    rc = subprocess.run([sys.executable, str(TESTS.parent / "tools" / "replication_table.py"),
                         "--check"], capture_output=True, text=True)
    assert rc.returncode == 0, rc.stdout + rc.stderr
