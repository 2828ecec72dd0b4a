package postgres_test

import (
	"context"
	"testing"

	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/storetest"
)

func TestNotifications(t *testing.T) {
	storetest.RunNotifications(t, func(t *testing.T) storetest.NotificationStore {
		db, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestInvoices(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.RunInvoices(t, db)
}

func TestInvoiceFlows(t *testing.T) {
	storetest.RunInvoiceFlows(t, func(t *testing.T) storetest.InvoiceFlowStore {
		db, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
