"""Email syntax: our own documented rule (domain/emails.py), no network."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memberkit.domain.emails import email_problem, is_email


@pytest.mark.parametrize(
    "email",
    [
        "ann.jones@example.com",
        "Bob.Smith@Example.com",
        "chloé.dubois@example.fr",
        "dan.o'brien@example.ie",
        "first+tag@sub.example.co.uk",
        "a@b.c",
        "user@xn--p1ai.xn--p1ai",
        "jo@müller.de",
    ],
)
def test_ordinary_addresses_are_emails(email: str) -> None:
    assert email_problem(email) is None


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("not-an-email", "it has no @"),
        ("a@b", "the domain 'b' has no dot"),
        ("a\u200b@example.com", "invisible or control character (U+200B)"),
        ("x@example.com\r\nBcc: y@example.com", "a space or line break"),
        ("x\n@example.com", "a space or line break"),
        ("a\0b@example.com", "invisible or control character (U+0000)"),
        ('=HYPERLINK("http://x.test","3241")@example.com', "starts with '='"),
        ("=1+1@example.com", "which a spreadsheet would run as a formula"),
        ("+cmd@example.com", "starts with '+'"),
        ("@example.com", "starts with '@'"),
        ("a@@example.com", "more than one @"),
        ("a..b@example.com", "two dots in a row"),
        (".a@example.com", "a dot at the start"),
        ('"a b"@example.com', "a space"),
        ('"ab"@example.com', "quoted names"),
        ("a@[127.0.0.1]", "IP address"),
        ("a@1.2", "does not end in a name"),
        ("a@-x.com", "starts or ends with '-'"),
        ("a@x..com", "empty part"),
        ("a(b)@example.com", "'(' is not allowed before the @"),
        ("a@exa_mple.com", "'_' is not allowed in the domain"),
        ("x" * 65 + "@example.com", "more than 64 characters before the @"),
        ("a@" + "x" * 250 + ".com", "longer than 254"),
    ],
)
def test_what_is_not_an_email_is_refused_with_a_reason(email: str, reason: str) -> None:
    problem = email_problem(email)
    assert problem is not None and reason in problem


@given(st.text(max_size=40))
def test_the_rule_never_raises_and_a_valid_email_has_no_invisible_characters(text: str) -> None:
    if is_email(text):
        assert text.count("@") == 1
        assert all(char.isprintable() and not char.isspace() for char in text)
        assert not text.startswith(("=", "+", "-", "@"))


ascii_email_like = st.text(alphabet=st.sampled_from(list("ab1.-@_+=x")), min_size=1, max_size=14)


@given(ascii_email_like | st.emails())
def test_the_fast_path_agrees_with_the_full_rule(text: str) -> None:
    from memberkit.domain.emails import _explain

    assert email_problem(text) == _explain(text)
