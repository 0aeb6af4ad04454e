"""Exact Kubernetes resource quantities: `500m` < `1`, `1Gi` > `1G`, as the API server reads them.

`parse_quantity` turns the text of a quantity into a `Fraction`, so comparing a request with a
limit never rounds. A function of its argument, no I/O.
"""

from __future__ import annotations

import re
from fractions import Fraction

from knargo.config.admin import InvalidInput

__all__ = ["parse_quantity"]

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>[KMGTPE]i|[numkMGTPE]))?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_EXPONENT = 1000


def parse_quantity(text: str) -> Fraction:
    """The exact value of a Kubernetes quantity as `resource.ParseQuantity` reads it:
    `500m`, `2`, `1.5Gi` (binary), `1G` (decimal), `2e3`, `1E-3` (exponents are integers)."""
    match = _QUANTITY.fullmatch(text)
    exponent = int(match["exponent"][1:]) if match and match["exponent"] else 0
    if not match or abs(exponent) > _MAX_EXPONENT:
        raise InvalidInput(f'invalid resource quantity "{text}" (e.g. 500m, 2, 1Gi)')
    value = Fraction(match["number"]) * Fraction(10) ** exponent
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        value *= 1024 ** _BINARY[suffix]
    elif suffix:
        value *= Fraction(10) ** _DECIMAL[suffix]
    return -value if match["sign"] == "-" else value
