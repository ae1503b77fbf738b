"""FAQ entries as data: one YAML file per entry under `faq/content/`, editable by a billing lead.

A file looks like this (every key but `related` is required, and no other key is allowed, so a typo such as
`phrasing:` is reported instead of silently ignored):

    id: what-are-credits            # lowercase words joined by hyphens; other code links to it
    title: What client credits are
    answer: |                       # Slack mrkdwn: *bold*, • bullets, `code`
      A *client credit* is ...
    phrasings:                      # other ways people ask this question; they drive retrieval
      - what is a client credit
    related: [applying-credits]     # ids of other entries

One more kind of file lists questions the bot must refuse although they sound close to its topics
("duplicate or copy an invoice"). Its only key is `not_covered`, a list of such questions:

    not_covered:
      - create a new invoice

Questions people really asked live in `asked/*.jsonl`, one per line with the entry that answers it, in the
format of faq/questions.py: `{"q": "did the credit go on twice?", "ids": ["duplicate-protection"]}`, or
`"ids": null` for a question the bot must refuse. Retrieval reads each one as a phrasing of its entry (the first
id when several are acceptable) or as a not-covered question (`FaqContent.taught`), so teaching the bot a
question it got wrong is one line. An id that does not exist, or a question the content already files under
another entry, is an error naming the file and line.

Every problem is a `FaqContentError` that names the file and the entry, so the person who edited the content
can fix it without reading code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faq.questions import EvalFileError, EvalQuestion, location, read_eval_file

# PyYAML is imported when content is parsed: a FAQ loaded from its built cache (`creditbot faq`, faq/answering.py)
# reads no YAML.
if TYPE_CHECKING:
    import yaml

ENTRY_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
REQUIRED_KEYS = ("id", "title", "answer", "phrasings")
OPTIONAL_KEYS = ("related",)
NOT_COVERED_KEY = "not_covered"
NOT_COVERED_ID = "not-covered"  # reserved: retrieval ranks the not-covered list as if it were an entry
CONTENT_SUFFIXES = (".yaml", ".yml")
ASKED_DIR = "asked"  # questions people asked, labelled: retrieval learns from them
ASKED_SUFFIX = ".jsonl"


class FaqContentError(ValueError):
    """The FAQ content is invalid; the message names the file, the entry and what to fix."""

    def __init__(self, source: Path | str, entry_id: str | None, problem: str) -> None:
        self.source = str(source)
        self.entry_id = entry_id
        self.problem = problem
        where = f"{self.source}: entry '{entry_id}'" if entry_id else self.source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class FaqEntry:
    id: str
    title: str
    answer: str
    phrasings: tuple[str, ...]
    related: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class NotCovered:
    """Questions the bot must refuse, from one file."""

    questions: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class FaqContent:
    entries: tuple[FaqEntry, ...]
    not_covered: tuple[str, ...]
    asked: tuple[EvalQuestion, ...] = ()

    def taught(self, leave_out: Callable[[EvalQuestion], bool] | None = None) -> FaqContent:
        """The content as retrieval reads it: every asked question appended to its entry's phrasings (its first
        acceptable id) or to the not-covered list, skipping texts the content already has.

        `leave_out` drops asked questions, so the tuning tool can score a file's questions with a FAQ that
        never learnt them (faq/tuning.py).
        """
        seen = {phrasing_key(text) for entry in self.entries for text in (entry.title, *entry.phrasings)}
        seen.update(phrasing_key(text) for text in self.not_covered)
        learnt: dict[str | None, list[str]] = {}
        for question in self.asked:
            key = phrasing_key(question.question)
            if key in seen or (leave_out is not None and leave_out(question)):
                continue
            seen.add(key)
            owner = question.acceptable[0] if question.acceptable else None
            learnt.setdefault(owner, []).append(question.question)
        entries = tuple(replace(e, phrasings=(*e.phrasings, *learnt.get(e.id, ()))) for e in self.entries)
        return FaqContent(entries, (*self.not_covered, *learnt.get(None, ())))


def load_content(content_dir: Path) -> FaqContent:
    """Read and validate every file in `content_dir` (sorted by file name, so the order is stable)."""
    if not content_dir.is_dir():
        raise FaqContentError(content_dir, None, "FAQ content directory not found")
    files = sorted(p for p in content_dir.iterdir() if p.suffix in CONTENT_SUFFIXES and p.is_file())
    parsed = [parse_content_file(path) for path in files]
    entries = tuple(item for item in parsed if isinstance(item, FaqEntry))
    if not entries:
        raise FaqContentError(content_dir, None, "no FAQ entries (*.yaml files) in this directory")
    not_covered = [item for item in parsed if isinstance(item, NotCovered)]
    check_entry_set(entries, not_covered)
    asked = load_asked(content_dir / ASKED_DIR)
    check_asked(asked, entries, not_covered)
    return FaqContent(entries, tuple(q for item in not_covered for q in item.questions), asked)


def load_asked(directory: Path) -> tuple[EvalQuestion, ...]:
    """Every `*.jsonl` file in `directory` (none if it does not exist), in file-name order."""
    if not directory.is_dir():
        return ()
    files = sorted(p for p in directory.iterdir() if p.suffix == ASKED_SUFFIX and p.is_file())
    try:
        return tuple(question for path in files for question in read_eval_file(path))
    except EvalFileError as exc:
        raise FaqContentError(location(exc.source, exc.line), None, exc.problem) from exc


def check_asked(
    asked: Iterable[EvalQuestion], entries: Iterable[FaqEntry], not_covered: Iterable[NotCovered] = ()
) -> None:
    """Asked questions name entries that exist, and never contradict the content or each other: the same
    question filed under an entry that does not accept it (or as not covered) would teach retrieval both."""
    entries = tuple(entries)
    known = {entry.id for entry in entries}
    filed: dict[str, tuple[tuple[str, ...] | None, str]] = {}
    for entry in entries:
        for text in (entry.title, *entry.phrasings):
            filed[phrasing_key(text)] = ((entry.id,), f"a phrasing of entry '{entry.id}' ({entry.source})")
    for item in not_covered:
        for text in item.questions:
            filed[phrasing_key(text)] = (None, f"in the not-covered list ({item.source})")
    for question in asked:
        where = location(question.source, question.line)
        unknown = question.unknown_ids(known)
        if unknown:
            raise FaqContentError(where, None, f"unknown entry id(s): {', '.join(unknown)}")
        ids, place = filed.setdefault(phrasing_key(question.question), (question.acceptable, where))
        if _contradicts(ids, question.acceptable):
            raise FaqContentError(where, None, f"'{question.question}' is filed differently, {place}")


def _contradicts(first: tuple[str, ...] | None, second: tuple[str, ...] | None) -> bool:
    if first is None or second is None:
        return (first is None) != (second is None)
    return not set(first) & set(second)


def parse_content_file(path: Path) -> FaqEntry | NotCovered:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqContentError(path, None, f"cannot read the file: {exc}") from exc
    return parse_content_text(text, source=str(path))


def parse_content_text(text: str, source: str) -> FaqEntry | NotCovered:
    """Parse one file's YAML text; `source` is only used in error messages."""
    import yaml

    # libyaml's loader is several times faster; fall back to the pure-Python one where it is not compiled in.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise FaqContentError(source, None, f"not valid YAML ({_yaml_problem(exc)})") from exc
    if not isinstance(document, Mapping):
        raise FaqContentError(source, None, "expected keys id, title, answer, phrasings (and optionally related)")
    if NOT_COVERED_KEY in document:
        return _not_covered_from_mapping(document, source)
    return _entry_from_mapping(document, source)


def check_entry_set(entries: Iterable[FaqEntry], not_covered: Iterable[NotCovered] = ()) -> None:
    """Rules that span files: unique ids, related links that resolve, no phrasing claimed twice."""
    by_id: dict[str, FaqEntry] = {}
    for entry in entries:
        if entry.id in by_id:
            raise FaqContentError(entry.source, entry.id, f"duplicate id: already used in {by_id[entry.id].source}")
        by_id[entry.id] = entry
    for entry in by_id.values():
        for target in entry.related:
            if target not in by_id:
                raise FaqContentError(entry.source, entry.id, f"related entry '{target}' does not exist")
    _check_phrasings_are_unambiguous(by_id.values(), not_covered)


def _not_covered_from_mapping(document: Mapping[Any, Any], source: str) -> NotCovered:
    unknown = sorted(str(key) for key in document if key != NOT_COVERED_KEY)
    if unknown:
        raise FaqContentError(source, None, f"a not-covered list has no other keys; found {', '.join(unknown)}")
    questions = _text_list(document[NOT_COVERED_KEY], NOT_COVERED_KEY, source, None, min_items=1)
    return NotCovered(questions, source)


def _entry_from_mapping(document: Mapping[Any, Any], source: str) -> FaqEntry:
    raw_id = document.get("id")
    entry_id = raw_id.strip() if isinstance(raw_id, str) else None
    unknown = sorted(str(key) for key in document if key not in REQUIRED_KEYS + OPTIONAL_KEYS)
    if unknown:
        raise FaqContentError(source, entry_id, f"unknown key(s): {', '.join(unknown)}")
    for key in REQUIRED_KEYS:
        if key not in document or document[key] is None:
            raise FaqContentError(source, entry_id, f"missing field '{key}'")
    if entry_id is None or not ENTRY_ID.match(entry_id):
        raise FaqContentError(source, entry_id, "id must be lowercase words joined by hyphens, e.g. 'undo'")
    if entry_id == NOT_COVERED_ID:
        raise FaqContentError(source, entry_id, f"'{NOT_COVERED_ID}' is reserved; use a 'not_covered:' list")
    return FaqEntry(
        id=entry_id,
        title=_non_empty_text(document["title"], "title", source, entry_id),
        answer=_non_empty_text(document["answer"], "answer", source, entry_id),
        phrasings=_text_list(document["phrasings"], "phrasings", source, entry_id, min_items=1),
        related=_text_list(document.get("related") or [], "related", source, entry_id, min_items=0),
        source=source,
    )


def _non_empty_text(value: object, field: str, source: str, entry_id: str | None) -> str:
    if not isinstance(value, str):
        raise FaqContentError(source, entry_id, f"'{field}' must be text")
    if not value.strip():
        raise FaqContentError(source, entry_id, f"empty {field}")
    return value.strip()


def _text_list(value: object, field: str, source: str, entry_id: str | None, min_items: int) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FaqContentError(source, entry_id, f"'{field}' must be a list")
    items = tuple(_non_empty_text(item, f"item in {field}", source, entry_id) for item in value)
    if len(items) < min_items:
        raise FaqContentError(source, entry_id, f"'{field}' needs at least {min_items} item(s)")
    return items


def _check_phrasings_are_unambiguous(entries: Iterable[FaqEntry], not_covered: Iterable[NotCovered]) -> None:
    # The same question listed under two entries (or under an entry and as not covered) would make retrieval a
    # coin toss between them.
    owner: dict[str, str] = {}
    claims = [(entry.source, entry.id, (entry.title, *entry.phrasings)) for entry in entries]
    claims += [(item.source, None, item.questions) for item in not_covered]
    for source, entry_id, phrasings in claims:
        claimant = f"entry '{entry_id}'" if entry_id else "the not-covered list"
        for phrasing in phrasings:
            previous = owner.setdefault(phrasing_key(phrasing), claimant)
            if previous != claimant:
                raise FaqContentError(source, entry_id, f"phrasing '{phrasing}' is also used by {previous}")


def phrasing_key(phrasing: str) -> str:
    """Two texts with the same key are the same question (case and punctuation aside)."""
    return " ".join(re.findall(r"\w+", phrasing.casefold()))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem
