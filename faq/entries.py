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

Every problem is a `FaqContentError` that names the file and the entry, so the person who edited the content
can fix it without reading code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader is several times faster; fall back to the pure-Python one where it is not compiled in.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ENTRY_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
REQUIRED_KEYS = ("id", "title", "answer", "phrasings")
OPTIONAL_KEYS = ("related",)
NOT_COVERED_KEY = "not_covered"
NOT_COVERED_ID = "not-covered"  # reserved: retrieval ranks the not-covered list as if it were an entry
CONTENT_SUFFIXES = (".yaml", ".yml")


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
    return FaqContent(entries, tuple(q for item in not_covered for q in item.questions))


def parse_content_file(path: Path) -> FaqEntry | NotCovered:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqContentError(path, None, f"cannot read the file: {exc}") from exc
    return parse_content_text(text, source=str(path))


def parse_content_text(text: str, source: str) -> FaqEntry | NotCovered:
    """Parse one file's YAML text; `source` is only used in error messages."""
    try:
        document = yaml.load(text, Loader=_YamlLoader)
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
            previous = owner.setdefault(_phrasing_key(phrasing), claimant)
            if previous != claimant:
                raise FaqContentError(source, entry_id, f"phrasing '{phrasing}' is also used by {previous}")


def _phrasing_key(phrasing: str) -> str:
    return " ".join(re.findall(r"\w+", phrasing.casefold()))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem
