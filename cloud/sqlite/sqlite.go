// Package sqlite is Frostline's embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver, in WAL mode, with its schema migrations
// embedded. It is the default for a single cloud replica and for the demo.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/frostline/frostline/cloud/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open SQLite store.
type DB struct {
	*sqldb.DB
}

// Open opens (creating if needed) the database at path and migrates it.
// Writes go through one connection, since SQLite has one writer at a time
// and a single writer never meets SQLITE_BUSY; reads use a small pool,
// which WAL lets run beside the writer.
func Open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	sub, _ := fs.Sub(migrations, "migrations")
	db := &DB{&sqldb.DB{Writer: w, Reader: r, Dialect: sqldb.Dialect{
		Name:       "sqlite",
		InProcess:  true,
		Migrations: sub,
		SetNumber:  `UPDATE counters SET value = $1 WHERE name = 'workorder'`,
		Series:     `WITH RECURSIVE c(n) AS (SELECT CAST($1 AS INTEGER) UNION ALL SELECT n + 1 FROM c WHERE n < $2) SELECT n FROM c`,
		NextNumber: `UPDATE counters SET value = value + 1 WHERE name = 'workorder' RETURNING value`,
	}, Projectors: sqldb.Projections()}}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
