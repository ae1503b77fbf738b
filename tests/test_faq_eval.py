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
from faq.answering import DEFAULT_BACKEND, DEFAULT_CONTENT_DIR, retrieval_for
from faq.decision import TUNED_THRESHOLDS, Thresholds
from faq.entries import load_content
from faq.evaluation import EvalFileError, EvalTotals, evaluate, parse_eval_lines, read_eval_file

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO / "tests" / "data" / "dev_questions.jsonl"  # the shared development set (tests/data/README.md)
ASKED = REPO / "faq" / "content" / "asked"  # the tuning set and the used-up held-out sets v3 to v21: learnt from

# In-sample (the FAQ learnt these very questions), measured in the v16-v21 round: top-1 99.0% (the tuning set), 99.2%
# to 100% (the others), every out-of-scope question refused, no confident wrong answer.
LEARNT_FLOORS = [
    ("questions.jsonl", 0.98, 0.99),
    ("v3.jsonl", 0.95, 0.99),
    *((f"v{number}.jsonl", 0.99, 0.99) for number in (4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16, 18, 19, 20, 21)),
]
# Leave one author's file out with the default ("static") backend and its shipped thresholds, measured in the
# v16-v21 round (faq/README.md: v16 learnt, four new authors' sets v18-v21 in the pool, the content pass, thresholds
# refitted to 0.54 / 0.04 / 0.27): top-1 / answered outright / refused / confident wrong, v7 92.3% / 70.0% / 100% /
# 0, v8 96.5% / 64.3% / 95.2% / 0, v9 91.2% / 63.2% / 100% / 0, v10 95.3% / 57.4% / 95.0% / 1, v13 82.0% / 57.3% /
# 97.5% / 0, v14 88.8% / 60.6% / 97.5% / 0, v15 77.5% / 34.4% / 92.5% / 0, v16 93.1% / 66.9% / 100% / 0, v18 93.7%
# / 55.7% / 100% / 0, v19 90.6% / 53.1% / 100% / 0, v20 91.9% / 45.6% / 97.5% / 0, v21 95.0% / 56.0% / 100% / 0.
# The one wrong answer: v10 "apply a client's retainer to their latest invoice" (filed as not covered, while v13
# files drawing a retainer down invoice by invoice as applying-credits) as applying-credits. Adding four authors to
# the pool moved the older files' figures both ways (v7 was 94.6% top-1 in the v15 round, v13 80.7%).
NEW_AUTHOR_FLOORS = [
    ("v7.jsonl", 0.92, 0.69, 0.99, 0),
    ("v8.jsonl", 0.96, 0.64, 0.95, 0),
    ("v9.jsonl", 0.91, 0.63, 0.99, 0),
    ("v10.jsonl", 0.95, 0.57, 0.94, 1),
    ("v13.jsonl", 0.81, 0.57, 0.97, 0),
    ("v14.jsonl", 0.88, 0.60, 0.97, 0),
    ("v15.jsonl", 0.77, 0.34, 0.92, 0),
    ("v16.jsonl", 0.93, 0.66, 0.99, 0),
    ("v18.jsonl", 0.93, 0.55, 0.99, 0),
    ("v19.jsonl", 0.90, 0.53, 0.99, 0),
    ("v20.jsonl", 0.91, 0.45, 0.97, 0),
    ("v21.jsonl", 0.94, 0.55, 0.99, 0),
]


def measured(path: Path) -> EvalTotals:
    _, totals = evaluate(load_faq(), read_eval_file(path))
    return totals


def assert_floors(
    totals: EvalTotals, top1: float, refused: float, confident_wrong: int = 0, answered: float = 0.0
) -> None:
    assert totals.confident_wrong <= confident_wrong, "a confident wrong answer is the worst outcome"
    assert totals.top1_accuracy >= top1, f"top-1 {totals.top1_accuracy:.1%} < {top1:.0%}"
    assert totals.answered_rate >= answered, f"answered outright {totals.answered_rate:.1%} < {answered:.0%}"
    assert totals.refusal_rate >= refused, f"refused {totals.refusal_rate:.1%} < {refused:.0%}"


def test_dev_set_meets_the_targets():
    assert_floors(measured(DEV_SET), top1=0.95, refused=0.90)


@pytest.mark.parametrize(("name", "top1", "refused"), LEARNT_FLOORS)
def test_asked_questions_are_learnt(name: str, top1: float, refused: float):
    # In-sample: the FAQ has learnt these very questions, so this only guards against a change that unlearns them.
    totals = measured(ASKED / name)
    assert totals.questions >= 100
    assert_floors(totals, top1=top1, refused=refused)


@pytest.mark.parametrize(("name", "top1", "answered", "refused", "wrong"), NEW_AUTHOR_FLOORS)
def test_a_new_authors_questions_are_answered_by_a_faq_that_never_learnt_them(
    name: str, top1: float, answered: float, refused: float, wrong: int
):
    # The method's own estimate: one author's file, ranked by the FAQ taught every other asked file (what
    # `python -m faq.tuning` does for the whole pool), decided with the shipped thresholds.
    content = load_content(DEFAULT_CONTENT_DIR)
    questions = read_eval_file(ASKED / name)
    make_ranker, thresholds, backend = retrieval_for(DEFAULT_BACKEND)
    assert backend == DEFAULT_BACKEND
    samples = tuning.held_out_samples(content, questions, make_ranker)
    assert {sample.question.source for sample in samples} == {str(ASKED / name)}
    totals = tuning.totals_for(tuning.decide_samples(samples, thresholds))
    assert_floors(totals, top1=top1, refused=refused, confident_wrong=wrong, answered=answered)


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
    samples = tuning.rank_samples(load_faq(), read_eval_file(ASKED / "questions.jsonl"))
    rewards = tuning._grid_rewards(samples)
    for thresholds in [TUNED_THRESHOLDS, *random.Random(5).sample(sorted(rewards, key=repr), 25)]:
        assert rewards[thresholds] == pytest.approx(tuning.total_reward(samples, thresholds))


def test_fitted_thresholds_are_on_the_grid_and_never_suggest_above_answering():
    samples = tuning.rank_samples(load_faq(), read_eval_file(ASKED / "v8.jsonl")[:80])
    fitted = tuning.fit_thresholds(samples)
    assert isinstance(fitted, Thresholds)
    assert fitted.suggest_min <= fitted.answer_min
