package ingest

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestBufferedConnReadGap reads through a loopback TCP pair: a fill right
// after another waits out the gap and takes everything that came
// meanwhile in one go; the first fill, and a read served from the buffer,
// do not wait.
func TestBufferedConnReadGap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer peer.Close()

	const gap = 300 * time.Millisecond
	c := newBufferedConn(raw, gap)
	write := func(s string) {
		t.Helper()
		if _, err := peer.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(c io.Reader, n int) (string, time.Duration) {
		t.Helper()
		buf := make([]byte, n)
		start := time.Now()
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf), time.Since(start)
	}

	write("a")
	if got, took := read(c, 1); got != "a" || took >= gap {
		t.Fatalf("first fill: %q after %v, want \"a\" without the gap", got, took)
	}
	write("bc")
	go func() {
		time.Sleep(gap / 3)
		peer.Write([]byte("de"))
	}()
	got, took := read(c, 1)
	if got != "b" || took < gap {
		t.Fatalf("second fill: %q after %v, want \"b\" after at least %v", got, took, gap)
	}
	if n := c.r.Buffered(); n != 3 {
		t.Errorf("second fill left %d bytes buffered, want 3 (c, and de written during the gap)", n)
	}
	if got, took := read(c, 3); got != "cde" || took >= gap {
		t.Errorf("buffered read: %q after %v, want \"cde\" at once", got, took)
	}

	none := newBufferedConn(raw, 0)
	write("f")
	read(none, 1)
	write("g")
	if got, took := read(none, 1); got != "g" || took >= gap {
		t.Errorf("no gap: the fill after another took %q after %v", got, took)
	}
}
