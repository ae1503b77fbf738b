"""Finding the FAQ entry closest to a question: character n-gram TF-IDF with cosine similarity.

Why this first, and not embeddings alone or plain fuzzy matching (figures in faq/README.md):
- Character n-grams inside words survive typos ("aply", "balnce") and word forms ("applied", "applying") without
  a stemmer, which matters more for short Slack questions than any model of meaning.
- IDF makes words that every entry shares ("credit", "invoice") count for little, so a question that only shares
  those words with the FAQ (an out-of-scope "how do I void an invoice") scores low and is refused.
- The corpus is a couple of thousand short texts (the entries' phrasings and the asked questions): the index
  builds in a fraction of a second at start-up and a question is scored in about a millisecond through an
  inverted index held in numpy arrays. No model download.

An entry's score blends two views (`EntryRanker`): its best-matching phrasing (each phrasing and the title is a
document, so one close paraphrase is enough), and the whole entry (title, phrasings and answer as one document),
which rewards questions that touch several of the entry's words and damps a single lucky phrasing. The top
entries also get a word coverage (`EntryVocabulary`), which the decision multiplies in.

Characters cannot see that "handle euros" means currencies. `HybridRanker` (the optional "hybrid" backend) blends
this score with a sentence embedding's (faq/embedding.py), keeping coverage and the not-covered refusal; alone,
the embedding measured worse than TF-IDF, blended it measured better.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from typing import Protocol

import numpy as np

from faq.entries import NOT_COVERED_ID, FaqEntry

NGRAM_SIZES = (3, 4, 5)
# Words the whole FAQ has never seen (mostly names): their weight in coverage, and whether the n-gram vector
# keeps them. Chosen by cross-validation on the tuning pool (faq/README.md).
UNSEEN_WEIGHT = 0.75
DROP_UNSEEN = False
# Numbers never count as topic words, but in coverage each one can count as a word no entry knows: "issue a
# 1099" is then not "issue" alone. 0 ignores them. Chosen by cross-validation (faq/README.md).
NUMBER_WEIGHT = 0.0
# An entry's score: this share from its closest phrasing, the rest from the whole entry. Chosen by
# cross-validation (faq/README.md): with the asked questions as phrasings, the closest one says more.
PHRASING_WEIGHT = 0.7
# The hybrid backend (`HybridRanker`): the embedding's share of an entry's score, and the share of the answer
# text within the embedding's score. Chosen by cross-validation (faq/README.md).
EMBEDDING_WEIGHT = 0.5
ANSWER_WEIGHT = 0.2
# The same two for the default "static" backend (the shipped static token embedding, faq/static_embedding.py).
STATIC_EMBEDDING_WEIGHT = 0.7
STATIC_ANSWER_WEIGHT = 0.2
# The static and hybrid backends answer outright only when this share of the phrasings closest to the question
# (this many) are the best entry's own (`HybridRanker`, vote_top / vote_min). Chosen by leave-one-set-out CV on
# the static backend, and measured on the hybrid (faq/README.md, the v13 round).
VOTE_TOP = 5
VOTE_MIN = 0.8
# The static backend's graded vote (the v14 round): a second, wider vote over this many phrasings must give the
# best entry this share for the vote above to answer at full confidence. A best entry that wins only one of the
# two votes (the narrow one at VOTE_MIN but not the wide one, or the wide one with only WEAK_VOTE_MIN of the
# narrow) still answers, but its confidence is lowered by VOTE_DOUBT, so it must clear the thresholds by that
# much more; one that wins neither offers "did you mean". Chosen by leave-one-set-out CV (faq/README.md).
WIDE_VOTE_TOP = 10
WIDE_VOTE_MIN = 0.6
WEAK_VOTE_MIN = 0.6
VOTE_DOUBT = 0.1
# The static backend (the v15 round): when only the embedding's closest phrasing disagrees (TF-IDF alone puts the best
# entry first) but the best entry wins both votes, it may still answer, with this taken off its confidence. New
# authors' wordings often have one odd close phrasing elsewhere. Chosen by the newest authors' figure (faq/README.md).
LEXICAL_ONLY_DOUBT = 0.1

# Words that carry no topic. Without this, "how do I reset my password" would look a little like
# "how do I undo a credit" just through "how do i". Kept short on purpose: negations and question words that
# change the topic ("who", "why", "when") stay.
_STOPWORD_TEXT = """
    a an the and or of to in on at for from with by about into as is are was were be been being am do does
    did doing done i me my we our us you your it its this that these those there here can could should would will
    shall may might must please just so if then than any some what how hi hey hello whats hows wheres im ive
    thats theres lets only
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def normalise(text: str) -> str:
    """Lowercase, fold Unicode look-alikes, and keep only letters and digits ("duplicate_credit" -> two words)."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    folded = re.sub(r"'(s|t|re|ve|ll|d|m)\b", r"\1", folded)  # "client's" and "don't" become one word each
    return " ".join(re.findall(r"[^\W_]+", folded))


# Abbreviations billing people type in Slack, mapped to the word the content uses.
ALIASES = {"qb": "quickbooks", "qbo": "quickbooks", "inv": "invoice", "admins": "admin"}
_ALIAS_WORD = re.compile(r"\b(?:" + "|".join(ALIASES) + r")\b", re.IGNORECASE)


# Numbers and amounts as typed in Slack ("400", "500usd"): never topic words. ("2k" stays a word: so does "401k".)
_AMOUNT = re.compile(r"\d+(?:usd|eur|gbp|cad|aud|chf)?")


def topic_words(text: str) -> list[str]:
    """The words that say what a question is about. Numbers (amounts, years, line numbers) never do."""
    words = [ALIASES.get(word, word) for word in normalise(text).split() if not _AMOUNT.fullmatch(word)]
    topical = [word for word in words if word not in STOPWORDS]
    # "what can you do" is all stopwords, yet a fair question: then the stopwords are the topic.
    return topical or words


def char_ngrams(words: Iterable[str]) -> Counter[str]:
    return Counter(chain.from_iterable(map(_word_ngrams, words)))


@lru_cache(maxsize=65_536)
def _word_ngrams(word: str) -> tuple[str, ...]:
    # The same few thousand words recur in every phrasing and question: each is cut into grams once.
    padded = f" {word} "
    return tuple(padded[i : i + size] for size in NGRAM_SIZES for i in range(max(len(padded) - size + 1, 1)))


class NgramIndex:
    """TF-IDF over character n-grams with sublinear term frequency and L2-normalised vectors.

    Postings are numpy arrays: with the asked questions the index holds a couple of thousand documents, and a
    question's common grams ("cre", "edi") each touch most of them, which a Python loop paid for at ~5 ms.
    """

    def __init__(self, documents: Sequence[str]) -> None:
        grams_per_doc = [char_ngrams(topic_words(text)) for text in documents]
        self.document_count = len(documents)
        document_frequency: Counter[str] = Counter()
        for grams in grams_per_doc:
            document_frequency.update(grams.keys())
        self.idf = {gram: self._idf(df) for gram, df in document_frequency.items()}
        # One (gram, document, term frequency) triple per gram a document has, weighted and normalised in numpy
        # (per gram in Python this was most of the start-up), then one sort splits them into postings.
        gram_ids = {gram: number for number, gram in enumerate(document_frequency)}
        rows: list[int] = []
        docs: list[int] = []
        counts: list[int] = []
        for doc, grams in enumerate(grams_per_doc):
            rows.extend(map(gram_ids.__getitem__, grams))
            docs.extend(repeat(doc, len(grams)))
            counts.extend(grams.values())
        row_array, doc_array = np.array(rows, dtype=np.intp), np.array(docs, dtype=np.intp)
        idf = np.array(list(self.idf.values()))  # in gram_ids order: both follow document_frequency's
        weight_array = (1.0 + np.log(np.array(counts, dtype=np.float64))) * idf[row_array]
        norms = np.sqrt(np.bincount(doc_array, weight_array * weight_array, minlength=self.document_count))
        weight_array /= norms[doc_array]
        order = np.argsort(row_array, kind="stable")
        doc_array, weight_array = doc_array[order], weight_array[order]
        # In gram_ids order, a gram's postings are as long as its document frequency.
        frequencies = np.array(list(document_frequency.values()), dtype=np.intp)
        ends = np.cumsum(frequencies)
        starts = ends - frequencies
        # One array of documents and one of weights, each gram a span of them: a few arrays instead of one pair
        # per gram, so a built index is saved and loaded (faq/answering.py, cached_faq) in milliseconds.
        self.posting_docs, self.posting_weights = doc_array, weight_array
        self.spans = dict(zip(gram_ids, zip(starts.tolist(), ends.tolist(), strict=True), strict=True))

    @property
    def postings(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each gram's (documents, weights): views of the two posting arrays."""
        return {
            gram: (self.posting_docs[start:end], self.posting_weights[start:end])
            for gram, (start, end) in self.spans.items()
        }

    def _idf(self, document_frequency: int) -> float:
        # Smoothed as in scikit-learn, so a gram found in every document still weighs a little.
        return math.log((1 + self.document_count) / (1 + document_frequency)) + 1.0

    def _unit_vector(self, grams: Counter[str]) -> dict[str, float]:
        # Grams never seen in the FAQ get the highest idf: an unknown word makes a question less like every
        # document, which is what pushes off-topic questions below the answer threshold.
        unseen_idf = self._idf(0)
        weights = {g: (1.0 + math.log(tf)) * self.idf.get(g, unseen_idf) for g, tf in grams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {g: w / norm for g, w in weights.items()} if norm else {}

    def similarities(self, text: str, ignored: frozenset[str] = frozenset()) -> np.ndarray:
        """Cosine similarity of `text` to every document, in document order (0 where no n-gram is shared).

        `ignored` words are left out of the question's vector altogether (see `EntryRanker.unseen_words`).
        """
        words = [word for word in topic_words(text) if word not in ignored]
        query = self._unit_vector(char_ngrams(words))
        hits = [(self.spans[gram], weight) for gram, weight in query.items() if gram in self.spans]
        if not hits:
            return np.zeros(self.document_count)
        docs = np.concatenate([self.posting_docs[start:end] for (start, end), _ in hits])
        products = np.concatenate([self.posting_weights[start:end] * weight for (start, end), weight in hits])
        return np.bincount(docs, products, minlength=self.document_count)


@dataclass(frozen=True)
class EntryScore:
    entry_id: str
    score: float  # similarity, used for ranking and suggestions
    coverage: float = 1.0  # share of the question's words this entry knows (computed for the top few only)
    # False when a blended ranker's two views disagree about the best entry (`HybridRanker`, require_agreement):
    # `decide` then never answers outright, it offers "did you mean".
    agreed: bool = True
    # Subtracted from the confidence when the phrasing votes back the best entry only weakly (`HybridRanker`,
    # wide_vote_top): it must then clear the answer thresholds by this much more.
    doubt: float = 0.0

    @property
    def confidence(self) -> float:
        """What the answer test uses: similar, and about every word that was asked (less any doubt)."""
        return max(self.score * self.coverage - self.doubt, 0.0)


class Ranker(Protocol):
    def rank(self, question: str) -> list[EntryScore]: ...


class EntryRanker:
    """Ranks FAQ entries for a question; build once, then `rank` is cheap.

    The not-covered questions are ranked as one more entry, `NOT_COVERED_ID`: when it comes first, the question
    is closer to something the bot must refuse than to anything it knows.
    """

    COVERAGE_TOP = 3  # coverage is only needed where decisions are made: the top entry and the suggestions

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        not_covered: Sequence[str] = (),
        phrasing_weight: float = PHRASING_WEIGHT,
        with_coverage: bool = True,
        unseen_weight: float = UNSEEN_WEIGHT,
        drop_unseen: bool = DROP_UNSEEN,
        number_weight: float = NUMBER_WEIGHT,
    ) -> None:
        # Share of the score that comes from the best phrasing; the rest from the whole-entry document.
        self.phrasing_weight = phrasing_weight
        self.with_coverage = with_coverage
        # How much a word the whole FAQ has never seen counts in coverage, and whether it stays in the vector.
        self.unseen_weight = unseen_weight
        self.drop_unseen = drop_unseen
        self.number_weight = number_weight
        topics = [(entry.id, (entry.title, *entry.phrasings), entry.answer) for entry in entries]
        if not_covered:
            topics.append((NOT_COVERED_ID, tuple(not_covered), ""))
        self.entry_ids = [entry_id for entry_id, _, _ in topics]
        self.content_order = {entry_id: position for position, entry_id in enumerate(self.entry_ids)}
        self.phrasing_starts = np.cumsum([0, *(len(phrasings) for _, phrasings, _ in topics[:-1])])
        self.phrasing_index = NgramIndex([text for _, phrasings, _ in topics for text in phrasings])
        whole_texts = ["\n".join((*phrasings, answer)) for _, phrasings, answer in topics]
        self.entry_index = NgramIndex(whole_texts)
        self.vocabularies = {
            entry_id: EntryVocabulary(text) for entry_id, text in zip(self.entry_ids, whole_texts, strict=True)
        }
        # Every word of the content, not-covered questions included: "payroll" is known (as off-topic), a client
        # name or a product the billing team uses is not.
        self.corpus_vocabulary = EntryVocabulary("\n".join(whole_texts))

    def rank(self, question: str) -> list[EntryScore]:
        """Every entry with a non-zero score, best first (ties broken by content order, so results are stable)."""
        return self.rank_scores(self.scores(question), question)

    def scores(self, question: str) -> dict[str, float]:
        """The similarity of every entry sharing an n-gram with the question (others score 0)."""
        return self.scores_from(question, self.phrasing_similarities(question))

    def phrasing_similarities(self, question: str) -> np.ndarray:
        """The question's cosine to every phrasing (titles, phrasings, asked and not-covered questions), in order."""
        ignored = self.unseen_words(question) if self.drop_unseen else frozenset()
        return self.phrasing_index.similarities(question, ignored)

    def phrasing_count(self, entry_id: str) -> int:
        """How many phrasing documents (title, phrasings, asked questions) the entry has."""
        position = self.content_order[entry_id]
        end = self.phrasing_starts[position + 1] if position + 1 < len(self.phrasing_starts) else None
        return int((end if end is not None else self.phrasing_index.document_count) - self.phrasing_starts[position])

    def phrasing_owner(self, document: int) -> str:
        """The entry id (or `NOT_COVERED_ID`) whose phrasing document number `document` is."""
        return self.entry_ids[int(np.searchsorted(self.phrasing_starts, document, side="right")) - 1]

    def scores_from(self, question: str, phrasings: np.ndarray) -> dict[str, float]:
        """`scores`, given the question's `phrasing_similarities`."""
        ignored = self.unseen_words(question) if self.drop_unseen else frozenset()
        # A topic's phrasings are consecutive documents, so each topic's closest one is one reduceat.
        best_phrasing = np.maximum.reduceat(phrasings, self.phrasing_starts)
        whole_entry = self.entry_index.similarities(question, ignored)
        # Every gram of a phrasing is also in its entry's whole text, so an entry sharing no gram with the
        # question as a whole shares none with its phrasings either: it is left out (scores 0).
        return {
            self.entry_ids[topic]: self._blend(self.entry_ids[topic], float(best_phrasing[topic]), float(score))
            for topic, score in enumerate(whole_entry)
            if score > 0
        }

    def rank_scores(self, scores: dict[str, float], question: str) -> list[EntryScore]:
        """Entries by score, best first (ties in content order, so results are stable), the top ones with their
        word coverage of `question`. Other rankers (`HybridRanker`) reuse this with their own scores."""
        ranked = sorted(
            (EntryScore(entry_id, score) for entry_id, score in scores.items()),
            key=lambda s: (-s.score, self.content_order[s.entry_id]),
        )
        if self.with_coverage and ranked:
            unseen = self.unseen_words(question)
            top = ranked[: self.COVERAGE_TOP]
            ranked[: self.COVERAGE_TOP] = [self._with_coverage(s, question, unseen) for s in top]
        return ranked

    def unseen_words(self, question: str) -> frozenset[str]:
        """The question's words that no entry and no not-covered question uses, even misspelt or inflected.

        Mostly names (a client the ledger did not supply, a colleague, a product): they say nothing about the
        topic, so they should not make a fair question look off-topic. How much they still count was chosen
        by cross-validation (`faq.tuning --compare`).
        """
        if self.unseen_weight == 1.0 and not self.drop_unseen:
            return frozenset()
        return frozenset(word for word in topic_words(question) if not self.corpus_vocabulary.knows(word))

    def _blend(self, entry_id: str, best_phrasing: float, whole_entry: float) -> float:
        if entry_id == NOT_COVERED_ID:
            # The not-covered list is many unrelated topics, not one: only its closest question counts.
            return min(best_phrasing, 1.0)
        # min(): float rounding can push the cosine of identical texts a hair above 1.
        return min(self.phrasing_weight * best_phrasing + (1 - self.phrasing_weight) * whole_entry, 1.0)

    def _with_coverage(self, scored: EntryScore, question: str, unseen: frozenset[str]) -> EntryScore:
        vocabulary = self.vocabularies[scored.entry_id]
        known = total = 0.0
        for word in topic_words(question):
            weight = self.unseen_weight if word in unseen else 1.0
            total += weight
            if vocabulary.knows(word):
                known += weight
        if self.number_weight:
            total += self.number_weight * sum(1 for word in normalise(question).split() if _AMOUNT.fullmatch(word))
        return EntryScore(scored.entry_id, scored.score, known / total if total else 0.0)


class SemanticIndex(Protocol):
    """Texts in groups, embedded once; `similarities` gives the cosine of a question to every text, in order, and
    `starts` where each group's run of texts begins."""

    starts: np.ndarray

    def similarities(self, question: str) -> np.ndarray: ...


# Builds a SemanticIndex over groups of texts (faq.embedding.EmbeddingIndex; tests may pass a stand-in).
SemanticIndexFactory = Callable[[Sequence[Sequence[str]]], SemanticIndex]


class HybridRanker:
    """The TF-IDF score blended with a sentence embedding's, so a paraphrase that shares no characters with any
    phrasing ("handle euros" for currencies) can still find its entry.

    An entry's semantic score is the cosine of the question to its closest phrasing (or title), blended with the
    cosine to its answer (`answer_weight`); the not-covered list scores by its closest question alone, as in
    `EntryRanker`. `embedding_weight` is the semantic share of the final score: 1.0 is embedding only. Ranking
    ties, coverage and the not-covered refusal are `EntryRanker`'s (`lexical`), so `decide` is unchanged.
    """

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        not_covered: Sequence[str],
        semantic: SemanticIndexFactory,
        *,
        embedding_weight: float = EMBEDDING_WEIGHT,
        answer_weight: float = ANSWER_WEIGHT,
        with_coverage: bool = True,
        require_agreement: bool = False,
        vote_top: int = 0,
        vote_min: float = 0.0,
        wide_vote_top: int = 0,
        wide_vote_min: float = 0.0,
        weak_vote_min: float = 1.0,
        vote_doubt: float = 0.0,
        lexical_only_doubt: float | None = None,
        unseen_as: str | None = None,
        not_covered_weight: float = 1.0,
    ) -> None:
        self.embedding_weight = embedding_weight
        # The first entry counts as agreed only when TF-IDF alone and the embedding alone also put it first ...
        self.require_agreement = require_agreement
        # ... and (with vote_top) when at least vote_min of the vote_top phrasings closest to the question (by the
        # same blend, phrasing by phrasing) are its own: one lucky phrasing among another entry's does not answer.
        self.vote_top, self.vote_min = vote_top, vote_min
        # ... graded (with wide_vote_top): the entry must also hold wide_vote_min of the wide_vote_top closest
        # phrasings to answer at full confidence; winning one vote of the two (the narrow one at vote_min, or the
        # wide one with weak_vote_min of the narrow) answers with vote_doubt off its confidence.
        self.wide_vote_top, self.wide_vote_min = wide_vote_top, wide_vote_min
        self.weak_vote_min, self.vote_doubt = weak_vote_min, vote_doubt
        # ... and (with lexical_only_doubt) TF-IDF alone agreeing is enough when both votes are won outright: the
        # embedding's closest phrasing alone disagreeing costs this much confidence instead of the answer.
        self.lexical_only_doubt = lexical_only_doubt
        # What the embedding reads for a word no entry and no not-covered question uses (mostly a name the ledger
        # did not supply): None keeps it, "" drops it, "client" reads it as grounding reads a known client.
        self.unseen_as = unseen_as
        # The not-covered list's score is its closest question alone, an entry's is diluted by its whole text and
        # answer: this factor puts them on a closer footing (1.0: as they come).
        self.not_covered_weight = not_covered_weight
        self.answer_weight = answer_weight
        self.lexical = EntryRanker(entries, not_covered, with_coverage=with_coverage)
        self.topic_ids = [entry.id for entry in entries]
        groups = [[entry.title, *entry.phrasings] for entry in entries]
        if not_covered:
            self.topic_ids.append(NOT_COVERED_ID)
            groups.append(list(not_covered))
        answers = [[entry.answer] for entry in entries] if answer_weight else []
        self.semantic = semantic([[semantic_text(text) for text in group] for group in [*groups, *answers]])

    def rank(self, question: str) -> list[EntryScore]:
        scores, tops, phrasings = self._scores(question)
        ranked = self.lexical.rank_scores(scores, question)
        if self.require_agreement and ranked:
            best = ranked[0].entry_id
            agreed, doubt = tops == (best, best), 0.0
            if agreed:
                agreed, doubt = self._support(best, phrasings)
            elif self.lexical_only_doubt is not None and tops[0] == best:
                agreed, doubt = self._lexical_only(best, phrasings)
            ranked[0] = dataclasses.replace(ranked[0], agreed=agreed, doubt=doubt)
        return ranked

    def _support(self, entry_id: str, phrasings: np.ndarray) -> tuple[bool, float]:
        """Whether the phrasing votes let `entry_id` answer, and the doubt taken off its confidence if so."""
        narrow = self._vote(entry_id, phrasings, self.vote_top)
        if not self.wide_vote_top:
            return narrow >= self.vote_min, 0.0
        wide = self._vote(entry_id, phrasings, self.wide_vote_top) >= self.wide_vote_min
        if narrow >= self.vote_min and wide:
            return True, 0.0
        if narrow >= self.vote_min or (wide and narrow >= self.weak_vote_min):
            return True, self.vote_doubt
        return False, 0.0

    def _lexical_only(self, entry_id: str, phrasings: np.ndarray) -> tuple[bool, float]:
        """`_support` for a best entry TF-IDF alone agrees with: only both votes won answer, at a doubt."""
        narrow = self._vote(entry_id, phrasings, self.vote_top) >= self.vote_min
        wide = not self.wide_vote_top or self._vote(entry_id, phrasings, self.wide_vote_top) >= self.wide_vote_min
        return (True, self.lexical_only_doubt or 0.0) if narrow and wide else (False, 0.0)

    def scores(self, question: str) -> dict[str, float]:
        return self._scores(question)[0]

    def _embedded_text(self, question: str) -> str:
        if self.unseen_as is None:
            return question
        unseen = self.lexical.unseen_words(question)
        if not unseen:
            return question
        kept = []
        for token in question.split():
            words = topic_words(token)
            kept.append(self.unseen_as if words and all(word in unseen for word in words) else token)
        return " ".join(token for token in kept if token)

    def _vote(self, entry_id: str, phrasings: np.ndarray, top: int) -> float:
        """The share of the `top` phrasings closest to the question that belong to `entry_id` (1 if no vote)."""
        # An entry with fewer phrasings than the vote counts (a small FAQ being written) cannot win it: no vote.
        if not top or self.lexical.phrasing_count(entry_id) < top:
            return 1.0
        nearest = np.argpartition(-phrasings, top - 1)[:top]
        return sum(self.lexical.phrasing_owner(document) == entry_id for document in nearest) / top

    def _scores(self, question: str) -> tuple[dict[str, float], tuple[str | None, str], np.ndarray]:
        """Blended scores, the entries TF-IDF alone and the embedding alone (closest phrasing) put first, and the
        blended similarity of every phrasing (what the vote counts)."""
        lexical_phrasings = self.lexical.phrasing_similarities(question)
        lexical = self.lexical.scores_from(question, lexical_phrasings) if self.embedding_weight < 1 else {}
        similarities = self.semantic.similarities(semantic_text(self._embedded_text(question)))
        closest = np.maximum.reduceat(similarities, self.semantic.starts)
        # The phrasing documents of TF-IDF and the embedding's first groups are the same texts in the same order.
        phrasings = (1 - self.embedding_weight) * lexical_phrasings + self.embedding_weight * similarities[
            : len(lexical_phrasings)
        ]
        lexical_top = max(lexical, key=lexical.__getitem__) if lexical else None
        semantic_top = self.topic_ids[int(np.argmax(closest[: len(self.topic_ids)]))]
        answers = closest[len(self.topic_ids) :]
        scores = {}
        for position, entry_id in enumerate(self.topic_ids):
            # A negative cosine says "unrelated", no more than 0 does.
            semantic = max(float(closest[position]), 0.0)
            if len(answers) and entry_id != NOT_COVERED_ID:
                semantic = (1 - self.answer_weight) * semantic + self.answer_weight * max(float(answers[position]), 0.0)
            blended = (1 - self.embedding_weight) * lexical.get(entry_id, 0.0) + self.embedding_weight * semantic
            if entry_id == NOT_COVERED_ID:
                blended *= self.not_covered_weight
            if blended > 0:
                scores[entry_id] = min(blended, 1.0)
        return scores, (lexical_top, semantic_top), phrasings


def semantic_text(text: str) -> str:
    """What the embedding reads: the text as typed, but with Slack abbreviations spelled out ("qb") and code
    names split ("duplicate_credit"), which the model's vocabulary would otherwise cut into meaningless pieces."""
    spaced = text.replace("_", " ")
    return _ALIAS_WORD.sub(lambda match: ALIASES[match.group(0).casefold()], spaced)


class EntryVocabulary:
    """The words of one entry, matched leniently enough for typos and word forms.

    Why it exists: n-gram similarity can be high for a question that shares two words with a short phrasing
    and is really about something else ("how do I create a new project" against "create a new credit"). An
    entry that has never used one of the question's words ("project") should not answer it with confidence.
    """

    PREFIX = 5  # "applied", "applying" and "application" share "appli"
    TYPO_MIN_LENGTH = 3
    TYPO_SIMILARITY = 80  # rapidfuzz ratio: "aply"/"apply" 89, "proejct"/"project" 86, "bank"/"back" 75

    def __init__(self, text: str) -> None:
        words = {ALIASES.get(word, word) for word in normalise(text).split()}
        self.word_set = frozenset(words)
        self.prefixes = frozenset(word[: self.PREFIX] for word in words if len(word) >= self.PREFIX)
        # Typos are only looked for among topic words: "pto" is within a ratio of 80 of the stopword "to".
        self.typo_candidates = sorted(word for word in words if word not in STOPWORDS)

    def knows(self, word: str) -> bool:
        if word in self.word_set:
            return True
        if len(word) >= self.PREFIX and word[: self.PREFIX] in self.prefixes:
            return True
        if len(word) < self.TYPO_MIN_LENGTH:
            return False  # a one- or two-letter word is one letter from too many others to call it a typo
        return _close_spelling(word, self.typo_candidates, self.TYPO_SIMILARITY)


def _close_spelling(word: str, candidates: Sequence[str], similarity: float) -> bool:
    """Whether one of `candidates` is within `similarity` (rapidfuzz's ratio) of `word`. rapidfuzz is imported
    here, at the first word no entry knows outright: a question whose words are all known never loads it
    (tests/test_cli_lean.py; it was ~8 ms of every `creditbot faq`'s start-up)."""
    from rapidfuzz import fuzz, process

    return process.extractOne(word, candidates, scorer=fuzz.ratio, score_cutoff=similarity) is not None
