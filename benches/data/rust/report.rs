//! Trip reports over the stops of a route.

use crate::geometry::{Point, Stop, bearing, centroid, distance_between};

#[derive(Debug, Clone)]
pub struct Leg {
    pub from: String,
    pub to: String,
    pub km: f64,
    pub minutes: u32,
}

pub fn legs(stops: &[Stop]) -> Vec<Leg> {
    let mut out = Vec::new();
    for pair in stops.windows(2) {
        let km = distance_between(pair[0].at, pair[1].at);
        let minutes = pair[1].arrival - pair[0].arrival;
        out.push(Leg { from: pair[0].name.clone(), to: pair[1].name.clone(), km, minutes });
    }
    out
}

pub fn total_distance(stops: &[Stop]) -> f64 {
    legs(stops).iter().map(|leg| leg.km).sum()
}

pub fn longest_leg(stops: &[Stop]) -> f64 {
    let mut best = 0.0;
    for i in 1..stops.len() {
        best = f64::max(best, distance_between(stops[i - 1].at, stops[i].at));
    }
    best
}

pub fn headings(stops: &[Stop]) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 1..stops.len() {
        out.push(bearing(stops[i - 1].at, stops[i].at));
    }
    out
}

pub fn middle(stops: &[Stop]) -> Option<Point> {
    let points: Vec<Point> = stops.iter().map(|s| s.at).collect();
    centroid(&points)
}

pub fn summary(stops: &[Stop]) -> String {
    let mut lines = vec![format!("{} stops, {:.1} km", stops.len(), total_distance(stops))];
    for leg in legs(stops) {
        lines.push(format!("  {} -> {}: {:.1} km in {} min", leg.from, leg.to, leg.km, leg.minutes));
    }
    lines.join("\n")
}
