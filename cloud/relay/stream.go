package relay

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The events stream is the cloud's own: the relay publishes the notices of
// work orders ("frostline.events.workorder.<site>") and purchase orders
// ("frostline.events.purchase_order.<site>") to it, and the cloud's
// listeners (cloud/telemetry's annotations, integrations) read it. The
// edge neither publishes to it nor reads it, so it is not part of the
// edge-to-cloud contract (edge/wire), which keeps the incident and
// telemetry streams and the Nats-Msg-Id header.
const (
	// Stream carries work-order and purchase-order events from the cloud
	// to whoever listens.
	Stream = "FROSTLINE_EVENTS"
	// Subjects is the stream's filter.
	Subjects = "frostline.events.>"
)

// StreamConfig is the events stream as the relay creates it (with
// wire.EnsureStream, as the edge-to-cloud streams are): a re-publish after a
// crash comes within the hour, and listeners that are down have 30 days.
var StreamConfig = jetstream.StreamConfig{
	Name: Stream, Subjects: []string{Subjects}, Storage: jetstream.FileStorage,
	Duplicates: time.Hour, MaxAge: 30 * 24 * time.Hour,
}
