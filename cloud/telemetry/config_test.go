package telemetry

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		c := DefaultConfig()
		c.URL, c.Token, c.Bucket = "http://influx:8086", "tok", "frostline"
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error; none: valid
	}{
		{"valid", func(*Config) {}, nil},
		{"v1 compatibility", func(c *Config) { c.Token, c.Bucket, c.Org = "user:pass", "frostline/autogen", "" }, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{
			"telemetry.url: required", "telemetry.token: required", "telemetry.bucket: required",
			"telemetry.batch_size: 0", "telemetry.flush_interval: must be positive", "telemetry.timeout: must be positive",
			"telemetry.ack_wait: must be positive", "telemetry.durable: required", "telemetry.annotations_durable: required"}},
		{"bad url", func(c *Config) { c.URL = "influx:8086" }, []string{`telemetry.url: "influx:8086": want http://`}},
		{"token twice", func(c *Config) { c.TokenFile = "/run/secrets/t" }, []string{"telemetry.token: give token or token_file"}},
		{"bad db/rp", func(c *Config) { c.Bucket = "frostline/" }, []string{`telemetry.bucket: "frostline/": want bucket or db/rp`}},
		{"batch too big", func(c *Config) { c.BatchSize = 1 << 20 }, []string{"telemetry.batch_size: 1048576: want 1 to 100000"}},
		{"retry order", func(c *Config) { c.RetryMin = time.Hour }, []string{"telemetry.retry_min: 1h0m0s is more than retry_max"}},
		{"ack wait too short", func(c *Config) { c.AckWait = 20 * time.Second }, []string{"telemetry.ack_wait: 20s must exceed timeout + max(flush_interval, retry_max) = 40s"}},
		{"durable", func(c *Config) { c.Durable = "a.b" }, []string{"telemetry.durable: \"a.b\" may not contain"}},
		{"same durables", func(c *Config) { c.AnnotationsDurable = c.Durable }, []string{"telemetry.annotations_durable: \"frostline-cloud-telemetry\" is also the telemetry durable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte("url: http://localhost:8086\ntoken: frostline:secret\nbucket: frostline/autogen\nbatch_size: 2000\nflush_interval: 500ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != 2000 || c.FlushInterval != 500*time.Millisecond || c.Durable != "frostline-cloud-telemetry" {
		t.Errorf("got %+v", c)
	}
	if _, err := ParseConfig([]byte("url: http://localhost:8086\ntokn: x\n")); err == nil || !strings.Contains(err.Error(), "field tokn not found") {
		t.Errorf("unknown field: got %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("url: http://localhost:8086\ntoken: t\nbucket: b\n"))
	f.Add([]byte("url: https://x\ntoken_file: /t\nbucket: db/rp\nack_wait: 1s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("parsed but invalid: %v", verr)
			}
		}
	})
}
