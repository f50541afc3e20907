//! Distances on the Earth: a point as a unit vector, so the nearest store by straight
//! (chord) distance in three dimensions is the nearest by great-circle distance, and a
//! spatial index over vectors answers "nearest store" without scanning every store.

/// Mean Earth radius (IUGG), kilometres.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// The unit vector of a latitude / longitude in degrees.
pub fn unit_vector(latitude: f64, longitude: f64) -> [f64; 3] {
    let (phi, lambda) = (latitude.to_radians(), longitude.to_radians());
    [phi.cos() * lambda.cos(), phi.cos() * lambda.sin(), phi.sin()]
}

/// Great-circle distance (km) of two unit vectors, from their chord.
pub fn chord_to_km(a: [f64; 3], b: [f64; 3]) -> f64 {
    let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    2.0 * EARTH_RADIUS_KM * (chord / 2.0).min(1.0).asin()
}

/// Great-circle distance (km) between two latitude / longitude points in degrees.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    chord_to_km(unit_vector(a.0, a.1), unit_vector(b.0, b.1))
}

/// The distance band of a distance, as its label (`0–5 km`, … `50+ km`).
pub fn band(km: f64) -> &'static str {
    match km {
        km if km < 5.0 => "0–5 km",
        km if km < 10.0 => "5–10 km",
        km if km < 25.0 => "10–25 km",
        km if km < 50.0 => "25–50 km",
        _ => "50+ km",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// London (51.5074, −0.1278) to Paris (48.8566, 2.3522): 343.5 km by the haversine
    /// formula on a sphere of the mean radius (as the common calculators give).
    #[test]
    fn london_to_paris() {
        let km = distance_km((51.5074, -0.1278), (48.8566, 2.3522));
        assert!((km - 343.5).abs() < 0.5, "{km}");
        assert!(distance_km((10.0, 20.0), (10.0, 20.0)).abs() < 1e-9);
        assert!((distance_km((0.0, 0.0), (0.0, 180.0)) - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }
}
