package dispatch

import (
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
)

// TestMakeInvoiceNeverUnlimited: labour at the table, off-table labour at
// its (approved) typed rate, and a total capped at the NTE even when the
// NTE is 0 (issue 15, item 1).
func TestMakeInvoiceNeverUnlimited(t *testing.T) {
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	withRate := &Vendor{ID: "v", Rates: map[string]Rate{"refrigeration": {Hourly: 100}}}
	done := &workorder.Completion{Parts: []workorder.Part{{Description: "fan", Quantity: 2, UnitCost: 50}},
		Labour: []workorder.Labour{{Hours: 2, Rate: 80}, {Hours: 1, Rate: 150}}}
	tests := []struct {
		name              string
		v                 *Vendor
		nte               float64
		total, writtenOff float64
		labour            []float64 // unit prices of the labour lines
	}{
		{"table rate, typed above it at the typed rate", withRate, 1000, 450, 0, []float64{100, 150}},
		{"no table: typed rates", nil, 1000, 410, 0, []float64{80, 150}},
		{"capped at the NTE", withRate, 300, 300, 150, []float64{100, 150}},
		{"an NTE of 0 pays nothing", withRate, 0, 0, 450, []float64{100, 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &workorder.WorkOrder{ID: "wo_1", Trade: "refrigeration", Vendor: "v", NTE: tt.nte, Completion: done}
			inv := MakeInvoice(tt.v, w, nil, nil, at)
			if inv.Total != tt.total || inv.WrittenOff != tt.writtenOff || inv.Total > w.NTE {
				t.Errorf("total %v written off %v, want %v and %v", inv.Total, inv.WrittenOff, tt.total, tt.writtenOff)
			}
			var got []float64
			for _, l := range inv.Lines {
				if l.Kind == "labour" {
					got = append(got, l.UnitPrice)
				}
			}
			if len(got) != len(tt.labour) || got[0] != tt.labour[0] || got[1] != tt.labour[1] {
				t.Errorf("labour at %v, want %v", got, tt.labour)
			}
		})
	}
}
