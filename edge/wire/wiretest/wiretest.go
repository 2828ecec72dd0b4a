// Package wiretest starts what the edge-to-cloud contract runs on, for the
// tests of either side: an in-process NATS server with JetStream.
package wiretest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// JetStream starts an in-process NATS server with JetStream on a random
// loopback port, storing in a temporary folder; it is shut down when the
// test ends.
func JetStream(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start() // owned by the server; stopped by Shutdown below
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Connect connects to s; the connection is closed when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Cluster is n in-process nats-servers clustered on loopback, JetStream on
// each and every write synced (sync_interval: always), as deploy/nats
// describes the cloud's cluster. Nodes can be killed and restarted on
// their ports and storage.
type Cluster struct {
	t       testing.TB
	opts    []*server.Options
	Servers []*server.Server // nil while a node is down
}

// NewCluster starts n nodes and waits until JetStream has a meta leader.
// They are shut down when the test ends.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Servers: make([]*server.Server, n)}
	routes := make([]string, n)
	ports := make([][2]int, n)
	for i := range n {
		ports[i] = [2]int{freePort(t), freePort(t)}
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i][1])
	}
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: ports[i][0],
			JetStream: true, StoreDir: t.TempDir(), SyncAlways: true, SyncInterval: 2 * time.Minute,
			Cluster: server.ClusterOpts{Name: "frostline", Host: "127.0.0.1", Port: ports[i][1]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:  true, NoLog: true,
		})
	}
	for i := range n {
		c.Start(i)
	}
	t.Cleanup(func() {
		for i := range c.Servers {
			c.Kill(i)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, s := range c.Servers {
			if s.JetStreamIsLeader() {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nats cluster: no JetStream meta leader")
		}
	}
}

// Start starts (or restarts) node i on its ports and storage.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.t.Fatal(err)
	}
	go s.Start() // owned by the cluster; stopped by Kill
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("nats node %d not ready", i+1)
	}
	c.Servers[i] = s
}

// Kill stops node i at once (no lame-duck mode), as a crash would.
func (c *Cluster) Kill(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.Servers[i] = nil
	}
}

// URLs is the client URL of every node, comma-separated, for nats.Connect.
func (c *Cluster) URLs() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// Index returns the node with the server name, or -1.
func (c *Cluster) Index(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
