package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Heartbeats: each edge agent publishes one per site it serves every
// nats.heartbeat (30 s by default), whether or not anything happened, so
// that the cloud can tell a quiet store from a silent gateway. They go
// around the outbox: only the newest matters, and one that cannot be sent
// is not worth keeping.
const (
	HeartbeatStream   = "FROSTLINE_HEARTBEATS"
	HeartbeatSubjects = subjectRoot + ".*.heartbeat"
	HeartbeatSchema   = "frostline.heartbeat.v1"
)

// HeartbeatStreamConfig keeps the newest heartbeat per site: the cloud
// reads the last message of each subject, and every replica, also one that
// just started, sees the same.
var HeartbeatStreamConfig = jetstream.StreamConfig{
	Name: HeartbeatStream, Subjects: []string{HeartbeatSubjects}, Storage: jetstream.FileStorage,
	MaxMsgsPerSubject: 1, MaxAge: 30 * 24 * time.Hour, Duplicates: time.Minute,
}

// HeartbeatSubject is where the gateway of site publishes its heartbeat.
func HeartbeatSubject(site string) string { return SitePrefix(site) + ".heartbeat" }

// Heartbeat says that a gateway is up and connected, and when.
type Heartbeat struct {
	Schema  string    `json:"schema"`
	Gateway string    `json:"gateway"`
	Site    string    `json:"site"`
	At      time.Time `json:"at"` // the gateway's wall clock when sent
	// Started is when the agent started; OutboxIncidents how many
	// incident events wait in its outbox (a backlog after an outage).
	Started         time.Time `json:"started"`
	OutboxIncidents int       `json:"outbox_incidents"`
	// Readings is, per asset of the site that has reported, the event
	// time of its newest reading the agent evaluated: the cloud's sensor
	// verification refuses a window in which an asset sent nothing. nil
	// (absent) says nothing; an empty map says no asset has reported.
	Readings map[string]time.Time `json:"readings,omitempty"`
}

// NewHeartbeat returns a heartbeat of gateway for site at at.
func NewHeartbeat(gateway, site string, at, started time.Time, outboxIncidents int, readings map[string]time.Time) Heartbeat {
	return Heartbeat{Schema: HeartbeatSchema, Gateway: gateway, Site: site, At: at.UTC(), Started: started.UTC(),
		OutboxIncidents: outboxIncidents, Readings: readings}
}

// DecodeHeartbeat reads and checks a heartbeat message.
func DecodeHeartbeat(data []byte) (Heartbeat, error) {
	var h Heartbeat
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("wire: heartbeat: %w", err)
	}
	if h.Schema != HeartbeatSchema {
		return h, fmt.Errorf("%w %q (want %s)", ErrSchema, h.Schema, HeartbeatSchema)
	}
	switch {
	case h.Site == "":
		return h, fmt.Errorf("wire: heartbeat: site missing")
	case h.Gateway == "":
		return h, fmt.Errorf("wire: heartbeat: gateway missing")
	case h.At.IsZero():
		return h, fmt.Errorf("wire: heartbeat: at missing")
	}
	return h, nil
}
