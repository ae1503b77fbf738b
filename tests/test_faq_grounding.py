"""Finding the invoices and clients a question names, so answers can add their live facts (phase 2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq import load_faq
from faq.grounding import (
    ClientNames,
    GroundedFinding,
    References,
    amounts_in,
    find_invoice_numbers,
    find_references,
    mask_references,
    matching_findings,
)


@pytest.mark.parametrize(
    ("question", "numbers"),
    [
        ("why does INV-2001 look wrong?", ("INV-2001",)),
        ("inv2001 vs INV-2001", ("inv2001", "INV-2001")),
        ("INV-2024-0042 and A-113", ("INV-2024-0042", "A-113")),
        ("invoice 1042 is off", ("1042",)),
        ("invoice #1042", ("1042",)),
        ("invoice no. 1042", ("1042",)),
        ("see #1042 and #1042 again", ("1042",)),
        ("apply INV-2001 500 project:P-12", ("INV-2001",)),
    ],
)
def test_invoice_numbers_are_found_as_written(question: str, numbers: tuple[str, ...]):
    assert find_invoice_numbers(question) == numbers


@pytest.mark.parametrize(
    "question",
    [
        "old invoices from 2022 look inflated",
        "apply $1,250.00 of credit",
        "the import failed on line 40",
        "CREDITBOT_APPROVAL_THRESHOLD",
        "what does credit_after_posting mean",
        "format of payments.csv",
        "dates are 2026-01-05",
    ],
)
def test_years_amounts_and_settings_are_not_invoice_numbers(question: str):
    assert find_invoice_numbers(question) == ()


def test_known_client_names_are_found_longest_first_and_case_insensitively():
    references = find_references(
        "why is acme holdings' balance off? and Acme's too", ["Acme", "Acme Holdings", "Globex"]
    )
    assert references == References(client_names=("Acme Holdings", "Acme"))


def test_a_client_name_inside_another_word_is_not_a_reference():
    assert find_references("acmeware invoices", ["Acme"]).client_names == ()


def test_no_references_is_falsy():
    assert not find_references("what are client credits?", ["Acme"])
    assert find_references("INV-7", ["Acme"]) == References()


def test_masking_takes_the_longer_client_name_whole():
    question = "acme paid, but Acme Holdings' credit is off"
    masked = mask_references(question, find_references(question, ["Acme", "Acme Holdings"]))
    assert "Holdings" not in masked and "acme" not in masked.casefold()


def test_masking_replaces_invoice_numbers_and_client_names():
    question = "apply Acme Legal's credit to INV-2001"
    masked = mask_references(question, find_references(question, ["Acme Legal"]))
    assert "INV-2001" not in masked and "Acme" not in masked
    assert "invoice" in masked and "client" in masked


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(min_size=1, max_size=12), max_size=4))
def test_any_text_and_names_never_crash(question: str, names: list[str]):
    references = find_references(question, names)
    for number in references.invoice_numbers:
        assert number in question
    assert set(references.client_names) <= {name.strip() for name in names}
    mask_references(question, references)


# --- the client-name index the bot builds from the ledger -------------------------------------------------

DEMO_NAMES = ["Acme Legal LLP", "Birch & Co Architects", "Cedar Consulting Group", "Dunmore Engineering GmbH"]
DEMO_IDS = ["C-ACME", "C-BIRCH", "C-CEDAR", "C-DUN"]


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("what does Acme Legal LLP owe?", ("Acme Legal LLP",)),
        ("what does acme legal owe?", ("Acme Legal LLP",)),  # without the legal form
        ("does birch have credit left", ("Birch & Co Architects",)),  # a distinctive first word
        ("birch & co architects' invoices", ("Birch & Co Architects",)),
        ("credit for C-DUN and cedar", ("Dunmore Engineering GmbH", "Cedar Consulting Group")),
        ("acme's credit", ("Acme Legal LLP",)),
    ],
)
def test_clients_are_found_by_name_short_name_first_word_or_id(question: str, names: tuple[str, ...]):
    index = ClientNames(DEMO_NAMES, ids=DEMO_IDS)
    assert find_references(question, index).client_names == names


def test_a_first_word_shared_by_two_clients_is_masked_but_grounds_neither():
    index = ClientNames(["Northwind Legal", "Northwind Tax", "Northwind"])
    assert find_references("northwind legal's credit", index).client_names == ("Northwind Legal",)
    # "Northwind" is a client's full name: it wins over the other two's first word.
    assert find_references("northwind credit", index).client_names == ("Northwind",)
    shared = ClientNames(["Summit Legal", "Summit Tax"])
    references = find_references("what does summit owe", shared)
    assert references.client_names == () and references.client_spans == ((10, 16),)
    assert "summit" not in mask_references("what does summit owe", references)


def test_ordinary_faq_words_never_stand_for_a_client_alone():
    index = ClientNames(["Credit Partners Ltd"], common_words={"credit"})
    assert find_references("how do I apply a credit", index).client_names == ()
    assert find_references("credit partners balance", index).client_names == ("Credit Partners Ltd",)


def test_masking_uses_the_mentions_as_written():
    question = "apply acme's credit to INV-1003"
    masked = mask_references(question, find_references(question, ClientNames(DEMO_NAMES)))
    assert "acme" not in masked and "INV" not in masked
    assert masked.split() == ["apply", "client", "credit", "to", "invoice"]


def test_ten_thousand_clients_are_indexed_once_and_each_question_is_a_few_lookups():
    names = [f"Client {n:05d} Holdings" for n in range(10_000)] + ["Globex Corporation"]
    index = ClientNames(names)
    assert find_references("give globex a credit of 400", index).client_names == ("Globex Corporation",)
    assert find_references("what does client 04711 holdings owe", index).client_names == ("Client 04711 Holdings",)


def test_a_faq_with_grounding_masks_names_and_passes_references_to_the_grounder():
    seen: list[References] = []

    def grounder(references: References) -> list[str]:
        seen.append(references)
        return [f"facts about {', '.join(references.client_names)}"]

    faq = load_faq().with_grounding(grounder, ["Globex Corporation"], ["C-GLOBEX"])
    answer = faq.ask("how do I give globex a credit of 400")
    assert answer.id == "issuing-credits" and answer.facts == ["facts about Globex Corporation"]
    assert seen == [References(client_names=("Globex Corporation",))]
    assert load_faq().ask("how do I undo a credit").facts == []  # the shared FAQ is not changed


@pytest.mark.parametrize(
    ("question", "amounts"),
    [
        ("why is invoice off by 600?", (Decimal("600"),)),
        ("off by $600.00", (Decimal("600.00"),)),
        ("it shows 1,200 too much", (Decimal("1200"),)),
        ("600 dollars missing", (Decimal("600"),)),
        ("credit of 99.5 applied twice", (Decimal("99.5"),)),
        ("is the 401k match a credit", ()),  # a word, not an amount
        ("version 1.2.3 broke it", ()),
    ],
)
def test_amounts_in_a_question_are_read_as_typed(question: str, amounts: tuple[Decimal, ...]):
    assert amounts_in(question) == amounts


def test_an_amount_picks_the_finding_it_equals_and_no_other():
    duplicate = GroundedFinding("finding-duplicate-credit", "Duplicate credit", "x", amounts=(Decimal("600.00"),))
    edit = GroundedFinding("finding-post-sync-edit", "Edit after posting", "y", amounts=(Decimal("250.00"),))
    assert matching_findings("off by 600", [duplicate, edit]) == [duplicate]
    assert matching_findings("why $250 more", [duplicate, edit]) == [edit]
    assert matching_findings("off by 100", [duplicate, edit]) == []
    assert matching_findings("why is it off", [duplicate, edit]) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_amounts_in_never_crashes(question: str):
    assert all(isinstance(amount, Decimal) for amount in amounts_in(question))
