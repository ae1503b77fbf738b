"""The default "static" backend: the token table shipped in faq/model/, its tokenizer, the built-FAQ cache, and a
`creditbot faq` process that imports neither the MiniLM runtime nor Slack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faq import load_faq
from faq.answering import CACHE_ENV, build_fingerprint, cached_faq, default_build_saved
from faq.entries import load_content
from faq.static_embedding import MODEL_DIR, StaticEncoder, WordPieceTokenizer, load_encoder, model_available

CONTENT = Path(__file__).resolve().parents[1] / "faq" / "content"


def test_the_table_ships_with_the_package_and_is_the_default():
    assert model_available()
    assert load_faq().backend == "static"
    table = np.load(MODEL_DIR / "tokens.npy")
    assert table.dtype == np.float16 and table.shape[0] == len((MODEL_DIR / "vocab.txt").read_text().splitlines())
    assert (MODEL_DIR / "tokens.npy").stat().st_size < 10 * 2**20  # a few MB, not the 88 MB model


def test_the_tokenizer_matches_the_models_own():
    tokenizers = pytest.importorskip("tokenizers")
    from faq.embedding import find_model

    directory = find_model()
    if directory is None:
        pytest.skip("the MiniLM model package is not installed")
    reference = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))
    reference.no_padding()
    reference.no_truncation()
    ours = WordPieceTokenizer((MODEL_DIR / "vocab.txt").read_text(encoding="utf-8").splitlines())
    content = load_content(CONTENT)
    texts = [text for entry in content.entries for text in (entry.title, *entry.phrasings, entry.answer)]
    texts += [question.question for question in content.asked]
    texts += ["Café déjà vu — naïve “quotes”, 50% of $1,200.50 on INV-1003?!", "qbo's apply-all --dry-run"]
    assert [ours.encode(text) for text in texts] == [reference.encode(text).ids[1:-1] for text in texts]


def test_numbers_and_punctuation_carry_no_weight():
    encoder = load_encoder()
    encoder.weigh(["apply a credit", "undo a credit"])
    same = encoder.encode_one("apply a credit 400?")
    assert np.allclose(same, encoder.encode_one("apply a credit"), atol=1e-6)
    assert isinstance(encoder, StaticEncoder)


def test_a_built_faq_is_saved_and_loaded_again(tmp_path: Path):
    first = cached_faq(CONTENT, "static", tmp_path)
    [saved] = list(tmp_path.glob("static-*.pickle"))
    second = cached_faq(CONTENT, "static", tmp_path)
    assert second is not first and second.backend == "static"
    for question in ("how do I undo a credit", "overpayment", "export credits to excel", "payroll"):
        assert second.ask(question) == first.ask(question)
    saved.write_bytes(b"not a pickle")
    assert cached_faq(CONTENT, "static", tmp_path).ask("undo a credit").id == "undo"  # rebuilt, not an error


def test_whether_the_default_faq_is_saved_is_known_before_loading_it(tmp_path: Path, monkeypatch):
    """`creditbot serve` builds the FAQ in a child process only when no saved build is there (bot/slack/server.py)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert not default_build_saved("static")
    cached_faq(CONTENT, "static", tmp_path)
    assert default_build_saved("static") and not default_build_saved("tfidf")
    assert not default_build_saved("hybrid")  # each backend's build is saved apart


@pytest.mark.parametrize("configured", [None, "", "set"])
def test_saved_builds_and_embeddings_read_one_cache_setting(tmp_path: Path, monkeypatch, configured):
    """$CREDITBOT_FAQ_CACHE (when not empty) holds both; else each has its own folder in the user's cache."""
    embedding = pytest.importorskip("faq.embedding")
    from faq.answering import faq_cache_directory

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if configured is None:
        monkeypatch.delenv(CACHE_ENV, raising=False)
    else:
        monkeypatch.setenv(CACHE_ENV, configured and str(tmp_path / "cache"))
    if configured:
        assert faq_cache_directory() == embedding.cache_directory() == tmp_path / "cache"
    else:
        assert faq_cache_directory() == tmp_path / "xdg" / "creditbot" / "faq"
        assert embedding.cache_directory() == tmp_path / "xdg" / "creditbot" / "faq-embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert faq_cache_directory() == tmp_path / "home" / ".cache" / "creditbot" / "faq"
    assert embedding.cache_directory() == tmp_path / "home" / ".cache" / "creditbot" / "faq-embeddings"


def test_an_edited_content_file_is_a_new_build(tmp_path: Path):
    import shutil

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    before = build_fingerprint(content)
    undo = content / "undo.yaml"
    undo.write_text(undo.read_text().replace("  - undo a credit\n", "  - undo a credit\n  - zap that credit\n"))
    assert build_fingerprint(content) != before


@pytest.mark.parametrize(
    ("question", "acceptable"),
    [
        ("whats the diffrence between credit memo and account credit", {"after-qb-posting", "what-are-credits"}),
        ("export credits to excel", {"reports-and-exports"}),
        ("does the credit expire", {"finding-credit-expiring"}),
        ("move credit to initech?", {"credit-transfer", "moving-credit"}),
        ("who imported this invoice", {"history"}),
        ("reverse only 100 of that application", {"partial-reversal"}),
        ("apply all of globex's credit to their oldest invoices", {"apply-all"}),
        ("is quickbooks connected", {"live-quickbooks"}),
        ("where is the apply form", {"slack-forms-and-home"}),
    ],
)
def test_hurried_questions_get_the_right_entry_or_an_honest_refusal(question: str, acceptable: set[str]):
    # In Slack the ledger's client names are known (grounding), so "initech" and "globex" read as "client".
    answer = load_faq().with_grounding(lambda references: [], ["Initech", "Globex Corporation"]).ask(question)
    first = answer.id or (answer.suggestions[0] if answer.suggestions else None)
    assert first is None or first in acceptable, (question, answer.outcome, answer.id, answer.suggestions)
    assert answer.outcome != "answer" or answer.id in acceptable


def test_the_default_faq_imports_neither_the_minilm_runtime_nor_slack(tmp_path: Path):
    code = (
        "import sys\n"
        "from faq import load_faq\n"
        "load_faq().ask('how do I undo a credit')\n"
        "heavy = ['onnxruntime', 'tokenizers', 'safetensors', 'slack_bolt', 'slack_sdk', 'apscheduler']\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={"CREDITBOT_FAQ_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


class _FixedSimilarities:
    """A stand-in embedding index: the same cosine to every text of a group, whatever the question."""

    def __init__(self, groups, by_first_text: dict[str, float]) -> None:
        self.starts = np.cumsum([0, *(len(group) for group in groups[:-1])])
        self.values = np.array([by_first_text.get(group[0], 0.0) for group in groups for _ in group])

    def similarities(self, question: str) -> np.ndarray:
        return self.values


@pytest.mark.parametrize(("lexical_only_doubt", "agreed", "doubt"), [(None, False, 0.0), (0.1, True, 0.1)])
def test_tfidf_agreeing_alone_answers_only_with_the_lexical_only_doubt(lexical_only_doubt, agreed, doubt):
    # TF-IDF puts "moving" first (its words), the embedding's closest phrasing is "undo"'s, the blend keeps
    # "moving" first, and both entries are too small for the phrasing votes (so they count as won).
    from faq.entries import FaqEntry
    from faq.retrieval import HybridRanker

    entries = [
        FaqEntry("moving", "Moving a credit", "move it", ("move a credit to another invoice",), (), "m.yaml"),
        FaqEntry("undo", "Undo", "click undo", ("take it back",), (), "u.yaml"),
    ]
    ranker = HybridRanker(
        entries,
        (),
        lambda groups: _FixedSimilarities(groups, {"Moving a credit": 0.5, "Undo": 0.6}),
        embedding_weight=0.7,
        answer_weight=0.0,
        require_agreement=True,
        vote_top=5,
        vote_min=0.8,
        wide_vote_top=10,
        wide_vote_min=0.6,
        lexical_only_doubt=lexical_only_doubt,
    )
    best = ranker.rank("move a credit to another invoice")[0]
    assert (best.entry_id, best.agreed, best.doubt) == ("moving", agreed, doubt)
