"""Server JSON and header numbers (syncer.untrusted): never a traceback."""

from __future__ import annotations

import pytest

from syncer import untrusted


def test_json_nested_past_the_recursion_limit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        untrusted.loads(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ValueError):
        untrusted.loads(b"{")
    assert untrusted.loads(b'{"a": [[1]]}') == {"a": [[1]]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("0", 0),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),  # past 18 digits: no real header is that large
        ("9" * 5000, None),  # int() itself refuses more than 4,300 digits
        ("\u00b2", None),  # isdigit() says yes, int() says no
        ("\u0663", None),  # an Arabic-Indic three: a digit, not ASCII
        ("-1", None),
        ("1.5", None),
        ("1e3", None),
        ("", None),
        (None, None),
    ],
)
def test_a_header_number_is_plain_ascii_digits_or_nothing(text: str | None, value: int) -> None:
    assert untrusted.whole(text) == value
