package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// rig owns the processes of one test: it starts them with their output
// in a log file each, and when the test fails it prints the tail of every
// log, so a failure says what each process was doing.
type rig struct {
	t     *testing.T
	dir   string
	mu    sync.Mutex // guards procs: processes are started from the test goroutine only, but dumped from cleanup
	procs []*proc
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, dir: t.TempDir()}
	t.Cleanup(r.close)
	return r
}

// close stops every process, newest first, after printing their logs if
// the test failed.
func (r *rig) close() {
	r.mu.Lock()
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	if r.t.Failed() {
		for _, p := range procs {
			r.t.Logf("--- %s: last lines of %s ---\n%s", p.name, p.log, tail(p.log, 60))
		}
	}
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
}

// proc is one child process, which can be killed and started again with
// the same arguments; its output goes to one log file across restarts.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string
	env  []string
	log  string

	mu   sync.Mutex // guards cmd and done: a process is stopped from cleanup too
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs a process under the rig; name is how diagnostics call it.
func (r *rig) start(name, bin string, env []string, args ...string) *proc {
	r.t.Helper()
	p := &proc{t: r.t, name: name, bin: bin, args: args, env: env, log: filepath.Join(r.dir, name+".log")}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	p.start()
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	lf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	// Reaps the child; ends when it exits.
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// kill ends the process with SIGKILL, as a power cut would, and reaps it.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// stop asks the process to end (SIGTERM) and kills it after 10s.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return true, "stopped by the test"
	}
	select {
	case <-p.done:
		return true, p.cmd.ProcessState.String()
	default:
		return false, ""
	}
}

// wait waits up to d for the process to end by itself.
func (p *proc) wait(d time.Duration) (string, bool) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return "stopped by the test", true
	}
	select {
	case <-done:
		return cmd.ProcessState.String(), true
	case <-time.After(d):
		return "", false
	}
}

// tail returns about the last n lines of a log file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 16<<10 {
		b = b[len(b)-16<<10:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// need returns the path of a server program, looking in PATH and then in
// the given places. A missing program skips the test, except on CI
// (CI=true), where the servers are installed by .ci/run and a missing one
// fails it: CI must not pass by skipping.
func need(t *testing.T, name string, places ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range places {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required on CI (see .ci/run)", name)
	}
	t.Skipf("%s not installed; skipping the end-to-end test", name)
	return ""
}

// freePorts returns n distinct loopback ports nothing listened on a
// moment ago. They are taken together: a port released and asked for
// again before its process binds it can be handed out twice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// waitTCP waits until something accepts connections on addr, failing the
// test with the process's log if it exits first.
func waitTCP(t *testing.T, p *proc, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if gone, how := p.exited(); gone {
			t.Fatalf("%s exited (%s) before listening on %s:\n%s", p.name, how, addr, tail(p.log, 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after %s:\n%s", p.name, addr, d, tail(p.log, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until url answers 200 (a /readyz), failing the test
// with the process's log if it exits first or does not get ready.
func waitReady(t *testing.T, p *proc, url string, d time.Duration) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(d)
	var last string
	for {
		resp, err := c.Get(url)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(b.String()))
		} else {
			last = err.Error()
		}
		if gone, how := p.exited(); gone {
			t.Fatalf("%s exited (%s) before it was ready:\n%s", p.name, how, tail(p.log, 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s (%s):\n%s", p.name, d, last, tail(p.log, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goTool returns the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command to build the binaries with: %v", err)
	}
	return p
}

// moduleRoot is the folder of go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(goTool(t), "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

// binaries are the three Frostline programs, built for this test.
type binaries struct {
	edge, cloud, cli string
}

// build compiles the shipped programs into dir, with the race detector
// when this test has it (it then reuses what `go test -race` compiled).
func build(t *testing.T, dir string) binaries {
	t.Helper()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/frostline-edge", "./cmd/frostline-cloud", "./cmd/frostline")
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return binaries{
		edge:  filepath.Join(dir, "frostline-edge"),
		cloud: filepath.Join(dir, "frostline-cloud"),
		cli:   filepath.Join(dir, "frostline"),
	}
}

// natsServer builds the nats-server this module requires (the current
// server; Debian's is older) once into a cache folder shared with the edge
// tests, and returns its path.
func natsServer(t *testing.T) string {
	t.Helper()
	goCmd := goTool(t)
	ver, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
	if err != nil {
		t.Fatalf("go list nats-server: %v", err)
	}
	dir := filepath.Join(os.TempDir(), "frostline-test-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nats-server-"+strings.TrimSpace(string(ver)))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	// Built beside its final name and renamed: test processes of other
	// packages may be building it at the same moment.
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	cmd := exec.Command(goCmd, "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startMosquitto runs Debian's mosquitto on a free port, anonymous, and
// holding every QoS 1 message for a subscriber that is away (the edge
// agent's persistent session while it is killed).
func (r *rig) startMosquitto(bin string, port int) (*proc, string) {
	r.t.Helper()
	conf := filepath.Join(r.dir, "mosquitto.conf")
	body := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 0
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
`, port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
	p := r.start("mosquitto", bin, nil, "-c", conf)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitTCP(r.t, p, addr, 10*time.Second)
	return p, "tcp://" + addr
}

// startNATS runs nats-server with JetStream on a free port, every write
// synced (as deploy/nats configures the incident stream).
func (r *rig) startNATS(bin string, port int) (*proc, string) {
	r.t.Helper()
	conf := filepath.Join(r.dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", port, filepath.Join(r.dir, "jetstream"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
	p := r.start("nats-server", bin, nil, "-c", conf)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitTCP(r.t, p, addr, 15*time.Second)
	return p, "nats://" + addr
}

// startNATSCluster starts n nats-servers clustered on loopback, as
// deploy/nats describes (fsync always; streams created on it keep 3
// replicas), and waits until JetStream answers; it returns their client
// URLs joined with commas, as a client's URL list.
func (r *rig) startNATSCluster(bin string, n int) ([]*proc, string) {
	r.t.Helper()
	ports := freePorts(r.t, 2*n)
	var routes, urls []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var procs []*proc
	for i := range n {
		conf := filepath.Join(r.dir, fmt.Sprintf("nats-%d.conf", i+1))
		body := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: frostline
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, i+1, ports[i], filepath.Join(r.dir, fmt.Sprintf("jetstream-%d", i+1)), ports[n+i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
		procs = append(procs, r.start(fmt.Sprintf("nats-%d", i+1), bin, nil, "-c", conf))
	}
	for i, p := range procs {
		waitTCP(r.t, p, fmt.Sprintf("127.0.0.1:%d", ports[i]), 15*time.Second)
	}
	url := strings.Join(urls, ",")
	// The cluster takes a moment to elect its JetStream meta leader.
	deadline := time.Now().Add(60 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
		}
		if err == nil {
			return procs, url
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the NATS cluster's JetStream is not ready: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkLogs fails the test if a Frostline process reported a data race or
// a panic, even one it survived.
func (r *rig) checkLogs(names ...string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		for _, n := range names {
			if p.name != n {
				continue
			}
			b, err := os.ReadFile(p.log)
			if err != nil {
				r.t.Error(err)
				continue
			}
			for _, bad := range []string{"WARNING: DATA RACE", "panic:"} {
				if i := bytes.Index(b, []byte(bad)); i >= 0 {
					end := min(len(b), i+4000)
					r.t.Errorf("%s logged %q:\n%s", p.name, bad, b[i:end])
				}
			}
		}
	}
}

// counter sums every series of a Prometheus counter on a /metrics page;
// -1 when the page cannot be read.
func counter(metricsURL, name string) float64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(metricsURL)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return -1
	}
	sum := 0.0
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
