package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// replicaEnv, set in a re-executed test binary's environment, names the
// JSON config of the replica that process runs instead of the tests
// (TestMain).
const replicaEnv = "FROSTLINE_TEST_REPLICA_CONFIG"

// runReplica is a re-executed test binary's life: one cloud replica of
// the config at path, its address on stdout, until SIGTERM (graceful) or
// SIGKILL (nothing runs at all).
func runReplica(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer a.Close()
	fmt.Printf("listening %s\n", a.Addr())
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// process is a cloud replica in a process of its own (this test binary,
// re-executed), so that a test can kill it as an OOM killer or a lost
// node does: SIGKILL, no shutdown, no deferred commit, its connections
// dropped by the kernel.
type process struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan error
	// ended: kill or stop has reaped it.
	ended bool
}

// startProcess starts a replica of cfg in its own process; the test's
// cleanup kills it if it still runs. Its log goes to <name>.log in the
// test's temporary directory.
func startProcess(t *testing.T, name string, cfg Config) *process {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	again, err := json.Marshal(&back)
	if err = errors.Join(json.Unmarshal(data, &back), err); err != nil {
		t.Fatal(err)
	}
	if again, _ = json.Marshal(back); string(again) != string(data) {
		t.Fatalf("the config does not survive its trip to the process as JSON:\n%s\n%s", data, again)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), replicaEnv+"="+path)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() { // owns the pipe until the process ends, then reaps it
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if !p.ended {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-addr:
	case err := <-p.done:
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("replica %s ended before listening: %v\n%s", name, err, log)
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %s not listening after 60s", name)
	}
	return p
}

// kill ends the process with SIGKILL and checks that it died of it.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-p.done
	p.ended = true
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("replica %s: %v, want killed by SIGKILL", p.name, err)
	}
}

// stop ends the process gracefully (SIGTERM) and checks it exited cleanly.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-p.done
	p.ended = true
	if err != nil {
		t.Errorf("replica %s: %v", p.name, err)
	}
}
