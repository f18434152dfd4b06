"""Degree of Urbanisation: hand-built grids for each rule, and the real Helsinki grid."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geoequity import InputError
from geoequity.urban import degree_of_urbanisation, urbanisation_grid

X0, Y0 = 500_000.0, 3_000_000.0  # whole kilometres of UTM 50N


def grid_250m(km_density: dict[tuple[int, int], float]) -> gpd.GeoDataFrame:
    """16 cells of 250 m per 1 km cell, each holding 1/16 of that km's residents."""
    geoms, pops, keys = [], [], []
    for (i, j), dens in km_density.items():
        for a in range(4):
            for b in range(4):
                x, y = X0 + i * 1000 + a * 250, Y0 + j * 1000 + b * 250
                geoms.append(shapely.box(x, y, x + 250, y + 250))
                pops.append(dens / 16)
                keys.append((i, j))
    gdf = gpd.GeoDataFrame({"pop": pops}, geometry=geoms, crs=32650)
    gdf["km"] = keys
    return gdf


def classes_by_km(gdf: gpd.GeoDataFrame) -> dict:
    cls = degree_of_urbanisation(gdf, "pop")
    out = {}
    for key, c in zip(gdf["km"], cls, strict=True):
        assert out.setdefault(key, c) == c  # every 250 m cell of a km gets the same class
    return out


def test_centre_cluster_rural_rules():
    d = {(i, j): 6000.0 for i in range(3) for j in range(3)}  # 9 km2 x 6000 = 54,000
    d[(10, 10)] = 2600.0  # two cells touching at a corner: 8-connected cluster of 5,200
    d[(11, 11)] = 2600.0
    d[(20, 0)] = 4000.0  # dense but alone: 4,000 < 5,000 -> rural
    d[(30, 0)] = 299.0  # below 300 / km2
    c = classes_by_km(grid_250m(d))
    assert all(c[(i, j)] == "urban centre" for i in range(3) for j in range(3))
    assert c[(10, 10)] == c[(11, 11)] == "urban cluster"
    assert c[(20, 0)] == "rural" and c[(30, 0)] == "rural"


def test_centres_are_four_connected():
    # two 5 x 1 strips of 6,000/km2 (30,000 each) meeting only at a corner: no centre
    # (4-connectivity), but one urban cluster (8-connectivity, 60,000 >= 5,000)
    d = {(i, 0): 6000.0 for i in range(5)}
    d.update({(5 + i, 1): 6000.0 for i in range(5)})
    c = classes_by_km(grid_250m(d))
    assert set(c.values()) == {"urban cluster"}
    # joined along an edge they form a centre of 60,000
    d2 = {(i, 0): 6000.0 for i in range(5)}
    d2.update({(4 + i, 1): 6000.0 for i in range(5)})
    assert set(classes_by_km(grid_250m(d2)).values()) == {"urban centre"}


def test_majority_rule_fills_a_gap():
    # a 3 x 3 block of 7,000/km2 (8 cells = 56,000) with a 1,000/km2 hole in the middle:
    # the hole has 8 of 8 neighbours in the centre, so it joins it
    d = {(i, j): 7000.0 for i in range(3) for j in range(3)}
    d[(1, 1)] = 1000.0
    assert classes_by_km(grid_250m(d))[(1, 1)] == "urban centre"


def test_aggregation_conserves_population_and_handles_messy_rows():
    g = grid_250m({(0, 0): 1600.0, (1, 0): 1600.0})
    g.loc[0, "pop"] = np.nan  # a missing count counts as 0
    g.loc[1, "pop"] = -5  # a negative count counts as 0
    grid = urbanisation_grid(g, "pop")
    assert grid["population"].sum() == pytest.approx(3200 - 200)
    assert sorted(grid["n_cells"]) == [16, 16]
    assert grid.crs == g.crs


def test_geographic_crs_refused():
    g = grid_250m({(0, 0): 2000.0}).to_crs(4326)
    with pytest.raises(InputError, match="projected"):
        degree_of_urbanisation(g, "pop")
    with pytest.raises(InputError, match="population column"):
        degree_of_urbanisation(grid_250m({(0, 0): 1.0}).assign(x=1), "nope")


def test_helsinki_real_grid(shared_data):
    cells = gpd.read_file(shared_data / "helsinki" / "helsinki_population_grid_2020.gpkg")
    cells = cells.to_crs(3067)  # ETRS-TM35FIN, metres
    cls = degree_of_urbanisation(cells, "population")
    assert cls.index.equals(cells.index) and cls.notna().all()
    grid = urbanisation_grid(cells, "population")
    assert grid["population"].sum() == pytest.approx(71_724)
    # central Helsinki: the 1 km cells at >= 1,500/km2 are contiguous and hold > 50,000
    dense = grid[grid["density"] >= 1500]
    assert dense["population"].sum() > 50_000
    assert (dense["class"] == "urban centre").all()
    # the most populous 250 m cell is in the urban centre
    assert cls.loc[cells["population"].idxmax()] == "urban centre"


def test_points_and_invalid_polygons_are_placed_by_their_centre():
    # a self-intersecting "bow-tie" square inside km (0, 0) and a point in km (1, 0)
    bowtie = shapely.Polygon([(X0 + 100, Y0 + 100), (X0 + 900, Y0 + 900), (X0 + 900, Y0 + 100),
                              (X0 + 100, Y0 + 900)])
    assert not bowtie.is_valid
    g = gpd.GeoDataFrame({"pop": [3000.0, 3000.0]},
                         geometry=[bowtie, shapely.Point(X0 + 1500, Y0 + 500)], crs=32650)
    grid = urbanisation_grid(g, "pop")
    assert sorted(zip(grid["ix"], grid["iy"], strict=True)) == [(0, 0), (1, 0)]
    # 6,000 residents in two adjacent dense km cells: an urban cluster, not a centre
    assert set(degree_of_urbanisation(g, "pop")) == {"urban cluster"}


def test_wuhan_worldpop_centre(shared_data):
    """Real WorldPop raster of women + men aged 20-24. That band alone (a tenth of residents,
    concentrated around universities) yields urban centres only in central Wuhan; scaled to all
    residents (x10, the assumption stated here) central Hankou becomes an urban centre and the
    far countryside stays rural."""
    import rasterio
    from rasterio.transform import xy

    bands = [shared_data / "wuhan" / f"pop_20_{s}_wuhan.tif" for s in "fm"]
    with rasterio.open(bands[0]) as src:
        f = src.read(1, masked=True)
        transform, crs = src.transform, src.crs
    with rasterio.open(bands[1]) as src:
        m = src.read(1, masked=True)
    valid = ~np.ma.getmaskarray(f) & ~np.ma.getmaskarray(m)  # nodata -3.4e38 masked out
    rows, cols = np.nonzero(valid)
    pop = f.data[rows, cols].astype(float) + m.data[rows, cols].astype(float)
    xs, ys = xy(transform, rows, cols)
    cells = gpd.GeoDataFrame({"pop": pop}, geometry=shapely.points(xs, ys), crs=crs)
    cells = cells.to_crs(32650)
    grid = urbanisation_grid(cells, "pop")
    assert grid["population"].sum() == pytest.approx(514_895 + 579_156, rel=1e-3)
    centre = gpd.GeoSeries(shapely.points([114.30], [30.59]), crs=4326).to_crs(32650).iloc[0]
    centres = grid[grid["class"] == "urban centre"]
    assert len(centres) > 0
    assert centres.distance(centre).max() < 25_000  # all within 25 km of the city centre

    scaled = urbanisation_grid(cells.assign(pop=cells["pop"] * 10), "pop")
    probe = gpd.GeoSeries(shapely.points([114.2573, 114.9], [30.6194, 31.3]), crs=4326)
    hit = gpd.sjoin(gpd.GeoDataFrame(geometry=probe.to_crs(32650)), scaled, predicate="within")
    classes = dict(zip(hit.index, hit["class"], strict=True))
    assert classes[0] == "urban centre"  # Huanan market, Hankou
    assert classes.get(1, "rural") == "rural"  # the far north-east of the municipality


# ---- [population] residents: classify on all residents, not on the children counted -------


def _write_km_raster(path, values: np.ndarray) -> None:
    """A north-up raster of 1 km pixels in UTM 50N, top-left corner at (X0, Y0 + 5 km)."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(X0, Y0 + 5000, 1000, 1000), nodata=-1) as dst:
        dst.write(values.astype("float32"), 1)


def _km_rasters(tmp_path):
    """5 x 5 km: a 3 x 3 block of 6,000 residents per km2 (54,000: an urban centre), two
    adjacent km of 3,000 (6,000: an urban cluster), 100 elsewhere (rural). The children
    (8 % of residents) alone are 480 and 240 per km2: below every threshold at the cluster
    totals (4,320 < 5,000), so they make everything rural."""
    res = np.full((5, 5), 100.0)
    res[0:3, 0:3] = 6000.0
    res[4, 3:5] = 3000.0
    _write_km_raster(tmp_path / "residents.tif", res)
    _write_km_raster(tmp_path / "children.tif", res * 0.08)
    return res


def test_residents_raster_drives_the_classification(tmp_path, capsys):
    from geoequity.io import read_population
    from geoequity.urban import residents_column

    res = _km_rasters(tmp_path)
    cells = read_population(tmp_path / "children.tif", residents=tmp_path / "residents.tif",
                            crs=32650)
    assert cells["residents"].sum() == pytest.approx(res.sum())
    assert cells["children"].sum() == pytest.approx(res.sum() * 0.08, rel=1e-6)
    assert residents_column(cells) == "residents"
    by_cell = dict(zip(zip(cells["row"], cells["col"], strict=True),
                       degree_of_urbanisation(cells, "residents"), strict=True))
    expected = {(r, c): "rural" for r in range(5) for c in range(5)}
    expected.update({(r, c): "urban centre" for r in range(3) for c in range(3)})
    expected.update({(4, 3): "urban cluster", (4, 4): "urban cluster"})
    assert by_cell == expected
    # the children alone: every cell rural, and a warning says why
    kids = cells.drop(columns=["residents"])
    capsys.readouterr()
    assert residents_column(kids) == "children"
    assert "classified on the child counts only" in capsys.readouterr().err
    assert set(degree_of_urbanisation(kids, "children")) == {"rural"}


def test_residents_column_and_child_share(tmp_path, capsys):
    from geoequity.io import read_population
    from geoequity.urban import residents_column

    pts = gpd.GeoDataFrame({"kids": [10.0, 20.0], "all": [120.0, 250.0]},
                           geometry=shapely.points([X0, X0 + 900], [Y0, Y0]), crs=32650)
    cells = read_population(pts, count_col="kids", residents="all")
    assert cells["residents"].tolist() == [120.0, 250.0]
    # residents scaled by child_share: population holds all residents, no warning
    scaled = read_population(pts, count_col="all", child_share=0.1)
    capsys.readouterr()
    assert residents_column(scaled) == "population"
    assert "child counts only" not in capsys.readouterr().err
    with pytest.raises(InputError, match="neither a raster nor a column"):
        read_population(pts, count_col="kids", residents="adults")


def test_scenario_residents_key(tmp_path):
    from geoequity.scenario import _residents_source, load_scenario

    toml = tmp_path / "s.toml"
    toml.write_text('[schools]\npath = "s.csv"\n[population]\npath = "c.tif"\n'
                    'residents = "all_ages.tif"\n[analysis]\nthreshold = 1000\n',
                    encoding="utf-8")
    sc = load_scenario(toml)
    assert Path(_residents_source(sc)) == tmp_path / "all_ages.tif"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"all_ages.tif"', '"pop_total"'),
                    encoding="utf-8")
    assert _residents_source(load_scenario(toml)) == "pop_total"
