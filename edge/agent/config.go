package agent

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/edge/ingest"
)

// Config is the edge agent's configuration file.
type Config struct {
	// Gateway names this agent; incidents carry it, and it is the MQTT
	// client id unless mqtt.client_id says otherwise.
	Gateway string `yaml:"gateway"`
	// Sites are site files (the format of `frostline rules replay`).
	Sites     []string        `yaml:"sites"`
	Rules     RulesConfig     `yaml:"rules"`
	MQTT      MQTTConfig      `yaml:"mqtt"`
	Ingest    IngestConfig    `yaml:"ingest"`
	NATS      NATSConfig      `yaml:"nats"`
	Outbox    OutboxConfig    `yaml:"outbox"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	HTTP      HTTPConfig      `yaml:"http"`
	Log       LogConfig       `yaml:"log"`
	Runtime   RuntimeConfig   `yaml:"runtime"`
}

// RulesConfig says which rules run and how they are reloaded.
type RulesConfig struct {
	// DefaultPack runs Frostline's default pack (rules/packs) in addition
	// to Paths.
	DefaultPack bool `yaml:"default_pack"`
	// Paths are rule files or folders of them.
	Paths []string `yaml:"paths"`
	// Watch is how often the rule and site files are checked for changes
	// (0: only on SIGHUP).
	Watch time.Duration `yaml:"watch"`
	// Tick is how often wall-clock time is fed to the engine so that
	// missing-data rules fire in silence (0: never, for replays).
	Tick time.Duration `yaml:"tick"`
	// Lateness is how far out of order a reading may arrive.
	Lateness time.Duration `yaml:"lateness"`
}

// TLSConfig names PEM files.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Enabled reports whether any TLS setting is given.
func (t *TLSConfig) Enabled() bool { return *t != TLSConfig{} }

// MQTTConfig is the store broker.
type MQTTConfig struct {
	Broker       string    `yaml:"broker"`
	ClientID     string    `yaml:"client_id"`
	Username     string    `yaml:"username"`
	PasswordFile string    `yaml:"password_file"`
	TLS          TLSConfig `yaml:"tls"`
	QoS          int       `yaml:"qos"`
	Queue        int       `yaml:"queue"`
	// QueueWait is how long a message waits for room in a full queue
	// before it is dropped (see ingest.Config.QueueWait).
	QueueWait time.Duration `yaml:"queue_wait"`
	// ReadGap is the least time between reads from the broker (see
	// ingest.Config.ReadGap): 2 ms by default, 0 for the lowest latency.
	ReadGap   time.Duration `yaml:"read_gap"`
	KeepAlive time.Duration `yaml:"keepalive"`
	Topics    []TopicConfig `yaml:"topics"`
	// Sparkplug also subscribes to Sparkplug B (spBv1.0/#): the group id
	// is the site, the device (or node) id the asset.
	Sparkplug bool `yaml:"sparkplug"`
	// StatusTopics are where devices' and the store bridge's MQTT last
	// wills arrive ("offline"/"online", or JSON with "status", "state" or
	// "online"). A template with {asset} is one device's; one without is
	// the whole site's. An offline will opens the missing-data incidents
	// at once instead of after their silence threshold; so do Sparkplug
	// NDEATH and DDEATH when sparkplug is on.
	StatusTopics []TopicConfig `yaml:"status_topics"`
}

// TopicConfig maps a topic layout onto site, asset and metric.
type TopicConfig struct {
	Template string `yaml:"template"`
	// Site is the site of topics whose template has no {site}.
	Site string `yaml:"site"`
}

// IngestConfig is what the agent accepts from the store's devices.
type IngestConfig struct {
	// MaxFutureSkew is how far ahead of the gateway's own wall clock a
	// reading's time may be. A reading further ahead (a device whose clock
	// is wrong, a payload stamped 2199) is counted in
	// frostline_edge_readings_total{result="future"} and dropped before
	// the rules see it, and the clock tick never moves event time past
	// wall clock plus this skew: otherwise a few such readings move the
	// site's event clock years ahead, every real reading after them is
	// refused as late, and missing-data and duration rules fire at once.
	// 0 turns the check off: only for simulations that run faster than
	// real time (`frostline demo`, the end-to-end test).
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// MaxPayloadBytes is the largest MQTT payload read. A larger message
	// is acknowledged and dropped unread, counted in
	// frostline_edge_ingest_oversize_total and logged (rate-limited);
	// the messages around it are not affected. 256 KiB by default: a
	// reading is some tens of bytes, a Sparkplug birth of a node with
	// thousands of metrics some tens of kilobytes. Keep the broker's
	// max_packet_size at this or below (deploy/edge/mosquitto.conf).
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
}

// NATSConfig is the cloud's NATS.
type NATSConfig struct {
	URL           string        `yaml:"url"`
	CredsFile     string        `yaml:"creds_file"`
	TLS           TLSConfig     `yaml:"tls"`
	EnsureStreams bool          `yaml:"ensure_streams"`
	MaxBackoff    time.Duration `yaml:"max_backoff"`
	// FlushTimeout is how long shutdown keeps forwarding what is queued.
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	// Heartbeat is how often the agent tells the cloud, per site, that it
	// is up (edge/wire.Heartbeat; 0: never). The cloud raises a
	// gateway_offline work order for a store silent for its
	// gateways.offline_after, so keep this well below that.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// OutboxConfig bounds the durable outbox.
type OutboxConfig struct {
	Path                string `yaml:"path"`
	MaxTelemetryBatches int    `yaml:"max_telemetry_batches"`
	MaxTelemetryBytes   int64  `yaml:"max_telemetry_bytes"`
	// MaxBatch is the most MQTT messages evaluated per outbox commit.
	MaxBatch int `yaml:"max_batch"`
	// MaxDelay is how long a batch without incident events may keep
	// collecting messages to share its commit (one fsync) while they keep
	// coming: each time its queue runs empty the batch pauses 2 ms, and a
	// pause that brings nothing ends it (0: it commits as soon as the
	// queue is empty). Only acknowledgements wait: a batch that raises an
	// incident event commits with no delay. The default, 50 ms, gathers a
	// thousand readings (max_batch) per fsync at 20,000 a second; keep the
	// broker's in-flight window (max_inflight_messages) at max_batch or
	// above, or batches end on a pause with the window full.
	MaxDelay time.Duration `yaml:"max_delay"`
	// CheckpointEvery is how often the whole rule state is written; in
	// between, commits log the input, which a restart replays (0: every
	// commit).
	CheckpointEvery time.Duration `yaml:"checkpoint_every"`
}

// TelemetryConfig switches rollups on and sets their period.
type TelemetryConfig struct {
	Enabled bool          `yaml:"enabled"`
	Period  time.Duration `yaml:"period"`
}

// HTTPConfig is the /metrics, /healthz and /readyz listener.
type HTTPConfig struct {
	Listen string `yaml:"listen"` // "" disables
}

// RuntimeConfig sets the Go runtime for a small gateway. The environment
// variables GOMAXPROCS, GOGC and GOMEMLIMIT win over it.
type RuntimeConfig struct {
	// MaxProcs is GOMAXPROCS, how many threads run Go code at once (0: one
	// per core). The agent is a pipeline that hands every message on
	// (paho's reader, its router, the queue, the rule engine): on one
	// thread a hand-off is a run-queue operation, on several it wakes a
	// sleeping thread. One is the default: measured, it costs less CPU per
	// reading at every rate and still evaluates over 50,000 readings a
	// second, far beyond a store's traffic or its catch-up after an outage.
	MaxProcs int `yaml:"max_procs"`
	// GCPercent is GOGC: how much the heap may grow past its live size
	// before a collection (Go's own default is 100, the heap doubling;
	// -1 turns the collector off). The agent's live heap is mostly rule
	// state, which stays put, and what it allocates per reading is
	// short-lived: 40, the default, keeps the resident set near the live
	// heap for CPU within noise of 50's (peak at 10,000 readings/s 27.3-28.0
	// MiB against 27.9-29.0 with 50, 31-32.5 with 100).
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is a soft limit in bytes on the Go runtime's memory (0:
	// none). Set it only well above the live heap: a limit the heap
	// presses against makes the collector run almost continuously.
	MemoryLimit int64 `yaml:"memory_limit"`
}

// LogConfig sets the log level (debug, info, warn, error).
type LogConfig struct {
	Level string `yaml:"level"`
}

// DefaultConfig returns the defaults a config file overrides.
func DefaultConfig() Config {
	return Config{
		Rules: RulesConfig{DefaultPack: true, Watch: 5 * time.Second, Tick: 10 * time.Second, Lateness: 5 * time.Minute},
		MQTT: MQTTConfig{
			Broker: "tcp://127.0.0.1:1883", QoS: 1, Queue: 2000, QueueWait: 5 * time.Second, ReadGap: 2 * time.Millisecond, KeepAlive: 30 * time.Second,
			Topics: []TopicConfig{{Template: ingest.DefaultTemplates[0]}, {Template: ingest.DefaultTemplates[1]}},
		},
		Ingest:    IngestConfig{MaxFutureSkew: 5 * time.Minute, MaxPayloadBytes: 256 << 10},
		NATS:      NATSConfig{MaxBackoff: 30 * time.Second, FlushTimeout: 5 * time.Second, Heartbeat: 30 * time.Second},
		Outbox:    OutboxConfig{Path: "/var/lib/frostline-edge/outbox.db", MaxTelemetryBatches: 72 * 60, MaxTelemetryBytes: 512 << 20, MaxBatch: 1000, MaxDelay: 50 * time.Millisecond, CheckpointEvery: 10 * time.Second},
		Telemetry: TelemetryConfig{Enabled: true, Period: time.Minute},
		HTTP:      HTTPConfig{Listen: "127.0.0.1:9464"},
		Log:       LogConfig{Level: "info"},
		Runtime:   RuntimeConfig{MaxProcs: 1, GCPercent: 40},
	}
}

// LoadConfig reads a config file strictly (unknown fields are errors) over
// the defaults, resolves relative paths against the file's folder and
// validates it.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes; path names the file in errors and
// anchors relative paths.
func ParseConfig(path string, data []byte) (*Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg.resolve(filepath.Dir(path))
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return &cfg, nil
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Sites {
		abs(&c.Sites[i])
	}
	for i := range c.Rules.Paths {
		abs(&c.Rules.Paths[i])
	}
	for _, p := range []*string{&c.MQTT.PasswordFile, &c.MQTT.TLS.CAFile, &c.MQTT.TLS.CertFile, &c.MQTT.TLS.KeyFile,
		&c.NATS.CredsFile, &c.NATS.TLS.CAFile, &c.NATS.TLS.CertFile, &c.NATS.TLS.KeyFile, &c.Outbox.Path} {
		abs(p)
	}
}

// maxReadGap bounds mqtt.read_gap: the gap adds to every incident's
// latency, whose budget is 20 ms.
const maxReadGap = 10 * time.Millisecond

// Validate checks the config and returns every problem, each naming its
// field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Gateway == "" {
		bad("gateway", "required (the gateway's id)")
	} else if strings.ContainsAny(c.Gateway, " /+#.*>") {
		bad("gateway", "%q may not contain spaces or / + # . * >", c.Gateway)
	}
	if len(c.Sites) == 0 {
		bad("sites", "at least one site file is required")
	}
	if c.Runtime.MaxProcs < 0 || c.Runtime.MaxProcs > 1024 {
		bad("runtime.max_procs", "%d: want 0 (one per core) to 1024", c.Runtime.MaxProcs)
	}
	if c.Runtime.GCPercent < -1 || c.Runtime.GCPercent == 0 || c.Runtime.GCPercent > 1000 {
		bad("runtime.gc_percent", "%d: want 1 to 1000, or -1 for no collection", c.Runtime.GCPercent)
	}
	if c.Runtime.MemoryLimit != 0 && c.Runtime.MemoryLimit < 16<<20 {
		bad("runtime.memory_limit", "%d bytes: want 0 (none) or at least 16 MiB", c.Runtime.MemoryLimit)
	}
	if !c.Rules.DefaultPack && len(c.Rules.Paths) == 0 {
		bad("rules.paths", "no rules: give paths or set default_pack")
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{{"rules.watch", c.Rules.Watch}, {"rules.tick", c.Rules.Tick}, {"rules.lateness", c.Rules.Lateness}, {"ingest.max_future_skew", c.Ingest.MaxFutureSkew}, {"nats.heartbeat", c.NATS.Heartbeat}} {
		if d.d < 0 {
			bad(d.field, "must not be negative")
		}
	}
	switch {
	case c.MQTT.Broker == "":
		bad("mqtt.broker", "required")
	case !hasScheme(c.MQTT.Broker, "tcp", "ssl", "tls", "mqtt", "mqtts"):
		bad("mqtt.broker", "%q: want tcp://host:port, or ssl:// or mqtts:// for TLS", c.MQTT.Broker)
	}
	if c.MQTT.QoS < 0 || c.MQTT.QoS > 1 {
		bad("mqtt.qos", "%d: want 0 or 1 (1 for no loss)", c.MQTT.QoS)
	}
	if c.Ingest.MaxPayloadBytes < 1<<10 || c.Ingest.MaxPayloadBytes > 256<<20 {
		bad("ingest.max_payload_bytes", "%d: want 1 KiB to 256 MiB", c.Ingest.MaxPayloadBytes)
	}
	if c.MQTT.Queue < 1 {
		bad("mqtt.queue", "must be at least 1")
	}
	if c.MQTT.ReadGap < 0 || c.MQTT.ReadGap > maxReadGap {
		bad("mqtt.read_gap", "%s: want 0 (none) to %s", c.MQTT.ReadGap, maxReadGap)
	}
	if c.MQTT.QueueWait < 0 || (c.MQTT.KeepAlive > 0 && c.MQTT.QueueWait >= c.MQTT.KeepAlive) {
		bad("mqtt.queue_wait", "%s: want 0 (drop at once) up to less than mqtt.keepalive", c.MQTT.QueueWait)
	}
	if len(c.MQTT.Topics) == 0 && !c.MQTT.Sparkplug {
		bad("mqtt.topics", "at least one topic template is required (or sparkplug: true)")
	}
	for i, t := range c.MQTT.Topics {
		if _, err := ingest.ParseTemplate(t.Template, t.Site); err != nil {
			bad(fmt.Sprintf("mqtt.topics[%d].template", i), "%v", strings.TrimPrefix(err.Error(), "ingest: "))
		}
	}
	for i, t := range c.MQTT.StatusTopics {
		if _, err := ingest.ParseStatusTemplate(t.Template, t.Site); err != nil {
			bad(fmt.Sprintf("mqtt.status_topics[%d].template", i), "%v", strings.TrimPrefix(err.Error(), "ingest: "))
		}
	}
	if c.MQTT.Username == "" && c.MQTT.PasswordFile != "" {
		bad("mqtt.username", "required with password_file")
	}
	switch {
	case c.NATS.URL == "":
		bad("nats.url", "required")
	case !hasScheme(c.NATS.URL, "nats", "tls"):
		bad("nats.url", "%q: want nats://host:port or tls://host:port", c.NATS.URL)
	}
	if c.Outbox.Path == "" {
		bad("outbox.path", "required")
	}
	if c.Outbox.MaxTelemetryBatches < 1 {
		bad("outbox.max_telemetry_batches", "must be at least 1")
	}
	if c.Outbox.MaxTelemetryBytes < 1<<20 {
		bad("outbox.max_telemetry_bytes", "must be at least 1 MiB")
	}
	if c.Outbox.CheckpointEvery < 0 {
		bad("outbox.checkpoint_every", "must not be negative")
	}
	if c.Outbox.MaxDelay < 0 || c.Outbox.MaxDelay > time.Second {
		bad("outbox.max_delay", "%s: want 0 to 1s", c.Outbox.MaxDelay)
	}
	if c.Outbox.MaxBatch < 1 {
		bad("outbox.max_batch", "must be at least 1")
	}
	if c.Telemetry.Enabled && c.Telemetry.Period < time.Second {
		bad("telemetry.period", "must be at least 1s")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	for _, t := range []struct {
		field string
		c     *TLSConfig
	}{{"mqtt.tls", &c.MQTT.TLS}, {"nats.tls", &c.NATS.TLS}} {
		if (t.c.CertFile == "") != (t.c.KeyFile == "") {
			bad(t.field, "cert_file and key_file go together")
		}
	}
	return errors.Join(errs...)
}

func hasScheme(url string, schemes ...string) bool {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok || rest == "" {
		return false
	}
	for _, s := range schemes {
		if scheme == s {
			return true
		}
	}
	return false
}

// tlsConfig builds a *tls.Config from the PEM files, or nil when none are
// given.
func (t *TLSConfig) tlsConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
