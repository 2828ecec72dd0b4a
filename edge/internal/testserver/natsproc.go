package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsBin is the nats-server binary built once per test process.
var natsBin struct {
	once sync.Once
	path string
	err  error
}

// NATSServerBin builds the nats-server this module requires (the current
// server, not Debian's old 2.9) into a cache folder once, and returns its
// path. Skipped under -short; a failure to build fails the test.
func NATSServerBin(t testing.TB) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds and runs nats-server as a process; skipped under -short")
	}
	natsBin.once.Do(func() {
		ver, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
		if err != nil {
			natsBin.err = fmt.Errorf("go list nats-server: %w", err)
			return
		}
		dir := filepath.Join(os.TempDir(), "frostline-test-bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			natsBin.err = err
			return
		}
		path := filepath.Join(dir, "nats-server-"+strings.TrimSpace(string(ver)))
		if _, err := os.Stat(path); err == nil {
			natsBin.path = path
			return
		}
		tmp := path + fmt.Sprintf(".%d", os.Getpid())
		out, err := exec.Command("go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsBin.err = fmt.Errorf("go build nats-server: %v\n%s", err, out)
			return
		}
		natsBin.path, natsBin.err = path, os.Rename(tmp, path)
	})
	if natsBin.err != nil {
		t.Fatal(natsBin.err)
	}
	return natsBin.path
}

// NATSProcess is a nats-server running as a separate process, with
// JetStream in its store folder and fsync on every write.
type NATSProcess struct {
	t    testing.TB
	bin  string
	conf string
	cmd  *exec.Cmd
	// URL is nats://127.0.0.1:port.
	URL  string
	port int
}

// StartNATSProcess starts nats-server as a process on a free port with
// JetStream storing in dir. It is killed when the test ends.
func StartNATSProcess(t testing.TB, dir string) *NATSProcess {
	t.Helper()
	p := &NATSProcess{t: t, bin: NATSServerBin(t), port: FreePort(t)}
	p.URL = fmt.Sprintf("nats://127.0.0.1:%d", p.port)
	p.conf = filepath.Join(dir, "nats.conf")
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", p.port, filepath.Join(dir, "js"))
	if err := os.WriteFile(p.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// Start starts the process (again, after Kill) and waits until it
// accepts connections.
func (p *NATSProcess) Start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "-c", p.conf)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start nats-server: %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("nats-server not listening on %d: %v", p.port, err)
		}
	}
}

// Kill ends the process with SIGKILL, as a power cut would, and reaps it.
func (p *NATSProcess) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}
