"""One number format and one line chart for every report (geoequity.report_format).

Before, ``report._fmt`` and ``evaluation_report._num`` wrote one number two ways (10.11 and
10.1; 5.0 as 5.00 and 5), and ``report.svg_lines`` and ``report_years.svg_lines`` were two
charts. The values below are written by hand from the rule in the module docstring.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from geoequity import evaluation_report, report, report_years
from geoequity import report_format as F


@pytest.mark.parametrize("value, text", [
    (None, "–"), (float("nan"), "–"), (float("inf"), "∞"), (True, "True"), (7, "7"),
    (np.int64(12345), "12,345"), (0.0, "0"), (-0.0, "0"), (1e-12, "0"),
    (5.0, "5"), (5.5, "5.5"), (4.567, "4.57"), (-3.456, "-3.46"), (10.11, "10.1"),
    (12.345, "12.3"), (10.0, "10"), (1234.0, "1,234"), (1234.6, "1,235"), (0.5, "0.5"),
    (0.04567, "0.0457"), ("text", "text"),
])
def test_number(value, text):
    assert F.number(value) == text


def test_fixed_and_share():
    assert F.fixed(1234.567, 2) == "1,234.57"
    assert F.fixed(-0.004, 2) == "0.00"                   # no "-0.00"
    assert F.fixed(None, 0) == "–" and F.fixed(float("nan"), 1) == "–"
    assert F.share(0.1234) == "12.3%" and F.share(None) == "–"


def test_every_report_uses_the_one_rule():
    assert report.number is F.number and evaluation_report.number is F.number
    assert report.svg_lines is F.svg_lines and report_years.svg_lines is F.svg_lines
    # the report's per-kind formats round with the same helper
    assert report.FORMATS["ratio"](0.125) == F.fixed(0.125, 2) == "0.12"
    assert report.FORMATS["share"](0.5) == "50.0%"


def _dots(svg: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="3" fill="[^"]+" '
                      r'data-value="([^"]+)"', svg)


def test_svg_lines_places_values_by_hand():
    """460 x 300, margins l 60 r 130 t 34 b 46: the plot is 270 x 220 px. Values 1 and 3,
    padded by 5 % of their range (0.9 to 3.1), cut at round steps: at most 7 intervals of
    1, 2, 2.5 or 5 x 10^k: 2.2 / 7 = 0.31 -> 0.5, so the axis runs 0.5 to 3.5 (7 ticks);
    x 2020 and 2022 are the plot's ends."""
    svg = F.svg_lines({"A": [(2020, 1.0), (2022, 3.0)]}, title="t", xlabel="year")
    # y = 34 + (1 - (v - 0.5) / 3) * 220: 217.3 for 1, 70.7 for 3
    assert _dots(svg) == [("60.0", "217.3", "1"), ("330.0", "70.7", "3")]
    ticks = re.findall(r'text-anchor="end" class="tick">([^<]+)<', svg)
    assert ticks == ["0.5", "1", "1.5", "2", "2.5", "3", "3.5"]
    assert svg.count('class="series"') == 1 and 'class="ref"' not in svg


def test_svg_lines_from_zero_with_a_reference():
    """The years chart: 620 x 380 (plot 410 x 300 from x 60, y 34), y from 0 to the largest
    value plus 5 % (3.15) cut at a round step (3.15 / 7 = 0.45 -> 0.5): 3.5; the reference 1
    at 34 + (1 - 1 / 3.5) * 300 = 248.3; a missing value leaves its dot out and the line
    joins the others."""
    t = pd.DataFrame({"West": [0.5, np.nan, 3.0], "(all)": [1.0, 1.0, 1.0]},
                     index=[2026, 2027, 2028])
    svg = F.svg_lines(t, title="t", xlabel="year", highlight="(all)", reference=1.0,
                      reference_label="one seat", from_zero=True, size=(620, 380))
    dots = _dots(svg)
    # West: 2026 at x 60, y 34 + (1 - 0.5 / 3.5) * 300 = 291.1; 2028 at x 470, y 76.9
    assert dots[:2] == [("60.0", "291.1", "0.5"), ("470.0", "76.9", "3")]
    assert len(dots) == 2 + 3
    assert 'y1="248.3" y2="248.3" class="ref"' in svg and ">one seat<" in svg
    ticks = re.findall(r'x="54" y="[^"]+" text-anchor="end" class="tick">([^<]+)<', svg)
    assert ticks == ["0", "0.5", "1", "1.5", "2", "2.5", "3", "3.5"]
    assert re.search(r'stroke="#222222" stroke-width="3" class="series" data-name="\(all\)"',
                     svg)
