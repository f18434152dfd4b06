"""Cross-check against PySAL spopt (CBC through PuLP) on real Porto Alegre cells.

Demand: the populated H3 cells of ``poa_hexgrid.csv`` (every 4th, to keep CBC to seconds),
children = 15 % of residents (an assumption: the file has no age bands). Candidates: every
25th cell. Costs: straight-line metres in UTM 22S (EPSG:32722), computed here with scipy, the
same dense matrix handed to spopt and (as a long table) to geoequity. spopt counts coverage
with cost <= radius, as geoequity does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from scipy.spatial.distance import cdist

from geoequity.siting import site_schools

spopt_locate = pytest.importorskip("spopt.locate")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
pulp = pytest.importorskip("pulp")


@pytest.fixture(scope="module")
def poa(shared_data):
    df = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    x, y = Transformer.from_crs(4326, 32722, always_xy=True).transform(df.lon.to_numpy(),
                                                                       df.lat.to_numpy())
    df["x"], df["y"] = x, y
    dem = df[df.population > 0].iloc[::4]
    cand = df.iloc[::25]
    C = cdist(dem[["x", "y"]].to_numpy(), cand[["x", "y"]].to_numpy())
    w = dem.population.to_numpy() * 0.15
    cids = ("c" + cand.id).to_numpy()
    costs = pd.DataFrame({"origin": np.repeat(dem.id.to_numpy(), len(cand)),
                          "destination": np.tile(cids, len(dem)), "cost": C.ravel()})
    return C, w, costs, pd.Series(w, index=dem.id.to_numpy()), list(cids)


def _cbc():
    return pulp.PULP_CBC_CMD(msg=False)


def _spopt_sites(model, cids):
    return {cids[j] for j in range(len(cids)) if model.fac_vars[j].value() > 0.5}


def test_pmedian_matches_spopt(poa):
    C, w, costs, demand, cids = poa
    ref = spopt_locate.PMedian.from_cost_matrix(C, w, p_facilities=5).solve(_cbc())
    got = site_schools(costs, demand, cids, problem="pmedian", p=5, solver="exact")
    assert got.objective == pytest.approx(ref.problem.objective.value(), rel=1e-7)
    assert set(got.chosen) == _spopt_sites(ref, cids)
    # the heuristic lands on (or within its reported gap of) the same optimum
    he = site_schools(costs, demand, cids, problem="pmedian", p=5, solver="heuristic")
    assert he.bound <= ref.problem.objective.value() * (1 + 1e-9) <= he.objective * (1 + 1e-9)


def test_pmedian_with_existing_matches_spopt_predefined(poa):
    C, w, costs, demand, cids = poa
    fixed = np.zeros(len(cids), bool)
    fixed[[3, 17, 30]] = True                      # three "existing schools"
    ref = spopt_locate.PMedian.from_cost_matrix(C, w, p_facilities=3 + 3,
                                                predefined_facilities_arr=fixed).solve(_cbc())
    ex = [cids[k] for k in np.flatnonzero(fixed)]
    cand = [c for c in cids if c not in ex]
    got = site_schools(costs, demand, cand, problem="pmedian", p=3, existing=ex)
    assert got.objective == pytest.approx(ref.problem.objective.value(), rel=1e-7)
    assert set(got.chosen) == _spopt_sites(ref, cids) - set(ex)


@pytest.mark.parametrize("radius, p", [(1500.0, 5), (1000.0, 8)])
def test_mclp_matches_spopt(poa, radius, p):
    C, w, costs, demand, cids = poa
    ref = spopt_locate.MCLP.from_cost_matrix(C, w, service_radius=radius,
                                             p_facilities=p).solve(_cbc())
    got = site_schools(costs, demand, cids, problem="mclp", p=p, threshold=radius)
    assert got.objective == pytest.approx(ref.problem.objective.value(), rel=1e-9)
    # spopt's own coverage of its chosen sites, recomputed from the matrix
    chosen = [cids.index(c) for c in _spopt_sites(ref, cids)]
    assert w[(C[:, chosen] <= radius).any(axis=1)].sum() == pytest.approx(got.objective)


@pytest.mark.parametrize("radius", [2500.0, 1500.0])
def test_lscp_matches_spopt(poa, radius):
    C, w, costs, demand, cids = poa
    # spopt's LSCP is infeasible when a cell has no candidate within the radius; geoequity
    # leaves such cells out and reports them, so spopt gets the coverable rows only
    ok = (C <= radius).any(axis=1)
    ref = spopt_locate.LSCP.from_cost_matrix(C[ok], service_radius=radius).solve(_cbc())
    got = site_schools(costs, demand, cids, problem="lscp", threshold=radius)
    assert got.objective == pytest.approx(ref.problem.objective.value())
    assert sorted(got.uncoverable) == sorted(demand.index[~ok])
    chosen = [cids.index(c) for c in got.chosen]
    assert (C[ok][:, chosen] <= radius).any(axis=1).all()    # every coverable child covered
