package dispatch

import (
	"fmt"
	"math"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// MakeInvoice bills a verified work order from the vendor's rate table:
// the labour recorded at completion at the vendor's hourly rate for the
// trade (times its after-hours multiplier when the first visit began
// outside the rules' business hours in the site's time zone), a trip
// charge per visit that counted (at least MinVisit), and the parts at
// their recorded cost. Labour typed above the table, or by a vendor with
// no rate for the trade, is billed at the typed rate: completion let it
// through only under an approved NTE (workorder.BilledRate). The total
// never exceeds the work order's NTE, which is never "no limit": anything
// above it is written off, and shown.
func MakeInvoice(v *Vendor, w *workorder.WorkOrder, site *cloud.Site, r *Rules, at time.Time) workorder.Invoice {
	inv := workorder.Invoice{ID: fmt.Sprintf("inv-%s", w.ID), Vendor: w.Vendor, NTE: w.NTE, At: at, Lines: []workorder.InvoiceLine{}}
	rate, hasRate := Rate{}, false
	if v != nil {
		rate, hasRate = v.Rates[w.Trade]
	}
	table, mult := LabourRate(v, w, site, r)
	add := func(kind, desc string, qty, unit float64) {
		unit = round2(unit)
		inv.Lines = append(inv.Lines, workorder.InvoiceLine{Kind: kind, Description: desc, Quantity: qty, UnitPrice: unit, Amount: round2(qty * unit)})
	}
	if c := w.Completion; c != nil {
		for _, l := range c.Labour {
			hourly, onTable := workorder.BilledRate(l, table)
			desc := "labour"
			switch {
			case !onTable:
				desc = "labour, approved rate"
			case mult != 1:
				desc = fmt.Sprintf("labour, after hours (x%.2g)", mult)
			}
			if l.Technician != "" {
				desc += ": " + l.Technician
			}
			add("labour", desc, l.Hours, hourly)
		}
		for _, p := range c.Parts {
			desc := p.Description
			if p.Code != "" {
				desc = p.Code + " " + desc
			}
			add("part", desc, p.Quantity, p.UnitCost)
		}
	}
	if hasRate && rate.TripCharge > 0 {
		if n := CountVisits(w.Visits, at); n > 0 {
			add("trip", "trip charge", float64(n), rate.TripCharge)
		}
	}
	for _, l := range inv.Lines {
		inv.Subtotal += l.Amount
	}
	inv.Subtotal = round2(inv.Subtotal)
	inv.Total = inv.Subtotal
	if !(inv.Total <= w.NTE) { // NaN or above: capped
		inv.WrittenOff, inv.Total = round2(inv.Total-w.NTE), w.NTE
	}
	return inv
}

// LabourRate is the hourly rate the vendor's table gives a work order's
// labour (the trade's rate, times the after-hours multiplier when the
// first visit began outside business hours in the site's time zone), and
// that multiplier; nil when the vendor has no rate for the trade.
func LabourRate(v *Vendor, w *workorder.WorkOrder, site *cloud.Site, r *Rules) (*float64, float64) {
	if v == nil {
		return nil, 1
	}
	rate, ok := v.Rates[w.Trade]
	if !ok {
		return nil, 1
	}
	mult := 1.0
	if rate.AfterHours > 0 && r != nil && r.BusinessHours != nil && len(w.Visits) > 0 {
		loc := time.UTC
		if site != nil && site.Timezone != "" {
			if l, err := time.LoadLocation(site.Timezone); err == nil {
				loc = l
			}
		}
		if !r.BusinessHours.Open(w.Visits[0].In, loc) {
			mult = rate.AfterHours
		}
	}
	hourly := round2(rate.Hourly * mult)
	return &hourly, mult
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
