package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgServer finds the PostgreSQL server behind dsn on this machine: the
// postmaster's pid, from the postmaster.pid of its data directory. The
// load test runs beside its servers, so it can read their /proc.
func pgServer(ctx context.Context, dsn string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	var dir string
	if err := conn.QueryRow(ctx, `SELECT setting FROM pg_settings WHERE name = 'data_directory'`).Scan(&dir); err != nil {
		return 0, fmt.Errorf("postgres: data directory: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("postgres: %w (is the server on this machine, and readable?)", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("postgres: postmaster.pid: %w", err)
	}
	return pid, nil
}

// processTree returns the CPU seconds and the proportional set size (MB)
// of pid and every process below it: a PostgreSQL server is a postmaster
// and a backend per connection, whose shared buffers PSS counts once.
func processTree(pid int) (cpu, pssMB float64) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	parent := map[int]int{}
	ticks := map[int]float64{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command, which is in parentheses and may
		// hold spaces: state, ppid, ... utime (14th) and stime (15th).
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		parent[p], _ = strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ticks[p] = ut + st
	}
	in := func(p int) bool {
		for depth := 0; p > 1 && depth < 8; depth++ {
			if p == pid {
				return true
			}
			p = parent[p]
		}
		return false
	}
	for p, t := range ticks {
		if !in(p) {
			continue
		}
		cpu += t / 100 // USER_HZ, 100 on Linux
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "smaps_rollup"))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				pssMB += kb / 1024
			}
		}
	}
	return cpu, pssMB
}
