// Points, distances and shapes on the Earth's surface.
//
// Part of quill's benchmark data: `quill bench --lsp --scenario cpp` opens this file
// next to report.cpp and retypes two functions of report.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace trip {

struct Point {
    double lat;
    double lon;
};

struct Stop {
    std::string name;
    Point at;
    long arrival_minutes;
};

struct Box {
    Point min;
    Point max;

    bool contains(const Point& p) const;
};

// Great-circle distance in kilometres (haversine).
double distance_between(const Point& a, const Point& b);

// Initial bearing from a to b, in degrees clockwise from north.
double bearing(const Point& a, const Point& b);

std::optional<Point> centroid(const std::vector<Point>& points);

Box bounding_box(const std::vector<Point>& points);

}  // namespace trip
