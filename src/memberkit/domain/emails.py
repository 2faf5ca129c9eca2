"""Email syntax: our own small rule, checked without the network.

A customer's email is a key in Klaviyo, in the database and in the Matrixify
file, so a value that is not an address (``not-an-email``, ``a@b``, one with a
zero-width space, an embedded ``\\r\\nBcc:``, a NUL, ``=HYPERLINK(...)@x.com``)
rejects its row instead of reaching them. Deliverability is not checked: that
needs DNS, and Shopify already sends to these addresses.

The rule (RFC 5321/5322 dot-atom addresses, with RFC 6531 non-ASCII letters):

- at most 254 characters in all, one ``@``, at most 64 before it;
- the local part (before ``@``): letters, digits (any script) and
  ``!#$%&'*+/=?^_`{|}~-``, in dot-separated parts (no dot first, last or
  doubled); it must not start with ``=``, ``+``, ``-`` or ``@``, which a
  spreadsheet would run as a formula. Quoted local parts (``"a b"@x.com``) are
  refused: shops do not issue them and they are a way to smuggle any text;
- the domain: two or more dot-separated labels of letters, digits (any
  script) and ``-`` (not first or last in a label), at most 63 characters each;
  the last label is not all digits (``a@1.2`` is an IP address). IP address
  literals (``a@[1.2.3.4]``) are refused;
- no spaces, line breaks, control or invisible (format) characters anywhere.

The caller trims surrounding spaces first (exports carry ``" Bob@x.com "``).
Nearly every address is plain ASCII and matches one compiled pattern; only the
rest is looked at character by character (which also words the reason).
"""

from __future__ import annotations

import re
import unicodedata

from memberkit.domain.echo import echo

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64
MAX_LABEL_LENGTH = 63

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_ATEXT_FIRST = "A-Za-z0-9!#$%&'*/?^_`{|}~"  # not a formula character
# The common case, checked in C: a plain ASCII address (dot-atom before the @; labels
# of letters and digits joined by "-", the last one letter-led). Possessive
# quantifiers: no backtracking. Lengths are checked beside it; anything this does
# not accept is decided by ``_explain``, which gives the reason.
_PLAIN_ASCII_EMAIL = re.compile(
    rf"[{_ATEXT_FIRST}][{_ATEXT}]*+(?:\.[{_ATEXT}]++)*+"
    r"@(?:[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+\.)++[A-Za-z][A-Za-z0-9]*+(?:-++[A-Za-z0-9]++)*+"
)
_LOCAL_SPECIALS = frozenset("!#$%&'*+/=?^_`{|}~-")
_FORMULA_FIRST = ("=", "+", "-", "@")


def email_problem(email: str) -> str | None:
    """Why ``email`` (trimmed, not empty) is not an email address, or None when it is one."""
    if len(email) <= MAX_EMAIL_LENGTH and _PLAIN_ASCII_EMAIL.fullmatch(email) is not None:
        at = email.find("@")
        # A domain of at most 63 characters cannot hold a longer label.
        if at <= MAX_LOCAL_LENGTH and len(email) - at <= MAX_LABEL_LENGTH + 1:
            return None
    return _explain(email)


def is_email(email: str) -> bool:
    """Whether ``email`` (trimmed) is an email address under the rule above."""
    return email_problem(email) is None


def _explain(email: str) -> str | None:
    for char in email:
        if char.isspace():
            return "it contains a space or line break"
        category = unicodedata.category(char)
        if category[0] == "C":
            return f"it contains an invisible or control character (U+{ord(char):04X})"
    if email.startswith(_FORMULA_FIRST):
        return f"it starts with {email[0]!r}, which a spreadsheet would run as a formula"
    if len(email) > MAX_EMAIL_LENGTH:
        return f"it is longer than {MAX_EMAIL_LENGTH} characters"
    if "@" not in email:
        return "it has no @"
    local, _, domain = email.rpartition("@")
    if "@" in local:
        return "it has more than one @"
    if not local:
        return "nothing before the @"
    if len(local) > MAX_LOCAL_LENGTH:
        return f"more than {MAX_LOCAL_LENGTH} characters before the @"
    if local.startswith('"'):
        return "quoted names before the @ are not accepted"
    for part in local.split("."):
        if not part:
            return "a dot at the start or end of the name, or two dots in a row"
        for char in part:
            if not (char in _LOCAL_SPECIALS or _word_char(char)):
                return f"{char!r} is not allowed before the @"
    if not domain:
        return "nothing after the @"
    if domain.startswith("["):
        return "an IP address after the @ is not accepted"
    labels = domain.split(".")
    if len(labels) < 2:
        return f"the domain {echo(domain)} has no dot (e.g. example.com)"
    for label in labels:
        if not label:
            return f"the domain {echo(domain)} has an empty part (two dots, or one at an end)"
        if len(label) > MAX_LABEL_LENGTH:
            return f"a part of the domain is longer than {MAX_LABEL_LENGTH} characters"
        if label.startswith("-") or label.endswith("-"):
            return f"a part of the domain starts or ends with '-' ({echo(label)})"
        for char in label:
            if not (char == "-" or _word_char(char)):
                return f"{char!r} is not allowed in the domain"
    top = labels[-1]
    if top.isdigit():
        return f"the domain {echo(domain)} does not end in a name like .com"
    return None


def _word_char(char: str) -> bool:
    """A letter, digit or combining mark, in any script."""
    if char.isascii():
        return char.isalnum()
    return unicodedata.category(char)[0] in "LMN"
