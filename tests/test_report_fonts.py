"""The Chinese report renders Chinese glyphs, not tofu boxes (needs a CJK font, see README)."""

from __future__ import annotations

import pytest

from geoequity.report import write_report

# Draws a string on a canvas with the body's font stack; returns its ink as a list of alpha
# values (a fixed 64 x 40 box, so two strings compare pixel by pixel).
_INK = """(text) => {
  const c = document.createElement("canvas");
  c.width = 64; c.height = 40;
  const ctx = c.getContext("2d");
  ctx.font = "32px " + getComputedStyle(document.body).fontFamily;
  ctx.fillStyle = "#000";
  ctx.textBaseline = "top";
  ctx.fillText(text, 2, 2);
  const d = ctx.getImageData(0, 0, 64, 40).data;
  const out = [];
  for (let i = 3; i < d.length; i += 4) out.push(d[i]);
  return out;
}"""


@pytest.mark.browser
def test_chinese_report_glyphs_are_not_tofu(tmp_path, offline_page):
    import pandas as pd

    schools = pd.DataFrame({"seats": [100.0]}, index=pd.Index(["一小"], name="school"))
    out = write_report(tmp_path / "zh.html", schools=schools, lang="zh", csv=False)
    page = offline_page
    page.goto(out.html.as_uri())
    page.wait_for_load_state("load")
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    for name in ("Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC"):
        assert name in family   # Linux, Linux/Adobe, Windows, macOS
    xue = page.evaluate(_INK, "学")
    zi = page.evaluate(_INK, "字")
    tofu = page.evaluate(_INK, "\ue000")   # private-use: no font has it, the .notdef box
    assert sum(v > 0 for v in xue) > 40          # 学 drew ink
    assert xue != tofu and zi != tofu            # ... and not the missing-glyph box
    assert xue != zi                             # two characters, two different shapes
    # the page's own heading: its rendered width is that of real glyphs, not of boxes
    widths = page.evaluate("""() => {
      const h = document.querySelector("h1");
      const r = document.createRange(); r.selectNodeContents(h);
      return [r.getBoundingClientRect().width, h.textContent.length,
              parseFloat(getComputedStyle(h).fontSize)];
    }""")
    width, n, size = widths
    assert n > 5 and width == pytest.approx(n * size, rel=0.15)   # CJK glyphs are 1 em wide
