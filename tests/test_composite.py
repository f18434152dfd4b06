"""Composite equalization level: hand-computed index, ranks, weight sensitivity, bad input."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys

import pandas as pd
import pytest

from geoequity import InputError
from geoequity.balance import load_standards
from geoequity.composite import composite_index, district_indicators

TABLE = pd.DataFrame({"district": ["A", "B", "C"], "access_mean": [1.0, 2.0, 0.5],
                      "seats_per_child": [0.8, 1.0, 1.2], "teachers_per_100": [5.0, 4.0, 6.0],
                      "funding_per_pupil": [8000.0, 9000.0, 7000.0]})


def test_minmax_index_by_hand():
    res = composite_index(TABLE)
    t = res.table.set_index("district")
    # min-max: access A 1/3 B 1 C 0; seats A 0 B .5 C 1; teachers A .5 B 0 C 1;
    # funding A .5 B 1 C 0; equal weights 1/4
    assert t.loc["A", "index"] == pytest.approx((1 / 3 + 0 + 0.5 + 0.5) / 4)
    assert t.loc["B", "index"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert t.loc["C", "index"] == pytest.approx((0 + 1 + 1 + 0) / 4)
    assert res.table["district"].tolist() == ["B", "C", "A"]
    assert t["rank"].to_dict() == {"B": 1, "C": 2, "A": 3}
    assert t.loc["A", "z_access"] == pytest.approx(1 / 3)


def _loop_ranks(rows, weights, better):
    """Reference: min-max per indicator, weighted sum, ranks (1 = best), by plain loops."""
    cols = list(weights)
    z = {}
    for c in cols:
        xs = [r[c] for r in rows]
        lo, hi = min(xs), max(xs)
        z[c] = [((x - lo) if better[c] == "higher" else (hi - x)) / (hi - lo) for x in xs]
    total = sum(weights.values())
    idx = [sum(weights[c] / total * z[c][i] for c in cols) for i in range(len(rows))]
    return [1 + sum(1 for j in idx if j > i) for i in idx]


def test_sensitivity_ranges_match_a_loop_reference(tmp_path):
    std = copy.deepcopy(load_standards())
    std["composite"]["indicators"][1]["weight"] = 0.4        # seats weigh more
    std["composite"]["indicators"][3]["better"] = "lower"    # (an odd but legal choice)
    std["composite"]["sensitivity"] = 0.5
    table = pd.DataFrame({"district": list("PQRS"), "access_mean": [1.0, 1.1, 0.9, 1.3],
                          "seats_per_child": [0.9, 0.8, 1.0, 0.7],
                          "teachers_per_100": [5.0, 5.5, 4.8, 5.1],
                          "funding_per_pupil": [7500.0, 8000.0, 7000.0, 9000.0]})
    res = composite_index(table, standards=std)
    rows = table.to_dict(orient="records")
    base = {d["column"]: w for d, w in zip(std["composite"]["indicators"],
                                           (0.25, 0.4, 0.25, 0.25))}
    better = {d["column"]: d["better"] for d in std["composite"]["indicators"]}
    ranks = [_loop_ranks(rows, base, better)]
    for col, f in itertools.product(base, (0.5, 1.5)):
        w = dict(base)
        w[col] *= f
        ranks.append(_loop_ranks(rows, w, better))
    t = res.table.set_index("district")
    for i, d in enumerate("PQRS"):
        assert t.loc[d, "rank"] == ranks[0][i]
        assert t.loc[d, "rank_min"] == min(r[i] for r in ranks)
        assert t.loc[d, "rank_max"] == max(r[i] for r in ranks)
    assert (t["rank_min"] < t["rank_max"]).any()    # the case does move some rank
    assert len(res.sensitivity) == 4 * 2 * 4
    w = res.sensitivity.query("indicator == 'seats' and change == 0.5")["weight"].iloc[0]
    assert w == pytest.approx(0.4 * 1.5 / (0.25 * 3 + 0.4 * 1.5))


def test_zscore_and_missing_value():
    std = copy.deepcopy(load_standards())
    std["composite"]["normalise"] = "zscore"
    std["composite"]["indicators"] = [{"key": "a", "column": "access_mean", "weight": 1}]
    res = composite_index(TABLE, standards=std).table.set_index("district")
    # values 1, 2, 0.5: mean 7/6, population sd sqrt(((1/6)^2 + (5/6)^2 + (2/3)^2) / 3)
    sd = (((1 / 6) ** 2 + (5 / 6) ** 2 + (2 / 3) ** 2) / 3) ** 0.5
    assert res.loc["B", "index"] == pytest.approx((2 - 7 / 6) / sd)
    t = TABLE.copy()
    t.loc[1, "teachers_per_100"] = None
    out = composite_index(t)
    assert out.table.set_index("district").loc["B", "z_teachers"] == 0.0   # the worst
    assert any("no value for B" in n for n in out.notes)


def test_district_indicators_from_schools():
    districts = pd.DataFrame({"district": ["A", "B", "(all)"], "seats_per_child": [1, 2, 1.5]})
    equity = pd.DataFrame({"grouping": ["all", "district", "district"],
                           "group": ["all", "A", "B"], "access_mean": [1.0, 0.8, 1.3]})
    schools = pd.DataFrame({"district": ["A", "A", "B"], "enrolment": [100, 300, 200],
                            "teachers": [6, 14, 9], "funding_yuan": [8e5, 2e6, 1.6e6]})
    t = district_indicators(districts, equity=equity, schools=schools).set_index("district")
    assert t.loc["A", "teachers_per_100"] == pytest.approx(100 * 20 / 400)
    assert t.loc["A", "funding_per_pupil"] == pytest.approx(2.8e6 / 400)
    assert t.loc["B", "access_mean"] == 1.3


@pytest.mark.parametrize("edit, words", [
    (lambda s: s["composite"]["indicators"][0].update(wieght=1), "did you mean 'weight'"),
    (lambda s: s["composite"]["indicators"][0].update(weight=-1), "a weight >= 0"),
    (lambda s: s["composite"].update(normalise="rank"), "normalise = 'rank'"),
    (lambda s: s["composite"]["indicators"][0].update(column="acess_mean"),
     "did you mean 'access_mean'"),
    (lambda s: s["composite"]["indicators"][1].update(key="access"), "key 'access' repeats"),
])
def test_bad_standards(edit, words):
    std = copy.deepcopy(load_standards())
    edit(std)
    with pytest.raises(InputError) as e:
        composite_index(TABLE, standards=std)
    assert words in str(e.value)


def test_cli(tmp_path):
    f = tmp_path / "districts.csv"
    TABLE.to_csv(f, index=False)
    p = subprocess.run([sys.executable, "-m", "geoequity", "composite", str(f), "-o",
                        str(tmp_path / "c.csv"), "--sensitivity", str(tmp_path / "s.csv")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig")
    assert out["district"].tolist() == ["B", "C", "A"]
    assert len(pd.read_csv(tmp_path / "s.csv", encoding="utf-8-sig")) == 24
    TABLE.drop(columns="funding_per_pupil").to_csv(f, index=False)
    p = subprocess.run([sys.executable, "-m", "geoequity", "composite", str(f)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "no column 'funding_per_pupil'" in p.stderr


def test_cli_district_column_spelled_either_way(tmp_path, capsys):
    """`composite --district-col` (as `equity` and `report` spell it) and the older
    `--district` read the same column: the ranking of test_minmax_index_by_hand, B C A."""
    from geoequity.cli import main

    f = tmp_path / "districts.csv"
    TABLE.rename(columns={"district": "area"}).to_csv(f, index=False)
    got = []
    for flag in ("--district-col", "--district"):
        out = tmp_path / f"c{len(got)}.csv"
        assert main(["composite", str(f), flag, "area", "-o", str(out)]) == 0
        got.append(pd.read_csv(out, encoding="utf-8-sig"))
    pd.testing.assert_frame_equal(got[0], got[1])
    assert got[0]["area"].tolist() == ["B", "C", "A"]
    assert got[0]["rank"].tolist() == [1, 2, 3]
    capsys.readouterr()
