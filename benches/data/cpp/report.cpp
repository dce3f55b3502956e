// Trip reports over the stops of a route.
#include "geometry.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace trip {

struct Leg {
    std::string from;
    std::string to;
    double km;
    long minutes;
};

std::vector<Leg> legs(const std::vector<Stop>& stops) {
    std::vector<Leg> out;
    for (size_t i = 1; i < stops.size(); ++i) {
        double km = distance_between(stops[i - 1].at, stops[i].at);
        long minutes = stops[i].arrival_minutes - stops[i - 1].arrival_minutes;
        out.push_back(Leg{stops[i - 1].name, stops[i].name, km, minutes});
    }
    return out;
}

double total_distance(const std::vector<Stop>& stops) {
    double total = 0;
    for (const Leg& leg : legs(stops)) {
        total += leg.km;
    }
    return total;
}

double longest_leg(const std::vector<Stop>& stops) {
    double best = 0;
    for (size_t i = 1; i < stops.size(); ++i) {
        best = std::max(best, distance_between(stops[i - 1].at, stops[i].at));
    }
    return best;
}

std::vector<double> headings(const std::vector<Stop>& stops) {
    std::vector<double> out;
    for (size_t i = 1; i < stops.size(); ++i) {
        out.push_back(bearing(stops[i - 1].at, stops[i].at));
    }
    return out;
}

std::optional<Point> middle(const std::vector<Stop>& stops) {
    std::vector<Point> points;
    for (const Stop& s : stops) {
        points.push_back(s.at);
    }
    return centroid(points);
}

std::string summary(const std::vector<Stop>& stops) {
    std::ostringstream out;
    out << stops.size() << " stops, " << total_distance(stops) << " km\n";
    for (const Leg& leg : legs(stops)) {
        out << "  " << leg.from << " -> " << leg.to << ": " << leg.km << " km in " << leg.minutes << " min\n";
    }
    return out.str();
}

}  // namespace trip
