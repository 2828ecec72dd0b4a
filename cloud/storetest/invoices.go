package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/store"
)

// InvoiceStore is what the invoice suite exercises.
type InvoiceStore interface {
	Update(ctx context.Context, fn func(store.Tx) error) error
	Invoices(ctx context.Context, state invoicing.State) ([]*invoicing.Invoice, error)
}

// RunInvoices checks that a store keeps invoices: written and read in a
// transaction, listed by state, and a change on a stale read refused.
func RunInvoices(t *testing.T, s InvoiceStore) {
	ctx := context.Background()
	in := func(fn func(tx store.Tx) error) error {
		return s.Update(ctx, func(tx store.Tx) error { return fn(tx) })
	}
	inv := &invoicing.Invoice{ID: "inv_1", WorkOrder: "wo_1", Vendor: "coolco", Number: "CC-1", Revision: 1, Total: 430, State: invoicing.Submitted,
		SubmittedAt: T0, History: []invoicing.Change{{State: invoicing.Submitted, By: "coolco", At: T0}}}
	if err := in(func(tx store.Tx) error { return tx.PutInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	var stale *invoicing.Invoice
	if err := in(func(tx store.Tx) error {
		var err error
		stale, err = tx.Invoice(ctx, "inv_1")
		return err
	}); err != nil || stale.Version != 1 || stale.Total != 430 {
		t.Fatalf("read back %+v %v", stale, err)
	}
	// An FM approves it (the store keeps what the domain decided).
	inv.State = invoicing.Approved
	inv.History = append(inv.History, invoicing.Change{State: invoicing.Approved, By: "fay", At: T0.Add(time.Hour)})
	if err := in(func(tx store.Tx) error { return tx.PutInvoice(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	stale.State = invoicing.Rejected
	err := s.Update(ctx, func(tx store.Tx) error { return tx.PutInvoice(ctx, stale) })
	if cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("a change on a stale read: %v, want a conflict", err)
	}
	if got, err := s.Invoices(ctx, invoicing.Approved); err != nil || len(got) != 1 || got[0].Version != 2 {
		t.Errorf("approved: %+v %v", got, err)
	}
	if got, err := s.Invoices(ctx, invoicing.Rejected); err != nil || len(got) != 0 {
		t.Errorf("rejected: %+v %v", got, err)
	}
	err = in(func(tx store.Tx) error {
		_, err := tx.Invoice(ctx, "inv_none")
		return err
	})
	if cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("unknown invoice: %v", err)
	}
	if err := in(func(tx store.Tx) error {
		all, err := tx.WorkOrderInvoices(ctx, "wo_1")
		if err == nil && len(all) != 1 {
			err = errors.New("want one invoice on wo_1")
		}
		return err
	}); err != nil {
		t.Error(err)
	}
}
