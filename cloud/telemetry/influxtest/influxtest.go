// Package influxtest runs the real time-series servers Frostline's
// telemetry tests write to, as child processes on free loopback ports:
// Debian's InfluxDB 1.6 (influxd), behind an in-process proxy that gives it
// the /api/v2/write endpoint 1.8+ has, and VictoriaMetrics, which accepts
// /api/v2/write itself.
//
// Binary decides whether a test runs: under -short, or when the server is
// not installed and CI is unset, the test is skipped; on CI (CI=true) a
// missing server fails it, so that a green CI run means the servers were
// there.
package influxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary returns the path of the named server, or skips or fails t.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: skipping a test that runs %s", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required on CI: %v", name, err)
		}
		t.Skipf("%s not installed (Debian: influxdb, victoria-metrics, prometheus); skipping", name)
	}
	return p
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a server child process that can be stopped and started again
// on the same ports and data.
type process struct {
	t     testing.TB
	bin   string
	args  []string
	log   string
	ready func() bool
	mu    sync.Mutex // guards cmd and done: Stop and Start may come from different goroutines of a test
	cmd   *exec.Cmd
	done  chan struct{}
}

func (p *process) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	lf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		p.t.Fatalf("start %s: %v", p.bin, err)
	}
	done := make(chan struct{})
	// Reaps the child; exits when the process does.
	go func() { _ = cmd.Wait(); lf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for !p.ready() {
		select {
		case <-done:
			p.t.Fatalf("%s exited at start:\n%s", p.bin, tail(p.log))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready after 30s:\n%s", p.bin, tail(p.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func get(u string) (int, []byte, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// InfluxDB is a running influxd 1.x with one database.
type InfluxDB struct {
	// URL is influxd's own HTTP API (/query, /write).
	URL string
	// WriteURL is the proxy that takes /api/v2/write for it: give it to
	// the writer with Token and Bucket.
	WriteURL string
	Token    string // "user:password", as 1.8+ takes it
	Bucket   string // "db/rp"
	Database string

	p *process
}

// StartInfluxDB starts influxd with its data in a temporary directory and
// creates the database db.
func StartInfluxDB(t testing.TB, db string) *InfluxDB {
	t.Helper()
	bin := Binary(t, "influxd")
	dir := t.TempDir()
	port, rpc := FreePort(t), FreePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`, rpc, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), port)
	cf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &InfluxDB{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Token: "frostline:secret", Bucket: db + "/autogen", Database: db}
	s.p = &process{t: t, bin: bin, args: []string{"-config", cf}, log: filepath.Join(dir, "influxd.log"),
		ready: func() bool { code, _, err := get(s.URL + "/ping"); return err == nil && code == http.StatusNoContent }}
	s.p.start()
	t.Cleanup(s.p.stop)
	if _, err := s.Query("CREATE DATABASE " + db); err != nil {
		t.Fatal(err)
	}
	s.WriteURL = V1Proxy(t, s.URL)
	return s
}

// Stop stops influxd; Start starts it again on the same port and data.
func (s *InfluxDB) Stop()  { s.p.stop() }
func (s *InfluxDB) Start() { s.p.start() }

// Series is one series of an InfluxQL result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL on the database and returns the series of its first
// statement.
func (s *InfluxDB) Query(q string) ([]Series, error) {
	form := url.Values{"q": {q}, "db": {s.Database}, "epoch": {"ms"}}
	resp, err := http.PostForm(s.URL+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("influxql %q: %s: %w", q, resp.Status, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("influxql %q: %s", q, r.Error)
	}
	if len(r.Results) == 0 {
		return nil, nil
	}
	if e := r.Results[0].Error; e != "" {
		return nil, fmt.Errorf("influxql %q: %s", q, e)
	}
	return r.Results[0].Series, nil
}

// Count returns the number of points of measurement with field, by
// InfluxQL `SELECT count(field)`.
func (s *InfluxDB) Count(t testing.TB, measurement, field string) int {
	t.Helper()
	res, err := s.Query(fmt.Sprintf(`SELECT count(%q) FROM %q`, field, measurement))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 || len(res[0].Values) == 0 {
		return 0
	}
	n, _ := res[0].Values[0][1].(float64)
	return int(n)
}

// V1Proxy serves the InfluxDB 2.x write endpoint in front of a 1.x server,
// as InfluxDB 1.8's own compatibility layer does: /api/v2/write with
// bucket "db/rp" (or "db") and "Authorization: Token user:password"
// becomes /write?db=db&rp=rp&u=user&p=password. Anything else is passed
// through. It returns the proxy's base URL.
func V1Proxy(t testing.TB, target string) string {
	t.Helper()
	tu, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(tu)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a refused connection is the point of some tests
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/write" {
			q := r.URL.Query()
			user, pass, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "Token "), ":")
			if !ok {
				http.Error(w, `{"code":"unauthorized","message":"want Token user:password"}`, http.StatusUnauthorized)
				return
			}
			db, retention, _ := strings.Cut(q.Get("bucket"), "/")
			if db == "" {
				http.Error(w, `{"code":"invalid","message":"bucket is required"}`, http.StatusBadRequest)
				return
			}
			v1 := url.Values{"db": {db}, "u": {user}, "p": {pass}}
			if retention != "" {
				v1.Set("rp", retention)
			}
			if p := q.Get("precision"); p != "" {
				v1.Set("precision", map[string]string{"ns": "n", "us": "u", "ms": "ms", "s": "s"}[p])
			}
			r.URL.Path, r.URL.RawQuery = "/write", v1.Encode()
			r.Header.Del("Authorization")
		}
		rp.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	// Serves until the cleanup below closes the listener.
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// VictoriaMetrics is a running victoria-metrics single node.
type VictoriaMetrics struct {
	URL string
	p   *process
}

// StartVictoriaMetrics starts victoria-metrics with its data in a temporary
// directory, keeping data of any age (the shared sample is from July).
func StartVictoriaMetrics(t testing.TB) *VictoriaMetrics {
	t.Helper()
	bin := Binary(t, "victoria-metrics")
	dir := t.TempDir()
	v := &VictoriaMetrics{URL: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))}
	v.p = &process{t: t, bin: bin, log: filepath.Join(dir, "vm.log"),
		args: []string{"-storageDataPath", filepath.Join(dir, "data"), "-httpListenAddr", strings.TrimPrefix(v.URL, "http://"),
			"-retentionPeriod", "100y", "-search.disableCache", "-loggerLevel", "WARN"},
		ready: func() bool { code, _, err := get(v.URL + "/health"); return err == nil && code == http.StatusOK }}
	v.p.start()
	t.Cleanup(v.p.stop)
	return v
}

// Stop stops victoria-metrics; Start starts it again on the same port and data.
func (v *VictoriaMetrics) Stop()  { v.p.stop() }
func (v *VictoriaMetrics) Start() { v.p.start() }

// Exported is one exported series.
type Exported struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// Export flushes what was written and returns every series matching the
// selector, over all time.
func (v *VictoriaMetrics) Export(selector string) ([]Exported, error) {
	if _, _, err := get(v.URL + "/internal/force_flush"); err != nil {
		return nil, err
	}
	resp, err := http.PostForm(v.URL+"/api/v1/export", url.Values{"match[]": {selector}, "start": {"0"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export %s: %s: %s", selector, resp.Status, b)
	}
	var out []Exported
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var s Exported
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
