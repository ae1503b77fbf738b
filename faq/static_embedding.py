"""The default "static" backend's sentence vectors: a token table distilled from all-MiniLM-L6-v2, numpy only.

`python -m faq.distill` ran every WordPiece token of the model's vocabulary through the model alone and kept a
PCA-reduced, float16 row per token (faq/model/tokens.npy, shipped inside the package). Here a text is cut into
the same WordPiece tokens (`WordPieceTokenizer`, the model's lowercasing BERT tokenizer in plain Python) and its
vector is the mean of its tokens' rows, each weighted by how rare the token is in the FAQ's own texts (a token
every phrasing has, "credit", says little), then L2-normalised. No forward pass: a question costs a few
dictionary look-ups and one product with the content matrix, and nothing but numpy is imported.

What it cannot see is context ("apply" in "apply a credit" and in "apply for a job" is one row); the TF-IDF
score it is blended with (`faq.retrieval.HybridRanker`) and coverage carry the rest.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "model"
MAX_WORD_CHARACTERS = 100  # BERT's WordPiece: a longer word is one [UNK]
UNKNOWN = "[UNK]"
# Token weights: log((1 + texts) / (1 + texts with the token)) + 1, as TF-IDF's idf; a token the FAQ never uses
# weighs this much (chosen by cross-validation, faq/README.md).
UNSEEN_TOKEN_WEIGHT = 1.0


def _is_punctuation(character: str) -> bool:
    code = ord(character)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(character).startswith("P")


class WordPieceTokenizer:
    """BERT's uncased tokenizer: accents stripped, lowercased, split on spaces and punctuation, then each word cut
    greedily into the longest vocabulary pieces ("##" marks a piece inside a word). Matches the model's own
    tokenizer.json (tests/test_faq_static.py compares them where `tokenizers` is installed)."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.ids = {token: number for number, token in enumerate(vocabulary)}
        self.unknown = self.ids[UNKNOWN]
        self.word_ids = lru_cache(maxsize=65_536)(self._word_ids)

    def words(self, text: str) -> list[str]:
        folded = unicodedata.normalize("NFD", text.lower())
        folded = "".join(c for c in folded if unicodedata.category(c) != "Mn")
        words: list[str] = []
        for chunk in folded.split():
            current = ""
            for character in chunk:
                if _is_punctuation(character):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(character)
                elif unicodedata.category(character) in ("Cc", "Cf") or character == "\ufffd":
                    continue
                else:
                    current += character
            if current:
                words.append(current)
        return words

    def encode(self, text: str) -> list[int]:
        return [number for word in self.words(text) for number in self.word_ids(word)]

    def _word_ids(self, word: str) -> tuple[int, ...]:
        if len(word) > MAX_WORD_CHARACTERS:
            return (self.unknown,)
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                number = self.ids.get(piece)
                if number is not None:
                    pieces.append(number)
                    break
                end -= 1
            else:
                return (self.unknown,)
            start = end
        return tuple(pieces)


class StaticEncoder:
    """Token table + tokenizer: `encode(texts)` gives unit vectors; `weigh(texts)` sets the token weights from
    the texts the index holds (call it once, before encoding them).

    Pickled (the built-FAQ cache, faq/answering.py) without the table and the tokenizer: both are read again
    from `directory`, once per process."""

    def __init__(self, directory: Path = MODEL_DIR) -> None:
        self.directory = directory
        self._attach()
        self.weights = np.ones(self.table.shape[0], dtype=np.float32)
        self.dimension = self.table.shape[1]

    def _attach(self) -> None:
        self.table, _ = _load_table(self.directory)  # float16, mapped from the file: shared by every encoder
        self.tokenizer = _tokenizer(self.directory)

    def __getstate__(self) -> dict[str, object]:
        return {"directory": self.directory, "weights": self.weights, "dimension": self.dimension}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._attach()

    def weigh(self, texts: Sequence[str]) -> None:
        frequency: Counter[int] = Counter()
        for text in texts:
            frequency.update(set(self.tokenizer.encode(text)))
        count = len(texts)
        # A token the FAQ never uses is mostly part of a name ("initech"): as in TF-IDF's coverage, such words
        # should not decide the topic, so they weigh as little as the commonest token.
        weights = np.full(len(self.weights), UNSEEN_TOKEN_WEIGHT, dtype=np.float32)
        for token, texts_with_it in frequency.items():
            weights[token] = math.log((1 + count) / (1 + texts_with_it)) + 1.0
        # Numbers and punctuation never say what a question is about ("a credit of 400"), as in TF-IDF: rare in
        # the FAQ, they would otherwise weigh the most.
        weights[_topicless(self.directory)] = 0.0
        self.weights = weights

    def encode_one(self, text: str) -> np.ndarray:
        ids = self.tokenizer.encode(text)
        if not ids:
            return np.zeros(self.dimension, dtype=np.float32)
        weights = self.weights[ids]
        vector = weights @ self.table[ids].astype(np.float32)  # the same float32 rows as a converted table's
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self.encode_one(text)
        return vectors


class StaticEmbeddingIndex:
    """Groups of texts as unit vectors; `closest(question)` is, per group, the best cosine (a SemanticIndex)."""

    def __init__(self, encoder: StaticEncoder, groups: Sequence[Sequence[str]]) -> None:
        if any(not group for group in groups):
            raise ValueError("every group needs at least one text")
        texts = [text for group in groups for text in group]
        self.encoder = encoder
        self.vectors = encoder.encode(texts)
        self.starts = np.cumsum([0, *(len(group) for group in groups[:-1])])

    def similarities(self, question: str) -> np.ndarray:
        """The cosine of the question to every text, in order (groups are runs of texts from `starts`)."""
        return self.vectors @ self.encoder.encode_one(question)

    def closest(self, question: str) -> np.ndarray:
        return np.maximum.reduceat(self.similarities(question), self.starts)


def model_available(directory: Path = MODEL_DIR) -> bool:
    return (directory / "tokens.npy").is_file() and (directory / "vocab.txt").is_file()


def load_encoder(directory: Path = MODEL_DIR) -> StaticEncoder:
    """A fresh encoder (its weights are set per index); the table is read once per process."""
    return StaticEncoder(directory)


@lru_cache(maxsize=2)
def _topicless(directory: Path) -> np.ndarray:
    """Ids of the tokens made only of digits or punctuation ("400", "##00", "?", "$")."""
    vocabulary = _load_table(directory)[1]
    return np.array(
        [
            number
            for number, token in enumerate(vocabulary)
            if (piece := token.removeprefix("##")) and all(c.isdigit() or _is_punctuation(c) for c in piece)
        ],
        dtype=np.intp,
    )


@lru_cache(maxsize=2)
def _tokenizer(directory: Path) -> WordPieceTokenizer:
    return WordPieceTokenizer(_load_table(directory)[1])


@lru_cache(maxsize=2)
def _load_table(directory: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    # Mapped, not read: a question reads its few rows (converting the whole table to float32 was most of a warm
    # `creditbot faq`), and the pages are the file's, shared by every process and `serve` worker that maps it.
    table = np.load(directory / "tokens.npy", allow_pickle=False, mmap_mode="r")
    vocabulary = tuple((directory / "vocab.txt").read_text(encoding="utf-8").splitlines())
    if table.shape[0] != len(vocabulary):
        raise ValueError(f"{directory}: {table.shape[0]} rows for {len(vocabulary)} tokens")
    return table, vocabulary


def static_index_factory(directory: Path = MODEL_DIR) -> Callable[[Sequence[Sequence[str]]], StaticEmbeddingIndex]:
    """What `HybridRanker` needs: token weights taken from all the texts it indexes, then one index over them."""

    def build(groups: Sequence[Sequence[str]]) -> StaticEmbeddingIndex:
        encoder = load_encoder(directory)
        encoder.weigh([text for group in groups for text in group])
        return StaticEmbeddingIndex(encoder, groups)

    return build
