package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/storetest"
)

func TestNotifications(t *testing.T) {
	storetest.RunNotifications(t, func(t *testing.T) storetest.NotificationStore {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "frostline.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestInvoices(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "frostline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.RunInvoices(t, db)
}

func TestInvoiceFlows(t *testing.T) {
	storetest.RunInvoiceFlows(t, func(t *testing.T) storetest.InvoiceFlowStore {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "frostline.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
