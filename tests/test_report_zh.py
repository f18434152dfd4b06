"""The Chinese report says everything geoequity writes in Chinese: the notes the results add
(balance, operations, composite, checklist, urban classes, ``geoequity report``'s inputs) are
written from their key and values (geoequity._notes), the urban classes of the operations table,
the county line of the years chart and the current-state plan are translated. What stays
English is the user's data: the scenario's title, district, school and plan names, and the
columns and values of a district group."""

from __future__ import annotations

import pickle
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import geoequity as ge
from geoequity._notes import note
from geoequity.report import note_text

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"

#: English sentences and words the Chinese report used to show (what the last session found).
KNOWN_ENGLISH = [
    "school(s) left out by type", "teaching point with", "combined school(s) without",
    "combined school(s) split into", "balance evaluated for", "classes estimated from",
    "special or vocational school(s)", "school balance not evaluated", "urban centre",
    "urban cluster", "inputs:", "(all)", "(current)", "no value for", "checklist values of",
    "urban/rural", "only 1 school",
]


class _Visible(HTMLParser):
    """The text a reader sees (no style, no script), one string per text node."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def _visible(path: Path) -> list[str]:
    p = _Visible()
    p.feed(path.read_text(encoding="utf-8"))
    return p.texts


def _scenario(tmp_path: Path, name: str, *, extra_districts: str = "", outputs: str = "",
              tail: str = "") -> Path:
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    text = text.replace('folder = "../out/demo"', f'folder = "{tmp_path / name}"\n{outputs}')
    text = text.replace('map = "../maps/demo.html"', f'map = "{tmp_path / name}_map.html"')
    text = text.replace('lang = "en"', 'lang = "zh"')
    text = text.replace('name = "district"\n', f'name = "district"\n{extra_districts}')
    path = tmp_path / f"{name}.toml"
    path.write_text(text + tail, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("zh")
    plain = ge.run_scenario(_scenario(tmp, "demo"))
    assert plain is not None
    ge.run_scenario(_scenario(tmp, "grouped", extra_districts='group = "type"\n',
                              outputs='maps_by = "type"',
                              tail='\n[compute]\nassignment_mode = "decomposed"\n'))
    return {"demo": tmp / "demo" / "report.html", "grouped": tmp / "grouped" / "report.html"}


# the user's data in the demo (synthetic Demo County): names stay as they are
_DATA = re.compile(r"^(Demo County \(synthetic\).*|Beiyuan|Chengguan|Dongxin|Hedong|Nanhu|"
                   r"Xishan|Old Town Central|.* (Primary|School)|type|rural|suburban|urban)$")


@pytest.mark.parametrize("which", ["demo", "grouped"])
def test_no_untranslated_english(reports, which):
    texts = _visible(reports[which])
    seen = " ".join(texts)
    for words in KNOWN_ENGLISH:
        assert words not in seen, words
    # beyond the known list: no text node but the user's data has three English words in a row
    english = [t for t in texts if not _DATA.match(t.split(" · ")[-1])
               and re.search(r"\b[A-Za-z]{2,} [A-Za-z]{2,} [a-z]{2,}\b", t)]
    assert english == []
    if which == "grouped":   # the group's column "type" named as the maps' overview names it
        assert "type" not in texts and "片区类型" in texts


@pytest.mark.parametrize("which", ["demo", "grouped"])
def test_the_notes_say_the_demo_in_chinese(reports, which):
    texts = _visible(reports[which])
    notes = texts[texts.index("说明与方法") + 1:]   # the notes section comes last
    notes = [t for t in notes if t.startswith(("1所", "校际", "大班额"))]
    # demo/schools.csv: P12 is a teaching point of 46 pupils, under the 50 of standards.toml;
    # J04 is the one nine-year school, split by grades 6 : 3 and resources 1 : 1.1; the run
    # analyses primary; class sizes are estimated above 56 (大班额) and 66 (超大班额) pupils
    assert notes == [
        "1所学校按类型未纳入资源配置评估（见“未纳入资源配置评估的学校”表）："
        "P12（教学点，学生46人（不足50人））",
        "1所九年一贯制学校未提供 enrolment_primary/enrolment_junior：学生数按年级 6 : 3 拆分",
        "1所九年一贯制学校拆分为小学部和初中部；共用资源按学生数加权 1 : 1.1 分配",
        "校际资源均衡仅评估小学",
        "大班额/超大班额班数按平均班额估算：平均班额超过56（66）人的学校，其全部班级计入；"
        "提供 large_classes / very_large_classes 列可得准确班数",
    ]


def test_the_operations_table_names_the_urban_classes_in_chinese(reports):
    texts = _visible(reports["demo"])
    assert "城乡 · 城市中心" in texts and "城乡 · 城镇" in texts


def test_the_decomposed_assignment_is_said_in_chinese(reports):
    assert any(t.startswith("学位分配：分为 6 个部分") for t in _visible(reports["grouped"]))


def test_a_note_is_its_english_sentence_and_travels_whole():
    n = note("levels_only", "balance evaluated for junior, primary only",
             levels=["junior", "primary"])
    assert n == "balance evaluated for junior, primary only"   # what results always held
    assert note_text(n, "en") == "balance evaluated for junior, primary only"
    assert note_text(n, "zh") == "校际资源均衡仅评估初中、小学"
    back = pickle.loads(pickle.dumps(n))   # to a dask worker and back
    assert (back.key, back.values, note_text(back, "zh")) == (
        "levels_only", {"levels": ["junior", "primary"]}, "校际资源均衡仅评估初中、小学")
    assert note_text("a plain line", "zh") == "a plain line"   # the user's own notes
