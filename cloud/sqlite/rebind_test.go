package sqlite_test

import (
	"context"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"

	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/storetest"
)

// TestRebind runs the store suite with a Dialect.Rebind that rewrites
// every $n placeholder into SQLite's ?n, as a backend with other
// placeholders would: the statements pass through the hook and still mean
// what they meant.
func TestRebind(t *testing.T) {
	dollar := regexp.MustCompile(`\$([0-9]+)`)
	var rebound atomic.Int64
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "frostline.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.Dialect.Rebind = func(q string) string {
			rebound.Add(1)
			return dollar.ReplaceAllString(q, "?$1")
		}
		return db
	})
	if rebound.Load() == 0 {
		t.Error("no statement passed through Dialect.Rebind")
	}
}
