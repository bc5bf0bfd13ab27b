"""Standard codes read from the user's words (time zones, languages, currencies, countries), and the
tool-call grammar offering them instead of a copy of the words."""

from __future__ import annotations

import sys
from pathlib import Path

from cupola.runtime.codes import codes, kind_of

sys.path.insert(0, str(Path(__file__).parent))
from test_tool_grammar import _accepts, _call, _lark  # noqa: E402


def test_kinds_come_from_the_key_and_the_description():
    assert kind_of("from_tz", {"description": "IANA name, e.g. Europe/Paris"}, {"from", "tz"}) == "timezone"
    assert kind_of("time_zone", {}, {"time", "zone"}) == "timezone"
    assert kind_of("availability_zone", {"description": "e.g. us-east-1a"}, {"availability", "zone"}) is None
    assert kind_of("language", {"description": "ISO 639-1 code"}, {"language"}) == "language"
    assert kind_of("lang_code", {}, {"lang", "code"}) == "language"
    assert kind_of("quote_currency", {"description": "Default USD"}, {"quote", "currency"}) == "currency"
    assert kind_of("region", {"description": "ISO 3166 country code, e.g. US"}, {"region"}) == "country"
    # a "country" or "language" with nothing saying "code" may want the name ("Switzerland")
    assert kind_of("country", {}, {"country"}) is None
    assert kind_of("language", {"description": "Language of the reply"}, {"language"}) is None


def test_codes_of_what_the_user_named_in_the_order_written():
    assert codes("timezone", "What time is 09:00 New York time in Tokyo?") == ["America/New_York", "Asia/Tokyo"]
    assert codes("timezone", "2pm in Los Angeles is what in Europe/Paris? And in UTC") == [
        "America/Los_Angeles", "Europe/Paris", "UTC"]
    assert codes("timezone", "Center the window, Regina") == ["America/Regina"]  # not Indiana's county zones
    assert codes("timezone", "the North side of the Pacific") == []  # no compass names, no "Canada/Pacific"
    assert codes("language", "Spanish-language podcasts, or German ones") == ["es", "de"]
    assert codes("currency", "100 USD to Canadian dollars, then to euros") == ["USD", "CAD", "EUR"]
    assert codes("currency", "who won the match in real terms") == []  # the won and the real are words here
    assert codes("country", "we live in the UK and fly to Kenya") == ["GB", "KE"]
    assert codes("country", "Kenya", {"description": "ISO 3166-1 alpha-3 code"}) == ["KEN"]
    assert codes("language", "in Spanish", {"description": "ISO 639-2 code"}) == ["spa"]


CONVERT = {"type": "function", "function": {"name": "convert_time", "parameters": {"type": "object", "properties": {
    "clock_time": {"type": "string", "description": "HH:MM"},
    "from_tz": {"type": "string", "description": "IANA name, e.g. Europe/Paris"},
    "to_tz": {"type": "string", "description": "IANA name"}}, "required": ["clock_time", "from_tz", "to_tz"]}}}
SEARCH = {"type": "function", "function": {"name": "podcasts", "parameters": {"type": "object", "properties": {
    "query": {"type": "string"}, "language": {"type": "string", "description": "ISO 639-1 code"}},
    "required": ["query"]}}}


def test_the_grammar_offers_the_codes_not_a_copy_of_the_words():
    """Found on the development set: "from_tz": "09:00 New York time", "to_tz": "Tokyo"; "language":
    "Spanish-language" for es, and "language": "episodes" when the user named none."""
    lark = _lark(CONVERT, "What time is 09:00 New York time in Tokyo?")
    assert _accepts(lark, _call('"clock_time": "09:00", "from_tz": "America/New_York", "to_tz": "Asia/Tokyo"',
                                "convert_time"))
    assert not _accepts(lark, _call('"clock_time": "09:00", "from_tz": "New York", "to_tz": "Tokyo"', "convert_time"))
    assert not _accepts(lark, _call('"clock_time": "09:00", "from_tz": "Asia/Tokyo", "to_tz": "Asia/Tokyo"',
                                    "convert_time"))  # two siblings of one kind take different ones
    lark = _lark(SEARCH, "Spanish-language podcast episodes on personal finance, please.")
    assert _accepts(lark, _call('"query": "personal finance", "language": "es"', "podcasts"))
    assert not _accepts(lark, _call('"query": "personal finance", "language": "Spanish-language"', "podcasts"))
    lark = _lark(SEARCH, "Find podcast episodes about sleep science.")
    assert _accepts(lark, _call('"query": "sleep science"', "podcasts"))
    assert not _accepts(lark, _call('"query": "sleep science", "language": "episodes"', "podcasts"))  # none named
    # a required code field with nothing named is still a bounded value, never a dead end
    lark = _lark(CONVERT, "What time is 09:00 there?")
    assert _accepts(lark, _call('"clock_time": "09:00", "from_tz": "there", "to_tz": "What time"', "convert_time"))


async def test_which_zone_is_from_and_which_is_to_follows_the_order_named():
    """Found on the development set: "from_tz": "Asia/Tokyo", "to_tz": "America/New_York" for "09:00 New
    York time in Tokyo" (the grammar allowed both ways; the names' places now settle it)."""
    from test_tool_grammar import ADAPTER

    from cupola.runtime.tool_adapter import grammar, plan_tools
    from cupola.runtime.tool_calls import assignments

    messages = [{"role": "user", "content": "What time is 09:00 New York time in Tokyo?"}]
    plan = plan_tools({"messages": messages, "tools": [CONVERT], "tool_choice": "required"}, ADAPTER)
    plan.assignments = await assignments(messages, plan, None, 256)
    lark = grammar(plan, 256, messages[0]["content"])
    assert _accepts(lark, _call('"clock_time": "09:00", "from_tz": "America/New_York", "to_tz": "Asia/Tokyo"',
                                "convert_time"))
    assert not _accepts(lark, _call('"clock_time": "09:00", "from_tz": "Asia/Tokyo", "to_tz": "America/New_York"',
                                    "convert_time"))
