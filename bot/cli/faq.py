"""`creditbot faq "QUESTION" [--json]` and `creditbot faq --eval FILE.jsonl [--json]`.

The ledger (SQLAlchemy) is imported only when a question may be grounded in an existing database, so a question
asked with no ledger around costs the FAQ's own start-up (its built index is loaded from the cache,
faq/answering.py) and little more: rich only when the answer goes to a terminal (a pipe gets the same text,
unstyled), and the evaluation only for `--eval` (tests/test_cli_lean.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from bot.cli.common import err, out, print_json
from bot.render.console_text import styled_spans
from bot.settings import get_settings
from faq import Faq, FaqAnswer, FaqContentError, load_faq

if TYPE_CHECKING:
    from rich.text import Text

    from faq.evaluation import EvalTotals, QuestionResult
    from ledger.db import Database

# A run of an answer's text and its rich style (None: plain).
Span = tuple[str, str | None]

CONNECT_TIMEOUT = 3  # seconds to reach a database server before answering without ledger facts

VERDICT_STYLE = {
    "answered": "green",
    "refused": "green",
    "suggested-first": "yellow",
    "suggested": "yellow",
    "missed": "yellow",
    "not-refused": "yellow",
    "wrong": "bold red",
}


def register(app: typer.Typer) -> None:
    app.command("faq")(faq_command)


def faq_command(
    question: str | None = typer.Argument(None, help="A question about client credits or creditbot."),
    eval_file: Path | None = typer.Option(
        None, "--eval", help='Score a JSONL file of {"q": ..., "ids": [...] or null} lines instead.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    content: Path | None = typer.Option(None, "--content", help="FAQ content directory (default: the built-in one)."),
) -> None:
    """Answer a question from the FAQ, or measure the FAQ against a file of questions."""
    if (question is None) == (eval_file is None):
        _fail('Give either a QUESTION or --eval FILE.jsonl, e.g. creditbot faq "how do I undo a credit?"')
    faq = _load(content)
    if eval_file is not None:
        _run_eval(faq, eval_file, as_json)
    else:
        _answer(faq, question or "", as_json)


def _load(content: Path | None) -> Faq:
    try:
        return load_faq(content, backend=get_settings().faq_backend)
    except FaqContentError as problem:
        _fail(f"FAQ content is invalid: {problem}")


def _answer(faq: Faq, question: str, as_json: bool) -> None:
    answer = grounded_answer(faq, question)
    if as_json:
        print_json(answer_json(answer))
    elif sys.stdout.isatty():
        out.print(answer_text(faq, answer))
    else:
        sys.stdout.write("".join(part for part, _style in answer_spans(faq, answer)) + "\n")


def grounded_answer(faq: Faq, question: str) -> FaqAnswer:
    """The answer, with the live facts of the records the question names when the configured ledger exists.

    Asking a question never creates a database: a SQLite file that is not there, a server that does not answer
    within CONNECT_TIMEOUT seconds, or a ledger at another schema revision gives the plain FAQ answer.
    """
    db = existing_database(get_settings().database_url)
    if db is None:
        return faq.ask(question)
    try:
        from bot.handlers.faq_grounding import LedgerGrounder, client_names

        names, ids = client_names(db)
        return faq.with_grounding(LedgerGrounder(db, escape=str), names, ids).ask(question)
    except Exception:  # the ledger is extra here: any failure to read it leaves the FAQ's answer
        return faq.ask(question)
    finally:
        db.dispose()


def existing_database(url: str) -> Database | None:
    if url.startswith("sqlite:///") and not _sqlite_file_exists(url):
        return None  # the usual case without a ledger: decided before SQLAlchemy is even imported
    try:
        from sqlalchemy.engine import make_url

        from ledger.db import Database
        from ledger.migrations import HEAD

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database
            if not path or path == ":memory:" or not Path(path).is_file():
                return None
        elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
        db = Database(parsed.render_as_string(hide_password=False))
        if db.current_revisions() != {HEAD}:  # HEAD, not Alembic's scripts: no Alembic to answer a question
            db.dispose()
            return None
        return db
    except Exception:  # unreachable, unknown driver, not a creditbot database: answer without facts
        return None


def _sqlite_file_exists(url: str) -> bool:
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return bool(path) and path != ":memory:" and Path(path).is_file()


def answer_json(answer: FaqAnswer) -> dict[str, object]:
    """The fixed interface: `id` is null unless the FAQ answers confidently; ledger facts follow the answer."""
    return {
        "id": answer.id,
        "score": round(answer.score, 4),
        "answer": "\n".join([answer.answer, *answer.facts]) if answer.facts else answer.answer,
        "suggestions": list(answer.suggestions),
    }


def answer_text(faq: Faq, answer: FaqAnswer) -> Text:
    # Text, not markup: answers contain brackets ("[AMOUNT]") that rich would read as style tags.
    from rich.text import Text

    text = Text()
    for part, style in answer_spans(faq, answer):
        text.append(part, style=style)
    return text


def answer_spans(faq: Faq, answer: FaqAnswer) -> list[Span]:
    """The answer as printed, in styled runs: title, answer, related entries, ledger facts, outcome and score."""
    spans: list[Span] = []
    if answer.outcome == "answer":
        spans.append((f"{answer.title}\n", "bold"))
        spans += _mrkdwn_spans(answer.answer)
        if answer.related:
            related = ", ".join(faq.entry(entry_id).title for entry_id in answer.related)
            spans.append((f"\n\nRelated: {related}", "dim"))
    else:
        spans += _mrkdwn_spans(answer.answer)
    if answer.facts:
        spans.append(("\n\nIn your ledger right now:\n", "bold"))
        spans += _mrkdwn_spans("\n".join(f"• {line}" for line in answer.facts))
    spans.append((f"\n({answer.outcome}, score {answer.score:.2f})", "dim"))
    return spans


def _mrkdwn_spans(mrkdwn: str) -> list[Span]:
    """The answers are written in Slack's mrkdwn: on a terminal, bold is bold, code is coloured, emoji are symbols."""
    return [(part, style or None) for part, style in styled_spans(mrkdwn)]


def _run_eval(faq: Faq, eval_file: Path, as_json: bool) -> None:
    from rich.text import Text

    from faq.evaluation import EvalFileError, evaluate, read_eval_file

    try:
        results, totals = evaluate(faq, read_eval_file(eval_file))
    except EvalFileError as problem:
        _fail(f"Cannot evaluate: {problem}")
    if as_json:
        print_json(totals.as_json())
        return
    for result in results:
        out.print(result_line(result))
    out.print(totals_text(totals))
    learnt = sum(1 for result in results if faq.has_learnt(result.question.question))
    if learnt:
        out.print(
            Text(
                f"{learnt} of these {totals.questions} questions are ones the FAQ learnt from (faq/content/asked): "
                "figures on them are in-sample.",
                style="yellow",
            )
        )


def result_line(result: QuestionResult) -> Text:
    from rich.text import Text

    decision = result.decision
    if decision.outcome == "answer":
        got = decision.entry_id or ""
    elif decision.outcome == "suggest":
        got = "did you mean " + ", ".join(decision.suggestions)
    else:
        got = "I don't know"
    wanted = " | ".join(result.question.acceptable) if result.question.acceptable else "refusal"
    line = Text()
    line.append(f"{result.verdict:<16}", style=VERDICT_STYLE[result.verdict])
    line.append(f"{result.question.question!r} -> {got} (wanted {wanted})")
    return line


def totals_text(totals: EvalTotals) -> Text:
    from rich.text import Text

    text = Text("\n")
    text.append(
        f"answerable: {totals.answerable}  top-1 accuracy {totals.top1_accuracy:.1%}  "
        f"(answered correctly {totals.answered_rate:.1%})\n"
    )
    text.append(f"out of scope: {totals.out_of_scope}  refused {totals.refusal_rate:.1%}\n")
    text.append(
        f"confident wrong: {totals.confident_wrong}",
        style="bold red" if totals.confident_wrong else "green",
    )
    text.append(f"\n{totals.ms_per_question:.2f} ms per question", style="dim")
    return text


def _fail(message: str) -> NoReturn:
    from rich.text import Text

    err.print(Text(message, style="bold red"), soft_wrap=True)
    raise typer.Exit(1)
