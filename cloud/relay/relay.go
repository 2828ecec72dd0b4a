// Package relay tells the rest of Frostline what happens to work orders: it
// publishes the notices that stores keep in their outbox (written in the
// same transaction as the work-order events) to the FROSTLINE_EVENTS
// JetStream stream, after commit, at least once, each with a stable
// Nats-Msg-Id so that JetStream drops a re-publish.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/edge/wire"
)

// Msg is a committed message in a store's outbox, waiting to be
// published.
type Msg struct {
	ID      int64
	Subject string
	MsgID   string
	Data    []byte
}

// Store is the outbox.
type Store interface {
	Relay(ctx context.Context, limit int, publish func([]Msg) error) (int, error)
}

// Relay publishes outbox messages.
type Relay struct {
	js        jetstream.JetStream
	store     Store
	log       *slog.Logger
	published prometheus.Counter
	// Idle is how long to wait when the outbox is empty.
	Idle time.Duration
}

// New ensures the events stream exists and returns a relay.
func New(ctx context.Context, nc *nats.Conn, store Store, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if _, err := wire.EnsureStream(ctx, js, StreamConfig); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{js: js, store: store, log: log.With("component", "relay"), Idle: 250 * time.Millisecond,
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_notices_published_total",
			Help: "Work-order notices published to the events stream."})}
	if reg != nil {
		reg.MustRegister(r.published)
	}
	return r, nil
}

// Run relays until ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := r.Once(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("relay failed; will retry", "err", err)
		}
		wait := r.Idle
		if n > 0 && err == nil {
			wait = 0 // more may be waiting
		} else if err != nil {
			wait = 2 * time.Second
		}
		t.Reset(wait)
	}
}

// Once publishes one batch and reports how many messages went out.
func (r *Relay) Once(ctx context.Context) (int, error) {
	return r.store.Relay(ctx, 256, func(msgs []Msg) error {
		futures := make([]jetstream.PubAckFuture, 0, len(msgs))
		for _, m := range msgs {
			msg := nats.NewMsg(m.Subject)
			msg.Data = m.Data
			msg.Header.Set(wire.MsgIDHeader, m.MsgID)
			f, err := r.js.PublishMsgAsync(msg)
			if err != nil {
				return fmt.Errorf("relay: publish %s: %w", m.MsgID, err)
			}
			futures = append(futures, f)
		}
		timeout := time.NewTimer(10 * time.Second)
		defer timeout.Stop()
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("relay: publish %s: %w", f.Msg().Header.Get(wire.MsgIDHeader), err)
			case <-timeout.C:
				return errors.New("relay: no acknowledgement from JetStream")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r.published.Add(float64(len(msgs)))
		return nil
	})
}
