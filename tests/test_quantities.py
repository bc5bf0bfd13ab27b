"""Quantities in a user's message and the unit a number field names (see cupola.runtime.quantities)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cupola.runtime.quantities import in_unit, number_places, quantities, unit_of


@pytest.mark.parametrize("text, expected", [
    ("cache it for 30 minutes", [("30", "minutes")]),
    ("a 30-minute slot, 2.5kg of flour", [("30", "minute"), ("2.5", "kg")]),
    ("expiring in an hour", [("1", "hour")]),
    ("rest for an hour and a half", [("1.5", "hour")]),
    ("I swam for half an hour", [("0.5", "hour")]),
    ("a quarter of an hour", [("0.25", "hour")]),
    ("two and a half hours, next two days", [("2.5", "hours"), ("2", "days")]),
    ("one litre of 0.25 M acid from 5 M stock", [("1", "litre")]),  # "M" is molar here, not metres
    ("a 20% tip on $85", [("20", "%"), ("85", "$")]),
    ("open the blinds halfway", [("50", "%")]),
    ("twice a day, $3 per hour", [("3", "$")]),  # rates are not quantities of their unit
    ("5 km/h, 140 knots, 60 mph", [("5", "km/h"), ("140", "knots"), ("60", "mph")]),  # but speeds are
    ("A heater draws 8 A at 230 V; 2 v 1", [("8", "amp"), ("230", "v")]),  # "2 v 1" is a score
    ("a V-neck sweater, two knots", [("2", "knots")]),  # a symbol is a unit only after digits
    ("a 220 ohm resistor, 4.7kΩ", [("220", "ohm"), ("4.7", "kω")]),
    ("5% a year, 8 hours a day, 120 euros a night", [("5", "%"), ("8", "hours")]),
    ("valid for three years, a whole year, 18 months", [("3", "years"), ("1", "year"), ("18", "months")]),
    ("a 40 x 30 x 20 cm box, 25x15x5 cm", [("40", "cm"), ("30", "cm"), ("20", "cm"), ("25", "cm"), ("15", "cm"),
                                           ("5", "cm")]),  # each side in the unit written after the last
    ("a 2 kW heater, one and a half baths", [("2", "kw")]),
    ("price of ETH?", []),
])
def test_the_quantities_a_user_wrote(text, expected):
    assert [(str(q.value), q.unit) for q in quantities(text)] == expected


@pytest.mark.parametrize("key, description, unit", [
    ("ttl_seconds", None, "seconds"), ("durationMinutes", None, "minutes"), ("duration_min", None, "min"),
    ("target_volume_ml", None, "ml"), ("nights", None, "nights"), ("position_percent", None, "percent"),
    ("ttl", "Expiry in seconds; never expires when left out", "seconds"), ("size", "Size (kg)", "kg"),
    ("discount", "Discount in %", "%"),
    ("min", None, None), ("min_price", None, None), ("m", None, None),  # bounds, not units
    ("price", "Price of the item", None), ("price_per_liter", None, None), ("max_price_per_night", None, None),
    ("price", "Price in dollars per litre", None), ("stock_molarity", "Stock concentration in mol/L", None),
    ("current_a", "Amperes", "amperes"), ("voltage_v", "Volts", "v"), ("ground_speed_kts", None, "kts"),
    ("coef_a", None, None), ("side_a", "Length", None), ("start", "s", None),  # only a whole unit word describes
])
def test_the_unit_a_number_field_names(key, description, unit):
    assert unit_of(key, description) == unit


def test_conversion_stays_within_a_dimension():
    hour = quantities("an hour")[0]
    assert in_unit(hour, "seconds") == Decimal(3600)
    assert in_unit(hour, "min") == Decimal(60)
    assert in_unit(quantities("a week")[0], "nights") == Decimal(7)
    assert in_unit(quantities("one litre")[0], "ml") == Decimal(1000)
    assert in_unit(quantities("28 cents")[0], "dollars") == Decimal("0.28")
    assert in_unit(hour, "kg") is None


def test_one_and_a_half_is_one_number():
    from cupola.runtime.quantities import numbers

    assert [str(n) for n in numbers("one and a half baths, five and a half hours")] == ["1.5", "5.5"]


@pytest.mark.parametrize("text, count", [
    ("only the first 10 rows", 1), ("next three departures", 1), ("an hour and a half", 1),
    ("two hundred and fifty kg and 3 apples", 2), ("g = 1.62 m/s^2, 15 m/s", 3),
    ("on 2025-12-20 at 19:30 from SAV-310", 0),  # dates, times and codes are not numbers
    ("price of ETH?", 0),
])
def test_how_many_numbers_a_user_gave(text, count):
    assert len(number_places(text)) == count


@pytest.mark.parametrize("text, unit, expected", [
    ("a loan for two years", "months", "24"), ("18 months", "years", "1.5"), ("a whole year", "days", "365"),
    ("at 3.5%", "fraction", "0.035"), ("for 2 weeks", "days", "14"), ("a 2 kW heater", "watts", "2000")])
def test_calendar_units_and_shares_as_decimals_convert(text, unit, expected):
    """A year is 12 months (not 360 days), 365 days; "As a decimal: 0.05 means 5%" takes 0.035 for 3.5%."""
    from cupola.runtime.quantities import number_text

    assert number_text(in_unit(quantities(text)[0], unit)) == expected


def test_a_share_described_as_a_decimal_is_in_fraction():
    assert unit_of("annual_rate", "As a decimal: 0.05 means 5%") == "fraction"
    assert unit_of("rate", "Interest rate as a fraction") == "fraction"
    assert unit_of("rate_percent", "Annual rate in percent") == "percent"
    assert unit_of("p_success") == unit_of("probability") == "fraction"  # a probability is from 0 to 1
    assert unit_of("p") is None


@pytest.mark.parametrize("text, unit, expected", [
    ("a flat of 90 square metres", "sqft", 968.75), ("1,650 sq ft", "m2", 153.29), ("a 2 ha vineyard", "acres", 4.94),
    ("2400 sqft", "sqft", 2400)])
def test_areas_convert(text, unit, expected):
    """Found on the development set: "90 square metres" for a livingAreaSqft."""
    assert round(float(in_unit(quantities(text)[0], unit)), 2) == expected
    assert unit_of("livingAreaSqft") == "sqft" and unit_of("plot_area_m2") == "m2"


def test_how_often_a_year_and_years_before_the_common_era():
    """Found on the development set: "compounded quarterly" is 4 compounds a year; "from 100 BC" is -100."""
    from cupola.runtime.quantities import numbers

    assert [(str(q.value), q.unit) for q in quantities("at 4% compounded quarterly")] == [("4", "%"), ("4", "per year")]
    assert [str(q.value) for q in quantities("paid monthly, compounded annually, billed weekly")] == ["12", "1", "52"]
    assert quantities("What would I pay monthly?") == []  # how often is said of a payment or of compounding
    assert unit_of("compoundsPerYear") == unit_of("compounding_frequency") == unit_of("payments_per_year") == "per year"
    assert unit_of("cost_per_year") is None  # an amount a year, not how often
    assert [str(n) for n in numbers("Egypt from 100 BC to 50 AD, Rome in 27 BCE, Troy c. 1200 B.C.")] == \
        ["-100", "50", "-27", "-1200"]
    assert [str(n) for n in numbers("a 100 BCD x")] == ["100"]


@pytest.mark.parametrize("text, expected", [
    ("I swam 1500 m in 28 minutes 30 seconds.", [("1500", "m"), ("1710", "seconds")]),
    ("it took 2 hours and 15 minutes", [("135", "minutes")]),
    ("a 1h 20m run", [("80", "min")]),  # "m" after hours is minutes
    ("5 minutes and then 30 seconds later", [("5", "minutes"), ("30", "seconds")]),
    ("30 seconds 5 minutes", [("30", "seconds"), ("5", "minutes")]),  # not from larger to smaller
])
def test_a_duration_written_in_parts_is_one_quantity(text, expected):
    assert [(str(q.value), q.unit) for q in quantities(text)] == expected


def test_temperatures_convert_between_scales():
    assert [(str(q.value), q.unit) for q in quantities("25 °C, 72°F, 100 degrees Celsius, 300 kelvin")] == [
        ("25", "°c"), ("72", "°f"), ("100", "degrees celsius"), ("300", "kelvin")]
    celsius, fahrenheit, _, kelvin = quantities("25 °C, 77°F, 100 degrees Celsius, 300 kelvin")
    assert in_unit(celsius, "kelvin") == Decimal("298.15")
    assert in_unit(fahrenheit, "celsius") == Decimal(25)
    assert in_unit(kelvin, "°c") == Decimal("26.85")
    assert in_unit(celsius, "seconds") is None
    assert (unit_of("temperature_k"), unit_of("temp_c"), unit_of("temperatureF"), unit_of("temperature")) == (
        "kelvin", "celsius", "fahrenheit", None)


def test_a_unit_with_a_power_is_not_that_unit():
    assert [(str(q.value), q.unit) for q in quantities("a 4 m span, I = 0.0001 m^4")] == [("4", "m")]
