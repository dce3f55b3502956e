// Points, distances and shapes on the Earth's surface.
//
// Part of quill's benchmark data: `quill bench --lsp --scenario java` opens this file
// next to Report.java and retypes two methods of Report.java.
package trip;

import java.util.List;

public final class Geometry {
    private static final double EARTH_RADIUS_KM = 6371.0;

    private Geometry() {}

    public record Point(double lat, double lon) {}

    public record Stop(String name, Point at, long arrivalMinutes) {}

    public record Box(Point min, Point max) {
        public boolean contains(Point p) {
            return p.lat() >= min.lat() && p.lat() <= max.lat() && p.lon() >= min.lon() && p.lon() <= max.lon();
        }
    }

    /** Great-circle distance in kilometres (haversine). */
    public static double distanceBetween(Point a, Point b) {
        double dLat = Math.toRadians(b.lat() - a.lat());
        double dLon = Math.toRadians(b.lon() - a.lon());
        double h = Math.pow(Math.sin(dLat / 2), 2)
                + Math.cos(Math.toRadians(a.lat())) * Math.cos(Math.toRadians(b.lat())) * Math.pow(Math.sin(dLon / 2), 2);
        return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h));
    }

    /** Initial bearing from a to b, in degrees clockwise from north. */
    public static double bearing(Point a, Point b) {
        double la = Math.toRadians(a.lat());
        double lb = Math.toRadians(b.lat());
        double dLon = Math.toRadians(b.lon() - a.lon());
        double y = Math.sin(dLon) * Math.cos(lb);
        double x = Math.cos(la) * Math.sin(lb) - Math.sin(la) * Math.cos(lb) * Math.cos(dLon);
        return (Math.toDegrees(Math.atan2(y, x)) + 360) % 360;
    }

    public static Point centroid(List<Point> points) {
        if (points.isEmpty()) {
            throw new IllegalArgumentException("centroid of no points");
        }
        double lat = 0;
        double lon = 0;
        for (Point p : points) {
            lat += p.lat();
            lon += p.lon();
        }
        return new Point(lat / points.size(), lon / points.size());
    }

    public static Box boundingBox(List<Point> points) {
        double minLat = Double.MAX_VALUE, minLon = Double.MAX_VALUE;
        double maxLat = -Double.MAX_VALUE, maxLon = -Double.MAX_VALUE;
        for (Point p : points) {
            minLat = Math.min(minLat, p.lat());
            minLon = Math.min(minLon, p.lon());
            maxLat = Math.max(maxLat, p.lat());
            maxLon = Math.max(maxLon, p.lon());
        }
        return new Box(new Point(minLat, minLon), new Point(maxLat, maxLon));
    }
}
