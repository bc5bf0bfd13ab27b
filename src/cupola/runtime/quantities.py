"""Numbers and quantities in a user's message, and the unit a number field is in.

A tool's number fields take the numbers the user wrote (see :mod:`cupola.runtime.tool_grammar`).
Most are written as the field wants them, but not all: "expiring in an hour" is ``ttl_seconds:
3600``, "half an hour" is ``duration_min: 30``, "one litre" is ``volume_ml: 1000``. So besides the
numbers themselves (:func:`numbers`), this module reads the quantities, a number with its unit
("30 minutes", "2.5 kg", "an hour and a half", "two days", "20%"), and the unit a field names by
its key or description (``ttl_seconds``, "Final volume in millilitres"), and converts between them
(:func:`in_unit`). The unit table is small and written here: a units library (pint) knows more
units but none of the phrases a user writes ("an hour and a half", "a week", "halfway"), which are
what matter here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_CARDINALS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
              "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
              "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
              "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ALONE = {"dozen": 12, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
          "eighth": 8, "ninth": 9, "tenth": 10, "single": 1, "pair": 2, "couple": 2, "half": Decimal("0.5")}
_SCALES = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "million": 1_000_000, "bn": 10 ** 9, "billion": 10 ** 9}
# digits as written ("1,250.5", "-3", "2nd", "40ft"), with a scale right after ("550k", "2M", "3 million")
# (a comma between digits is a thousands separator only before three digits: "(4,3)" is 4 and 3)
_NUMERAL = re.compile(r"(?:(?<=^)|(?<=[\s(\[$€£=,]))-(?=\d)|(?<![\d.,])(?=\d)|(?<=\d,)(?!\d{3}(?!\d))(?=\d)")
_DIGITS = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:(k|K|M|bn)\b|\s+(thousand|million|billion)\b)?")
_BC = re.compile(r"\s?(?:BCE?|B\.C\.(?:E\.)?)(?![\w.])")  # a year before the common era: "100 BC" is -100
# digits inside a code are not a number of their own ("SAV-310", "t-101", "A10492"; but "1920x1080" is two)
_CODE_DIGITS = re.compile(r"(?<![\d])[A-Za-z][-_]?$")
# dates and clock times are not numbers of their own ("2025-04-09" is not 2025, 4 and 9)
_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?|(?<!\d)\d{1,2}:\d{2}(?::\d{2})?")


def _spelled(text: str) -> list[Decimal]:
    """Numbers written in words: "four", "one hundred and fifty", "twenty-five", "two thousand", "a dozen",
    "one and a half"."""
    out: list[Decimal] = []
    total, current, open_ = 0, 0, False
    words = re.findall(r"[a-z]+", text.lower())
    half = False  # "one and a half": 1.5, not 1 and 0.5
    for i, w in enumerate(words + [""]):
        if half:
            half = w != "half"
            continue
        if w == "and" and open_ and words[i + 1:i + 3] == ["a", "half"]:
            out.append(Decimal(total + current) + Decimal("0.5"))
            total, current, open_, half = 0, 0, False, True
            continue
        if w in _CARDINALS and open_ and not (current % 100 >= 20 and current % 10 == 0 and _CARDINALS[w] < 10) \
                and not (current % 100 == 0 and _CARDINALS[w] < 100):  # "seven eight": two numbers
            out.append(Decimal(total + current))
            total, current = 0, _CARDINALS[w]
        elif w in _CARDINALS:
            current, open_ = current + _CARDINALS[w], True
        elif w == "hundred" and (open_ or (i and words[i - 1] == "a")):
            current, open_ = (current or 1) * 100, True
        elif w in ("thousand", "million", "billion") and (open_ or (i and words[i - 1] == "a")):
            total, current, open_ = total + (current or 1) * _SCALES[w], 0, True
        elif w == "and" and open_ and i + 1 < len(words) and words[i + 1] in _CARDINALS:
            continue
        else:
            if open_:
                out.append(Decimal(total + current))
            total, current, open_ = 0, 0, False
            if w in _ALONE:
                out.append(Decimal(_ALONE[w]))
    return out


def numbers(text: str) -> list[Decimal]:
    """The numbers the user wrote, in order and once each: digits as written (thousands separators, a
    leading minus, a scale suffix such as "550k" or "3 million") and number words ("four", "a dozen",
    "one hundred and fifty", "half"); the digits of dates, clock times and codes ("SAV-310") are not
    counted."""
    out: list[Decimal] = []
    for v in [v for v, _ in numerals(text)] + _spelled(text):
        if v not in out:
            out.append(v)
    return out


def numerals(text: str) -> list[tuple[Decimal, int]]:
    """The numbers written in digits (see :func:`numbers`), each with where it starts in ``text``."""
    found: list[tuple[Decimal, int]] = []
    skip = {i for m in _CLOCK.finditer(text) for i in range(m.start(), m.end())}
    for start in _NUMERAL.finditer(text):
        sign = -1 if text[start.start():start.end()] == "-" else 1
        if start.start() in skip or (sign == 1 and start.start() - 1 in skip) \
                or _CODE_DIGITS.search(text, 0, start.start()):
            continue
        m = _DIGITS.match(text, start.end())
        if not m:
            continue
        skip.add(start.start())  # "-3" is -3, not 3 as well
        value = Decimal(m.group(1).replace(",", "") + (m.group(2) or ""))
        scale = (m.group(3) or m.group(4) or "").lower()
        if sign == 1 and not scale and _BC.match(text, m.end()):  # "100 BC" is the year -100
            sign = -1
        found.append((sign * value * _SCALES.get(scale, 1), start.start()))
    return found


def number_text(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")




# -- units ----------------------------------------------------------------------------------------

_UNITS: dict[str, tuple[str, Decimal]] = {}  # a unit's word -> (its dimension, its size in the base unit)


def _unit(dimension: str, size: str, *names: str) -> None:
    for name in names:
        _UNITS[name.lower()] = (dimension, Decimal(size))  # looked up as written, in lower case ("kΩ": "kω")


_unit("time", "0.001", "ms", "msec", "msecs", "millisecond", "milliseconds")
_unit("time", "1", "s", "sec", "secs", "second", "seconds")
_unit("time", "60", "min", "mins", "minute", "minutes")
_unit("time", "3600", "h", "hr", "hrs", "hour", "hours")
_unit("time", "86400", "day", "days", "night", "nights")
_unit("time", "604800", "week", "weeks", "wk", "wks")
_unit("time", "2592000", "month", "months", "mo", "mos")  # 30 days (but a year is 12 months: see in_unit)
_unit("time", "31536000", "year", "years", "yr", "yrs")  # 365 days
_unit("length", "0.001", "mm", "millimetre", "millimetres", "millimeter", "millimeters")
_unit("length", "0.01", "cm", "centimetre", "centimetres", "centimeter", "centimeters")
_unit("length", "1", "m", "metre", "metres", "meter", "meters")
_unit("length", "1000", "km", "kilometre", "kilometres", "kilometer", "kilometers")
_unit("length", "0.0254", "inch", "inches")
_unit("length", "0.3048", "ft", "foot", "feet")
_unit("length", "1609.344", "mi", "mile", "miles")
_unit("mass", "0.001", "mg", "milligram", "milligrams")
_unit("mass", "1", "g", "gram", "grams", "gramme", "grammes")
_unit("mass", "1000", "kg", "kgs", "kilo", "kilos", "kilogram", "kilograms")
_unit("mass", "453.59237", "lb", "lbs", "pound", "pounds")
_unit("mass", "28.349523125", "oz", "ounce", "ounces")
_unit("volume", "1", "ml", "millilitre", "millilitres", "milliliter", "milliliters")
_unit("volume", "10", "cl", "centilitre", "centilitres", "centiliter", "centiliters")
_unit("volume", "1000", "l", "litre", "litres", "liter", "liters")
_unit("area", "1", "sqm", "sq m", "m2", "square metre", "square metres", "square meter", "square meters")
_unit("area", "0.09290304", "sqft", "sq ft", "ft2", "square foot", "square feet")
_unit("area", "10000", "ha", "hectare", "hectares")
_unit("area", "4046.8564224", "acre", "acres")
_unit("area", "1000000", "km2", "sq km", "square kilometre", "square kilometres", "square kilometer",
      "square kilometers")
_unit("frequency", "1", "per year")  # how often in a year: "compounded quarterly" is 4 (see _EVERY)
_unit("power", "1", "w", "watt", "watts")
_unit("power", "1000", "kw", "kilowatt", "kilowatts")
_unit("voltage", "0.001", "mv", "millivolt", "millivolts")
_unit("voltage", "1", "v", "volt", "volts")
_unit("voltage", "1000", "kv", "kilovolt", "kilovolts")
_unit("current", "0.001", "ma", "milliamp", "milliamps", "milliampere", "milliamperes")
_unit("current", "1", "amp", "amps", "ampere", "amperes")  # "A" after a number too (see quantities)
_unit("resistance", "1", "ohm", "ohms", "Ω")
_unit("resistance", "1000", "kohm", "kohms", "kΩ")
_unit("speed", "1", "m/s")
_unit("speed", "0.277777777777777778", "kph", "kmh", "km/h")
_unit("speed", "0.44704", "mph")
_unit("speed", "0.514444444444444444", "knot", "knots", "kt", "kts")
_unit("percent", "1", "%", "percent", "pct")
_unit("percent", "100", "fraction")  # a share written as a decimal: 5% is 0.05
_unit("money", "0.01", "cent", "cents")
_unit("money", "1", "$", "dollar", "dollars", "usd")
# temperatures are not multiples of one another: each scale is (offset, size) to kelvin, K = (value + offset) * size
_TEMPERATURES: dict[str, tuple[Decimal, Decimal]] = {}  # a temperature unit's word -> its scale


def _temperature(offset: str, size: Decimal, *names: str) -> None:
    _unit("temperature", "1", *names)  # (the size in _UNITS is not used: see in_unit)
    _TEMPERATURES.update(dict.fromkeys(names, (Decimal(offset), size)))


_temperature("273.15", Decimal(1), "°c", "ºc", "° c", "degc", "celsius", "centigrade", "degrees celsius", "degrees c",
             "degrees centigrade")
_temperature("459.67", Decimal(5) / 9, "°f", "ºf", "° f", "degf", "fahrenheit", "degrees fahrenheit", "degrees f")
_temperature("0", Decimal(1), "kelvin", "kelvins")
# a single letter or a word that is also a common word names a unit only after a number ("5 m", "10 s")
_AMBIGUOUS = {"s", "h", "m", "l", "g", "w", "min", "mi", "in", "$", "ha"}
# how often something happens, said of a payment or of compounding ("compounded quarterly", "paid monthly"):
# that many times a year
_EVERY = re.compile(r"\b(?:compounded|compounding|compounds|paid|payable|billed|charged)\s+(?:(annually|yearly)|"
                    r"(semi-?annually|bi-?annually|half-yearly)|(quarterly)|(monthly)|(fortnightly|bi-?weekly)|"
                    r"(weekly)|(daily))\b", re.I)
_TIMES_A_YEAR = (1, 2, 4, 12, 26, 52, 365)

_AMPS = re.compile(r"-?[\d,.]*\d\s?A\b(?![\w'’-])")  # amperes as one capital letter after a number
_UNIT_WORDS = "|".join(sorted((re.escape(u) for u in _UNITS if u not in ("%", "$", "fraction", "per year")), key=len,
                              reverse=True))
# units said with words ("an hour", "two knots"): not the symbols that are only ever written after digits
# ("a V-neck" is no volt)
_PHRASE_UNITS = "|".join(sorted((re.escape(u) for u in _UNITS if u not in (
    "%", "$", "fraction", "per year", "v", "mv", "kv", "ma", "kt", "kts", "ω", "kω", "m/s", "km/h", "kmh", "kph")),
    key=len, reverse=True))
_NUMBER_WORDS = "|".join(sorted(_CARDINALS, key=len, reverse=True)) + "|hundred|thousand"
_AFTER = re.compile(rf"-?[\d,.]*\d(?:\s*-\s*|\s?)(%|(?:{_UNIT_WORDS})\b)", re.I)  # "30 minutes", "5kg", "30-minute"
_BY = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)\s*(?:x|×|by)\s*$")  # a side before "x" in "40 x 30 x 20 cm"
_AFTER_AMOUNT = re.compile(rf"(?:\d(?:k|K|M|bn)?|%|\b(?:{_UNIT_WORDS}|euros?|dollars?|bucks|quid|cents?|usd|eur|gbp))\s+$", re.I)
_PHRASES = [  # quantities written with words, each with its amount (None: the spelled number matched)
    (re.compile(rf"\b(?:an?|one)\s+({_PHRASE_UNITS})\s+and\s+an?\s+half\b", re.I), Decimal("1.5")),
    (re.compile(rf"\b((?:{_NUMBER_WORDS})(?:(?:\s+|-|\s+and\s+)(?:{_NUMBER_WORDS}))*)"
                rf"(\s+and\s+an?\s+half)?\s+({_PHRASE_UNITS})\b", re.I), None),
    (re.compile(rf"\bhalf\s+(?:an?\s+)?({_PHRASE_UNITS})\b", re.I), Decimal("0.5")),
    (re.compile(rf"\b(?:an?|one)\s+quarter\s+(?:of\s+)?(?:an?\s+)?({_PHRASE_UNITS})\b", re.I), Decimal("0.25")),
    (re.compile(rf"(?<!\bper )(?<!\btimes )(?<!\bonce )(?<!\btwice )\b(?:an?|one)\s+(?:whole\s+|full\s+|entire\s+)?"
                rf"({_PHRASE_UNITS})\b", re.I), Decimal(1)),
]
# parts of a whole a user says instead of a percentage: "halfway", "a quarter open", "three quarters"
_FRACTIONS = [(re.compile(r"\bthree[\s-]quarters?\b", re.I), Decimal(75)),
              (re.compile(r"\b(?:an?|one)\s+quarter\b(?!\s+(?:of\s+)?(?:an?\s+)?[a-z]+s?\b(?<!open))", re.I),
               Decimal(25)),
              (re.compile(r"(?<!\band a )\bhalf(?:way)?\b", re.I), Decimal(50))]  # not "one and a half"


@dataclass(frozen=True)
class Quantity:
    """A number the user wrote with its unit: ``value`` in ``unit`` (a key of the unit table), at ``at``."""

    value: Decimal
    unit: str
    at: int


def quantities(text: str) -> list[Quantity]:
    """The quantities in ``text`` in the order written: digits followed by a unit ("30 minutes", "2.5kg",
    "a 30-minute slot", "20%", "$80"), and phrases ("an hour", "half an hour", "an hour and a half",
    "a quarter of an hour", "two days", "two and a half hours"). A rate ("per hour", "twice a day") is
    not a quantity of its unit."""
    found: list[Quantity] = []
    for value, at in numerals(text):
        m = _AFTER.match(text, at)
        letter = m.group(1) if m and len(m.group(1)) == 1 and m.group(1) not in "%lL" else ""
        if (letter.isupper() and letter != "V") or letter == "v":
            m = None  # "0.25 M" is a concentration, "5 G" no unit here: one letter names a unit in lower case,
            # but volts in upper case ("230 V"; "2 v 1" is a score)
        if m and text[m.end():m.end() + 1] not in ("/", "^", "²", "³", "⁴"):  # "1 m^4" no length, "5 km/h" a speed
            found.append(Quantity(value, m.group(1).lower(), at))
        elif _AMPS.match(text, at):  # amperes as one capital letter: "8 A at 230 V"
            found.append(Quantity(value, "amp", at))
        elif at and text[at - 1] == "$":
            found.append(Quantity(value, "$", at))
    for q in list(found):  # "40 x 30 x 20 cm": each side is in cm
        before = text[:q.at]
        while (m := _BY.search(before)) and q.unit != "$":
            found.append(Quantity(Decimal(m.group(1).replace(",", "")), q.unit, m.start(1)))
            before = before[:m.start(1)]
    found.sort(key=lambda q: q.at)
    taken = [range(q.at, q.at + 1) for q in found]

    def free(m: re.Match[str]) -> bool:  # no quantity found so far overlaps this match
        return not any(m.start() <= r.start < m.end() or r.start <= m.start() < r.stop for r in taken)

    for pattern, amount in _PHRASES:
        for m in pattern.finditer(text):
            if not free(m) or (amount == 1 and _AFTER_AMOUNT.search(text, 0, m.start())):
                continue  # "5% a year", "8 hours a day", "120 euros a night": rates, not a year, a day, a night
            if amount is None:
                spelled = _spelled(m.group(1))
                if len(spelled) != 1:
                    continue
                value = spelled[0] + (Decimal("0.5") if m.group(2) else 0)
            else:
                value = amount
            found.append(Quantity(value, m.group(m.lastindex).lower(), m.start()))  # type: ignore[arg-type]
            taken.append(range(m.start(), m.end()))
    for pattern, amount in _FRACTIONS:
        found += [Quantity(amount, "%", m.start()) for m in pattern.finditer(text) if free(m)]
    for m in _EVERY.finditer(text):
        at = m.start(m.lastindex)  # type: ignore[arg-type]
        found.append(Quantity(Decimal(_TIMES_A_YEAR[m.lastindex - 1]), "per year", at))  # type: ignore[operator]
    return _durations(sorted(found, key=lambda q: q.at), text)


_JOINED = re.compile(r"\s*(?:and\s+)?", re.I)  # between the parts of one duration ("1 hour 20 minutes"; a comma lists)


def _durations(found: list[Quantity], text: str) -> list[Quantity]:
    """A duration written in parts, each a smaller unit than the one before ("28 minutes 30 seconds",
    "2 hours and 15 minutes", "1h 20m"), is one quantity: 1710 seconds, not 28 minutes and 30 seconds. A
    comma lists durations ("a whole year, 18 months")."""
    out: list[Quantity] = []
    for q in found:
        last = out[-1] if out else None
        unit = "min" if q.unit == "m" and last is not None and last.unit in ("h", "hr", "hrs") else q.unit  # "1h 20m"
        if last is not None and _UNITS[unit][0] == _UNITS[last.unit][0] == "time" \
                and _UNITS[unit][1] < _UNITS[last.unit][1] and q.value >= 0 \
                and (end := re.compile(rf"{re.escape(last.unit)}\b", re.I).search(text, last.at)) is not None \
                and _JOINED.fullmatch(text, end.end(), q.at):
            out[-1] = Quantity(last.value * _UNITS[last.unit][1] / _UNITS[unit][1] + q.value, unit, last.at)
        else:
            out.append(q)
    return out


_SPELLED_RUN = re.compile(rf"\b(?:{_NUMBER_WORDS})(?:(?:\s+|-|\s+and\s+)(?:{_NUMBER_WORDS}))*(?:\s+and\s+a\s+half)?\b",
                          re.I)


_WRITTEN = re.compile(r"-?[\d,.]*\d[kKM]?(?:bn)?")  # a numeral as written, from its start


def number_values(text: str) -> list[tuple[int, int, Decimal]]:
    """The numbers ``text`` gives with where each is written: (start, end, value), in order; the
    numbers of :func:`number_places` that are digits or number words (not a phrase such as "an hour")."""
    out = [(at, at + len(m.group(0)), value) for value, at in numerals(text) if (m := _WRITTEN.match(text, at))]
    for m in _SPELLED_RUN.finditer(text):
        spelled = _spelled(m.group(0))
        if len(spelled) == 1:
            out.append((m.start(), m.end(), spelled[0]))
    return sorted(out)


def number_places(text: str) -> list[tuple[int, int]]:
    """Where ``text`` gives a number, in order, once each however it is written: digits ("10", "1.62"),
    number words ("three departures", "two hundred") and quantities in words ("an hour", "half a
    day"). Dates, clock times and codes are not numbers (see :func:`numbers`)."""
    places = [(at, m.end()) for _, at in numerals(text) if (m := re.compile(r"-?[\d,.]*").match(text, at))]
    places += [(m.start(), m.end()) for m in _SPELLED_RUN.finditer(text)]
    places += [(q.at, q.at + 1) for q in quantities(text)
               if not any(start <= q.at < end for start, end in places)]
    return sorted(places)


_IN_UNIT = re.compile(rf"\b(?:in|as|of)\s+(?:whole\s+)?(%|(?:{_UNIT_WORDS})\b)|\((%|(?:{_UNIT_WORDS}))\)", re.I)


_AS_FRACTION = re.compile(r"\bas an? (?:decimal|fraction)\b|\b0?\.\d+\s*(?:means|is|=|for)\s*\d+(?:\.\d+)?\s*%", re.I)
_RATE = re.compile(r"\s*(?:/|per\b|an?\s)", re.I)


def unit_of(key: str, description: object = None) -> str | None:
    """The unit a number field is in: the last word of its key ("ttl_seconds", "duration_min",
    "volume_ml", "nights") or, failing that, its description ("Expiry in seconds", "Size (kg)"); None
    when it names none. A key that is one short word ("min", "m") is not a unit: it is a bound; nor is
    a rate ("price_per_liter", "Price in dollars per litre"). A share described as a decimal ("As a
    decimal: 0.05 means 5%") is in "fraction", so "5%" is 0.05."""
    words = re.sub(r"[^a-z0-9%]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", key).lower()).split()
    if {"compounding", "compounds"} & set(words) or (words[-2:] == ["per", "year"] and words[-3:-2] and words[-3] in (
            "payments", "periods", "times", "installments", "instalments")):  # compounds_per_year, payments_per_year
        return "per year"  # (not cost_per_year: an amount)
    if len(words) > 1 and words[-1] in ("c", "f", "k") and words[-2].startswith("temp"):  # temperature_k, temp_f
        return {"c": "celsius", "f": "fahrenheit", "k": "kelvin"}[words[-1]]
    if words and words[-1] in _UNITS and (len(words) > 1 or words[-1] not in _AMBIGUOUS):
        return None if len(words) > 1 and words[-2] in ("per", "a") else words[-1]  # price_per_liter: a rate
    if (isinstance(description, str) and _AS_FRACTION.search(description)) \
            or (words and (words[0] in ("probability", "prob", "likelihood") or (words[0] == "p" and len(words) > 1))):
        return "fraction"  # a probability is from 0 to 1: "70% of the time" is 0.7
    if isinstance(description, str):
        m = _IN_UNIT.search(description)
        if m and not _RATE.match(description, m.end()):
            return (m.group(1) or m.group(2)).lower()
        named = description.strip(" .").lower()  # a description that is only a unit: "Amperes", "Knots"
        if named in _UNITS and named not in _AMBIGUOUS and len(named) > 1:
            return named
    return None


def dimension(word: str) -> str | None:
    """What a unit word measures ("hours": "time"); None when it is not one."""
    return _UNITS[word][0] if word in _UNITS else None


def in_unit(quantity: Quantity, unit: str) -> Decimal | None:
    """``quantity`` converted to ``unit``; None when the two measure different things."""
    have, want = _UNITS[quantity.unit], _UNITS[unit]
    if have[0] != want[0]:
        return None
    if have[0] == "temperature":  # 25 °C is 298.15 K and 77 °F
        (off_in, size_in), (off_out, size_out) = _TEMPERATURES[quantity.unit], _TEMPERATURES[unit]
        return ((quantity.value + off_in) * size_in / size_out - off_out).normalize()
    sizes = {have[1], want[1]}
    if sizes == {_UNITS["year"][1], _UNITS["month"][1]}:  # a calendar's months, not 30-day ones
        return (quantity.value * (12 if have[1] > want[1] else Decimal(1) / 12)).normalize()
    return (quantity.value * have[1] / want[1]).normalize()
