"""The shared text rules: URLs, k=v lists and booleans."""

from __future__ import annotations

import pytest

from lookalike.errors import ConfigError
from lookalike.textutil import error_text, is_url, parse_bool, parse_pairs, split_pair


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://shop.example/a.jpg", True),
        ("  HTTP://shop.example/", True),
        ("ftp://shop.example/a.jpg", False),
        ("//cdn.example/a.jpg", False),
        ("/srv/img/a.jpg", False),
        ("httpx.jpg", False),
        (None, False),
        (42, False),
    ],
)
def test_is_url(value: object, expected: bool) -> None:
    assert is_url(value) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("in stock", True),
        ("out of stock", False),
        ("0", False),
        ("3", True),
        ("On", True),
        ("off", False),
        ("Да", True),
        (True, True),
    ],
)
def test_parse_bool_words_and_counts(text: object, value: bool) -> None:
    assert parse_bool(text) is value


def test_parse_bool_default_or_error() -> None:
    assert parse_bool("???", default=True) is True
    assert parse_bool(None, default=False) is False
    assert parse_bool("", default=True) is True
    with pytest.raises(ConfigError, match="expected true or false, got 'maybe'"):
        parse_bool("maybe")


def test_parse_pairs_strings_lists_and_mappings() -> None:
    assert parse_pairs(" a = 1 ,b=x=y,, c=") == {"a": "1", "b": "x=y", "c": ""}
    assert parse_pairs(["k=v", "k=w"]) == {"k": "w"}
    assert parse_pairs({"n": 2}) == {"n": "2"}
    assert parse_pairs(None) == {}
    assert parse_pairs("a=1;b=2", separator=";") == {"a": "1", "b": "2"}


@pytest.mark.parametrize("bad", ["colour", "=red", " = "])
def test_parse_pairs_refuses_items_without_a_key(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"expected FIELD=COLUMN, got"):
        parse_pairs(f"id=sku,{bad}", what="FIELD=COLUMN")


def test_split_pair() -> None:
    assert split_pair(" model = lite0,lite2 ") == ("model", "lite0,lite2")
    with pytest.raises(ConfigError, match="expected AXIS=V1,V2"):
        split_pair("model", what="AXIS=V1,V2")


def test_error_text_drops_python_reprs() -> None:
    class Odd(Exception):
        pass

    assert error_text(ValueError("bad <socket.socket object at 0x7f12ab> here")) == "bad here"
    assert error_text(Odd()) == "Odd"
    try:
        try:
            raise OSError("refused")
        except OSError:
            raise Odd() from None
    except Odd as exc:
        assert error_text(exc) == "refused"  # an empty wrapper: the error it wraps
