"""From ranked entries to one of three outcomes: answer, "did you mean", or "I don't know".

A confident wrong answer is the worst outcome (a billing person acts on it), a refusal the cheapest. So the bot
answers only when the best entry's confidence (similarity x share of the question's words the entry knows) is
high *and* it clearly beats the runner-up; entries with a middling confidence are offered as "did you mean" (up
to three); anything lower, or anything closest to a question listed as not covered, is refused.

The numbers in `TUNED_THRESHOLDS` come from `python -m faq.tuning` (grid search with k-fold cross-validation over
the asked questions, each file ranked by a FAQ that never learnt it, and the shared development set; see
faq/README.md). Re-run it after changing content: `--backend hybrid` fits `HYBRID_THRESHOLDS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from faq.entries import NOT_COVERED_ID
from faq.retrieval import EntryScore

Outcome = Literal["answer", "suggest", "unknown"]
MAX_SUGGESTIONS = 3
# An answer's runner-up is shown under it (a related button) when its confidence is within this of the answer's:
# a display choice only (the evaluation counts the answer), so that a near miss is one click away.
RUNNER_UP_GAP = 0.25


@dataclass(frozen=True)
class Thresholds:
    answer_min: float  # the best entry's confidence (score x coverage) must reach this to be answered
    margin_min: float  # ... and beat the runner-up's confidence by at least this much
    suggest_min: float  # entries with at least this confidence are offered as "did you mean"


TUNED_THRESHOLDS = Thresholds(answer_min=0.58, margin_min=0.19, suggest_min=0.17)
# The same fit for the "hybrid" backend (TF-IDF blended with a sentence embedding, faq/answering.py).
# Refitted in the v16-v21 round (0.46 / 0.13 / 0.25 before).
HYBRID_THRESHOLDS = Thresholds(answer_min=0.35, margin_min=0.16, suggest_min=0.20)
# The same fit for the default "static" backend (TF-IDF blended with the shipped static token embedding, and the
# graded phrasing vote, and since the v15 round the lexical-only doubt). The fit on the pool of the v16-v21 round (v16
# and four new authors' sets learnt) with that round's content (0.45 / 0.03 / 0.30 in the v15 round); see faq/README.md.
STATIC_THRESHOLDS = Thresholds(answer_min=0.54, margin_min=0.04, suggest_min=0.27)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    entry_id: str | None  # set only when answering
    score: float  # the best entry's confidence, the number the thresholds were compared with
    suggestions: tuple[str, ...]
    # With an answer: the runners-up close to it (within RUNNER_UP_GAP, and above suggest_min), shown under the
    # answer as related entries, so a near miss is one click away instead of a bare "did you mean".
    runner_ups: tuple[str, ...] = ()


def decide(ranked: Sequence[EntryScore], thresholds: Thresholds) -> Decision:
    if not ranked:
        return Decision("unknown", None, 0.0, ())
    best = ranked[0]
    if best.entry_id == NOT_COVERED_ID:
        # Closer to a question listed as not covered than to any entry: refuse, and suggest nothing.
        return Decision("unknown", None, 0.0, ())
    # The runner-up is measured as the best entry is, by confidence: one that does not know a third of the
    # question's words is a weaker rival than its similarity alone says.
    runner_up = ranked[1].confidence if len(ranked) > 1 else 0.0
    confident = best.agreed and best.confidence >= thresholds.answer_min
    # Only the top entries carry a coverage (see EntryRanker), so suggestions come from those alone.
    suggestions = tuple(
        s.entry_id
        for s in ranked[:MAX_SUGGESTIONS]
        if s.entry_id != NOT_COVERED_ID and s.confidence >= thresholds.suggest_min
    )
    if confident and best.confidence - runner_up >= thresholds.margin_min:
        close = best.confidence - RUNNER_UP_GAP
        runner_ups = tuple(
            s.entry_id for s in ranked[1:MAX_SUGGESTIONS] if s.entry_id in suggestions and s.confidence >= close
        )
        return Decision("answer", best.entry_id, best.confidence, (), runner_ups)
    if suggestions:
        return Decision("suggest", None, best.confidence, suggestions)
    return Decision("unknown", None, best.confidence, ())
