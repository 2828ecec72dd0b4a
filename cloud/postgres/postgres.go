// Package postgres is Frostline's store for multi-replica deployments:
// PostgreSQL through pgx/v5, with its schema migrations embedded. Several
// cloud replicas share one database; the schema's partial unique index
// keeps one open work order per problem even when two replicas race, and a
// lost race is retried.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/frostline/frostline/cloud/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open PostgreSQL store.
type DB struct {
	*sqldb.DB
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string) and migrates it. Migrations hold an advisory lock, so replicas
// starting together do not race.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(16)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	db := &DB{&sqldb.DB{Writer: pool, Reader: pool, Dialect: sqldb.Dialect{
		Name:       "postgres",
		Migrations: sub,
		UpdateCTE:  true,
		SkipLocked: ` FOR UPDATE SKIP LOCKED`,
		SetNumber:  `SELECT setval('wo_number', $1)`,
		Series:     `SELECT n FROM generate_series($1::bigint, $2::bigint) AS n`,
		NextNumber: `SELECT nextval('wo_number')`,
		Lock:       `SELECT pg_advisory_lock(7305001)`,
		Unlock:     `SELECT pg_advisory_unlock(7305001)`,
		Retryable:  retryable,
	}, Projectors: sqldb.Projections()}}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// retryable: serialisation failures, deadlocks and a second open work order
// for one problem (another replica opened it first) succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01":
		return true
	case "23505":
		return pe.ConstraintName == "wo_one_open"
	}
	return false
}
