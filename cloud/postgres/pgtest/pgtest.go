// Package pgtest starts a throwaway PostgreSQL cluster for tests, from
// Debian's postgresql-15 binaries, on a free port in a temporary directory.
// FROSTLINE_TEST_POSTGRES, a DSN, points the tests at an existing server
// instead. The cluster runs with fsync and synchronous_commit off unless
// FROSTLINE_BENCH_DURABLE=1.
//
// Tests skip when PostgreSQL is unavailable under -short or outside CI; with
// CI=true a missing PostgreSQL fails them, so CI cannot pass by skipping.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Bin is where Debian installs PostgreSQL 15's server programs.
const Bin = "/usr/lib/postgresql/15/bin"

// Cluster is a running server; Main starts one per test binary.
type Cluster struct {
	DSN  string // to the maintenance database
	dir  string
	run  func(name string, args ...string) *exec.Cmd
	mu   sync.Mutex // guards n: databases are created from parallel tests
	n    int
	err  error
	stop func()
	// restart stops the server at once and starts it again (Restart).
	restart func(down time.Duration) error
}

// cluster is the test binary's server, started by Main. A package variable
// is the honest shape here: TestMain owns it for the process's lifetime.
var cluster *Cluster

// Main runs the package's tests with a cluster started lazily on first use
// and stopped afterwards. Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	cluster = &Cluster{}
	code := m.Run()
	if cluster.stop != nil {
		cluster.stop()
	}
	return code
}

var startOnce sync.Once

// DSN returns the DSN of a fresh, empty database, skipping or failing the
// test when PostgreSQL cannot be had (see the package doc).
func DSN(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("PostgreSQL tests skipped under -short")
	}
	if cluster == nil {
		t.Fatal("pgtest: call pgtest.Main from TestMain")
	}
	startOnce.Do(func() { cluster.err = cluster.start() })
	if cluster.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI: %v", cluster.err)
		}
		t.Skipf("PostgreSQL unavailable: %v", cluster.err)
	}
	cluster.mu.Lock()
	cluster.n++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), cluster.n)
	cluster.mu.Unlock()
	db, err := open(cluster.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg, err := pgx.ParseConfig(cluster.DSN)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// Restart stops the test binary's PostgreSQL with an immediate shutdown
// (every connection cut, no checkpoint: a crash, as far as clients and
// recovery are concerned), waits down, and starts it again on the same
// port and data, waiting until it accepts connections. A chaos drill
// calls it; DSN must have been called first. It fails the test for a
// server named by FROSTLINE_TEST_POSTGRES, which is not the test's to
// restart.
func Restart(t testing.TB, down time.Duration) {
	t.Helper()
	if cluster == nil || cluster.err != nil || cluster.DSN == "" {
		t.Fatal("pgtest.Restart: no cluster started (call DSN first)")
	}
	if cluster.restart == nil {
		t.Fatal("pgtest.Restart: FROSTLINE_TEST_POSTGRES names a server this test did not start")
	}
	if err := cluster.restart(down); err != nil {
		t.Fatalf("pgtest.Restart: %v", err)
	}
}

// Durable reports whether FROSTLINE_BENCH_DURABLE=1 asks for a cluster
// with fsync and synchronous_commit on. It does not apply to a server
// named by FROSTLINE_TEST_POSTGRES, whose settings are its own.
func Durable() bool { return os.Getenv("FROSTLINE_BENCH_DURABLE") == "1" }

func open(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

func (c *Cluster) start() error {
	if dsn := os.Getenv("FROSTLINE_TEST_POSTGRES"); dsn != "" {
		c.DSN = dsn
		return nil
	}
	if _, err := os.Stat(filepath.Join(Bin, "initdb")); err != nil {
		return fmt.Errorf("%s/initdb not found (apt-get install postgresql-15)", Bin)
	}
	dir, err := os.MkdirTemp("", "frostline-pg-")
	if err != nil {
		return err
	}
	c.dir = dir
	// initdb refuses to run as root: run the server as the postgres user.
	c.run = exec.Command
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
		c.run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	if out, err := c.run(filepath.Join(Bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	// Tests trade durability for speed; FROSTLINE_BENCH_DURABLE=1 runs the
	// cluster as production would (every commit flushed to disk), for
	// benchmark figures that hold outside a test.
	durability := "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	if Durable() {
		durability = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 %s -c max_connections=200", port, dir, durability)
	if out, err := c.run(filepath.Join(Bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	c.restart = func(down time.Duration) error {
		if out, err := c.run(filepath.Join(Bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
			return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
		}
		time.Sleep(down)
		if out, err := c.run(filepath.Join(Bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
			return fmt.Errorf("pg_ctl start: %v: %s", err, out)
		}
		return nil
	}
	c.stop = func() {
		c.run(filepath.Join(Bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run() //nolint:errcheck // best effort
		os.RemoveAll(dir)
	}
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := open(c.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		if err = db.PingContext(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
