package agent

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// BenchmarkBinaryMosquitto runs the built frostline-edge (static, stripped)
// on the default pack against a real mosquitto, publishes b.N JSON
// readings at QoS 1 from this process, and reports what the agent process
// alone used: CPU time per reading and resident memory idle, at its peak
// during the run and after it, plus the binary's size. "firehose" publishes
// as fast as mosquitto takes the readings; "10000-per-s" at the rate the
// memory target is stated for, 10,000 readings a second; "20000-per-s" at
// the rate eKuiper was measured at for the CPU target.
func BenchmarkBinaryMosquitto(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "frostline-edge")
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin}
	profile := os.Getenv("FROSTLINE_BENCH_PROFILE")
	if profile != "" {
		// A folder for the agent's own CPU and heap profiles (see
		// cmd/frostline-edge/profile.go).
		args = append(args, "-tags", "profile")
	}
	build := exec.Command("go", append(args, "github.com/frostline/frostline/cmd/frostline-edge")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	ahead := 40.0 // how far event time runs ahead of the wall clock in "catch-up"
	if v, err := strconv.ParseFloat(os.Getenv("FROSTLINE_BENCH_AHEAD"), 64); err == nil && v > 0 {
		ahead = v
	}
	for _, c := range []struct {
		name  string
		rate  int
		ahead float64
	}{{"firehose", 0, 1}, {"20000-per-s", 20000, 1}, {"10000-per-s", 10000, 1}, {"catch-up", 20000, ahead}} {
		b.Run(c.name, func(b *testing.B) {
			prof := ""
			if profile != "" {
				prof = filepath.Join(profile, c.name)
				if err := os.MkdirAll(prof, 0o755); err != nil {
					b.Fatal(err)
				}
			}
			benchBinary(b, bin, prof, c.rate, c.ahead)
		})
	}
}

// benchBinary runs one agent from bin on a fresh store and publishes b.N
// readings at rate a second (0: as fast as the broker takes them), event
// time running ahead times as fast as the wall clock (1: live).
func benchBinary(b *testing.B, bin, profile string, rate int, ahead float64) {
	broker := testserver.Mosquitto(b)
	ns := testserver.NATS(b, b.TempDir(), -1)
	dir := b.TempDir()
	assets := 1390 // 5004 series
	if n, err := strconv.Atoi(os.Getenv("FROSTLINE_BENCH_ASSETS")); err == nil && n > 0 {
		assets = n // a smaller or larger store
	}
	site, series := benchStore(b, assets)
	// FROSTLINE_BENCH_SITES deals the assets out to that many sites
	// (bench0, bench1, ...): telemetry is a batch per site and minute.
	nsites := 1
	if n, err := strconv.Atoi(os.Getenv("FROSTLINE_BENCH_SITES")); err == nil && n > 1 {
		nsites = n
	}
	siteOf := func(i int) string {
		if nsites == 1 {
			return "bench"
		}
		return fmt.Sprintf("bench%d", i%nsites)
	}
	var files []string
	for k := range nsites {
		var sb strings.Builder
		fmt.Fprintf(&sb, "site: %s\nassets:\n", siteOf(k))
		for i := k; i < len(site.Assets); i += nsites {
			fmt.Fprintf(&sb, "  - {id: %s, class: %s}\n", site.Assets[i].ID, site.Assets[i].Class)
		}
		name := fmt.Sprintf("site%d.yaml", k)
		writeFile(b, filepath.Join(dir, name), sb.String())
		files = append(files, name)
	}
	for i := range series {
		n, _ := strconv.Atoi(strings.TrimPrefix(series[i].Asset, "a"))
		series[i].Site = siteOf(n)
	}
	port := testserver.FreePort(b)
	writeFile(b, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`gateway: bench
sites: [%s]
mqtt: {broker: %s}
nats: {url: %s, ensure_streams: true}
outbox: {path: outbox.db}
http: {listen: 127.0.0.1:%d}
log: {level: warn}
%s`, strings.Join(files, ", "), broker, ns.ClientURL(), port, benchRuntime()))
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "edge.yaml"))
	cmd.Stderr = os.Stderr
	if profile != "" {
		cmd.Env = append(os.Environ(), "FROSTLINE_EDGE_PROFILE="+profile)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("agent not ready")
		}
	}
	time.Sleep(time.Second)
	idleRSS := procRSS(b, cmd.Process.Pid)
	idleHeap := scrape(b, base, "go_memstats_heap_inuse_bytes")
	if profile != "" {
		cmd.Process.Signal(syscall.SIGUSR1) // heap-1.pprof: idle
		copySmaps(b, cmd.Process.Pid, filepath.Join(profile, "smaps-1"))
	} else if d := os.Getenv("FROSTLINE_BENCH_SMAPS"); d != "" {
		// The memory map of the release build, which the profiling
		// build's extra code would change.
		copySmaps(b, cmd.Process.Pid, filepath.Join(d, "smaps-1"))
		copyMetrics(b, base, filepath.Join(d, "metrics-1"))
	}

	// Event time: a firehose is a backlog being caught up, readings 30 s
	// apart per series; at a set rate the readings are live, each series
	// reporting once per len(series)/rate seconds, or, catching up, ahead
	// times that.
	t0 := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	spacing := 30 * time.Second
	if rate > 0 {
		spacing = time.Duration(ahead * float64(time.Duration(len(series))*time.Second) / float64(rate))
	}
	msgs := make([]edgetest.Message, b.N)
	for k := range msgs {
		r := series[k%len(series)]
		step := k / len(series)
		msgs[k] = edgetest.Message{
			Topic:   fmt.Sprintf("sites/%s/assets/%s/%s", r.Site, r.Asset, r.Metric),
			Payload: fmt.Appendf(nil, `{"value": %g, "ts": %d}`, value(&r, step), t0.Add(time.Duration(step)*spacing).UnixMilli()),
		}
	}
	pub := edgetest.NewPublisher(b, broker)
	alloc0 := scrape(b, base, "go_memstats_alloc_bytes_total")
	commits0 := scrape(b, base, "frostline_edge_outbox_commits_total")
	cpu0 := procCPU(b, cmd.Process.Pid)
	// The agent's RSS sampled while the readings flow, and its metrics
	// polled no more than needed: a scrape of /metrics costs the agent CPU time of
	// its own (every collector, /proc reads, text encoding), which is not
	// what this measures.
	var peak atomic.Int64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		// Reads /proc only: costs the agent nothing.
		defer close(sampled)
		for {
			if kb, err := statusKB(cmd.Process.Pid, "VmRSS:"); err == nil && kb<<10 > peak.Load() {
				peak.Store(kb << 10)
			}
			select {
			case <-sampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rate > 0 {
			pub.PublishPaced(b, msgs, rate)
		} else {
			pub.PublishAsync(b, msgs)
		}
	}()
	// A firehose is polled often, since its rate is measured on the wall
	// clock; a paced run, whose rate is set, once a second.
	poll := 100 * time.Millisecond
	if rate > 0 {
		poll = time.Second
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(poll) {
		if scrape(b, base, "frostline_edge_readings_total") >= float64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			for _, name := range []string{"frostline_edge_mqtt_messages_total", "frostline_edge_readings_total", "frostline_edge_ingest_dropped_total",
				"frostline_edge_mqtt_decode_errors_total", "frostline_edge_mqtt_reconnects_total", "frostline_edge_outbox_commits_total"} {
				fmt.Fprintf(&sb, "%s=%g ", name, scrape(b, base, name))
			}
			b.Fatalf("readings did not all arrive: %s", sb.String())
		}
	}
	b.StopTimer()
	evaluated := time.Now()
	<-done
	var incident time.Duration
	queued := scrape(b, base, "frostline_edge_outbox_entries")
	if ahead > 1 {
		// A live incident while the backlog's telemetry is still being
		// forwarded: it must not wait behind it.
		end := t0.Add(time.Duration(b.N/len(series)+1) * spacing)
		incident = liveIncident(b, pub, ns.ClientURL(), series[0], end)
	}
	// What the agent still has to forward is part of its cost.
	for deadline := time.Now().Add(5 * time.Minute); scrape(b, base, "frostline_edge_outbox_entries") > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("outbox not drained: %g entries", scrape(b, base, "frostline_edge_outbox_entries"))
		}
	}
	drained := time.Since(evaluated)
	close(sampling)
	<-sampled
	cpu := procCPU(b, cmd.Process.Pid) - cpu0
	alloc := scrape(b, base, "go_memstats_alloc_bytes_total") - alloc0
	commits := scrape(b, base, "frostline_edge_outbox_commits_total") - commits0
	fi, _ := os.Stat(bin)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "agent-cpu-us/reading")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "readings/agent-cpu-s")
	b.ReportMetric(alloc/float64(b.N), "agent-alloc-B/reading")
	b.ReportMetric(float64(b.N)/commits, "readings/commit")
	b.ReportMetric(queued, "outbox-queued")
	b.ReportMetric(drained.Seconds(), "drain-s")
	if ahead > 1 {
		b.ReportMetric(float64(incident.Microseconds())/1000, "live-incident-ms")
	}
	b.ReportMetric(float64(idleRSS)/(1<<20), "idle-rss-MB")
	b.ReportMetric(idleHeap/(1<<20), "idle-heap-MB")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(procRSS(b, cmd.Process.Pid))/(1<<20), "rss-MB")
	// The file-backed part: the binary's own pages and bbolt's mapped file.
	b.ReportMetric(float64(procStatus(b, cmd.Process.Pid, "RssFile:"))/(1<<20), "rss-file-MB")
	// What the Go heap took at its peak, roughly: the collector's goal.
	b.ReportMetric(scrape(b, base, "go_memstats_next_gc_bytes")/(1<<20), "gc-goal-MB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MB")
	if d := os.Getenv("FROSTLINE_BENCH_SMAPS"); d != "" && profile == "" {
		copySmaps(b, cmd.Process.Pid, filepath.Join(d, "smaps-2"))
		copyMetrics(b, base, filepath.Join(d, "metrics-2"))
	}
	if profile != "" {
		cmd.Process.Signal(syscall.SIGUSR1) // heap-2.pprof: after the run
		copySmaps(b, cmd.Process.Pid, filepath.Join(profile, "smaps-2"))
		time.Sleep(time.Second)
	}
}

// liveIncident publishes two readings of r's series (an air temperature),
// 6 min apart from at on in event time and impossibly warm, which open the
// default pack's temp-probe-implausible incident, and returns how long
// after the second the incident reached NATS.
func liveIncident(b *testing.B, pub *edgetest.Publisher, natsURL string, r rules.Reading, at time.Time) time.Duration {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	got := make(chan time.Time, 1)
	sub, err := nc.Subscribe(wire.IncidentSubject(r.Site), func(m *nats.Msg) {
		if inc, err := wire.DecodeIncident(m.Data); err == nil && inc.Event.Event == rules.Opened && inc.Event.Asset == r.Asset {
			select {
			case got <- time.Now():
			default:
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	msg := func(t time.Time) edgetest.Message {
		return edgetest.Message{Topic: fmt.Sprintf("sites/%s/assets/%s/%s", r.Site, r.Asset, r.Metric),
			Payload: fmt.Appendf(nil, `{"value": 99, "ts": %d}`, t.UnixMilli())}
	}
	pub.Publish(b, []edgetest.Message{msg(at)})
	sent := time.Now()
	pub.Publish(b, []edgetest.Message{msg(at.Add(6 * time.Minute))})
	select {
	case t := <-got:
		return t.Sub(sent)
	case <-time.After(time.Minute):
		b.Fatal("the live incident did not reach NATS")
		return 0
	}
}

// benchRuntime is the agent's runtime: block, from FROSTLINE_BENCH_RUNTIME
// (for instance "{gc_percent: 100, memory_limit: 16777216}") to weigh the
// collector's settings; empty keeps the defaults.
func benchRuntime() string {
	if v := os.Getenv("FROSTLINE_BENCH_RUNTIME"); v != "" {
		return "runtime: " + v + "\n"
	}
	return ""
}

// procCPU is a process's user plus system CPU time, from /proc.
func procCPU(t testing.TB, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces).
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// procRSS is a process's resident set in bytes.
func procRSS(t testing.TB, pid int) int64 { return procStatus(t, pid, "VmRSS:") }

// procStatus is a kB field of /proc/PID/status, in bytes.
func procStatus(t testing.TB, pid int, field string) int64 {
	kb, err := statusKB(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return kb << 10
}

// statusKB reads a kB field of /proc/PID/status (0 when it has none).
func statusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, s.Err()
}

// scrape sums a metric family's samples from /metrics.
func scrape(t testing.TB, base, name string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var n float64
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			n += v
		}
	}
	return n
}

// copyMetrics keeps the agent's /metrics (the runtime's memory statistics
// among them) at path.
func copyMetrics(t testing.TB, base, path string) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(body))
}

// copySmaps keeps the agent's memory map, mapping by mapping, beside its
// profiles: which of its resident pages are the binary's, the heap's or
// bbolt's.
func copySmaps(t testing.TB, pid int, path string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}
