package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// box is the physical model of one refrigerated asset: air temperature in
// a box that leaks heat from the store, a compressor that removes it, a
// defrost heater, and a door.
type box struct {
	p        boxParams
	air      float64 // C
	product  float64 // C, first-order lag of the air (the labels' breach)
	on       bool    // compressor running
	offSince time.Time
	onSince  time.Time
	defrost  bool
	defEnd   time.Time
	door     bool
	doorEnd  time.Time
	capacity float64 // fraction of nominal cooling (1 healthy, falls in a leak)
}

type boxParams struct {
	setpoint, diff float64 // thermostat: on above setpoint+diff/2, off below setpoint-diff/2
	leak           float64 // heat gain per minute per C of difference to the store
	cool           float64 // C per minute the compressor removes at full capacity
	heater         float64 // C per minute the defrost heater adds
	doorLeak       float64 // extra heat gain per minute per C with the door open
	defrosts       int     // per day
	defrostLen     time.Duration
	limit          float64 // food-safety limit for the product
	doorRate       float64 // openings per trading hour (0: no door)
	noise          float64 // sensor noise, C (standard deviation)
}

// storeTemp is the sales floor's temperature, which every box leaks toward.
const storeTemp = 20.0

// productTau is the lag of product behind air; the labels' breach is when
// a first-order filter with this time constant passes the limit.
const productTau = 90 * time.Minute

func classParams(class string, r *rand.Rand) boxParams {
	j := func(v, spread float64) float64 { return v * (1 + spread*(2*r.Float64()-1)) }
	var p boxParams
	switch class {
	// Sized so that a healthy box runs its compressor about a third of the
	// time, as field equipment does (and the labelled sample shows: 3 h
	// duty never above 0.64), with defrost peaks and recoveries like the
	// sample's: chilled 6-8 C and back in under 20 min, frozen near -8 C.
	case "walk_in_cooler":
		p = boxParams{setpoint: 2, diff: 2, leak: 0.004, cool: 0.24, heater: 0.10, doorLeak: 0.006, defrosts: 4, defrostLen: 30 * time.Minute, limit: 5, doorRate: 3}
	case "reach_in_cooler":
		p = boxParams{setpoint: 2.5, diff: 2, leak: 0.006, cool: 0.35, heater: 0.11, doorLeak: 0.006, defrosts: 4, defrostLen: 30 * time.Minute, limit: 5, doorRate: 4}
	case "display_case_mt":
		p = boxParams{setpoint: 1.5, diff: 2, leak: 0.006, cool: 0.37, heater: 0.10, defrosts: 4, defrostLen: 35 * time.Minute, limit: 5}
	case "walk_in_freezer":
		p = boxParams{setpoint: -20, diff: 2, leak: 0.003, cool: 0.40, heater: 0.42, doorLeak: 0.005, defrosts: 3, defrostLen: 25 * time.Minute, limit: -12, doorRate: 2}
	case "reach_in_freezer":
		p = boxParams{setpoint: -19, diff: 2, leak: 0.004, cool: 0.52, heater: 0.45, doorLeak: 0.005, defrosts: 4, defrostLen: 25 * time.Minute, limit: -12, doorRate: 3}
	case "display_case_lt":
		p = boxParams{setpoint: -22, diff: 2, leak: 0.005, cool: 0.70, heater: 0.42, defrosts: 2, defrostLen: 30 * time.Minute, limit: -12}
	default:
		return boxParams{}
	}
	p.setpoint += 0.5 * (2*r.Float64() - 1)
	p.leak, p.cool, p.heater = j(p.leak, 0.2), j(p.cool, 0.15), j(p.heater, 0.15)
	p.defrostLen = time.Duration(j(float64(p.defrostLen), 0.2))
	p.noise = 0.05 + 0.1*r.Float64()
	return p
}

func newBox(p boxParams) *box {
	return &box{p: p, air: p.setpoint, product: p.setpoint, capacity: 1}
}

// defrostDue reports whether a scheduled defrost starts at t (local time).
func (b *box) defrostDue(t time.Time, offset time.Duration) bool {
	if b.p.defrosts == 0 {
		return false
	}
	every := 24 * time.Hour / time.Duration(b.p.defrosts)
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	return (since-offset)%every == 0
}

// step advances the box by dt under the given fault.
func (b *box) step(t time.Time, dt time.Duration, f faultState, r *rand.Rand, trading bool, defOffset time.Duration) {
	m := dt.Minutes()
	// Defrost schedule: the compressor stops and the heater runs.
	if !b.defrost && b.defrostDue(t, defOffset) {
		b.defrost, b.defEnd = true, t.Add(b.p.defrostLen)
	}
	if b.defrost && !t.Before(b.defEnd) {
		b.defrost = false
	}
	// Doors: shoppers and stocking during trading hours.
	if b.door && !t.Before(b.doorEnd) && !f.doorStuck {
		b.door = false
	}
	if !b.door && b.p.doorRate > 0 && trading && r.Float64() < b.p.doorRate*m/60 {
		b.door, b.doorEnd = true, t.Add(time.Duration((0.3+4*r.Float64()*r.Float64())*float64(time.Minute)))
	}
	if f.doorStuck {
		b.door = true
	}
	// Thermostat, with a 3 min anti-short-cycle timer.
	hi, lo := b.p.setpoint+b.p.diff/2, b.p.setpoint-b.p.diff/2
	switch {
	case b.defrost:
		b.on = false
	case f.chatter:
		// A failing contactor or a thermostat with no differential: while
		// the box calls for cooling, on two minutes, off three (12 starts
		// an hour).
		b.on = b.air > lo && t.Unix()/60%5 < 2
	case f.runsDead:
		b.on = true
	case b.on && b.air < lo:
		b.on, b.offSince = false, t
	case !b.on && b.air > hi && t.Sub(b.offSince) >= 3*time.Minute:
		b.on, b.onSince = true, t
	}
	capacity := b.capacity * f.capacity
	dT := b.p.leak * (storeTemp - b.air) * m
	if b.door {
		dT += b.p.doorLeak * (storeTemp - b.air) * m
	}
	if b.defrost {
		dT += b.p.heater * m * math.Max(0, 1-(b.air-b.p.setpoint)/14)
	}
	if b.on {
		dT -= b.p.cool * capacity * m * (1 + 0.01*(b.air-b.p.setpoint))
	}
	b.air += dT
	b.product += (b.air - b.product) * (1 - math.Exp(-float64(dt)/float64(productTau)))
}

// rtu is the physical model of a rooftop unit cooling a sales floor.
type rtu struct {
	zone, setpoint float64
	on             bool
	offSince       time.Time
	fan            bool
	noise          float64
	peak           float64 // the day's outdoor high
}

func newRTU(r *rand.Rand) *rtu {
	return &rtu{zone: 22, setpoint: 22 + float64(r.IntN(3)) - 1, fan: true, noise: 0.05 + 0.05*r.Float64(), peak: 30 + 6*r.Float64()}
}

// outdoor is the outdoor air temperature at t: a daily curve that peaks
// mid-afternoon, with a day-to-day swing.
func (u *rtu) outdoor(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	day := float64(t.YearDay())
	peak := u.peak + 3*math.Sin(day*1.7)
	low := peak - 12
	return low + (peak-low)*(0.5+0.5*math.Cos(2*math.Pi*(h-15)/24))
}

func (u *rtu) step(t time.Time, dt time.Duration, f faultState, occupied bool) (supply, ret, out float64) {
	m := dt.Minutes()
	out = u.outdoor(t)
	gain := 0.012 * (out - u.zone)
	if occupied {
		gain += 0.05
	}
	switch {
	case u.on && u.zone < u.setpoint-0.6:
		u.on, u.offSince = false, t
	case !u.on && u.zone > u.setpoint+0.6 && t.Sub(u.offSince) >= 5*time.Minute:
		u.on = true
	}
	cool := 0.0
	split := 0.0
	if u.on {
		cool, split = 0.22, 10.5
		if f.rtuFailed {
			cool, split = 0.03, 1.6
		}
	}
	u.zone += (gain - cool) * m
	ret = u.zone + 0.4
	supply = ret - split
	if !u.on {
		supply = ret - 0.3
	}
	return supply, ret, out
}
