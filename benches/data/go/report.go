package trip

import (
	"fmt"
	"math"
	"strings"
)

// Leg is the way between two stops.
type Leg struct {
	From    string
	To      string
	Km      float64
	Minutes float64
}

func Legs(stops []Stop) []Leg {
	var out []Leg
	for i := 1; i < len(stops); i++ {
		km := DistanceBetween(stops[i-1].At, stops[i].At)
		minutes := stops[i].Arrival.Sub(stops[i-1].Arrival).Minutes()
		out = append(out, Leg{From: stops[i-1].Name, To: stops[i].Name, Km: km, Minutes: minutes})
	}
	return out
}

func TotalDistance(stops []Stop) float64 {
	total := 0.0
	for _, leg := range Legs(stops) {
		total += leg.Km
	}
	return total
}

func LongestLeg(stops []Stop) float64 {
	best := 0.0
	for i := 1; i < len(stops); i++ {
		best = math.Max(best, DistanceBetween(stops[i-1].At, stops[i].At))
	}
	return best
}

func Headings(stops []Stop) []float64 {
	var out []float64
	for i := 1; i < len(stops); i++ {
		out = append(out, Bearing(stops[i-1].At, stops[i].At))
	}
	return out
}

func Middle(stops []Stop) (Point, error) {
	points := make([]Point, 0, len(stops))
	for _, s := range stops {
		points = append(points, s.At)
	}
	return Centroid(points)
}

func Summary(stops []Stop) string {
	lines := []string{fmt.Sprintf("%d stops, %.1f km", len(stops), TotalDistance(stops))}
	for _, leg := range Legs(stops) {
		lines = append(lines, fmt.Sprintf("  %s -> %s: %.1f km in %.0f min", leg.From, leg.To, leg.Km, leg.Minutes))
	}
	return strings.Join(lines, "\n")
}
