package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for database/sql

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

// TestClusterSettings: the test cluster runs with the durability the
// benchmark figures claim (FROSTLINE_BENCH_DURABLE=1: fsync and
// synchronous_commit on).
func TestClusterSettings(t *testing.T) {
	if os.Getenv("FROSTLINE_TEST_POSTGRES") != "" {
		t.Skip("an existing server's settings are its own")
	}
	db, err := sql.Open("pgx", pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[bool]string{true: "on", false: "off"}[pgtest.Durable()]
	for _, name := range []string{"fsync", "synchronous_commit"} {
		var got string
		if err := db.QueryRow("SHOW " + name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s (FROSTLINE_BENCH_DURABLE=%q)", name, got, want, os.Getenv("FROSTLINE_BENCH_DURABLE"))
		}
	}
}
