"""From ranked entries to one of three outcomes: answer, "did you mean", or "I don't know".

A confident wrong answer is the worst outcome (a billing person acts on it), a refusal the cheapest. So the bot
answers only when the best entry scores high *and* clearly beats the runner-up; a middling best score offers up
to three suggestions; anything lower is refused.

The numbers in `TUNED_THRESHOLDS` come from `python -m faq.tuning` (grid search with k-fold cross-validation over
faq/eval/questions.jsonl and the shared development set; see faq/README.md). Re-run it after changing content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from faq.retrieval import EntryScore

Outcome = Literal["answer", "suggest", "unknown"]
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class Thresholds:
    answer_min: float  # the best entry must score at least this to be answered
    margin_min: float  # ... and beat the runner-up by at least this much
    suggest_min: float  # entries scoring at least this are offered as "did you mean"


TUNED_THRESHOLDS = Thresholds(answer_min=0.5, margin_min=0.05, suggest_min=0.3)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    entry_id: str | None
    score: float
    suggestions: tuple[str, ...]


def decide(ranked: Sequence[EntryScore], thresholds: Thresholds) -> Decision:
    if not ranked:
        return Decision("unknown", None, 0.0, ())
    best = ranked[0]
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    if best.confidence >= thresholds.answer_min and best.confidence - runner_up >= thresholds.margin_min:
        return Decision("answer", best.entry_id, best.score, ())
    suggestions = tuple(s.entry_id for s in ranked[:MAX_SUGGESTIONS] if s.score >= thresholds.suggest_min)
    if suggestions:
        return Decision("suggest", None, best.score, suggestions)
    return Decision("unknown", None, best.score, ())
