package trip;

import static trip.Geometry.bearing;
import static trip.Geometry.centroid;
import static trip.Geometry.distanceBetween;

import java.util.ArrayList;
import java.util.List;
import trip.Geometry.Point;
import trip.Geometry.Stop;

/** Trip reports over the stops of a route. */
public final class Report {
    private Report() {}

    public record Leg(String from, String to, double km, long minutes) {}

    public static List<Leg> legs(List<Stop> stops) {
        List<Leg> out = new ArrayList<>();
        for (int i = 1; i < stops.size(); i++) {
            double km = distanceBetween(stops.get(i - 1).at(), stops.get(i).at());
            long minutes = stops.get(i).arrivalMinutes() - stops.get(i - 1).arrivalMinutes();
            out.add(new Leg(stops.get(i - 1).name(), stops.get(i).name(), km, minutes));
        }
        return out;
    }

    public static double totalDistance(List<Stop> stops) {
        return legs(stops).stream().mapToDouble(Leg::km).sum();
    }

    public static double longestLeg(List<Stop> stops) {
        double best = 0;
        for (int i = 1; i < stops.size(); i++) {
            best = Math.max(best, distanceBetween(stops.get(i - 1).at(), stops.get(i).at()));
        }
        return best;
    }

    public static List<Double> headings(List<Stop> stops) {
        List<Double> out = new ArrayList<>();
        for (int i = 1; i < stops.size(); i++) {
            out.add(bearing(stops.get(i - 1).at(), stops.get(i).at()));
        }
        return out;
    }

    public static Point middle(List<Stop> stops) {
        return centroid(stops.stream().map(Stop::at).toList());
    }

    public static String summary(List<Stop> stops) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%d stops, %.1f km%n", stops.size(), totalDistance(stops)));
        for (Leg leg : legs(stops)) {
            sb.append(String.format("  %s -> %s: %.1f km in %d min%n", leg.from(), leg.to(), leg.km(), leg.minutes()));
        }
        return sb.toString();
    }
}
