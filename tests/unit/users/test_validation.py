"""Field checks: email normalisation and syntax, password byte lengths, tokens and ids."""

from __future__ import annotations

import pytest

from estore.common.errors import InvalidArgument
from estore.users.validation import (
    check_new_password,
    normalise_email,
    normalise_email_prefix,
    require_id,
    require_token,
)


def _field_of(error: pytest.ExceptionInfo[InvalidArgument]) -> str:
    [violation] = error.value.violations
    return violation.field


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ana@Example.COM ", "ana@example.com"),
        ("o'brien+shop@mail.example.co.uk", "o'brien+shop@mail.example.co.uk"),
        ("a.b-c_d@xn--80ak6aa92e.com", "a.b-c_d@xn--80ak6aa92e.com"),
    ],
)
def test_good_emails_are_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "  ", "ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "ana.@example.com",
     "ana..b@example.com", "ana@example..com", "ana@-example.com", "a b@example.com",
     "ana@exa_mple.com", "ána@example.com", "x" * 65 + "@example.com",
     "a@" + "b" * 250 + ".com", "ana\x00@example.com"],
)  # fmt: skip
def test_bad_emails_are_invalid_on_the_email_field(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalise_email(raw)
    assert _field_of(caught) == "email"
    assert caught.value.reason == "INVALID_FIELD"


def test_lookups_accept_any_text_but_refuse_empty_long_or_control_characters() -> None:
    assert normalise_email(" Not-An-Email ", strict=False) == "not-an-email"
    for raw in ("", "x" * 255, "a\x00b"):
        with pytest.raises(InvalidArgument):
            normalise_email(raw, strict=False)


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("x" * 7, False),
        ("x" * 8, True),
        ("x" * 72, True),
        ("x" * 73, False),
        ("😀" * 18, True),  # 72 bytes
        ("😀" * 20, False),  # 20 characters, 80 bytes
        ("é" * 37, False),  # 37 characters, 74 bytes
    ],
)
def test_passwords_are_measured_in_utf8_bytes(password: str, ok: bool) -> None:
    if ok:
        check_new_password(password, "new_password")
        return
    with pytest.raises(InvalidArgument) as caught:
        check_new_password(password, "new_password")
    assert _field_of(caught) == "new_password"


def test_tokens_ids_and_prefixes() -> None:
    assert require_token(" abc ") == "abc"
    for bad in ("", "   ", "t" * 257):
        with pytest.raises(InvalidArgument):
            require_token(bad)
    assert require_id(3, "user_id") == 3
    with pytest.raises(InvalidArgument) as caught:
        require_id(0, "user.id")
    assert _field_of(caught) == "user.id"
    assert normalise_email_prefix("ANA") == "ana"
    with pytest.raises(InvalidArgument):
        normalise_email_prefix("x" * 256)
