package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud/dispatch"
	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/workorder"
)

// Config is the cloud service's configuration, read from YAML strictly.
type Config struct {
	// Listen is the HTTP address (API, pages, /metrics, /healthz, /readyz).
	Listen   string         `yaml:"listen"`
	Database DatabaseConfig `yaml:"database"`
	NATS     NATSConfig     `yaml:"nats"`
	Intake   intake.Config  `yaml:"intake"`
	// Gateways says when a store whose gateway stopped sending heartbeats
	// gets a gateway_offline work order.
	Gateways intake.SilenceConfig `yaml:"gateways"`
	// SweepEvery is how often hold-offs are checked.
	SweepEvery time.Duration `yaml:"sweep_every"`
	// Sites are site files (the edge's format) seeded into the asset
	// register at start; globs allowed. Existing entries are replaced.
	Sites []string `yaml:"sites"`
	// Telemetry, when present, writes the edge's rollups and signals, and
	// incident and work-order events as annotations, to InfluxDB.
	Telemetry *TelemetryConfig `yaml:"telemetry"`
	// Webhooks is the delivery worker: batch, timeout, lease, retry
	// schedule, and whether private addresses may be reached.
	Webhooks notify.WorkerConfig `yaml:"webhooks"`
	// Triage is the work-order policy: hold-offs, recall window,
	// escalation, priority/trade rules, verification windows and
	// approval limits.
	Triage workorder.Policy `yaml:"triage"`
	// PM is the preventive-maintenance generator: how often schedules
	// are checked and how late a visit may still be generated as usual.
	PM pm.Config `yaml:"pm"`
	// Vendors are vendor files (a YAML list of vendors, the JSON of
	// /api/v1/vendors in YAML) seeded into the vendor register at start;
	// globs allowed. A vendor in a file replaces the register's entry.
	Vendors []string `yaml:"vendors"`
	// People are people files (a YAML list of people, the JSON of
	// /api/v1/people in YAML) seeded into the people register at start;
	// globs allowed. A person in a file replaces the register's entry.
	People []string `yaml:"people"`
	// Notifications is how people are told: the email channel, links,
	// the escalation chain and the daily digest.
	Notifications NotificationsConfig `yaml:"notifications"`
	// Invoices is how vendors' submitted invoices are checked and
	// approved: tolerance, tax rate, approval limits and levels.
	Invoices invoicing.Policy `yaml:"invoices"`
	// Dispatch is the company's dispatch rules: required documents and
	// ranking.
	Dispatch dispatch.Rules `yaml:"dispatch"`
	// SLA is the service-level policy: default targets, business hours,
	// reminders, pauses on hold.
	SLA sla.Policy `yaml:"sla"`
	// Metrics says who may read /metrics.
	Metrics MetricsConfig `yaml:"metrics"`
	// TrustedProxies are the TLS-terminating proxies (addresses or CIDR
	// prefixes) in front of the service. Only from them are
	// X-Forwarded-Proto (the session cookie is Secure when it says https)
	// and X-Forwarded-For (the client address for backoff and the audit
	// log) believed. Empty: the headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Auth is how credentials are treated: tokens' last-use bookkeeping,
	// page sessions and the backoff on failed sign-ins.
	Auth cloudhttp.AuthConfig `yaml:"auth"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// AdminToken, when set, is a bootstrap admin token. It is not read
	// from the file: main sets it from FROSTLINE_ADMIN_TOKEN.
	AdminToken string `yaml:"-"`
}

// MetricsConfig controls access to /metrics. With neither field set it
// is served openly on Listen, as before; production sets one or both.
type MetricsConfig struct {
	// Listen, when set, serves /metrics on its own address (an internal
	// interface, or 127.0.0.1 beside a local Prometheus) and no longer on
	// the API's.
	Listen string `yaml:"listen"`
	// TokenFile, when set, names a file holding a bearer token (at least
	// 16 characters) that /metrics requires (Prometheus: authorization
	// credentials_file).
	TokenFile string `yaml:"token_file"`
}

// DatabaseConfig chooses the store.
type DatabaseConfig struct {
	Driver string `yaml:"driver"` // sqlite (default) or postgres
	Path   string `yaml:"path"`   // sqlite: the database file
	DSN    string `yaml:"dsn"`    // postgres: the connection string
}

// NATSConfig is where incidents arrive. An empty URL runs the service
// without intake (API and pages only).
type NATSConfig struct {
	URL string `yaml:"url"`
	// Creds is a NATS credentials file, if the server requires one.
	Creds string `yaml:"creds"`
}

// DefaultConfig returns a configuration that runs on one machine.
func DefaultConfig() Config {
	return Config{
		Listen:          ":8080",
		Database:        DatabaseConfig{Driver: "sqlite", Path: "frostline.db"},
		SweepEvery:      15 * time.Second,
		Gateways:        intake.DefaultSilenceConfig(),
		Triage:          workorder.DefaultPolicy(),
		PM:              pm.DefaultConfig(),
		Webhooks:        notify.DefaultWorkerConfig(),
		Notifications:   DefaultNotificationsConfig(),
		Invoices:        invoicing.DefaultPolicy(),
		Dispatch:        dispatch.DefaultRules(),
		SLA:             sla.DefaultPolicy(),
		Auth:            cloudhttp.DefaultAuthConfig(),
		LogLevel:        "info",
		ShutdownTimeout: 20 * time.Second,
	}
}

// ParseConfig decodes YAML over the defaults, refusing unknown fields, and
// validates the result.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration and reports every problem, each naming
// its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.Path == "" {
			bad("database.path", "required for sqlite")
		}
	case "postgres":
		if c.Database.DSN == "" {
			bad("database.dsn", "required for postgres")
		}
	default:
		bad("database.driver", "want sqlite or postgres, got %q", c.Database.Driver)
	}
	if c.Metrics.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "want host:port, got %q", c.Metrics.Listen)
		} else if c.Metrics.Listen == c.Listen && port != "0" {
			bad("metrics.listen", "must differ from listen")
		}
	}
	if c.SweepEvery < time.Second {
		bad("sweep_every", "at least 1s")
	}
	if c.Intake.Batch < 0 || c.Intake.Batch > 10000 {
		bad("intake.batch", "want 1-10000")
	}
	if c.Gateways.OfflineAfter != 0 && c.Gateways.OfflineAfter < time.Second {
		bad("gateways.offline_after", "want 0 (never) or at least 1s, got %s", c.Gateways.OfflineAfter)
	}
	if c.Gateways.CheckEvery < 100*time.Millisecond {
		bad("gateways.check_every", "at least 100ms")
	}
	if c.Intake.AckWait < 0 {
		bad("intake.ack_wait", "must not be negative")
	}
	if d := c.Intake.Defaults(); d.HoldFor < d.AckWait*time.Duration(d.MaxDeliver) {
		bad("intake.hold_for", "must outlast redelivery (ack_wait x max_deliver = %s), got %s", d.AckWait*time.Duration(d.MaxDeliver), d.HoldFor)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "want debug, info, warn or error")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	if err := c.Webhooks.Validate(); err != nil {
		errs = append(errs, err) // its messages name webhooks.<field>
	}
	if err := c.Invoices.Validate(); err != nil {
		errs = append(errs, err) // its messages name invoices.<field>
	}
	if err := c.Notifications.Validate(); err != nil {
		errs = append(errs, err) // its messages name notifications.<field>
	}
	if c.Telemetry != nil {
		if err := c.Telemetry.Validate(); err != nil {
			errs = append(errs, err) // its messages name telemetry.<field>
		}
	}
	if err := c.PM.Validate(); err != nil {
		errs = append(errs, err) // its messages name pm.<field>
	}
	if err := c.Triage.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("triage: %w", err))
	}
	if len(c.Triage.Vendors) > 0 {
		bad("triage.vendors", "vendors are dispatched from the vendor register now: list vendor files under vendors: (or use /api/v1/vendors)")
	}
	if err := c.Dispatch.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("dispatch: %w", err))
	}
	if _, err := cloudhttp.ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err) // it names trusted_proxies[i]
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err) // its messages name auth.<field>
	}
	if err := c.SLA.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sla: %w", err))
	}
	return errors.Join(errs...)
}

// TelemetryConfig is the telemetry block: telemetry.Config decoded over
// its defaults, strictly.
type TelemetryConfig struct {
	telemetry.Config
}

// UnmarshalYAML decodes the block over telemetry.DefaultConfig, refusing
// unknown fields as the rest of the file does.
func (t *TelemetryConfig) UnmarshalYAML(n *yaml.Node) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	t.Config = telemetry.DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t.Config); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}
