"""Exact money arithmetic: parsing, tick/step conversion and formatting.

Prices, quantities and balances are ``Decimal`` (or integer ticks) everywhere in coinm; never
float. Formatting never produces scientific notation or more digits than the symbol's step.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

__all__ = [
    "ZERO",
    "D",
    "DecimalParseError",
    "decimals_of",
    "fmt_compact",
    "fmt_grouped",
    "fmt_plain",
    "fmt_step",
    "from_ticks",
    "is_multiple",
    "snap",
    "to_ticks",
]

ZERO = Decimal(0)
_CTX = Context(prec=50)


class DecimalParseError(ValueError):
    """A value that should be an exact decimal number is not one."""


def D(value: str | int | Decimal) -> Decimal:
    """Parse an exact decimal from a wire string, an int or a Decimal.

    Floats are refused: they cannot represent most prices exactly.

    Raises:
        DecimalParseError: the value is a float, NaN, infinite or not a number.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise DecimalParseError(f"refusing inexact value {value!r}")
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise DecimalParseError(f"not a number: {value!r}") from None
    else:
        raise DecimalParseError(f"not a number: {value!r}")
    if not result.is_finite():
        raise DecimalParseError(f"not a finite number: {value!r}")
    return result


def decimals_of(step: Decimal) -> int:
    """Number of decimal places a tick or step size implies (``0.10`` -> 1, ``1`` -> 0)."""
    normalized = step.normalize()
    exponent = normalized.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def fmt_plain(value: Decimal) -> str:
    """The shortest plain (never scientific) text for a value: ``1E+2`` -> ``100``, ``0.50`` -> ``0.5``."""
    if value == 0:
        return "0"
    text = format(value.normalize(_CTX), "f")
    return text


def fmt_step(value: Decimal, step: Decimal) -> str:
    """Format with exactly as many decimals as ``step`` has (``88000.1`` with tick ``0.1``).

    The value is rounded half-even to that many places if it has more; callers that must not
    round validate with :func:`is_multiple` first.
    """
    places = decimals_of(step)
    quantum = Decimal(1).scaleb(-places)
    return format(value.quantize(quantum, rounding=ROUND_HALF_EVEN, context=_CTX), "f")


def is_multiple(value: Decimal, step: Decimal, base: Decimal = ZERO) -> bool:
    """Whether ``(value - base)`` is an exact multiple of ``step``; a zero step disables the rule."""
    if step == 0:
        return True
    return (value - base) % step == 0


def snap(value: Decimal, step: Decimal, base: Decimal = ZERO, mode: str = "nearest") -> Decimal:
    """The multiple of ``step`` (counted from ``base``) nearest to ``value``.

    Args:
        mode: ``"nearest"`` (ties go up), ``"down"`` (towards minus infinity) or ``"up"``.
    """
    if step == 0:
        return value
    exponent = step.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"step {step} is not a finite number")
    steps = (value - base) / step
    if mode == "down":
        n = steps.to_integral_value(rounding=ROUND_FLOOR)
    elif mode == "up":
        n = steps.to_integral_value(rounding=ROUND_CEILING)
    else:
        n = (steps + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)
    return (base + n * step).quantize(step) if exponent < 0 else base + n * step


def to_ticks(price: Decimal, tick: Decimal) -> int:
    """Price as an integer number of ticks. Raises ValueError if it is not on the tick grid."""
    n, rem = divmod(price, tick)
    if rem != 0:
        raise ValueError(f"{fmt_plain(price)} is not a multiple of tick {fmt_plain(tick)}")
    return int(n)


def from_ticks(ticks: int, tick: Decimal) -> Decimal:
    """Integer ticks back to an exact price."""
    return ticks * tick


def fmt_grouped(value: Decimal, step: Decimal) -> str:
    """Like :func:`fmt_step`, with thousands separators for reading at a glance (``88,000.1``)."""
    places = decimals_of(step)
    quantum = Decimal(1).scaleb(-places)
    return format(value.quantize(quantum, rounding=ROUND_HALF_EVEN, context=_CTX), ",f")


def fmt_compact(value: Decimal) -> str:
    """A size in at most ~6 characters for narrow columns: ``950``, ``12.3k``, ``4.56M``.

    Display only: exact figures belong in forms and the journal.
    """
    sign = "-" if value < 0 else ""
    v = abs(value)
    suffix = ""
    for limit, name in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if v >= limit:
            v, suffix = v / limit, name
            break
    places = 0 if v >= 100 or (not suffix and v == v.to_integral_value()) else 1 if v >= 10 else 2
    text = format(v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=_CTX), "f")
    if "." in text and not suffix:
        text = text.rstrip("0").rstrip(".")
    return sign + text + suffix
