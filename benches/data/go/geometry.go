// Package trip: points, distances and shapes on the Earth's surface.
//
// Part of quill's benchmark data: `quill bench --lsp --scenario go` opens this file
// next to report.go and retypes two functions of report.go.
package trip

import (
	"errors"
	"math"
	"time"
)

const earthRadiusKm = 6371.0

type Point struct {
	Lat float64
	Lon float64
}

type Stop struct {
	Name    string
	At      Point
	Arrival time.Time
}

type Box struct {
	Min Point
	Max Point
}

func toRadians(degrees float64) float64 {
	return degrees * math.Pi / 180
}

// DistanceBetween is the great-circle distance in kilometres (haversine).
func DistanceBetween(a, b Point) float64 {
	dLat := toRadians(b.Lat - a.Lat)
	dLon := toRadians(b.Lon - a.Lon)
	h := math.Pow(math.Sin(dLat/2), 2) +
		math.Cos(toRadians(a.Lat))*math.Cos(toRadians(b.Lat))*math.Pow(math.Sin(dLon/2), 2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(h))
}

// Bearing is the initial bearing from a to b, in degrees clockwise from north.
func Bearing(a, b Point) float64 {
	y := math.Sin(toRadians(b.Lon-a.Lon)) * math.Cos(toRadians(b.Lat))
	x := math.Cos(toRadians(a.Lat))*math.Sin(toRadians(b.Lat)) -
		math.Sin(toRadians(a.Lat))*math.Cos(toRadians(b.Lat))*math.Cos(toRadians(b.Lon-a.Lon))
	return math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
}

func Centroid(points []Point) (Point, error) {
	if len(points) == 0 {
		return Point{}, errors.New("centroid of no points")
	}
	var lat, lon float64
	for _, p := range points {
		lat += p.Lat
		lon += p.Lon
	}
	n := float64(len(points))
	return Point{Lat: lat / n, Lon: lon / n}, nil
}

func BoundingBox(points []Point) Box {
	b := Box{Min: points[0], Max: points[0]}
	for _, p := range points[1:] {
		b.Min.Lat = math.Min(b.Min.Lat, p.Lat)
		b.Min.Lon = math.Min(b.Min.Lon, p.Lon)
		b.Max.Lat = math.Max(b.Max.Lat, p.Lat)
		b.Max.Lon = math.Max(b.Max.Lon, p.Lon)
	}
	return b
}

func (b Box) Contains(p Point) bool {
	return p.Lat >= b.Min.Lat && p.Lat <= b.Max.Lat && p.Lon >= b.Min.Lon && p.Lon <= b.Max.Lon
}
