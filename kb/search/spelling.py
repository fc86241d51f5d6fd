"""Moderator spelling for the keyword side: chat-speak and typos ("strmr sellin kittens",
"guy juggling knives blindfoldd") get the corpus's own words added.

The dictionary is the knowledge base's vocabulary (word counts of every indexed passage,
written at ingest as `vocab.json`); corrections come from SymSpell (symspellpy) within two
edits, and a short table of chat-speak the edit distance cannot bridge ("ur", "sum1",
"strmr"). Corrections are appended, never substituted, so a real word the corpus lacks keeps
matching; quoted phrases, field syntax, ids and numbers are left alone. The dense side sees
the query as typed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

VOCAB_FILE = "vocab.json"
_WORD_RE = re.compile(r"[a-z]+")
# Chat-speak whose spelled-out form is more than two edits away.
CHAT_SPEAK = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "n": "and",
    "w": "with",
    "b4": "before",
    "in2": "into",
    "sum1": "someone",
    "some1": "someone",
    "any1": "anyone",
    "ppl": "people",
    "pls": "please",
    "plz": "please",
    "lil": "little",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "bf": "boyfriend",
    "gf": "girlfriend",
    "dm": "message",
    "dms": "messages",
    "pfp": "profile picture",
    "vid": "video",
    "vids": "videos",
    "pic": "picture",
    "pics": "pictures",
    "strm": "stream",
    "strmr": "streamer",
    "strmrs": "streamers",
    "yo": "year old",
    "yr": "year",
    "yrs": "years",
    "tho": "though",
    "thru": "through",
    "rn": "right now",
    "smth": "something",
    "sth": "something",
    "msg": "message",
    "acc": "account",
    "bday": "birthday",
    "govt": "government",
    "mins": "minutes",
    # Platforms as people name them.
    "yt": "youtube",
    "ig": "instagram",
    "insta": "instagram",
    "fb": "facebook",
}
_AGE_RE = re.compile(r"^(\d{1,2})(yo|y/o|yrs?|years?)$")


def vocabulary(texts: Iterable[str]) -> Counter:
    """Word counts (lower-case letters only) of `texts`."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(_WORD_RE.findall(text.lower()))
    return counts


def load_vocabulary(folder: Path) -> Counter | None:
    """The word counts a generation folder holds, or None."""
    path = folder / VOCAB_FILE
    return Counter(json.loads(path.read_text())) if path.is_file() else None


def save_vocabulary(counts: Counter, folder: Path) -> None:
    """Write `counts` into a generation folder."""
    (folder / VOCAB_FILE).write_text(json.dumps(dict(counts.most_common()), ensure_ascii=False))


class Speller:
    """Adds corrections of unknown words to a keyword query."""

    def __init__(self, counts: dict[str, int]) -> None:
        from symspellpy import SymSpell

        self.counts = counts
        self._sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, count in counts.items():
            if len(word) >= 3:
                self._sym.create_dictionary_entry(word, count)

    @classmethod
    def load(cls, folder: Path) -> Speller | None:
        """The speller of a generation, or None for one built before vocabularies existed."""
        path = folder / VOCAB_FILE
        return cls(json.loads(path.read_text())) if path.is_file() else None

    def expand(self, query: str) -> str:
        """`query` with the corpus spelling of each unknown word appended."""
        from symspellpy import Verbosity

        added: list[str] = []
        for token in _outside_quotes(query):
            word = token.lower().strip(".,!?;()[]{}'\"")
            if not word or ":" in word or "-" in word:
                continue  # field syntax and ids stay as typed
            age = _AGE_RE.match(word)
            if age:
                added.append(f"{age.group(1)} year old")
                continue
            if word in CHAT_SPEAK:
                added.append(CHAT_SPEAK[word])
                continue
            if not word.isalpha() or len(word) < 4 or word in self.counts:
                continue
            distance = 1 if len(word) < 6 else 2
            found = self._sym.lookup(word, Verbosity.TOP, max_edit_distance=distance)
            if found and found[0].term != word:
                added.append(found[0].term)
        return query if not added else f"{query} {' '.join(added)}"


def _outside_quotes(query: str) -> list[str]:
    """The whitespace-separated tokens of `query` not inside double quotes."""
    return " ".join(query.split('"')[::2]).split()
