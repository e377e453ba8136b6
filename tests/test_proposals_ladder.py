"""The ladder's thresholds and their examples (rules/ladder.yaml): each simulated month gives exactly
the proposals it states, changed thresholds make the examples fail, and `gatebot rules check`
reports a broken ladder by file and line."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gatebot.cli import main
from gatebot.ladder import GateEvidence, LadderFile, Past, Side, decide, example_problems, simulate
from gatebot.ruleset import RuleSet

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 20, 12, 0, tzinfo=timezone.utc)


def ladder(rules: RuleSet) -> LadderFile:
    assert rules.ladder is not None
    return rules.ladder


def names(rules: RuleSet) -> list[str]:
    return [e.name for e in ladder(rules).examples]


def test_the_ladder_places_the_checklist_s_2026_statuses(rules: RuleSet) -> None:
    lad = ladder(rules)
    assert [s.key for s in lad.steps] == ["not_opened", "crack", "open", "open_wide"]
    assert {g: lad.steps[lad.checklist_step(g)].key for g in (1, 2, 3, 4)} == {
        1: "open_wide", 2: "crack", 3: "crack", 4: "not_opened"}
    assert lad.steps[3].status.en == rules.gates[1].status.en  # the checklist's own wording
    assert all(s.name.zh and s.status.zh for s in lad.steps)


@pytest.mark.parametrize("index", range(6))
def test_each_example_month_gives_exactly_its_proposals(rules: RuleSet, index: int) -> None:
    lad = ladder(rules)
    example = lad.examples[index]
    got = [(p.day, p.gate, p.direction, p.to) for p in simulate(lad, example)]
    assert got == [(e.day, e.gate, e.direction, e.to) for e in example.expect], example.name


def test_the_examples_cover_up_down_quiet_one_source_and_a_dismissal(rules: RuleSet) -> None:
    examples = ladder(rules).examples
    assert any(e.direction == "up" for x in examples for e in x.expect)
    assert any(e.direction == "down" for x in examples for e in x.expect)
    quiet = [x for x in examples if not x.expect]
    assert any(len({i.source for i in x.evidence}) == 1 for x in quiet)  # one source repeating itself
    assert any(len({i.source for i in x.evidence}) > 1 for x in quiet)  # a quiet month
    assert any(e.then == "dismiss" for x in examples for e in x.expect)


@pytest.mark.parametrize(("change", "breaks"), [
    ({"regrow": 1.1}, "a dismissed proposal comes back only once the evidence has grown by the margin"),
    ({"min_sources": 1}, "one source repeating itself moves nothing"),
    ({"min_weight": 1.5, "min_stories": 2, "min_sources": 1}, "a quiet month proposes nothing"),
    ({"cooldown_days": 1, "regrow": 1.01}, "a dismissed proposal comes back only once the evidence has grown by "
                                            "the margin"),
])
def test_other_thresholds_contradict_the_examples(rules: RuleSet, change: dict, breaks: str) -> None:
    lad = ladder(rules)
    changed = lad.model_copy(update={"thresholds": lad.thresholds.model_copy(update=change)})
    failing = [changed.examples[i].name for i, _ in example_problems(changed)]
    assert breaks in failing


def test_decide_one_step_at_most_and_never_while_pending(rules: RuleSet) -> None:
    lad = ladder(rules)
    strong = Side(stories=20, weight=20.0, sources=5)
    evidence = {4: GateEvidence(4, strong, Side()), 1: GateEvidence(1, strong, Side())}
    made = decide(lad, {1: 3, 4: 0}, evidence, [], NOW)
    assert [(d.gate, d.direction, d.from_step, d.to_step) for d in made] == [(4, "up", 0, 1)]  # gate 1 is at the top
    pending = [Past(4, "up", "pending", NOW - timedelta(days=lad.thresholds.pending_days - 1), 9.0)]
    assert decide(lad, {4: 0}, {4: evidence[4]}, pending, NOW) == []
    lapsed = [Past(4, "up", "pending", NOW - timedelta(days=lad.thresholds.pending_days + 1), 9.0)]
    assert len(decide(lad, {4: 0}, {4: evidence[4]}, lapsed, NOW)) == 1  # nobody decided it: it no longer blocks
    recent = [Past(4, "down", "accepted", NOW - timedelta(days=6), 9.0)]
    assert decide(lad, {4: 0}, {4: evidence[4]}, recent, NOW) == []  # the cool-down
    old = [Past(4, "down", "accepted", NOW - timedelta(days=8), 9.0)]
    assert len(decide(lad, {4: 0}, {4: evidence[4]}, old, NOW)) == 1
    down = decide(lad, {2: 1}, {2: GateEvidence(2, Side(1, 1.0, 1), strong)}, [], NOW)
    assert [(d.direction, d.to_step, d.net) for d in down] == [("down", 0, pytest.approx(19.0))]


def test_rules_check_reports_a_broken_ladder_by_file_and_line(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "ladder.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  regrow: 1.5 ", "  regrow: 1.1 "), encoding="utf-8")
    assert main(["rules", "check", "--dir", str(rules)]) == 1
    err = capsys.readouterr().err
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "comes back only once" in row)
    assert f"rules/ladder.yaml:{line}: examples[5]: a dismissed proposal comes back" in err
    assert "got [day 6: gate 4 up to crack; day 13: gate 4 up to crack" in err
    path.write_text(text.replace("  4: not_opened", "  4: ajar"), encoding="utf-8")
    assert main(["rules", "check", "--dir", str(rules)]) == 1
    assert "rules/ladder.yaml:" in (err := capsys.readouterr().err) and "unknown step 'ajar'" in err
    path.write_text(text.replace("  min_sources: 3", "  min_sources: 0"), encoding="utf-8")
    assert main(["rules", "check", "--dir", str(rules)]) == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("  min_sources"))
    assert f"rules/ladder.yaml:{line}: thresholds.min_sources:" in capsys.readouterr().err
