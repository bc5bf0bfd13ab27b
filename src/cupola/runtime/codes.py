"""Standard codes a tool argument may ask for, read from the user's words: IANA time zones ("New York"
is ``America/New_York``), ISO 639-1 languages ("Spanish" is ``es``), ISO 4217 currencies ("euros" is
``EUR``) and ISO 3166 countries ("Kenya" is ``KE``).

A small model asked for ``"to_tz"`` copies "Tokyo" or invents a zone; asked for a language code it
copies "Spanish-language". The tool-call grammar (`tool_grammar`) offers instead the codes of what
the user named, as it offers an id field the user's ids. The names come from the standards' own
lists (the tz database through :mod:`zoneinfo`, ISO lists through ``pycountry``), plus the few
everyday words no list holds ("the UK", "dollars").
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

KINDS = ("timezone", "language", "currency", "country")

# Everyday words for codes that the standards' names do not cover (their names do: "Euro", "Yen",
# "Pound Sterling", "United Kingdom").
_EXTRA = {
    "currency": {"dollar": "USD", "dollars": "USD", "bucks": "USD", "euros": "EUR", "quid": "GBP",
                 "british pounds": "GBP", "sterling": "GBP", "swiss francs": "CHF", "canadian dollars": "CAD",
                 "australian dollars": "AUD", "rupees": "INR", "yuan": "CNY", "renminbi": "CNY"},
    "language": {"punjabi": "pa", "farsi": "fa", "kyrgyz": "ky", "filipino": "tl", "flemish": "nl",
                 "castilian": "es", "mandarin": "zh", "cantonese": "zh"},
    "country": {"UK": "GB", "Britain": "GB", "Great Britain": "GB", "England": "GB", "USA": "US", "U.S.": "US",
                "America": "US", "United States": "US", "South Korea": "KR", "Russia": "RU", "Vietnam": "VN",
                "Iran": "IR", "Czechia": "CZ", "Bolivia": "BO", "Venezuela": "VE", "Tanzania": "TZ",
                "Syria": "SY", "Taiwan": "TW", "Moldova": "MD"},
}


# The tz database's areas (not its old "Country/Region" links such as "Canada/Pacific"), without the
# county-level zones of Indiana, Kentucky and North Dakota ("Center", "Knox") and compass names.
_AREAS = frozenset("Africa America Asia Atlantic Australia Europe Indian Pacific".split())
_COUNTIES = frozenset("Indiana Kentucky North_Dakota".split())
_COMPASS = frozenset("North South East West".split())
# Currency names that are everyday English words ("who won", "for real")
_COMMON_NAMES = frozenset("won real rand lek mark".split())


def kind_of(key: str, schema: dict[str, Any], words: set[str]) -> str | None:
    """The kind of code a string property holds, from its key's ``words`` and its description: a time
    zone (``tz``, "IANA"), or a language, currency or country *code* (the standard's name, or the
    key or description saying "code"; a property named "country" alone may want the name)."""
    description = schema.get("description") if isinstance(schema.get("description"), str) else ""
    if words & {"tz", "timezone"} or {"time", "zone"} <= words \
            or re.search(r"\bIANA\b|\btime ?zone\b", description, re.I):  # not "availability_zone", "dns_zone"
        return "timezone"
    coded = "code" in words or re.search(r"\bcode\b|\bISO\b", description, re.I) is not None
    if re.search(r"ISO[ -]?639", description) or (words & {"language", "lang", "locale"} and coded):
        return "language"
    if re.search(r"ISO[ -]?4217", description) or "currency" in words:
        return "currency"
    if re.search(r"ISO[ -]?3166", description) or (words & {"country", "region"} and coded):
        return "country"
    return None


def codes(kind: str, text: str, schema: dict[str, Any] | None = None) -> list[str]:
    """The codes of ``kind`` the user named in ``text`` (by the code itself or by name), in the order
    written, once each."""
    return list(places(kind, text, schema))


def places(kind: str, text: str, schema: dict[str, Any] | None = None) -> dict[str, tuple[int, int]]:
    """The codes of ``kind`` the user named in ``text``, each with where its name is first written
    ((start, end), in the order written): "Tokyo" for ``Asia/Tokyo``. Three-letter country and
    language codes when the property's ``schema`` asks for them."""
    description = str((schema or {}).get("description"))
    alpha3 = kind in ("country", "language") and re.search(r"alpha-?3|three-letter|639-[23]", description, re.I)
    found: dict[str, tuple[int, int]] = {}
    for pattern, table in _tables(kind):
        caseless = bool(pattern.flags & re.IGNORECASE)
        for m in pattern.finditer(text):
            code = table[m.group(1).lower() if caseless else m.group(1)]
            found.setdefault(_alpha3(kind, code) if alpha3 else code, m.span())
    return dict(sorted(found.items(), key=lambda item: item[1]))


def _alpha3(kind: str, alpha2: str) -> str:
    """A country's or a language's three-letter code ("KEN", "spa") from its two-letter one."""
    import pycountry

    table = pycountry.countries if kind == "country" else pycountry.languages
    entry = table.get(alpha_2=alpha2)
    return entry.alpha_3 if entry else alpha2


@functools.cache
def _tables(kind: str) -> list[tuple[re.Pattern[str], dict[str, str]]]:
    """(pattern, the matched text -> its code) pairs, names matched without case unless they are codes."""
    names: dict[str, str] = {}  # lower-case name -> code
    literal: dict[str, str] = {}  # the code as written -> code
    if kind == "timezone":
        for zone in sorted(zoneinfo.available_timezones()):  # sorted: the canonical zone of a city comes first
            parts = zone.split("/")
            if parts[0] not in _AREAS or parts[1] in _COUNTIES:
                continue
            literal[zone] = zone
            city = parts[-1].replace("_", " ")
            if not re.search(r"\d|GMT", city) and not city.isupper() and city not in _COMPASS:
                names.setdefault(city.lower(), zone)
        literal.update({"UTC": "UTC", "GMT": "GMT"})
    else:
        import pycountry

        if kind == "language":
            for language in pycountry.languages:
                if hasattr(language, "alpha_2"):  # "Modern Greek (1453-)" (inverted: "Greek, Modern"), "Tonga"
                    for name in (language.name, getattr(language, "inverted_name", "")):
                        name = re.sub(r"\s*\(.*\)", "", name).split(",")[0].strip().lower()
                        if name:
                            names.setdefault(name, language.alpha_2)
        elif kind == "currency":
            for currency in pycountry.currencies:
                if currency.name.lower() not in _COMMON_NAMES:
                    names.setdefault(currency.name.lower(), currency.alpha_3)
                literal[currency.alpha_3] = currency.alpha_3
        elif kind == "country":
            for country in pycountry.countries:
                for name in (country.name, getattr(country, "common_name", None)):
                    if name and "," not in name:
                        names.setdefault(name.lower(), country.alpha_2)
        for word, code in _EXTRA.get(kind, {}).items():
            if word.isupper() or "." in word:  # "UK", "U.S.": as written
                literal[word] = code
            else:
                names[word.lower()] = code
    out = []
    if names:  # longest first: "New York" before "York"
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        out.append((re.compile(rf"(?<![\w/])({alternatives})(?![\w/])", re.IGNORECASE), names))
    if literal:
        alternatives = "|".join(re.escape(n) for n in sorted(literal, key=len, reverse=True))
        out.append((re.compile(rf"(?<![\w/])({alternatives})(?![\w/])"), literal))
    return out
