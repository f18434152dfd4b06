"""Coordinate systems: local UTM choice, projection for distances, China's web-map systems.

Distances in geoequity are metres in a projected CRS. Layers come in many systems; this module
brings them to one: a named CRS, or the UTM zone of the data's extent. It also accepts the two
coordinate systems of Chinese web maps, which are not EPSG systems but obfuscated lon/lat:

- ``gcj02`` (GCJ-02, "Mars coordinates", used by Amap/Gaode, Tencent and Google in China);
- ``bd09`` (BD-09, Baidu maps: GCJ-02 with a further rotation and offset).

They are converted to WGS84 with the published formulas (the widely used ``eviltransform`` /
``coordtransform`` implementations of the GCJ-02 shift; BD-09 per Baidu's documented
offset). The GCJ-02 inverse is solved by fixed-point iteration to better than 1e-9 degrees,
not by the one-step approximation (which is off by up to about a metre).
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS

from geoequity._errors import input_error

# Krasovsky 1940 ellipsoid as used by the GCJ-02 shift.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

CHINA_SYSTEMS = ("gcj02", "bd09")


def _shift(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 lon/lat."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def in_china(lon, lat) -> np.ndarray:
    """Rough mainland-China box in which the GCJ-02 shift applies (outside it, no shift)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 lon/lat (degrees, arrays or scalars) to GCJ-02."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _shift(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon, lat, *, tol: float = 1e-10, max_iter: int = 30):
    """Invert the GCJ-02 shift: GCJ-02 lon/lat (degrees) to WGS84, by fixed-point iteration."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return wlon, wlat


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 lon/lat to Baidu BD-09 lon/lat."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Baidu BD-09 lon/lat to GCJ-02 lon/lat."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Baidu BD-09 lon/lat to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat to Baidu BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def parse_input_crs(value):
    """Normalise a user's CRS declaration: ``"gcj02"``, ``"bd09"`` or anything pyproj accepts.

    Returns the lower-case China system name, a :class:`pyproj.CRS`, or ``None``.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower().replace("-", "") in CHINA_SYSTEMS:
        return value.strip().lower().replace("-", "")
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises CRSError
        raise input_error("CRS", f"{value!r} is not a coordinate reference system pyproj knows",
                          "use e.g. EPSG:4326, EPSG:32650, gcj02 or bd09") from exc


def utm_crs_for(data) -> CRS:
    """The WGS84 UTM zone CRS containing the centre of ``data``'s extent.

    Parameters
    ----------
    data
        A GeoDataFrame/GeoSeries with a CRS, or a ``(minlon, minlat, maxlon, maxlat)`` tuple in
        degrees.
    """
    if isinstance(data, tuple | list | np.ndarray):
        minx, miny, maxx, maxy = data
    else:
        minx, miny, maxx, maxy = data.to_crs(4326).total_bounds
    lon = (minx + maxx) / 2.0
    lat = (miny + maxy) / 2.0
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def is_metric(crs) -> bool:
    """True for a projected CRS in metres fit for distances (not Web Mercator)."""
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        return False
    # Web Mercator and other Mercator projections stretch distances by 1/cos(latitude)
    method = (crs.coordinate_operation.method_name if crs.coordinate_operation else "").lower()
    if "mercator" in method and "transverse" not in method:
        return False
    units = {(ax.unit_name or "").lower() for ax in crs.axis_info}
    return units <= {"metre", "meter", "m"}


def _mislabelled(gdf) -> bool:
    """A layer labelled lon/lat whose coordinates are not degrees (GeoJSON without a ``crs``
    member is read as EPSG:4326 whatever it holds): its label is wrong."""
    if not gdf.crs.is_geographic or len(gdf) == 0:
        return False
    minx, miny, maxx, maxy = gdf.total_bounds
    return bool(max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90)


def declare_crs(gdf, input_crs, source):
    """Give ``gdf`` its CRS: the file's own, a declared EPSG/WKT, or a China web-map system.

    A China system (``gcj02``/``bd09``) means the coordinates are lon/lat in that system; they
    are converted to WGS84 here (a layer without a CRS or labelled lon/lat: web-map exports
    carry an EPSG:4326 label); a layer in a projected CRS keeps it. Any other declaration applies to a layer without a CRS (or
    labelled lon/lat while its coordinates are not degrees); a layer's own CRS is kept, and
    said so. A layer with no CRS and no declaration is refused.
    """
    declared = parse_input_crs(input_crs)
    if isinstance(declared, str) and gdf.crs is not None and not gdf.crs.is_geographic:
        # a projected layer (e.g. the UTM cells of a run) is not in a web-map system: one
        # --input-crs gcj02 meant for the lon/lat files must not refuse or move it
        from geoequity._progress import info

        info(f"  {source}: has its own projected CRS ({gdf.crs.to_string()}); the declared "
             f"{declared} (lon/lat of a Chinese web map) is not applied to it")
        return gdf
    if isinstance(declared, str):
        import geopandas as gpd
        import shapely

        conv = gcj02_to_wgs84 if declared == "gcj02" else bd09_to_wgs84
        coords = shapely.get_coordinates(gdf.geometry.values)
        if len(coords):
            if np.nanmax(np.abs(coords[:, 0])) > 180 or np.nanmax(np.abs(coords[:, 1])) > 90:
                raise input_error(source, f"declared as {declared} but its coordinates are not "
                                  "longitude/latitude degrees", "declare its real CRS instead")
            wlon, wlat = conv(coords[:, 0], coords[:, 1])
            coords = np.column_stack([wlon, wlat])
        geoms = shapely.set_coordinates(gdf.geometry.values.copy(), coords)
        return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index), crs=4326)
    if declared is not None:
        if gdf.crs is not None and not gdf.crs.equals(declared) and not _mislabelled(gdf):
            # the file says where it is; a declaration meant for files without a CRS (one
            # --input-crs for every input) must not move it to the wrong place
            from geoequity._progress import info

            info(f"  {source}: has its own CRS ({gdf.crs.to_string()}); the declared "
                 f"{declared.to_string()} is not applied to it")
            return gdf
        return gdf.set_crs(declared, allow_override=True)
    if gdf.crs is None:
        raise input_error(source, "has no coordinate reference system (CRS)",
                          "declare one: input_crs='EPSG:4326' in Python, --input-crs EPSG:4326 "
                          "on the command line, input_crs = \"EPSG:4326\" in the scenario, or add "
                          "a .prj file beside a shapefile")
    return gdf


def distance_crs(crs) -> CRS:
    """The CRS a user names to work in (``crs=``, ``--crs``, ``[analysis] crs``), checked: it
    must be a projected CRS in metres that keeps distances (not lon/lat, feet or Mercator)."""
    if isinstance(crs, CRS) and is_metric(crs):
        return crs
    where = "--crs (crs)"
    try:
        parsed = CRS.from_user_input(crs)
    except Exception:  # pyproj raises CRSError
        raise input_error(where, f"{crs!r} is not a coordinate reference system pyproj knows",
                          "use a projected CRS in metres, e.g. the UTM zone EPSG:326xx, or "
                          "leave it out to use the local UTM zone") from None
    if is_metric(parsed):
        return parsed
    name = crs if isinstance(crs, str) else parsed.to_string()
    if parsed.is_projected and (parsed.coordinate_operation is not None
                                and "mercator" in parsed.coordinate_operation.method_name.lower()):
        why = ("is a Mercator projection: it stretches distances by 1/cos(latitude) (16 % at "
               "30 degrees)")
    elif parsed.is_projected:
        why = "is not in metres"
    else:
        why = "is not projected in metres (lon/lat degrees are no distance)"
    raise input_error(where, f"{name} {why}", "use the local UTM zone (leave --crs out) or "
                      "another projected CRS in metres")


def to_projected(gdf, crs=None):
    """Reproject ``gdf`` to ``crs`` or, when none is named, to a CRS in metres fit for distances.

    A layer already in a projected CRS in metres is kept as it is; anything else (lon/lat,
    projected in US feet) goes to the UTM zone of its extent. A named ``crs`` must itself be
    projected in metres (:func:`distance_crs`).
    """
    if crs is not None:
        return gdf.to_crs(distance_crs(crs))
    if gdf.crs is not None and is_metric(gdf.crs):
        return gdf
    return gdf.to_crs(utm_crs_for(gdf))
