"""Regions and platforms a query names, so that a clause scoped to them can come first.

Moderators say where a host is the way people do ("Indonesian host doing beer pong", "US host
on a slots site", "in Korea"), while clauses record it as codes (`<!-- applies: regions=ID -->`).
Country names, alternative spellings and demonyms come from the `countryinfo` package; a name
shared by several countries ("Korea", "Korean") means the most populous. Codes (`US`, `EU`,
`UK`) count only when typed in capitals: in lower case most are ordinary words ("in", "us",
"id"); so do names that are everyday words ("polish", "turkey", "china"). Only regions this
index's passages are scoped to are ever returned.

Platforms are the `platform` values of a knowledge base holding several ("X", "Twitch",
"Truth Social" for `truthsocial`). A name that is also a common English word ("line", "snap":
seen a million times or more in symspellpy's English frequency list) or a single letter ("x")
counts only when typed with a capital.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

# The European Union's member states (ISO 3166 alpha-2): a country in it also names `EU`.
EU_MEMBERS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
COMPASS = ("north", "south", "east", "west")
# Country names that are also everyday words: they count only when typed with a capital.
HOMOGRAPHS = frozenset(
    "polish chad jordan turkey china guinea jersey georgia niger chile man cook".split()
)
MAX_WORDS = 4
WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[tuple[str, ...], str], dict[str, str]]:
    """(lower-cased name words -> alpha-2 code, capitalised code -> alpha-2 code)."""
    from countryinfo import all_countries

    names: dict[tuple[str, ...], tuple[int, str]] = {}
    codes: dict[str, str] = {}
    for country in all_countries():
        info = country.info()
        alpha2 = (info.get("ISO") or {}).get("alpha2")
        if not alpha2:
            continue
        population = int(info.get("population") or 0)
        spellings = [info.get("name"), info.get("demonym"), *(info.get("altSpellings") or [])]
        for spelling in filter(None, spellings):
            if spelling.isupper() and len(spelling) <= 3:
                codes.setdefault(spelling, alpha2)
                continue
            words = tuple(w.lower() for w in WORD_RE.findall(spelling))
            forms = [words]
            if len(words) > 1 and words[0] in COMPASS and len(words[1]) >= 4:
                forms.append(words[1:])  # "Korea" for South Korea (the most populous wins)
            for form in forms:
                if form and len(form) <= MAX_WORDS and names.get(form, (-1, ""))[0] < population:
                    names[form] = (population, alpha2)
    names[("european", "union")] = (1 << 40, "EU")
    codes["EU"] = "EU"
    return {k: v for k, (_, v) in names.items()}, codes


def _index_codes(alpha2: str, known: frozenset[str]) -> set[str]:
    """The region values of this index that a country code stands for."""
    _, codes = _lexicon()
    spellings = {alpha2} | {code for code, a2 in codes.items() if a2 == alpha2}
    out = {s.lower() for s in spellings} & known
    if alpha2 in EU_MEMBERS and "eu" in known:
        out.add("eu")
    return out


def named_regions(query: str, known: frozenset[str]) -> set[str]:
    """The index's region values (lower case) that `query` names."""
    if not known:
        return set()
    names, codes = _lexicon()
    tokens = WORD_RE.findall(query)
    lowered = [t.lower() for t in tokens]
    found: set[str] = set()
    for i, token in enumerate(tokens):
        if token in codes:
            found |= _index_codes(codes[token], known)
        for n in range(1, MAX_WORDS + 1):
            alpha2 = names.get(tuple(lowered[i : i + n]))
            if alpha2 and not (n == 1 and lowered[i] in HOMOGRAPHS and token.islower()):
                found |= _index_codes(alpha2, known)
    return found


# An English word seen this often is a platform's name only when written with a capital.
COMMON_WORD = 1_000_000


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """English words seen at least COMMON_WORD times (symspellpy's frequency list)."""
    words = set()
    text = resources.files("symspellpy").joinpath("frequency_dictionary_en_82_765.txt")
    with text.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, count = line.partition(" ")
            if int(count) >= COMMON_WORD:
                words.add(word)
    return frozenset(words)


def named_platforms(query: str, known: frozenset[str]) -> set[str]:
    """The index's platform values (lower case) that `query` names, in one word or several."""
    if not known:
        return set()
    tokens = WORD_RE.findall(query)
    lowered = [t.lower() for t in tokens]
    found: set[str] = set()
    for i, token in enumerate(tokens):
        for n in range(1, min(MAX_WORDS, len(tokens) - i) + 1):
            words = lowered[i : i + n]
            for name in {" ".join(words), "".join(words)} & known:
                everyday = len(name) == 1 or name in _common_words()
                if not everyday or token[0].isupper():
                    found.add(name)
    return found
