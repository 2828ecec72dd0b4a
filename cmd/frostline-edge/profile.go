//go:build profile

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
)

// startProfile, in a binary built with -tags profile, writes a CPU profile
// of the whole run to $FROSTLINE_EDGE_PROFILE/cpu.pprof and, on each
// SIGUSR1, a heap profile taken after a collection (heap-1.pprof,
// heap-2.pprof, ...). The benchmarks build the agent this way to see where
// a real agent's time and memory go; release builds carry none of it.
//
// FROSTLINE_EDGE_MEMPROFILERATE sets runtime.MemProfileRate (1: every
// allocation, for an exact idle heap; it slows the agent down).
func startProfile() (stop func(), err error) {
	dir := os.Getenv("FROSTLINE_EDGE_PROFILE")
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("profile: %w", err)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		// Writes a heap profile per SIGUSR1 until stop.
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-usr1:
			}
			h, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", n)))
			if err != nil {
				continue
			}
			runtime.GC()
			pprof.WriteHeapProfile(h)
			h.Close()
		}
	}()
	return func() {
		signal.Stop(usr1)
		close(done)
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func init() {
	if r, err := strconv.Atoi(os.Getenv("FROSTLINE_EDGE_MEMPROFILERATE")); err == nil && r > 0 {
		runtime.MemProfileRate = r
	}
}
