"""FAQ content: the shipped entries are valid and complete, and a bad edit is reported with file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from faq import FaqContentError, load_faq
from faq.answering import DEFAULT_CONTENT_DIR
from faq.entries import NotCovered, load_content, parse_content_text

REQUIRED_IDS = {
    "what-are-credits",
    "applying-credits",
    "qb-overpayments",
    "after-qb-posting",
    "client-vs-project",
    "balance-looks-wrong",
    "inflated-old-invoices",
    "quick-tips",
}
# Scan alerts link these (one per finding kind); renaming one breaks the links.
FINDING_IDS = {
    "finding-duplicate-credit",
    "finding-overapplied-credit",
    "finding-negative-balance",
    "finding-post-sync-edit",
    "finding-credit-after-posting",
    "finding-qb-overpayment-unreflected",
}
CREDITBOT_IDS = {"undo", "approvals", "permissions", "scans", "import-csv", "quickbooks-sync"}


def entry_yaml(entry_id: str, **fields: object) -> str:
    document: dict[str, object] = {
        "id": entry_id,
        "title": f"Title of {entry_id}",
        "answer": f"*Answer* for {entry_id}.",
        "phrasings": [f"question about {entry_id}"],
        "related": [],
    }
    document.update(fields)
    return yaml.safe_dump({k: v for k, v in document.items() if v is not ...}, sort_keys=False)


def write_content(folder: Path, *entries: tuple[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in entries:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def valid_pair(tmp_path: Path) -> Path:
    return write_content(
        tmp_path / "content",
        ("quick-tips.yaml", entry_yaml("quick-tips", related=["undo"])),
        ("undo.yaml", entry_yaml("undo")),
    )


def test_shipped_content_has_every_required_entry():
    ids = {entry.id for entry in load_faq().entries}
    missing = (REQUIRED_IDS | FINDING_IDS | CREDITBOT_IDS) - ids
    assert not missing


def test_shipped_entries_have_several_phrasings_and_resolving_related_links():
    faq = load_faq()
    for entry in faq.entries:
        assert len(entry.phrasings) >= 5, entry.id
        for related in entry.related:
            assert faq.entry(related).id == related


def test_shipped_answers_are_slack_mrkdwn_not_markdown():
    for entry in load_faq().entries:
        assert "**" not in entry.answer, f"{entry.id}: Slack bold is *one* star"
        assert "\n- " not in entry.answer, f"{entry.id}: bullets are •"


def test_tips_are_the_quick_tips_entry():
    faq = load_faq()
    assert faq.tips() == faq.entry("quick-tips").answer
    assert "once" in faq.tips() and "QuickBooks" in faq.tips()


def test_shipped_not_covered_list_is_loaded():
    content = load_content(DEFAULT_CONTENT_DIR)
    assert "create a new invoice" in content.not_covered


def test_a_valid_folder_loads(valid_pair: Path):
    faq = load_faq(valid_pair)
    assert [entry.id for entry in faq.entries] == ["quick-tips", "undo"]
    assert faq.entry("quick-tips").related == ("undo",)


def test_duplicate_id_names_both_files(valid_pair: Path):
    write_content(valid_pair, ("undo-again.yaml", entry_yaml("undo", phrasings=["another question"])))
    with pytest.raises(FaqContentError, match="duplicate id") as raised:
        load_faq(valid_pair)
    assert raised.value.entry_id == "undo"
    assert "undo.yaml" in str(raised.value) and "undo-again.yaml" in str(raised.value)


def test_broken_related_link_names_the_entry_and_the_missing_id(valid_pair: Path):
    write_content(valid_pair, ("undo.yaml", entry_yaml("undo", related=["no-such-entry"])))
    with pytest.raises(
        FaqContentError, match=r"undo\.yaml: entry 'undo': related entry 'no-such-entry' does not exist"
    ):
        load_faq(valid_pair)


def test_empty_answer_is_refused(valid_pair: Path):
    write_content(valid_pair, ("undo.yaml", entry_yaml("undo", answer="   \n")))
    with pytest.raises(FaqContentError, match=r"entry 'undo': empty answer"):
        load_faq(valid_pair)


@pytest.mark.parametrize("field", ["title", "answer", "phrasings"])
def test_missing_field_is_named(valid_pair: Path, field: str):
    write_content(valid_pair, ("undo.yaml", entry_yaml("undo", **{field: ...})))
    with pytest.raises(FaqContentError, match=rf"undo\.yaml: entry 'undo': missing field '{field}'"):
        load_faq(valid_pair)


def test_missing_id_names_the_file(valid_pair: Path):
    write_content(valid_pair, ("undo.yaml", entry_yaml("undo", id=...)))
    with pytest.raises(FaqContentError, match=r"undo\.yaml: missing field 'id'"):
        load_faq(valid_pair)


def test_misspelt_key_is_reported_not_ignored(valid_pair: Path):
    write_content(valid_pair, ("undo.yaml", entry_yaml("undo", phrasing=["typo in the key"])))
    with pytest.raises(FaqContentError, match=r"unknown key\(s\): phrasing"):
        load_faq(valid_pair)


def test_invalid_yaml_names_the_line(valid_pair: Path):
    write_content(valid_pair, ("undo.yaml", "id: undo\ntitle: [unclosed\nanswer: x\n"))
    with pytest.raises(FaqContentError, match=r"undo\.yaml: not valid YAML \(line \d+"):
        load_faq(valid_pair)


@pytest.mark.parametrize("bad_id", ["Undo", "undo it", "undo_", "-undo"])
def test_id_must_be_a_lowercase_slug(valid_pair: Path, bad_id: str):
    write_content(valid_pair, ("undo.yaml", entry_yaml(bad_id)))
    with pytest.raises(FaqContentError, match="lowercase words joined by hyphens"):
        load_faq(valid_pair)


def test_phrasing_claimed_by_two_entries_is_refused(valid_pair: Path):
    write_content(valid_pair, ("undo.yaml", entry_yaml("undo", phrasings=["Question about quick-tips?"])))
    with pytest.raises(FaqContentError, match=r"also used by entry 'quick-tips'"):
        load_faq(valid_pair)


def test_not_covered_list_loads_and_may_not_repeat_an_entry_phrasing(valid_pair: Path):
    write_content(valid_pair, ("not-covered.yaml", "not_covered:\n  - how do I run payroll\n"))
    assert load_faq(valid_pair).not_covered == ("how do I run payroll",)
    write_content(valid_pair, ("not-covered.yaml", "not_covered:\n  - question about undo\n"))
    with pytest.raises(FaqContentError, match=r"not-covered\.yaml.*also used by entry 'undo'"):
        load_faq(valid_pair)


def write_asked(content: Path, name: str, *lines: str) -> None:
    (content / "asked").mkdir(exist_ok=True)
    (content / "asked" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_asked_questions_teach_retrieval_without_changing_the_entries(valid_pair: Path):
    assert load_faq(valid_pair).ask("take back what I clicked").id is None
    write_asked(
        valid_pair,
        "mine.jsonl",
        '{"q": "take back what I clicked", "ids": ["undo"]}',
        '{"q": "run payroll for march", "ids": null}',
    )
    faq = load_faq(valid_pair)
    assert faq.ask("take back what I clicked").id == "undo"
    assert faq.ask("run payroll for march").outcome == "unknown"
    assert faq.entry("undo").phrasings == ("question about undo",)
    assert faq.not_covered == ()


def test_taught_content_files_each_question_once_under_its_first_id(valid_pair: Path):
    write_asked(
        valid_pair,
        "a.jsonl",
        '{"q": "revert it", "ids": ["undo", "quick-tips"]}',
        '{"q": "Question about undo?", "ids": ["undo"]}',
        '{"q": "payroll", "ids": null}',
    )
    write_asked(
        valid_pair, "b.jsonl", '{"q": "REVERT it!", "ids": ["quick-tips"]}', '{"q": "tips pls", "ids": ["quick-tips"]}'
    )
    content = load_content(valid_pair)
    assert [q.question for q in content.asked] == [
        "revert it",
        "Question about undo?",
        "payroll",
        "REVERT it!",
        "tips pls",
    ]
    taught = content.taught()
    assert {e.id: e.phrasings for e in taught.entries} == {
        "quick-tips": ("question about quick-tips", "tips pls"),
        "undo": ("question about undo", "revert it"),
    }
    assert taught.not_covered == ("payroll",)
    without_b = content.taught(leave_out=lambda q: q.source.endswith("b.jsonl"))
    assert without_b.entries[0].phrasings == ("question about quick-tips",)


def test_asked_question_with_an_unknown_id_names_the_file_and_line(valid_pair: Path):
    write_asked(valid_pair, "mine.jsonl", '{"q": "fine", "ids": ["undo"]}', '{"q": "x", "ids": ["und"]}')
    with pytest.raises(FaqContentError, match=r"mine\.jsonl:2: unknown entry id\(s\): und"):
        load_faq(valid_pair)


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (['{"q": "question about undo", "ids": ["quick-tips"]}'], r"mine\.jsonl:1: .*a phrasing of entry 'undo'"),
        (['{"q": "payroll", "ids": null}', '{"q": "Payroll?", "ids": ["undo"]}'], r"mine\.jsonl:2: .*mine\.jsonl:1"),
        (['{"q": "fine", "ids": ["undo"]}', "not json"], r"mine\.jsonl:2: not valid JSON"),
        (['{"q": "fine", "ids": "undo"}'], r"mine\.jsonl:1: \"ids\" must be a list"),
    ],
)
def test_contradictory_or_malformed_asked_lines_are_refused(valid_pair: Path, lines: list[str], problem: str):
    write_asked(valid_pair, "mine.jsonl", *lines)
    with pytest.raises(FaqContentError, match=problem):
        load_faq(valid_pair)


def test_shipped_asked_questions_are_loaded():
    content = load_content(DEFAULT_CONTENT_DIR)
    assert len(content.asked) >= 1200
    assert {Path(q.source).parent.name for q in content.asked} == {"asked"}


def test_not_covered_id_is_reserved(valid_pair: Path):
    write_content(valid_pair, ("nc.yaml", entry_yaml("not-covered")))
    with pytest.raises(FaqContentError, match="reserved"):
        load_faq(valid_pair)


def test_content_without_quick_tips_is_refused(tmp_path: Path):
    folder = write_content(tmp_path / "content", ("undo.yaml", entry_yaml("undo")))
    with pytest.raises(FaqContentError, match="no 'quick-tips' entry"):
        load_faq(folder)


def test_empty_or_missing_folder_is_reported(tmp_path: Path):
    with pytest.raises(FaqContentError, match="not found"):
        load_faq(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaqContentError, match="no FAQ entries"):
        load_faq(tmp_path / "empty")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_either_parses_or_raises_the_content_error(text: str):
    try:
        parsed = parse_content_text(text, source="random.yaml")
    except FaqContentError as problem:
        assert str(problem).startswith("random.yaml")
    else:
        assert isinstance(parsed, NotCovered) or parsed.answer.strip()


YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "title", "answer", "phrasings", "related", "not_covered", "extra"]),
        YAML_VALUES,
        max_size=6,
    )
)
def test_any_yaml_shape_either_parses_or_raises_the_content_error(document: dict[str, object]):
    try:
        parse_content_text(yaml.safe_dump(document), source="shape.yaml")
    except FaqContentError as problem:
        assert "shape.yaml" in str(problem)
