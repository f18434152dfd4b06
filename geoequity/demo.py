"""The embedded demo: a synthetic, deterministic county written by this code (no copied data).

"Demo County" is **synthetic**. It is laid out to show the problems geoequity exists to find:

- a dense urban core (Chengguan, Beiyuan) with big schools, one of which, in the ageing old
  town, has far more seats than children near it (an under-used urban school);
- a growing suburb (Dongxin New Town) whose new housing estates hold thousands of children
  but whose two schools were built for a village (a suburban seat shortfall);
- rural townships (Xishan, Nanhu, Hedong) with small schools far apart and children in
  scattered villages (long rural trips).

It writes, into a folder: ``residents.tif`` (residents per 100 m pixel, a GeoTIFF like
WorldPop), ``schools.csv`` (lon/lat WGS84, seats, level, type and resource columns, classes,
classrooms and public funds), ``districts.geojson`` (6 districts), ``streets.gpkg`` (a noded
street network of line segments), ``checklist.csv`` and ``teachers.csv`` (the county's
answers to the other 2017 evaluation items, and its teachers' rotation), the examples'
small files ``estates.csv`` (planned housing), ``candidates.csv`` (candidate school sites)
and ``proposal.geojson`` (a boundary proposal), and ``demo.toml``
(the scenario that analyses it). The schools include a teaching point of 46 pupils and a
special-education school (level ``special``), which the 2017 resource evaluation leaves out.
Everything is drawn from one seeded random generator, so the
same version of geoequity always writes the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._atomic import atomic_path, write_text

CRS = "EPSG:32650"  # UTM zone 50N: the demo sits in central China, in metres
X0, Y0 = 760_000.0, 3_370_000.0  # south-west corner of the county
WIDTH, HEIGHT = 16_000.0, 12_000.0  # metres
PIXEL = 100.0  # population grid resolution (m)
STREET = 200.0  # street lattice spacing (m)
SEED = 20261123


@dataclass(frozen=True)
class Place:
    name: str
    x: float  # metres from the south-west corner
    y: float
    kind: str  # core, oldtown, suburb, township


URBAN_CENTRE = Place("Chengguan", 6_000, 6_000, "core")
OLD_TOWN = Place("Old Town", 5_300, 5_600, "oldtown")
NEW_TOWN = Place("Dongxin New Town", 11_300, 7_200, "suburb")
TOWNSHIPS = (
    Place("Xishan", 1_800, 9_600, "township"),
    Place("Nanhu", 4_200, 1_600, "township"),
    Place("Hedong", 14_200, 2_400, "township"),
    Place("Beiling", 9_200, 10_800, "township"),
)

# Districts: seed points whose Voronoi cells, clipped to the county, are the districts.
DISTRICT_SEEDS = (
    ("Chengguan", 5_600, 5_400),
    ("Beiyuan", 7_400, 8_100),
    ("Dongxin", 11_800, 6_600),
    ("Xishan", 1_800, 8_800),
    ("Nanhu", 4_400, 1_800),
    ("Hedong", 13_600, 2_000),
)

# (id, name, level, x, y, seats). Seats are planned capacity.
SCHOOLS = (
    ("P01", "Chengguan No.1 Primary", "primary", 6_050, 6_150, 2_160),
    ("P02", "Old Town Central Primary", "primary", 5_250, 5_550, 2_400),
    ("P03", "Riverside Primary", "primary", 6_900, 5_300, 1_800),
    ("P04", "Beiyuan Primary", "primary", 7_300, 8_000, 2_160),
    ("P05", "Wenhua Road Primary", "primary", 4_600, 7_000, 2_160),
    ("P06", "Station Primary", "primary", 7_600, 6_400, 2_160),
    ("P13", "Beiyuan No.2 Primary", "primary", 8_200, 8_900, 2_160),
    ("P14", "Wenchang Primary", "primary", 6_500, 7_600, 2_160),
    ("P07", "Dongxin Primary", "primary", 10_900, 7_400, 1_080),
    ("P08", "Dongxin Village Primary", "primary", 12_000, 6_500, 540),
    ("P09", "Xishan Central Primary", "primary", 1_850, 9_500, 720),
    ("P10", "Nanhu Primary", "primary", 4_150, 1_700, 540),
    ("P11", "Hedong Primary", "primary", 14_150, 2_450, 360),
    ("P12", "Beiling Teaching Point", "primary", 9_150, 10_750, 180),
    ("P15", "Xinhua Street Primary", "primary", 4_900, 4_600, 1_350),
    ("P16", "Nanmen Primary", "primary", 6_300, 4_300, 1_080),
    ("P17", "Ximen Primary", "primary", 3_900, 5_900, 1_080),
    ("P18", "Gongyuan Road Primary", "primary", 8_400, 7_300, 1_350),
    ("J01", "Chengguan Junior Middle", "junior", 6_400, 6_700, 2_400),
    ("J02", "Beiyuan Junior Middle", "junior", 7_000, 8_600, 1_500),
    ("J03", "Xishan Junior Middle", "junior", 2_000, 9_300, 600),
    ("J04", "Hedong Nine-Year School", "combined", 14_000, 2_600, 720),
)


def _surface(xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Residents per 100 m pixel over the county (before noise)."""

    def bump(place: Place, peak: float, radius: float, power: float = 2.0) -> np.ndarray:
        d = np.hypot(xx - place.x, yy - place.y) / radius
        return peak * np.exp(-(d ** power))

    pop = bump(URBAN_CENTRE, 170.0, 1_900.0, 1.6)
    pop += bump(Place("Beiyuan", 7_300, 8_200, "core"), 90.0, 1_100.0)
    pop *= 1.0 - 0.8 * np.exp(-((np.hypot(xx - OLD_TOWN.x, yy - OLD_TOWN.y) / 900.0) ** 2))
    # new town: estates on a block pattern (housing blocks with roads between them)
    blocks = ((np.floor(xx / 300) + np.floor(yy / 300)) % 3 != 0).astype(float)
    pop += bump(NEW_TOWN, 170.0, 1_350.0, 3.0) * (0.45 + 0.55 * blocks)
    for town in TOWNSHIPS:
        pop += bump(town, 45.0, 450.0)
    # villages: small clusters scattered over the countryside
    vx = rng.uniform(300, WIDTH - 300, 70)
    vy = rng.uniform(300, HEIGHT - 300, 70)
    for x, y, size in zip(vx, vy, rng.uniform(8, 22, 70), strict=True):
        pop += size * np.exp(-((np.hypot(xx - x, yy - y) / 220.0) ** 2))
    pop *= rng.lognormal(0.0, 0.25, pop.shape)
    pop[pop < 2.5] = 0.0  # unsettled land: farmland, hills, water
    return np.round(pop, 1)


def residents_grid(rng: np.random.Generator) -> np.ndarray:
    """Residents per pixel as a (rows, cols) array, row 0 at the north edge."""
    ncol, nrow = int(WIDTH / PIXEL), int(HEIGHT / PIXEL)
    xs = (np.arange(ncol) + 0.5) * PIXEL
    ys = HEIGHT - (np.arange(nrow) + 0.5) * PIXEL
    xx, yy = np.meshgrid(xs, ys)
    return _surface(xx, yy, rng)


def _street_segments(rng: np.random.Generator, residents: np.ndarray) -> np.ndarray:
    """Street segments on a jittered 200 m lattice, kept where people live plus country roads.

    Returns an (n, 4) array x1, y1, x2, y2 in county metres. Segments meet only at lattice
    nodes, so the layer is already noded (a routable graph without further splitting).
    """
    nx, ny = int(WIDTH / STREET) + 1, int(HEIGHT / STREET) + 1
    gx, gy = np.meshgrid(np.arange(nx) * STREET, np.arange(ny) * STREET)
    jx = gx + rng.uniform(-25, 25, gx.shape)
    jy = gy + rng.uniform(-25, 25, gy.shape)

    def density_at(x, y):
        col = np.clip((x / PIXEL).astype(int), 0, residents.shape[1] - 1)
        row = np.clip(((HEIGHT - y) / PIXEL).astype(int), 0, residents.shape[0] - 1)
        # local mean over a 3x3 pixel window
        acc = np.zeros_like(x, dtype=float)
        for dr in (-2, 0, 2):
            for dc in (-2, 0, 2):
                rr = np.clip(row + dr, 0, residents.shape[0] - 1)
                cc = np.clip(col + dc, 0, residents.shape[1] - 1)
                acc += residents[rr, cc]
        return acc / 9.0

    segs = []
    for horizontal in (True, False):
        if horizontal:
            i, j = np.meshgrid(np.arange(ny), np.arange(nx - 1), indexing="ij")
            a, b = (i, j), (i, j + 1)
            line_idx = i
        else:
            i, j = np.meshgrid(np.arange(ny - 1), np.arange(nx), indexing="ij")
            a, b = (i, j), (i + 1, j)
            line_idx = j
        x1, y1, x2, y2 = jx[a], jy[a], jx[b], jy[b]
        mid = density_at((x1 + x2) / 2, (y1 + y2) / 2)
        country_road = (line_idx % 7 == 3)  # a coarse 1.4 km grid of country roads
        settled = mid > 3.0
        keep = (settled & (rng.random(mid.shape) > 0.04)) | country_road
        segs.append(np.column_stack([x1[keep], y1[keep], x2[keep], y2[keep]]))
    return np.vstack(segs)


def _districts(seeds_xy=DISTRICT_SEEDS) -> gpd.GeoDataFrame:
    seeds = shapely.points([(X0 + x, Y0 + y) for _, x, y in seeds_xy])
    county = shapely.box(X0, Y0, X0 + WIDTH, Y0 + HEIGHT)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                       extend_to=county))
    cells = shapely.intersection(cells, county)
    # order Voronoi cells like the seeds
    order = [int(np.flatnonzero(shapely.contains(cells, s))[0]) for s in seeds]
    names = [n for n, _, _ in seeds_xy]
    kinds = ["urban", "urban", "suburban", "rural", "rural", "rural"]
    return gpd.GeoDataFrame({"district": names, "type": kinds},
                            geometry=cells[order], crs=CRS)


# Synthetic pupils per class (the demo shows 大班额 and 超大班额 classes in the crowded
# schools); other schools: urban primary 44, rural 34, junior 48, the teaching point 16.
CLASS_SIZE = {"P01": 52, "P04": 48, "P07": 60, "P08": 72, "J01": 55}
# The Beiling teaching point has 46 pupils: under 50, so the 2017 evaluation leaves it out.
TEACHING_POINT = ("P12", 46)
# A special-education school (synthetic; level "special": it serves no primary catchment, so
# the seat figures of the primary run are those of the other schools alone).
SPECIAL_SCHOOL = {
    "school_id": "S01", "name": "Demo County Special Education School", "level": "special",
    "seats": 120, "enrolment": 85, "teachers": 28, "teachers_qualified": 26,
    "teachers_senior_title": 12, "backbone_teachers": 3, "pe_arts_teachers": 4,
    "floor_area_m2": 1_900, "sports_area_m2": 1_200, "equipment_value_yuan": 510_000.0,
    "computers": 30, "books": 4_200, "multimedia_classrooms": 8, "funding_yuan": 1_190_000,
    "type": "特殊教育学校", "classes": 10, "classrooms": 12, "public_funds_yuan": 552_500,
    "x": X0 + 5_800, "y": Y0 + 6_600,
}


def _operations(sid: str, level: str, seats: int, enrol: int, urban: bool) -> dict:
    """Synthetic type, classes, classrooms and public funds of one school (no random draw)."""
    junior = level != "primary"
    size = CLASS_SIZE.get(sid, 16 if sid == TEACHING_POINT[0] else
                          48 if junior else 44 if urban else 34)
    per_pupil = (1_000 if urban else 900) if junior else (800 if urban else 720)
    return {"type": "教学点" if sid == TEACHING_POINT[0] else "普通学校",
            "classes": max(1, -(-enrol // size)),
            "classrooms": -(-seats // (50 if junior else 45)),
            "public_funds_yuan": int(round(enrol * per_pupil, -2))}


def _schools(rng: np.random.Generator) -> gpd.GeoDataFrame:
    rows = []
    for sid, name, level, x, y, seats in SCHOOLS:
        urban = x < 9_000 and 3_500 < y < 9_500
        # Enrolment: urban schools full except the old-town one; suburbs over capacity.
        fill = {"P02": 0.55, "P07": 1.35, "P08": 1.4}.get(sid, rng.uniform(0.85, 1.02))
        enrol = int(round(seats * fill))
        if sid == TEACHING_POINT[0]:   # the draw above is kept, so other schools stay as they were
            enrol = TEACHING_POINT[1]
        per = 1 / 100.0
        teachers = enrol * per * (5.6 if urban else 4.4) * rng.uniform(0.9, 1.1)
        rows.append({
            "school_id": sid, "name": name, "level": level, "seats": seats,
            "enrolment": enrol,
            "teachers": round(teachers),
            "teachers_qualified": round(teachers * (0.92 if urban else 0.7)),
            "teachers_senior_title": round(teachers * (0.5 if urban else 0.25)),
            "backbone_teachers": round(enrol * per * (1.6 if urban else 0.5)),
            "pe_arts_teachers": round(enrol * per * (1.2 if urban else 0.6)),
            "floor_area_m2": round(enrol * (6.5 if urban else 4.0) * rng.uniform(0.9, 1.1)),
            "sports_area_m2": round(enrol * (6.0 if urban else 11.0) * rng.uniform(0.8, 1.2)),
            "equipment_value_yuan": round(enrol * (3_200 if urban else 1_400)
                                          * rng.uniform(0.9, 1.1), -2),
            "computers": round(enrol * per * (14 if urban else 6)),
            "books": round(enrol * (38 if urban else 22) * rng.uniform(0.85, 1.15)),
            "multimedia_classrooms": max(1, round(enrol * per * (3.0 if urban else 1.6))),
            "funding_yuan": round(enrol * (9_000 if urban else 7_000), -3),
            **_operations(sid, level, seats, enrol, urban),
            "x": X0 + x, "y": Y0 + y,
        })
    rows.append(SPECIAL_SCHOOL)
    df = pd.DataFrame(rows)
    gdf = gpd.GeoDataFrame(df.drop(columns=["x", "y"]),
                           geometry=gpd.points_from_xy(df["x"], df["y"]), crs=CRS)
    return gdf


SCENARIO = """\
# Demo County (SYNTHETIC data written by geoequity.demo): primary-school seats.
# Paths are relative to this file's folder.
title = "Demo County (synthetic): can every primary-school child reach a seat?"

[schools]
path = "demo/schools.csv"
id = "school_id"
seats = "seats"
level = "level"
name = "name"
type = "type"               # 普通学校 / 教学点 / 特殊教育学校: the 2017 evaluation's exclusions

[evaluation]
checklist = "demo/checklist.csv"   # the county's answers to the other 2017 items (synthetic)
teachers = "demo/teachers.csv"     # one row per teacher: rotation shares (synthetic)

[population]
path = "demo/residents.tif"
child_share = 0.08          # share of residents aged 6-11 (primary age); synthetic assumption

[districts]
path = "demo/districts.geojson"
name = "district"

[network]
path = "demo/streets.gpkg"
mode = "walk"

[analysis]
level = "primary"           # analyse primary schools (combined schools count too)
threshold = 1500            # walking metres along streets (GB 50180-2018 plans primary schools
                            # within about 500 m; 1.5 km is a common walking limit)
max_cost = 8000             # longest trip considered (m); beyond it a child has no school
assignment_max_cost = 3000  # seats farther than 3 km on foot do not count as a place
method = "2sfca"

[outputs]
folder = "../out/demo"
map = "../maps/demo.html"
report = true
lang = "en"
"""

# Planned estates (SYNTHETIC): (id, name, x, y, dwellings, first completion year, build-out
# years). The last lies east of the populated grid: it is joined to the nearest cell.
ESTATES = (
    ("E1", "Dongxin Phase 3", 11_600, 7_600, 2_400, 2028, 3),
    ("E2", "Dongxin Riverside", 12_200, 7_000, 1_800, 2027, 2),
    ("E3", "Beiyuan Garden", 7_800, 8_400, 1_200, 2029, 1),
    ("E4", "Chengguan Renewal", 6_200, 5_900, 600, 2031, 1),
    ("E5", "Hedong Logistics Housing", 15_800, 3_000, 300, 2030, 1),
)
# Candidate school sites (SYNTHETIC): (id, name, x, y, seats, build cost in 10,000 yuan), for
# `geoequity site --candidates data/demo/candidates.csv`: parcels in the short new town and
# in the rural townships where trips are long.
CANDIDATES = (
    ("C01", "Dongxin Phase 3 school parcel", 11_500, 7_700, 1_620, 9_000),
    ("C02", "Dongxin east parcel", 12_500, 7_300, 1_080, 6_500),
    ("C03", "Dongxin south parcel", 11_300, 6_500, 1_080, 6_500),
    ("C04", "Beiyuan north parcel", 7_900, 9_600, 1_080, 7_000),
    ("C05", "Xishan west parcel", 1_100, 8_800, 540, 3_500),
    ("C06", "Nanhu north parcel", 4_600, 2_900, 540, 3_500),
    ("C07", "Hedong east parcel", 15_000, 2_000, 540, 3_500),
    ("C08", "Beiling parcel", 9_400, 10_300, 540, 3_500),
)
# A boundary proposal (SYNTHETIC): the districts redrawn from moved seeds (Beiyuan, with seats
# to spare, takes the west of short Dongxin), for `districts compare` and `[[proposals]]`.
PROPOSAL_SEEDS = (
    ("Chengguan", 5_600, 5_000),
    ("Beiyuan", 8_200, 8_000),
    ("Dongxin", 12_600, 6_300),
    ("Xishan", 1_800, 8_800),
    ("Nanhu", 4_400, 1_800),
    ("Hedong", 13_600, 2_000),
)
# Births per year (SYNTHETIC): falling by about 4 % a year, as in much of China since 2017.
BIRTHS = {year: round(5_400 * 0.96 ** (year - 2014)) for year in range(2010, 2032)}

FORECAST_SCENARIO = SCENARIO.replace(
    "# Demo County (SYNTHETIC data written by geoequity.demo): primary-school seats.",
    "# Demo County (SYNTHETIC data written by geoequity.demo): primary-school seats over ten\n"
    "# years, with falling births and new housing estates (demo/births.csv, demo/estates.csv\n"
    "# are synthetic too).").replace(
    'title = "Demo County (synthetic): can every primary-school child reach a seat?"',
    'title = "Demo County (synthetic): primary-school seats over the next ten years"').replace(
    'folder = "../out/demo"\nmap = "../maps/demo.html"',
    'folder = "../out/demo_forecast"\nmap = "../maps/demo_forecast.html"') + """
[forecast]
base_year = 2026
horizon = 10                # years after the base year
births = "demo/births.csv"  # children of school age follow the births six to eleven years before
birth_lag = 6               # primary grade 1 at age 6 (China)
grades = ["1", "2", "3", "4", "5", "6"]

[[housing]]
path = "demo/estates.csv"   # planned estates (points, lon/lat)
units = "dwellings"         # dwellings column
year = "completion_year"    # first completion year column
build_years = "build_years" # dwellings complete evenly over this many years
preset = "cn-primary"       # 70 primary pupils per 1000 residents, 3.2 residents per dwelling
"""


def _candidates() -> pd.DataFrame:
    """The candidate school sites as a lon/lat table (SYNTHETIC)."""
    df = pd.DataFrame(CANDIDATES, columns=["candidate_id", "name", "x", "y", "seats",
                                           "build_cost"])
    pts = gpd.GeoSeries(gpd.points_from_xy(X0 + df["x"], Y0 + df["y"]), crs=CRS).to_crs(4326)
    df.insert(2, "lon", pts.x.round(7))
    df.insert(3, "lat", pts.y.round(7))
    return df.drop(columns=["x", "y"])


def _estates() -> pd.DataFrame:
    """The planned estates as a lon/lat table (SYNTHETIC)."""
    df = pd.DataFrame(ESTATES, columns=["estate_id", "name", "x", "y", "dwellings",
                                        "completion_year", "build_years"])
    pts = gpd.GeoSeries(gpd.points_from_xy(X0 + df["x"], Y0 + df["y"]), crs=CRS).to_crs(4326)
    df.insert(2, "lon", pts.x.round(7))
    df.insert(3, "lat", pts.y.round(7))
    return df.drop(columns=["x", "y"])


# The county's answers to the 2017 items geoequity cannot compute (SYNTHETIC). School size,
# class size, small-school and special-school funding and teacher rotation are computed.
CHECKLIST = """\
indicator,value,note
layout_plan,是,synthetic demo value
building_standard,是,synthetic demo value
music_art_rooms,否,synthetic demo value
teacher_salary,是,synthetic demo value
teacher_training_hours,100%,synthetic demo value
staffing_allocation,是,synthetic demo value
teacher_certificate,99.2%,synthetic demo value
nearby_enrolment_primary,100%,synthetic demo value
nearby_enrolment_junior,96.5%,synthetic demo value
special_school_funding,6500,synthetic demo value (computed where the schools include S01)
high_school_quota,52%,synthetic demo value
migrant_children,88%,synthetic demo value
初中三年巩固率,97.1%,synthetic demo value
残疾儿童少年入学率,93%,synthetic demo value
school_charter,是,synthetic demo value
training_funds_share,5.5%,synthetic demo value
ict_teaching,是,synthetic demo value
moral_education,是,synthetic demo value
curriculum,是,synthetic demo value
no_excess_burden,是,synthetic demo value
monitoring_level,是,synthetic demo value
monitoring_school_gap,0.12,synthetic demo value
社会认可度,86.5%,synthetic demo value
"""


def _teachers() -> pd.DataFrame:
    """240 synthetic teachers: 160 eligible for rotation, 27 of them rotated (9 backbone)."""
    n = 240
    idx = np.arange(n)
    eligible = idx % 3 != 0
    rotated = eligible & (idx % 9 == 1)
    backbone = rotated & (idx % 27 == 1) | (~rotated & (idx % 10 == 0))
    return pd.DataFrame({"teacher_id": [f"T{i + 1:03d}" for i in idx],
                         "eligible": np.where(eligible, "yes", "no"),
                         "rotated": np.where(rotated, "yes", "no"),
                         "backbone": np.where(backbone, "yes", "no"),
                         "note": "synthetic"})


def make_demo(folder: str | os.PathLike = "data") -> Path:
    """Write the demo county's inputs and its scenario file into ``folder``.

    Returns the path of the scenario file (``folder/demo.toml``); inputs go to ``folder/demo/``.
    """
    import rasterio
    from rasterio.transform import from_origin

    folder = Path(folder)
    inputs = folder / "demo"
    inputs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    residents = residents_grid(rng).astype("float32")
    transform = from_origin(X0, Y0 + HEIGHT, PIXEL, PIXEL)
    with atomic_path(inputs / "residents.tif") as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", height=residents.shape[0],
                           width=residents.shape[1], count=1, dtype="float32", crs=CRS,
                           transform=transform, nodata=-1.0, compress="deflate",
                           predictor=3) as dst:
            dst.write(np.where(residents > 0, residents, -1.0).astype("float32"), 1)
            dst.update_tags(1, description="Residents per 100 m pixel (SYNTHETIC demo data)")

    segs = _street_segments(rng, residents)
    lines = shapely.linestrings(
        np.stack([segs[:, [0, 1]], segs[:, [2, 3]]], axis=1) + np.array([X0, Y0]))
    streets = gpd.GeoDataFrame({"highway": np.full(len(lines), "residential")},
                               geometry=lines, crs=CRS)
    import pyogrio

    from geoequity.io.write import write_table

    # a fixed GeoPackage timestamp, so --regenerate writes the same bytes every time
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2026-01-01T00:00:00.000Z"})
    try:
        write_table(streets, inputs / "streets.gpkg", layer="streets")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})

    schools = _schools(rng)
    pts = schools.to_crs(4326)
    table = pd.DataFrame(schools.drop(columns="geometry"))
    table.insert(3, "lon", pts.geometry.x.round(7))
    table.insert(4, "lat", pts.geometry.y.round(7))
    write_table(table, inputs / "schools.csv")

    write_table(_districts(), inputs / "districts.geojson")
    write_text(inputs / "checklist.csv", CHECKLIST)
    write_table(_teachers(), inputs / "teachers.csv")
    write_table(_estates(), inputs / "estates.csv")
    write_table(_candidates(), inputs / "candidates.csv")
    write_table(_districts(PROPOSAL_SEEDS), inputs / "proposal.geojson")
    write_table(pd.DataFrame({"year": list(BIRTHS), "births": list(BIRTHS.values())}),
                inputs / "births.csv")
    write_text(folder / "demo.toml", SCENARIO)
    write_text(folder / "demo_forecast.toml", FORECAST_SCENARIO)   # the same county over years
    return folder / "demo.toml"
