// Points, distances and shapes on the Earth's surface.
//
// Part of quill's benchmark data: `quill bench --lsp --scenario typescript` opens this
// file next to report.ts and retypes two functions of report.ts.

export interface Point {
  lat: number;
  lon: number;
}

export interface Stop {
  name: string;
  at: Point;
  arrival: Date;
}

export interface Box {
  min: Point;
  max: Point;
}

const EARTH_RADIUS_KM = 6371;

export function toRadians(degrees: number): number {
  return (degrees * Math.PI) / 180;
}

/** Great-circle distance in kilometres (haversine). */
export function distanceBetween(a: Point, b: Point): number {
  const dLat = toRadians(b.lat - a.lat);
  const dLon = toRadians(b.lon - a.lon);
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(toRadians(a.lat)) * Math.cos(toRadians(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h));
}

/** Initial bearing from `a` to `b`, in degrees clockwise from north. */
export function bearing(a: Point, b: Point): number {
  const y = Math.sin(toRadians(b.lon - a.lon)) * Math.cos(toRadians(b.lat));
  const x =
    Math.cos(toRadians(a.lat)) * Math.sin(toRadians(b.lat)) -
    Math.sin(toRadians(a.lat)) * Math.cos(toRadians(b.lat)) * Math.cos(toRadians(b.lon - a.lon));
  return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
}

export function centroid(points: Point[]): Point {
  if (points.length === 0) {
    throw new Error("centroid of no points");
  }
  let lat = 0;
  let lon = 0;
  for (const p of points) {
    lat += p.lat;
    lon += p.lon;
  }
  return { lat: lat / points.length, lon: lon / points.length };
}

export function boundingBox(points: Point[]): Box {
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  return {
    min: { lat: Math.min(...lats), lon: Math.min(...lons) },
    max: { lat: Math.max(...lats), lon: Math.max(...lons) },
  };
}

export function contains(box: Box, p: Point): boolean {
  return p.lat >= box.min.lat && p.lat <= box.max.lat && p.lon >= box.min.lon && p.lon <= box.max.lon;
}
