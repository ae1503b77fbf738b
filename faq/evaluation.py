"""Scoring the FAQ against a question file, as `creditbot faq --eval FILE.jsonl` and the tests do.

A question file (format and parser in faq/questions.py) has one JSON object per line: `{"q": "...", "ids":
["acceptable-id", ...]}` for a question the FAQ should answer, or `"ids": null` for one it should refuse.

Figures, each over the questions it concerns:
- top-1 accuracy (answerable questions): the bot's first choice (the answer, or the first "did you mean") is
  acceptable. "Answered" counts only the confident, correct answers.
- refusal rate (out-of-scope questions): the bot said "I don't know".
- confident wrong (all questions): a confident answer with an unacceptable entry, the worst outcome.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from faq.answering import Faq
from faq.decision import Decision
from faq.questions import EvalFileError, EvalQuestion, parse_eval_lines, read_eval_file

__all__ = [
    "EvalFileError",
    "EvalQuestion",
    "EvalTotals",
    "QuestionResult",
    "Verdict",
    "check_ids_exist",
    "evaluate",
    "parse_eval_lines",
    "read_eval_file",
    "totals_for",
    "verdict_for",
]

Verdict = Literal["answered", "suggested-first", "suggested", "missed", "refused", "not-refused", "wrong"]


@dataclass(frozen=True)
class QuestionResult:
    question: EvalQuestion
    decision: Decision
    verdict: Verdict

    @property
    def top_choice(self) -> str | None:
        return self.decision.entry_id or next(iter(self.decision.suggestions), None)


@dataclass(frozen=True)
class EvalTotals:
    questions: int
    answerable: int
    top1_correct: int
    answered_correct: int
    out_of_scope: int
    refused: int
    confident_wrong: int
    ms_per_question: float

    @property
    def top1_accuracy(self) -> float:
        return self.top1_correct / self.answerable if self.answerable else 1.0

    @property
    def answered_rate(self) -> float:
        return self.answered_correct / self.answerable if self.answerable else 1.0

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.out_of_scope if self.out_of_scope else 1.0

    def as_json(self) -> dict[str, float | int]:
        return {
            "questions": self.questions,
            "answerable": self.answerable,
            "top1_accuracy": round(self.top1_accuracy, 4),
            "answered_correctly": round(self.answered_rate, 4),
            "out_of_scope": self.out_of_scope,
            "refusal_rate": round(self.refusal_rate, 4),
            "confident_wrong": self.confident_wrong,
            "ms_per_question": round(self.ms_per_question, 3),
        }


def check_ids_exist(faq: Faq, questions: Sequence[EvalQuestion]) -> None:
    """An id the content lacks would count as a miss forever, silently: refuse the file instead."""
    known = {entry.id for entry in faq.entries}
    for question in questions:
        unknown = question.unknown_ids(known)
        if unknown:
            raise EvalFileError(question.source, question.line, f"unknown entry id(s): {', '.join(unknown)}")


def evaluate(faq: Faq, questions: Sequence[EvalQuestion]) -> tuple[list[QuestionResult], EvalTotals]:
    check_ids_exist(faq, questions)
    started = time.perf_counter()
    decisions = [faq.decide(q.question) for q in questions]
    elapsed_ms = (time.perf_counter() - started) * 1000
    results = [QuestionResult(q, d, verdict_for(q, d)) for q, d in zip(questions, decisions, strict=True)]
    return results, totals_for(results, elapsed_ms)


def verdict_for(question: EvalQuestion, decision: Decision) -> Verdict:
    acceptable = question.acceptable
    if decision.outcome == "answer":
        return "answered" if acceptable and decision.entry_id in acceptable else "wrong"
    if acceptable is None:
        return "refused" if decision.outcome == "unknown" else "not-refused"
    if decision.suggestions and decision.suggestions[0] in acceptable:
        return "suggested-first"
    if any(s in acceptable for s in decision.suggestions):
        return "suggested"
    return "missed"


def totals_for(results: Sequence[QuestionResult], elapsed_ms: float = 0.0) -> EvalTotals:
    verdicts = [r.verdict for r in results]
    answerable = sum(1 for r in results if r.question.acceptable is not None)
    return EvalTotals(
        questions=len(results),
        answerable=answerable,
        top1_correct=verdicts.count("answered") + verdicts.count("suggested-first"),
        answered_correct=verdicts.count("answered"),
        out_of_scope=len(results) - answerable,
        refused=verdicts.count("refused"),
        confident_wrong=verdicts.count("wrong"),
        ms_per_question=elapsed_ms / len(results) if results else 0.0,
    )
