// Package wire is the contract between the edge agent and the cloud: the
// NATS JetStream stream and subject names, and the versioned JSON messages
// that travel on them. Both sides import it; it imports nothing of either
// side's machinery, so the edge binary stays free of cloud code.
//
// Subjects are per site, "frostline.site.<site>.incidents",
// "frostline.site.<site>.telemetry" and "frostline.site.<site>.heartbeat",
// so that a gateway's NATS user can be limited to publishing as its own
// site ("frostline.site.<site>.>").
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/frostline/frostline/rules"
)

// Stream names and the subjects they hold.
const (
	IncidentStream  = "FROSTLINE_INCIDENTS"
	TelemetryStream = "FROSTLINE_TELEMETRY"

	subjectRoot = "frostline.site"

	// IncidentSubjects and TelemetrySubjects are the streams' filters.
	IncidentSubjects  = subjectRoot + ".*.incidents"
	TelemetrySubjects = subjectRoot + ".*.telemetry"

	// MsgIDHeader is JetStream's de-duplication header.
	MsgIDHeader = "Nats-Msg-Id"
)

// Schema versions. A receiver refuses a major version it does not know and
// ignores unknown fields of one it knows.
//
// IncidentSchema v2 added the evidence Window; the cloud still takes v1
// from edges not yet upgraded (their incidents carry no window), so the
// cloud is upgraded first.
const (
	IncidentSchema   = "frostline.incident.v2"
	IncidentSchemaV1 = "frostline.incident.v1"
	TelemetrySchema  = "frostline.telemetry.v1"
)

// SitePrefix is the subject prefix a gateway for site may publish under.
func SitePrefix(site string) string { return subjectRoot + "." + site }

// IncidentSubject is where the gateway of site publishes incident events.
func IncidentSubject(site string) string { return SitePrefix(site) + ".incidents" }

// TelemetrySubject is where the gateway of site publishes telemetry.
func TelemetrySubject(site string) string { return SitePrefix(site) + ".telemetry" }

// SiteOfSubject returns the site a per-site subject names.
func SiteOfSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, subjectRoot+".")
	if !ok {
		return "", false
	}
	site, _, ok := strings.Cut(rest, ".")
	return site, ok && site != ""
}

// Incident is an incident event on the wire.
type Incident struct {
	Schema  string `json:"schema"`
	Gateway string `json:"gateway,omitempty"` // the edge agent that raised it
	rules.Event
	// Window is the asset's recent history, for the chart (v2).
	Window *Window `json:"window,omitempty"`
	// WindowError says why DecodeIncident dropped a window it could not
	// use: the incident still lands, without its chart.
	WindowError error `json:"-"`
}

// MsgID is the JetStream de-duplication id of the message: the incident id
// and the event's sequence number, the same on every retry.
func (m *Incident) MsgID() string { return m.Event.MsgID() }

// NewIncident wraps a rules event for the wire.
func NewIncident(gateway string, ev rules.Event) Incident {
	return Incident{Schema: IncidentSchema, Gateway: gateway, Event: ev}
}

// ErrSchema is returned for a message of a schema the receiver does not know.
var ErrSchema = errors.New("wire: unknown schema")

// DecodeIncident reads and checks an incident message.
func DecodeIncident(data []byte) (Incident, error) {
	var m Incident
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("wire: incident: %w", err)
	}
	switch m.Schema {
	case IncidentSchema:
	case IncidentSchemaV1:
		m.Window = nil // v1 had none; a stray field is not trusted
	default:
		return m, fmt.Errorf("%w %q (want %s or %s)", ErrSchema, m.Schema, IncidentSchema, IncidentSchemaV1)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"incident", m.Incident}, {"site", m.Site}, {"asset", m.Asset}, {"rule", m.Rule},
		{"problem", m.Problem}, {"priority", m.Priority}, {"trade", m.Trade}, {"event", string(m.Event.Event)},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if m.At.IsZero() {
		missing = append(missing, "at")
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("wire: incident: missing %s", strings.Join(missing, ", "))
	}
	switch m.Event.Event {
	case rules.Opened, rules.Updated, rules.Cleared:
	default:
		return m, fmt.Errorf("wire: incident: unknown event %q", m.Event.Event)
	}
	if m.Window != nil {
		if err := m.Window.check(); err != nil {
			m.Window, m.WindowError = nil, fmt.Errorf("wire: incident %s: %w", m.Incident, err)
		}
	}
	return m, nil
}

// Rollup is one series' summary over one period (a minute by default).
type Rollup struct {
	Asset  string    `json:"asset"`
	Class  string    `json:"class,omitempty"`
	Metric string    `json:"metric"`
	Start  time.Time `json:"start"`
	Period float64   `json:"period_s"`
	Min    float64   `json:"min"`
	Mean   float64   `json:"mean"`
	Max    float64   `json:"max"`
	Last   float64   `json:"last"`
	Count  int       `json:"count"`
}

// Signal is a derived per-asset signal at a time: what FMs trend in
// Grafana for predictive maintenance. Unset fields are unknown.
type Signal struct {
	Asset            string    `json:"asset"`
	Class            string    `json:"class,omitempty"`
	At               time.Time `json:"at"`
	SlopePerHour     *float64  `json:"slope_per_hour,omitempty"`
	HoursToLimit     *float64  `json:"hours_to_limit,omitempty"`
	DutyCycle        *float64  `json:"duty_cycle,omitempty"`
	DoorOpenMinutes  *float64  `json:"door_open_minutes,omitempty"`
	CompressorStarts *int      `json:"compressor_starts,omitempty"`
	RunHours         *float64  `json:"run_hours,omitempty"`
	DefrostCycles    *int      `json:"defrost_cycles,omitempty"`
}

// Telemetry is one batch of rollups and signals from one site.
type Telemetry struct {
	Schema  string   `json:"schema"`
	Site    string   `json:"site"`
	Gateway string   `json:"gateway,omitempty"`
	Batch   string   `json:"batch"` // deterministic batch id (de-duplication)
	Rollups []Rollup `json:"rollups,omitempty"`
	Signals []Signal `json:"signals,omitempty"`
}

// DecodeTelemetry reads and checks a telemetry batch.
func DecodeTelemetry(data []byte) (Telemetry, error) {
	var t Telemetry
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("wire: telemetry: %w", err)
	}
	if t.Schema != TelemetrySchema {
		return t, fmt.Errorf("%w %q (want %s)", ErrSchema, t.Schema, TelemetrySchema)
	}
	if t.Site == "" || t.Batch == "" {
		return t, errors.New("wire: telemetry: missing site or batch")
	}
	return t, nil
}
