"""The FAQ's measured quality, as floors that fail the build if a content or retrieval change makes it worse.

Targets (issue 5): top-1 >= 95% on answerable questions, >= 90% of out-of-scope questions refused, and no
confident wrong answer, on the shared development set and on our held-out set. How the figures were obtained,
and why the held-out floor sits where it does, is in faq/README.md.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from faq import load_faq, tuning
from faq.decision import TUNED_THRESHOLDS, Thresholds
from faq.evaluation import EvalFileError, EvalTotals, evaluate, parse_eval_lines, read_eval_file

REPO = Path(__file__).resolve().parents[1]
DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "faq" / "dev_questions.jsonl"
TUNING_SET = REPO / "faq" / "eval" / "questions.jsonl"
HELD_OUT_SET = REPO / "faq" / "eval" / "heldout.jsonl"  # v3: used up, now in the tuning pool
HELD_OUT_V4_SET = REPO / "faq" / "eval" / "heldout_v4.jsonl"  # v4: used up, now in the tuning pool
HELD_OUT_V5_SET = REPO / "faq" / "eval" / "heldout_v5.jsonl"  # v5: used up, now in the tuning pool
NEW_HELD_OUT_SET = REPO / "faq" / "eval" / "heldout_v6.jsonl"  # v6: used up in the embedding round, now tuned on
LATEST_HELD_OUT_SET = REPO / "faq" / "eval" / "heldout_v7.jsonl"  # v7: another author; tuned on in the v7 round
FRESH_HELD_OUT_SET = REPO / "faq" / "eval" / "heldout_v8.jsonl"  # v8: a third author, never tuned on


def measured(path: Path) -> EvalTotals:
    _, totals = evaluate(load_faq(), read_eval_file(path))
    return totals


def assert_floors(totals: EvalTotals, top1: float, refused: float, confident_wrong: int = 0) -> None:
    assert totals.confident_wrong <= confident_wrong, "a confident wrong answer is the worst outcome"
    assert totals.top1_accuracy >= top1, f"top-1 {totals.top1_accuracy:.1%} < {top1:.0%}"
    assert totals.refusal_rate >= refused, f"refused {totals.refusal_rate:.1%} < {refused:.0%}"


def test_dev_set_meets_the_targets():
    if not DEV_SET.exists():
        pytest.skip(f"shared development set not found at {DEV_SET} (CI checks it out beside the repo)")
    assert_floors(measured(DEV_SET), top1=0.95, refused=0.90)


def test_old_held_out_sets_stay_at_their_measured_floors():
    # v3, v4 and v5 were looked at and are now part of the tuning pool (faq/tuning.py), so they are regression
    # sets, not estimates. After the v6-round changes: v3 top-1 98.6%, refused 100%; v4 top-1 96.4%, refused
    # 100%; v5 top-1 92.4%, refused 97.5%; none with a confident wrong answer.
    for path, top1, refused in (
        (HELD_OUT_SET, 0.98, 0.99),
        (HELD_OUT_V4_SET, 0.95, 0.99),
        # v5 0.92 -> 0.91 in the v7 round: "does a credit lower what the customer owes" (one question) is now
        # closest to a not-covered line after the v7 content pass, which gained 8-11 points on v6 and v7.
        (HELD_OUT_V5_SET, 0.91, 0.97),
    ):
        totals = measured(path)
        assert totals.answerable >= 60 and totals.out_of_scope >= 30
        assert_floors(totals, top1=top1, refused=refused)


def test_new_held_out_set_stays_at_its_measured_floor():
    # v6, written before the v6-round changes and run after them: first run top-1 83.9%, refused 95.0%,
    # 3 confident wrong; after the bug fix that run exposed (typo matching against stopwords: "pto" ~ "to"),
    # top-1 83.1%, refused 95.0%, 1 confident wrong ("reverse duplicate button" -> alerts); after rewording one
    # new phrasing that had pulled "overpayment" into balance-looks-wrong, top-1 82.2%. The targets are NOT met on
    # this set (faq/README.md); the floor stops it getting worse. Since the embedding round v6 is in the tuning pool.
    totals = measured(NEW_HELD_OUT_SET)
    assert totals.answerable >= 110 and totals.out_of_scope >= 35
    # After the v7 round (finding kinds inside a question, "Reverse duplicate" moved): 86.4%, 95.0%, 0.
    assert_floors(totals, top1=0.86, refused=0.95, confident_wrong=0)


def test_latest_held_out_set_stays_at_its_first_run_floor():
    # v7 (175 questions, 45 out of scope) was written for the embedding round by an author who never saw the
    # content or the other sets, and first run after that round, unchanged since: TF-IDF top-1 70.8%, refused
    # 91.1%, 2 confident wrong. Since the v7 round it is in the tuning pool (content edited on its misses):
    # 82.3%, 100%, 0 confident wrong, in-sample. The floor stops it getting worse.
    totals = measured(LATEST_HELD_OUT_SET)
    assert totals.answerable >= 120 and totals.out_of_scope >= 40
    assert_floors(totals, top1=0.82, refused=0.99, confident_wrong=0)


def test_fresh_held_out_set_stays_at_its_measured_floor():
    # v8 (157 questions, 42 out of scope) was written during the v7 round by an author who saw neither the content
    # nor any other set. Run on the code before that round: TF-IDF top-1 74.8%, refused 90.5%, 1 confident wrong;
    # after it (the content was not edited on v8): 78.3%, 97.6%, 0. Not in the tuning pool. Targets not met on top-1.
    totals = measured(FRESH_HELD_OUT_SET)
    assert totals.answerable >= 110 and totals.out_of_scope >= 40
    assert_floors(totals, top1=0.78, refused=0.97, confident_wrong=0)


def test_tuning_set_stays_at_its_floor():
    totals = measured(TUNING_SET)
    assert totals.questions >= 150 and totals.out_of_scope >= 40
    assert_floors(totals, top1=0.975, refused=0.99)


def test_eval_lines_accept_null_and_list_of_null_as_out_of_scope():
    questions = parse_eval_lines(
        ['{"q": "payroll?", "ids": null}', '{"q": "hello", "ids": [null]}', '{"q": "undo", "ids": ["undo"]}'],
        source="inline",
    )
    assert [q.acceptable for q in questions] == [None, None, ("undo",)]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not valid JSON"),
        ('{"q": "x"}', 'expected an object with "q" and "ids"'),
        ('["q", "ids"]', 'expected an object with "q" and "ids"'),
        ('{"q": "", "ids": null}', '"q" must be a non-empty string'),
        ('{"q": "x", "ids": "undo"}', '"ids" must be a list of entry ids'),
        ('{"q": "x", "ids": []}', '"ids" must be a list of entry ids'),
    ],
)
def test_malformed_eval_line_names_file_and_line(line: str, problem: str):
    with pytest.raises(EvalFileError, match=rf"^questions\.jsonl:2: .*{problem}"):
        parse_eval_lines(['{"q": "fine", "ids": null}', line], source="questions.jsonl")


def test_eval_file_with_an_unknown_entry_id_is_refused():
    questions = parse_eval_lines(['{"q": "x", "ids": ["no-such-entry"]}'], source="q.jsonl")
    with pytest.raises(EvalFileError, match=r"q\.jsonl:1: unknown entry id\(s\): no-such-entry"):
        evaluate(load_faq(), questions)


def test_fast_threshold_search_agrees_with_deciding_question_by_question(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tuning, "SAFETY_BAND", 0.0)  # with the band, the search is deliberately stricter
    samples = tuning.rank_samples(load_faq(), read_eval_file(TUNING_SET))
    rewards = tuning._grid_rewards(samples)
    for thresholds in [TUNED_THRESHOLDS, *random.Random(5).sample(sorted(rewards, key=repr), 25)]:
        assert rewards[thresholds] == pytest.approx(tuning.total_reward(samples, thresholds))


def test_fitted_thresholds_are_on_the_grid_and_never_suggest_above_answering():
    samples = tuning.rank_samples(load_faq(), read_eval_file(TUNING_SET)[:80])
    fitted = tuning.fit_thresholds(samples)
    assert isinstance(fitted, Thresholds)
    assert fitted.suggest_min <= fitted.answer_min
