// Package pull is how the cloud's JetStream consumers (cloud/intake,
// cloud/telemetry, cloud/pm's runtime counters) take messages: one pull of
// up to n messages, each handed on as it arrives.
package pull

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrPull marks a pull that could not be made at all: nothing was fetched,
// and a consumer waits a moment before it pulls again.
var ErrPull = errors.New("pull")

// Fetch pulls up to n messages from cons, waiting up to wait for them (0:
// only what is waiting now), and hands each to f as it arrives. It returns
// how many it handed on and what went wrong: a pull that could not be made
// (wrapping ErrPull), or the batch's error after the messages it did
// deliver. The timeout that ends a pull finding fewer than n messages is
// how a pull on a quiet stream ends, not an error.
func Fetch(cons jetstream.Consumer, n int, wait time.Duration, f func(jetstream.Msg)) (int, error) {
	var b jetstream.MessageBatch
	var err error
	if wait > 0 {
		// FetchMaxWait, not FetchContext: the client then waits for the
		// server to end the pull, so no message is delivered into a request
		// the client has already given up on (it would sit unacknowledged
		// until AckWait).
		b, err = cons.Fetch(n, jetstream.FetchMaxWait(wait))
	} else {
		b, err = cons.FetchNoWait(n)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrPull, err)
	}
	got := 0
	for m := range b.Messages() {
		got++
		f(m)
	}
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return got, err
	}
	return got, nil
}
