"""The one rule for blank text against Python's own, over every Unicode character."""

from __future__ import annotations

import sys

from kb.blank import NOT_BLANK, SPACES, is_blank


def test_blank_is_what_str_strip_removes_for_every_character():
    disagree = [
        hex(i) for i in range(sys.maxunicode + 1) if is_blank(chr(i)) != (not chr(i).strip())
    ]
    assert disagree == []
    assert is_blank("") and is_blank(SPACES) and not is_blank(SPACES + "x")


def test_the_pattern_is_plain_escapes():
    assert NOT_BLANK.startswith("[^\\u0009") and "\\u0085" in NOT_BLANK and "\\s" not in NOT_BLANK
