// Package contract is a store written against the store contract, built
// by cloud/app's TestStoreContract. Without build tags it keeps the whole
// contract and compiles. Each tag takes one method away, and then it must
// not compile: lacking_kpis takes KPIs from the store, lacking_claim takes
// ClaimOccurrence from its transaction.
//
// A method is taken away by the Go spec's selector rule: two embedded
// fields that offer it at the same depth cancel each other out, so the
// type has every method of the real SQLite store but that one.
package contract

import (
	"context"

	"github.com/frostline/frostline/cloud/app"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
)

// db is the SQLite store; with lacking_kpis, twin's KPIs cancels its own.
type db struct {
	*sqlite.DB // *sqldb.DB's methods, at depth 2
	hidden
}

type hidden struct{ twin } // twin's methods, at depth 2

type twin struct{}

// tx is the store's transaction; with lacking_claim, twinTx's
// ClaimOccurrence cancels its own.
type tx struct {
	store.Tx // at depth 1
	twinTx   // at depth 1
}

type twinTx struct{}

// Update runs fn in the store's transaction, as the backend's own.
func (d db) Update(ctx context.Context, fn func(store.Tx) error) error {
	return d.DB.Update(ctx, func(t store.Tx) error { return fn(tx{Tx: t}) })
}

var _ app.Store = db{}
