"""Dollar amounts: no padding zeros on free runs, tiny call costs still visible."""

import pytest

from agents_magic.display._html import usd


@pytest.mark.parametrize(("value", "shown"), [
    (0.0, "$0"), (0, "$0"), (0.000013, "$0.000013"), (0.0000001234, "$0.000000123"),
    (0.0013942, "$0.00139"), (0.0139, "$0.0139"), (0.25, "$0.25"), (0.3, "$0.3"),
    (0.9999, "$1"), (1, "$1.00"), (1234.5, "$1,234.50"),
])
def test_usd(value, shown):
    assert usd(value) == shown
