// Package store is the contract between the cloud's domain and its
// database: what one write transaction must do (Tx) and what the store
// must answer outside one (Store). It holds interfaces only. Each domain
// says what it needs where it needs it (workorder.Tx, dispatch.Tx,
// purchasing.Tx, pm.OccurrenceTx, notify.Store, ...); this package embeds
// those, so a store that lacks one method does not compile
// (cloud/internal/sqldb guards its DB and Tx with var _ lines, and
// cloud/app its two stores), instead of losing a feature at run time.
//
// The few needs with no domain of their own to live in (a report's photo,
// intake's batch round trips) are declared here, next to the contract.
package store

import (
	"context"

	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/edge/wire"
)

// Tx is one write transaction: everything the domains do inside one.
type Tx interface {
	dispatch.Tx   // work orders (workorder.Tx) and their offer books
	purchasing.Tx // parts, stock and purchase orders beside a work order
	pm.OccurrenceTx
	invoicing.Tx  // a vendor's invoices beside the work order's history
	notify.PlanTx // notifications planned beside what they tell of
	Photos
	Batch
	Windows
}

// Windows keeps the evidence window an incident event carried, for its
// work order's chart (cloud/intake).
type Windows interface {
	PutWindow(ctx context.Context, inc *wire.Incident) error
}

// Photos keeps a report's photo in the report's transaction (cloud/http).
type Photos interface {
	PutPhoto(ctx context.Context, id, workOrder, contentType string, data []byte) error
}

// Batch saves intake three round trips per report (cloud/intake): a
// batch's keys claimed in one statement, its incidents' order rows locked
// in a second, and the work orders of its incidents loaded in one query.
type Batch interface {
	// ClaimAll records keys as processed and returns those that were not.
	ClaimAll(ctx context.Context, keys []string) (map[string]bool, error)
	// SequenceAll locks the order rows of incidents (workorder/order.go).
	SequenceAll(ctx context.Context, incidents []string) error
	// Prefetch loads the work orders of incidents for the rest of the
	// transaction.
	Prefetch(ctx context.Context, incidents []string) error
}

// Updater runs fn in one write transaction, committed when fn returns nil.
type Updater interface {
	Update(ctx context.Context, fn func(Tx) error) error
}

// Store is what the domains ask of a store outside a transaction. The
// API's and intake's needs (cloud/http, cloud/intake) name Tx themselves,
// so cloud/app adds them to this.
type Store interface {
	Updater
	sla.Store[Tx]
	pm.Store
	pm.Recorder
	dispatch.Register
	relay.Store
	notify.Store
	analytics.Querier
	analytics.Roller
}
