package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
)

// smallDisk mounts a tmpfs of size bytes on a fresh folder, unmounted when
// the test ends. Mounting needs root: without it the test is skipped, and
// fails under CI=true, where a full disk must be tested.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("mounts a tmpfs; skipped under -short")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a %d-byte tmpfs (needs root): %v", size, err)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file into dir until the filesystem is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 16<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatal(err)
		}
	}
}

// syncBuffer is a log destination the agent writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAgentOutboxDiskFull is issue 20 item 2: the outbox's disk (a small
// tmpfs) fills up while readings stream in through mosquitto. The agent
// stops acknowledging instead of exiting or losing what it evaluated, says
// so on /readyz, in frostline_edge_outbox_blocked and in its log, and the
// broker holds the messages; when space returns it carries on by itself,
// and JetStream ends up with exactly the incident events of an
// uninterrupted run, none lost or doubled. Before, the failed commit ended
// the agent (and a restart on a full disk failed again).
func TestAgentOutboxDiskFull(t *testing.T) {
	disk := smallDisk(t, 4<<20)
	broker := testserver.Mosquitto(t)
	store := t.TempDir()
	ns := testserver.NATS(t, store, -1)
	natsPort := testserver.NATSPort(ns)
	cfg := testConfig(t, t.TempDir(), broker, ns.ClientURL())
	cfg.Outbox.Path = filepath.Join(disk, "outbox.db")
	cfg.Outbox.CheckpointEvery = 0 // a checkpoint each commit: the outbox writes the most
	msgs := edgetest.Replay(240)
	want := edgetest.Expected(t, edgetest.Rules, msgs)

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	a := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), Options{Registry: prometheus.NewRegistry(), HTTPListening: func(s string) { addr <- s }})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	t.Cleanup(func() { // before the unmount: the outbox file is closed first
		if !stopped {
			cancel()
			<-done
		}
	})
	base := "http://" + <-addr
	waitReady(t, base)
	pub := edgetest.NewPublisher(t, broker)
	first := len(msgs) / 4
	pub.Publish(t, msgs[:first])
	edgetest.WaitStream(t, ns.ClientURL(), wire.IncidentStream, 1, 20*time.Second)

	// NATS goes away, so that the outbox grows (what is forwarded frees
	// its pages), and the disk fills up.
	ns.Shutdown()
	ns.WaitForShutdown()
	filler := fill(t, disk)
	t0 := time.Now()
	// Publish until the outbox runs out of room (pages it freed may take
	// a few commits first).
	sent := first
	blocked := func() bool {
		_, body := get(t, base+"/metrics")
		return metricValue(body, "frostline_edge_outbox_blocked") == "1"
	}
	for deadline := time.Now().Add(20 * time.Second); !blocked(); {
		if sent == len(msgs) || time.Now().After(deadline) {
			t.Fatalf("the outbox never ran out of room (%d of %d messages sent)", sent, len(msgs))
		}
		next := min(sent+8, len(msgs))
		pub.Publish(t, msgs[sent:next])
		sent = next
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("blocked after %v, %d messages", time.Since(t0), sent)
	pub.Publish(t, msgs[sent:]) // the broker holds these
	code, body := get(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, "outbox disk full") {
		t.Errorf("/readyz = %d %q while the disk is full, want 503 naming the outbox", code, body)
	}
	if !strings.Contains(logs.String(), "outbox disk full") {
		t.Error("no log line says the outbox disk is full")
	}
	time.Sleep(time.Second) // it stays blocked, and running
	select {
	case err := <-done:
		t.Fatalf("the agent stopped on a full disk: %v", err)
	default:
	}
	_, metrics := get(t, base+"/metrics")
	if v := metricValue(metrics, "frostline_edge_outbox_no_space_total"); v == "" || v == "0" {
		t.Errorf("frostline_edge_outbox_no_space_total = %q", v)
	}
	if !blocked() {
		t.Error("unblocked with the disk still full")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ns = testserver.NATS(t, store, natsPort)
	for deadline := time.Now().Add(20 * time.Second); blocked(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still blocked 20 s after space returned")
		}
	}
	t.Logf("unblocked %v", time.Since(t0))
	waitReady(t, base)
	t.Logf("ready %v", time.Since(t0))
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body := get(t, base+"/metrics")
		if metricValue(body, `frostline_edge_readings_total{result="ok"}`) == strconv.Itoa(len(msgs)*2) {
			break
		}
	}
	t.Logf("all read %v", time.Since(t0))
	got := edgetest.WaitStream(t, ns.ClientURL(), wire.IncidentStream, len(want), 60*time.Second)
	t.Logf("stream complete %v", time.Since(t0))
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
	got = edgetest.StreamIDs(t, ns.ClientURL(), wire.IncidentStream)
	_, metrics = get(t, base+"/metrics")
	t.Logf("held back while blocked: %s messages; write attempts on a full disk: %s",
		metricValue(metrics, "frostline_edge_ingest_held_total"), metricValue(metrics, "frostline_edge_outbox_no_space_total"))
	cancel()
	stopped = true
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after the disk filled and emptied JetStream holds %d incident events, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	if !strings.Contains(logs.String(), "outbox writes again") {
		t.Error("no log line says the outbox writes again")
	}
}
