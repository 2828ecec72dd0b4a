// Package wiretest starts what the edge-to-cloud contract runs on, for the
// tests of either side: an in-process NATS server with JetStream.
package wiretest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
