"""Numbers as people read them in warnings and progress lines: grid values short (``2.51e-4``, not
``0.00025118864315095795``), and two values compared with as many digits as tell them apart."""

from __future__ import annotations

from numbers import Real

SCIENTIFIC_BELOW = 1e-3
SCIENTIFIC_FROM = 1e5


def short_number(value: object, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, in scientific notation (no zero-padded exponent)
    when very small or large; anything but a real number as ``str`` gives it."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, int):
        return str(value)
    magnitude = abs(value)
    if magnitude and (magnitude < SCIENTIFIC_BELOW or magnitude >= SCIENTIFIC_FROM):
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}"
    return f"{float(f'{value:.{digits}g}'):g}"  # rounded to its digits, never as 1e+04


def distinct_numbers(first: float, second: float, digits: int = 4) -> tuple[str, str]:
    """``first`` and ``second`` with the fewest significant digits, at least ``digits``, that print them
    differently (equal values print alike), so ``-0.13214 < -0.13207`` never reads ``-0.1321 < -0.1321``."""
    for precision in range(digits, 18):
        texts = f"{first:.{precision}g}", f"{second:.{precision}g}"
        if texts[0] != texts[1] or first == second:
            return texts
    return repr(first), repr(second)
