"""Numbers in warnings: short grid values, and compared values printed so that they differ."""

import pytest

from bdlsweep.analysis.number_text import distinct_numbers, short_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.00025118864315095795, "2.51e-4"),
        (1e-4, "1e-4"),
        (0.03, "0.03"),
        (0.25118864315095795, "0.251"),
        (10000.0, "10000"),
        (12345.6, "12300"),
        (250000.0, "2.5e5"),
        (10000, "10000"),
        (True, "True"),
        ("radial", "radial"),
        (0.0, "0"),
    ],
)
def test_short_numbers(value, text):
    assert short_number(value) == text


def test_compared_values_get_the_digits_that_tell_them_apart():
    first, second = distinct_numbers(-0.132141, -0.132069)
    assert first != second and (first, second) == ("-0.13214", "-0.13207")
    assert distinct_numbers(-0.1426, -0.1423) == ("-0.1426", "-0.1423")
    assert distinct_numbers(0.5, 0.5) == ("0.5", "0.5")
    assert float(distinct_numbers(1.0, 1.0 + 2**-40)[0]) != float(distinct_numbers(1.0, 1.0 + 2**-40)[1])
