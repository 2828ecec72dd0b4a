package wire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The streams, defined once: whichever side starts first (an edge agent
// allowed to, or a cloud replica) creates a stream exactly so, and every
// later one finds it. Operators who own the stream definitions create
// them the same way (docs/operations.md).
//
// The de-duplication window is a day, not JetStream's default 2 minutes:
// an edge agent re-sends what it could not confirm after an outage of any
// length, and the window is what turns a re-send into a duplicate (the
// cloud also de-duplicates by incident id and sequence). MaxAge is how
// long a message waits for a consumer that is down (InfluxDB for the
// telemetry, a cloud outage for incidents).
var (
	IncidentStreamConfig = jetstream.StreamConfig{
		Name: IncidentStream, Subjects: []string{IncidentSubjects}, Storage: jetstream.FileStorage,
		Duplicates: 24 * time.Hour, MaxAge: 14 * 24 * time.Hour,
	}
	TelemetryStreamConfig = jetstream.StreamConfig{
		Name: TelemetryStream, Subjects: []string{TelemetrySubjects}, Storage: jetstream.FileStorage,
		Duplicates: time.Hour, MaxAge: 30 * 24 * time.Hour,
	}
)

// ClusterReplicas is how many copies a stream created on a NATS cluster
// keeps: the cluster of deploy/nats is three nodes, and an incident
// acknowledged by JetStream must survive the loss of any one of them.
const ClusterReplicas = 3

// EnsureStream returns the stream cfg names, creating it from cfg when it
// does not exist yet; a stream that exists is left as it is. Two creators
// racing both end up with the one stream. On a NATS cluster, a stream it
// creates keeps ClusterReplicas copies unless cfg says otherwise.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 && js.Conn().ConnectedClusterName() != "" {
		cfg.Replicas = ClusterReplicas
	}
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, cfg.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wire: stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
