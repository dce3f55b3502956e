//! Points, distances and shapes on the Earth's surface.
//!
//! Part of quill's benchmark data: `quill bench --lsp --scenario rust` opens this file
//! next to report.rs and retypes two functions of report.rs.

const EARTH_RADIUS_KM: f64 = 6371.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone)]
pub struct Stop {
    pub name: String,
    pub at: Point,
    /// Minutes since the start of the trip.
    pub arrival: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct BoundingBox {
    pub min: Point,
    pub max: Point,
}

/// Great-circle distance in kilometres (haversine).
pub fn distance_between(a: Point, b: Point) -> f64 {
    let d_lat = (b.lat - a.lat).to_radians();
    let d_lon = (b.lon - a.lon).to_radians();
    let h = (d_lat / 2.0).sin().powi(2)
        + a.lat.to_radians().cos() * b.lat.to_radians().cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

/// Initial bearing from `a` to `b`, in degrees clockwise from north.
pub fn bearing(a: Point, b: Point) -> f64 {
    let (la, lb) = (a.lat.to_radians(), b.lat.to_radians());
    let d_lon = (b.lon - a.lon).to_radians();
    let y = d_lon.sin() * lb.cos();
    let x = la.cos() * lb.sin() - la.sin() * lb.cos() * d_lon.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

pub fn centroid(points: &[Point]) -> Option<Point> {
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f64;
    let lat = points.iter().map(|p| p.lat).sum::<f64>() / n;
    let lon = points.iter().map(|p| p.lon).sum::<f64>() / n;
    Some(Point { lat, lon })
}

pub fn bounding_box(points: &[Point]) -> Option<BoundingBox> {
    let first = *points.first()?;
    let mut b = BoundingBox { min: first, max: first };
    for p in &points[1..] {
        b.min.lat = b.min.lat.min(p.lat);
        b.min.lon = b.min.lon.min(p.lon);
        b.max.lat = b.max.lat.max(p.lat);
        b.max.lon = b.max.lon.max(p.lon);
    }
    Some(b)
}

impl BoundingBox {
    pub fn contains(&self, p: Point) -> bool {
        (self.min.lat..=self.max.lat).contains(&p.lat) && (self.min.lon..=self.max.lon).contains(&p.lon)
    }
}
