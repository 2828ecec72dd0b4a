package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config says where and how telemetry is written. It is the `telemetry:`
// section of the cloud's configuration.
type Config struct {
	// URL is the InfluxDB base URL (http://host:8086). The writer posts
	// to URL/api/v2/write, which InfluxDB 2.x, 3.x and 1.8+ accept.
	URL string `yaml:"url"`
	// Token is an API token (2.x, 3.x) or "user:password" (1.8+ in v1
	// compatibility). TokenFile, when set, holds it instead, so the
	// secret stays out of the configuration file.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Org is the organisation (2.x); 1.x and 3.x ignore it.
	Org string `yaml:"org"`
	// Bucket is the bucket (2.x), the database (3.x) or "db/rp" (1.8+;
	// "db" alone means the default retention policy).
	Bucket string `yaml:"bucket"`
	// BatchSize is the most points sent in one write request.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a point waits for its batch to fill
	// before it is written anyway.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Timeout bounds one write request.
	Timeout time.Duration `yaml:"timeout"`
	// Durable is the telemetry consumer's name, shared by every replica;
	// AnnotationsDurable that of the consumer writing incident events as
	// annotations.
	Durable            string `yaml:"durable"`
	AnnotationsDurable string `yaml:"annotations_durable"`
	// AckWait is how long JetStream waits for an acknowledgement before
	// redelivering a message (to any replica). It must cover a write.
	AckWait time.Duration `yaml:"ack_wait"`
	// RetryMin and RetryMax bound the delay between attempts while
	// InfluxDB fails; the delay doubles from RetryMin up to RetryMax.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// CreateStream lets a consumer create its stream when it does not
	// exist, defined as the edge's forwarder and the intake define it
	// (false where operators own the stream definitions). The stream's
	// MaxAge (30 days for telemetry) is the longest InfluxDB outage
	// survived.
	CreateStream bool `yaml:"create_stream"`
}

// DefaultConfig returns the defaults; URL, token and bucket have none.
func DefaultConfig() Config {
	return Config{
		Org:                "frostline",
		BatchSize:          5000,
		FlushInterval:      time.Second,
		Timeout:            10 * time.Second,
		Durable:            "frostline-cloud-telemetry",
		AnnotationsDurable: "frostline-cloud-annotations",
		AckWait:            2 * time.Minute,
		RetryMin:           time.Second,
		RetryMax:           30 * time.Second,
		CreateStream:       true,
	}
}

// maxBatchSize keeps one request, and one replica's memory, bounded.
const maxBatchSize = 100_000

// Validate checks the configuration and reports every problem, each naming
// its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("telemetry.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.URL == "" {
		bad("url", "required (http://host:8086)")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "%q: want http://host:port or https://host:port", c.URL)
	}
	switch {
	case c.Token != "" && c.TokenFile != "":
		bad("token", "give token or token_file, not both")
	case c.Token == "" && c.TokenFile == "":
		bad("token", "required: an API token, or user:password for InfluxDB 1.8+ (or token_file)")
	}
	if c.Bucket == "" {
		bad("bucket", "required (a bucket, or db/rp for InfluxDB 1.8+)")
	} else if db, rp, ok := strings.Cut(c.Bucket, "/"); ok && (db == "" || rp == "" || strings.Contains(rp, "/")) {
		bad("bucket", "%q: want bucket or db/rp", c.Bucket)
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		bad("batch_size", "%d: want 1 to %d points", c.BatchSize, maxBatchSize)
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{{"flush_interval", c.FlushInterval}, {"timeout", c.Timeout}, {"ack_wait", c.AckWait},
		{"retry_min", c.RetryMin}, {"retry_max", c.RetryMax}} {
		if d.d <= 0 {
			bad(d.field, "must be positive")
		}
	}
	if c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		bad("retry_min", "%s is more than retry_max %s", c.RetryMin, c.RetryMax)
	}
	// A held batch is marked in progress before each wait and write; the
	// longest stretch without a mark must end before AckWait does, or
	// JetStream hands the batch to another replica meanwhile.
	if need := c.Timeout + max(c.FlushInterval, c.RetryMax); c.AckWait > 0 && c.AckWait <= need {
		bad("ack_wait", "%s must exceed timeout + max(flush_interval, retry_max) = %s", c.AckWait, need)
	}
	for _, d := range []struct{ field, v string }{{"durable", c.Durable}, {"annotations_durable", c.AnnotationsDurable}} {
		if d.v == "" {
			bad(d.field, "required")
		} else if strings.ContainsAny(d.v, " .*>") {
			bad(d.field, "%q may not contain spaces or . * >", d.v)
		}
	}
	if c.Durable != "" && c.Durable == c.AnnotationsDurable {
		bad("annotations_durable", "%q is also the telemetry durable", c.Durable)
	}
	return errors.Join(errs...)
}

// token returns the token, read from TokenFile when that is set.
func (c *Config) token() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("telemetry.token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ParseConfig decodes a telemetry section strictly (unknown fields are
// errors) over the defaults, and validates it.
func ParseConfig(data []byte) (Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("telemetry: %w", err)
	}
	return c, c.Validate()
}
