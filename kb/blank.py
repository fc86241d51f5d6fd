"""What counts as blank text: one rule for the server's checks and for the patterns the API's
OpenAPI document states (kb/web/openapi.py), so that both agree on every character.

Blank means empty or nothing but characters `str.isspace()` calls spaces (what `str.strip()`
removes). Regex dialects disagree about `\\s`: ECMA 262, which JSON Schema patterns use, leaves
out U+0085 and U+001C..U+001F and adds U+FEFF. So the pattern lists the characters themselves.
"""

from __future__ import annotations

import re

# Every character str.isspace() accepts: none lies above U+3000 (tests/test_blank.py checks).
SPACES = "".join(chr(i) for i in range(0x3001) if chr(i).isspace())
# One character that is not blank, written with \uXXXX escapes that every dialect reads alike.
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in SPACES) + "]"
_NOT_BLANK = re.compile(NOT_BLANK)


def is_blank(text: str) -> bool:
    """True when `text` has no character that is not a space (of any script)."""
    return _NOT_BLANK.search(text) is None
