"""`creditbot faq`: the JSON shape is a fixed interface; --eval reports per question and in total."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import faq as faq_cli
from faq.answering import DEFAULT_CONTENT_DIR
from faq.evaluation import read_eval_file

runner = CliRunner()


@pytest.fixture
def run():
    # A throwaway app: the real one is built in bot/cli/__init__.py, which registers this module the same way.
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root() -> None:
        """creditbot (test app)."""

    faq_cli.register(app)

    def invoke(*args: str):
        return runner.invoke(app, ["faq", *args])

    return invoke


def test_json_for_a_confident_answer(run):
    result = run("How do I undo a credit I applied?", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload) == ["id", "score", "answer", "suggestions"]
    assert payload["id"] == "undo"
    assert isinstance(payload["score"], float) and 0 < payload["score"] <= 1
    assert "/credit reverse" in payload["answer"]
    assert payload["suggestions"] == []


def test_json_for_did_you_mean_has_no_id(run):
    payload = json.loads(run("export credits to a spreadsheet", "--json").stdout)
    assert payload["id"] is None
    assert payload["suggestions"][0] == "reports-and-exports"


def test_json_for_an_unknown_question_points_to_tips(run):
    payload = json.loads(run("what's the weather tomorrow?", "--json").stdout)
    assert payload["id"] is None and payload["suggestions"] == []
    assert "/credit tips" in payload["answer"]


def test_readable_answer_shows_title_and_keeps_brackets(run):
    result = run("applying-credits")  # the entry by its id: this test is about how an answer is printed
    assert result.exit_code == 0
    assert "How applying a credit works" in result.stdout
    assert "/credit apply INVOICE [AMOUNT] [project:ID]" in result.stdout


def write_eval(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_eval_prints_each_question_and_the_totals(run, tmp_path: Path):
    path = write_eval(
        tmp_path,
        '{"q": "how do I undo a credit", "ids": ["undo"]}',
        '{"q": "what is the wifi password", "ids": null}',
    )
    result = run("--eval", str(path))
    assert result.exit_code == 0, result.output
    assert "answered" in result.stdout and "'how do I undo a credit' -> undo" in result.stdout
    assert "refused" in result.stdout
    assert "top-1 accuracy 100.0%" in result.stdout
    assert "refused 100.0%" in result.stdout
    assert "confident wrong: 0" in result.stdout


def test_eval_says_when_questions_are_ones_the_faq_learnt_from(run, tmp_path: Path):
    learnt = read_eval_file(DEFAULT_CONTENT_DIR / "asked" / "v8.jsonl")[0].question
    path = write_eval(tmp_path, json.dumps({"q": learnt.upper(), "ids": None}), '{"q": "zzz qqq", "ids": null}')
    result = run("--eval", str(path))
    assert result.exit_code == 0, result.output
    assert "1 of these 2 questions are ones the FAQ learnt from" in result.stdout
    fresh = run("--eval", str(write_eval(tmp_path, '{"q": "zzz qqq", "ids": null}')))
    assert "learnt from" not in fresh.stdout


def test_eval_json_prints_the_totals(run, tmp_path: Path):
    path = write_eval(
        tmp_path,
        '{"q": "how do I undo a credit", "ids": ["undo"]}',
        '{"q": "how do I undo a credit", "ids": ["history"]}',
        '{"q": "what is the wifi password", "ids": [null]}',
    )
    totals = json.loads(run("--eval", str(path), "--json").stdout)
    assert totals["questions"] == 3 and totals["answerable"] == 2 and totals["out_of_scope"] == 1
    assert totals["top1_accuracy"] == 0.5
    assert totals["refusal_rate"] == 1.0
    assert totals["confident_wrong"] == 1


def test_malformed_eval_file_exits_non_zero_naming_the_line(run, tmp_path: Path):
    path = write_eval(tmp_path, '{"q": "fine", "ids": null}', "", '{"q": "broken"')
    result = run("--eval", str(path))
    assert result.exit_code != 0
    assert f"{path}:3: not valid JSON" in result.stderr


def test_missing_eval_file_exits_non_zero(run, tmp_path: Path):
    result = run("--eval", str(tmp_path / "absent.jsonl"))
    assert result.exit_code != 0
    assert "cannot read the file" in result.stderr


@pytest.mark.parametrize("args", [(), ("a question", "--eval", "questions.jsonl")])
def test_question_and_eval_are_exclusive(run, args: tuple[str, ...]):
    result = run(*args)
    assert result.exit_code != 0
    assert "Give either a QUESTION or --eval" in result.stderr


def test_invalid_content_directory_is_reported(run, tmp_path: Path):
    (tmp_path / "undo.yaml").write_text("id: undo\n", encoding="utf-8")
    result = run("undo", "--content", str(tmp_path))
    assert result.exit_code != 0
    assert "missing field 'title'" in result.stderr


# --- grounding from the configured database --------------------------------------------------------------


@pytest.fixture
def database_url(monkeypatch: pytest.MonkeyPatch):
    from bot.settings import get_settings

    def use(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def test_json_adds_the_ledgers_facts_when_the_configured_database_has_the_record(run, sqlite_db, database_url):
    from ledger.demo import load_demo

    load_demo(sqlite_db)
    database_url(sqlite_db.url.render_as_string(hide_password=False))
    result = run("why does INV-2001 look wrong?", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload) == ["id", "score", "answer", "suggestions"]
    assert payload["id"] == "balance-looks-wrong"
    assert "*INV-2001* · Birch & Co Architects (`C-BIRCH`): total $18,600.00" in payload["answer"]
    assert "Posted to QuickBooks on 2026-09-16" in payload["answer"]
    text = run("what does acme legal owe?")
    assert "In your ledger right now:" in text.stdout and "Details: /credit balance C-ACME" in text.stdout


def test_asking_never_creates_a_database(run, tmp_path: Path, database_url):
    missing = tmp_path / "nothing-here.db"
    database_url(f"sqlite:///{missing}")
    result = run("why does INV-2001 look wrong?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == "balance-looks-wrong"
    assert not missing.exists()


def test_an_unreachable_database_server_still_answers(run, database_url):
    database_url("postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = run("how do I undo a credit I applied?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == "undo"


# --- the backend setting -----------------------------------------------------------------------------------


def test_a_bad_backend_setting_is_one_line_naming_it_not_a_traceback(tmp_path: Path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CREDITBOT_FAQ_BACKEND": "bert", "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "faq", "how do I undo"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "Invalid setting CREDITBOT_FAQ_BACKEND: Input should be 'static', 'tfidf' or 'hybrid' (got 'bert')."
    )
    assert "Traceback" not in done.stderr + done.stdout


def test_the_backend_setting_chooses_the_faq_the_command_uses(run, monkeypatch: pytest.MonkeyPatch):
    from bot.settings import get_settings

    monkeypatch.setenv("CREDITBOT_FAQ_BACKEND", " TFIDF ")
    get_settings.cache_clear()
    try:
        assert get_settings().faq_backend == "tfidf"
        result = run("How do I undo a credit I applied?", "--json")
        assert result.exit_code == 0 and json.loads(result.stdout)["id"] == "undo"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("written", "read"), [(" Hybrid ", "hybrid"), ("TFIDF", "tfidf"), ("Static", "static"), ("", "static")]
)
def test_the_bot_and_the_faq_read_the_backend_setting_alike(monkeypatch: pytest.MonkeyPatch, written: str, read: str):
    from bot.settings import Settings
    from faq.answering import BACKEND_ENV, configured_backend

    monkeypatch.setenv(BACKEND_ENV, written)
    assert Settings(_env_file=None).faq_backend == configured_backend() == read


def test_a_readable_answer_renders_slack_mrkdwn_for_the_terminal(run):
    """Bold, code and emoji are Slack's mrkdwn in the content; the terminal shows them as text, not as marks."""
    result = run("finding-duplicate-credit")
    assert result.exit_code == 0, result.output
    assert "*" not in result.output and "`" not in result.output and ":warning:" not in result.output
    assert "Duplicate credit" in result.output
