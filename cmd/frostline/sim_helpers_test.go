package main

import (
	"time"

	"github.com/frostline/frostline/edge/sim"
)

func simReading(metric string, v float64, word string) sim.Reading {
	return sim.Reading{At: time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC), Site: "s1", Asset: "c1", Metric: metric, Value: v, Word: word}
}
