package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func open(b *testing.B) *postgres.DB {
	db, err := postgres.Open(context.Background(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkIntake(b *testing.B) { storetest.BenchIntake(b, open(b), 256, 1) }

func BenchmarkIntakeLanes(b *testing.B) { storetest.BenchIntake(b, open(b), 256, 2) }

func BenchmarkListWorkOrders(b *testing.B) { storetest.BenchWorkOrders(b, open(b)) }
