package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "frostline.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "frostline.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutSite(ctx, &cloudSite); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path) // migrations are not applied twice
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Site(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
}

func open(b *testing.B) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "frostline.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkIntake(b *testing.B) { storetest.BenchIntake(b, open(b), 256, 1) }

func BenchmarkIntakeLanes(b *testing.B) { storetest.BenchIntake(b, open(b), 256, 2) }

func BenchmarkListWorkOrders(b *testing.B) { storetest.BenchWorkOrders(b, open(b)) }
