"""Question files: one JSON object per line, `{"q": "...", "ids": ["entry-id", ...]}`, or `"ids": null` (also
written `[null]`) for a question the FAQ should refuse as out of scope.

Two kinds of file use this format: the asked questions in `faq/content/asked/`, which retrieval learns from
(faq/entries.py), and evaluation sets, which `creditbot faq --eval` scores (faq/evaluation.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path


class EvalFileError(ValueError):
    """The question file is malformed; the message names the file and line."""

    def __init__(self, source: Path | str, line: int | None, problem: str) -> None:
        self.source = str(source)
        self.line = line
        self.problem = problem
        super().__init__(f"{location(self.source, line)}: {problem}")


def location(source: Path | str, line: int | None) -> str:
    """Where a problem is, as error messages name it: `file:line`, or the file alone."""
    return f"{source}:{line}" if line is not None else str(source)


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    acceptable: tuple[str, ...] | None  # None: out of scope, the bot should refuse
    source: str
    line: int

    def unknown_ids(self, known: Collection[str]) -> list[str]:
        """The acceptable ids that are not entry ids, sorted: a line naming one is refused, wherever it is read."""
        return sorted(set(self.acceptable or ()) - set(known))


def read_eval_file(path: Path | str) -> list[EvalQuestion]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(path, None, f"cannot read the file: {exc}") from exc
    return parse_eval_lines(text.splitlines(), source=str(path))


def parse_eval_lines(lines: Iterable[str], source: str) -> list[EvalQuestion]:
    questions = [_parse_eval_line(line, source, number) for number, line in enumerate(lines, start=1) if line.strip()]
    if not questions:
        raise EvalFileError(source, None, "no questions in the file")
    return questions


def _parse_eval_line(line: str, source: str, number: int) -> EvalQuestion:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalFileError(source, number, f"not valid JSON ({exc.msg})") from exc
    if not isinstance(record, dict) or "q" not in record or "ids" not in record:
        raise EvalFileError(source, number, 'expected an object with "q" and "ids"')
    question = record["q"]
    if not isinstance(question, str) or not question.strip():
        raise EvalFileError(source, number, '"q" must be a non-empty string')
    return EvalQuestion(question, _acceptable_ids(record["ids"], source, number), source, number)


def _acceptable_ids(ids: object, source: str, number: int) -> tuple[str, ...] | None:
    if ids is None or ids == [None]:
        return None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise EvalFileError(source, number, '"ids" must be a list of entry ids, or null for an out-of-scope question')
    return tuple(ids)
