package workorder

import (
	"time"

	"github.com/frostline/frostline/cloud"
)

// Filter selects work orders for a list. Zero fields match anything.
type Filter struct {
	Site, Asset, Status, Source, Priority, Trade, Vendor, Family string
	// Open keeps only work orders still being worked.
	Open bool
	// From and To bound created_at: [From, To).
	From, To time.Time
	// Before is the pagination cursor: only numbers below it.
	Before int64
	// Limit is the page size, 50 by default, 500 at most.
	Limit int
	// Scope is what the caller may see; the zero Scope sees nothing.
	Scope cloud.Scope
}
