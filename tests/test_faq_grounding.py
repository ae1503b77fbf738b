"""Finding the invoices and clients a question names, so answers can add their live facts (phase 2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq.grounding import References, find_invoice_numbers, find_references, mask_references


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
