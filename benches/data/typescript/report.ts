// Trip reports over the stops of a route.

import { Point, Stop, bearing, centroid, distanceBetween } from "./geometry";

export interface Leg {
  from: string;
  to: string;
  km: number;
  minutes: number;
}

export function legs(stops: Stop[]): Leg[] {
  const out: Leg[] = [];
  for (let i = 1; i < stops.length; i++) {
    const km = distanceBetween(stops[i - 1].at, stops[i].at);
    const minutes = (stops[i].arrival.getTime() - stops[i - 1].arrival.getTime()) / 60000;
    out.push({ from: stops[i - 1].name, to: stops[i].name, km, minutes });
  }
  return out;
}

export function totalDistance(stops: Stop[]): number {
  return legs(stops).reduce((sum, leg) => sum + leg.km, 0);
}

export function longestLeg(stops: Stop[]): number {
  let best = 0;
  for (let i = 1; i < stops.length; i++) {
    best = Math.max(best, distanceBetween(stops[i - 1].at, stops[i].at));
  }
  return best;
}

export function headings(stops: Stop[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < stops.length; i++) {
    out.push(bearing(stops[i - 1].at, stops[i].at));
  }
  return out;
}

export function middle(stops: Stop[]): Point {
  return centroid(stops.map((s) => s.at));
}

export function summary(stops: Stop[]): string {
  const lines = [`${stops.length} stops, ${totalDistance(stops).toFixed(1)} km`];
  for (const leg of legs(stops)) {
    lines.push(`  ${leg.from} -> ${leg.to}: ${leg.km.toFixed(1)} km in ${leg.minutes} min`);
  }
  return lines.join("\n");
}
