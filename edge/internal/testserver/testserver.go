// Package testserver starts real servers inside a test process: a NATS
// server with JetStream and a mochi MQTT broker, each on a free port, and
// Debian's mosquitto as a child process. Tests of the edge agent run
// against these rather than against mocks.
package testserver

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// NATS starts a NATS server with JetStream storing in dir (fsync on every
// write, as production should), on port (-1: a free one). It is shut down
// when the test ends, or earlier by calling Shutdown.
func NATS(t testing.TB, dir string, port int) *natsserver.Server {
	t.Helper()
	opts := &natsserver.Options{
		Host:       "127.0.0.1",
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: true,
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// NATSPort returns the port a running server listens on.
func NATSPort(s *natsserver.Server) int {
	return s.Addr().(*net.TCPAddr).Port
}

// Broker is a running mochi broker.
type Broker struct {
	*mqtt.Server
	once sync.Once
}

// Close stops the broker; later calls do nothing.
func (b *Broker) Close() {
	b.once.Do(func() { b.Server.Close() })
}

// MQTT starts a mochi MQTT broker allowing everyone, on addr
// ("127.0.0.1:0" for a free port). It returns the broker and its
// tcp://host:port URL.
func MQTT(t testing.TB, addr string) (*Broker, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	s := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	b := &Broker{Server: s}
	t.Cleanup(b.Close)
	return b, "tcp://" + addr
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Mosquitto starts Debian's mosquitto on a free port with a config
// allowing anonymous clients, and returns its tcp:// URL. When the binary
// is missing the test is skipped, except under CI=true where the server is
// required and its absence fails the test. Under -short it is skipped.
func Mosquitto(t testing.TB) string {
	t.Helper()
	return MosquittoWith(t, "allow_anonymous true\n")
}

// MosquittoBin returns the mosquitto binary, skipping or failing the test
// as Mosquitto says when it is missing.
func MosquittoBin(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr == nil {
			bin, err = "/usr/sbin/mosquitto", nil
		}
	}
	switch {
	case err == nil:
	case os.Getenv("CI") == "true":
		t.Fatalf("mosquitto is required under CI (apt-get install mosquitto): %v", err)
	default:
		t.Skipf("mosquitto not installed: %v", err)
	}
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts mosquitto; skipped under -short")
	}
	return bin
}

// MosquittoWith starts mosquitto with extra config lines (authentication,
// ACLs) after a listener on a free port, and returns its tcp:// URL.
func MosquittoWith(t testing.TB, extra string) string {
	t.Helper()
	bin := MosquittoBin(t)
	port := FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 0\n%s", port, extra)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		// Reaps mosquitto; the cleanup below kills it.
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "tcp://" + addr
}
