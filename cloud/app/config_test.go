package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/notify"
)

func TestSampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/cloud/*.yaml")
	if len(files) == 0 {
		t.Fatal("no sample configs")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfig(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestConfigErrorsNameFields(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"listen: nowhere\n", "listen:"},
		{"database: {driver: mysql}\n", "database.driver"},
		{"database: {driver: postgres}\n", "database.dsn"},
		{"sweep_every: 10ms\n", "sweep_every"},
		{"log_level: chatty\n", "log_level"},
		{"triage: {hold_off: {P7: 1m}}\n", "triage: hold_off.P7"},
		{"databse: {}\n", "field databse not found"},
		{"intake: {batch: -1}\n", "intake.batch"},
		{"telemetry: {bucket: frostline/autogen, token: u:p}\n", "telemetry.url"},
		{"telemetry: {url: http://influx:8086, token: u:p, bucket: b, batchsize: 3}\n", "field batchsize not found"},
		{"triage: {vendors: [{vendor: coolco}]}\n", "triage.vendors"},
		{"dispatch: {order: [price]}\n", "dispatch"},
		{"sla: {defaults: {P9: {}}}\n", "sla"},
		{"metrics: {listen: nowhere}\n", "metrics.listen"},
		{"listen: \":8080\"\nmetrics: {listen: \":8080\"}\n", "metrics.listen"},
		{"metrics: {token: x}\n", "field token not found"},
		{"triage: {default_nte: {P3: 0}}\n", "triage: default_nte.P3"},
		{"triage: {default_nte: {P3: -5}}\n", "triage: default_nte.P3"},
		{"triage: {default_nte: {P3: .nan}}\n", "triage: default_nte.P3"},
		{"triage: {default_nte: {P3: .inf}}\n", "triage: default_nte.P3"},
		{"triage: {default_nte: {P3: 1e12}}\n", "triage: default_nte.P3"},
		{"triage: {default_nte: {P9: 100}}\n", "triage: default_nte.P9"},
		{"triage: {approval_limits: {fm: .nan}}\n", "triage: approval_limits.fm"},
		{"trusted_proxies: [10.0.0.0/8, proxy.internal]\n", "trusted_proxies[1]"},
		{"auth: {session_idle: 10s}\n", "auth.session_idle"},
		{"auth: {session_max_age: 800h}\n", "auth.session_max_age"},
		{"auth: {session_idle: 8h, session_max_age: 4h}\n", "auth.session_max_age"},
		{"auth: {last_used_every: 0s}\n", "auth.last_used_every"},
		{"auth: {sessions: 1}\n", "field sessions not found"},
		{"auth: {backoff: {max_tracked: 1}}\n", "auth.backoff.max_tracked"},
		{"auth: {backoff: {base: 2m, max: 1m}}\n", "auth.backoff.max"},
		{"auth: {backoff: {free: -1}}\n", "auth.backoff.free"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want mention of %q", tc.yaml, err, tc.want)
		}
	}
	// Every problem is reported, not only the first.
	_, err := ParseConfig([]byte("listen: x\nlog_level: y\n"))
	if err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "log_level") {
		t.Errorf("errors not collected: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("../../deploy/cloud/*.yaml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("accepted config does not validate: %v", err)
			}
		}
	})
}

func TestTelemetryBlockOverDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("telemetry:\n  url: http://influx:8086\n  token: frostline:secret\n  bucket: frostline/autogen\n  batch_size: 1000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Telemetry == nil {
		t.Fatal("telemetry block dropped")
	}
	tc := cfg.Telemetry.Config
	if tc.BatchSize != 1000 || tc.Durable != "frostline-cloud-telemetry" || tc.FlushInterval == 0 {
		t.Errorf("telemetry config %+v: want batch 1000 over the defaults", tc)
	}
	if none, err := ParseConfig([]byte("listen: :8080\n")); err != nil || none.Telemetry != nil {
		t.Errorf("without a block telemetry should be off: %+v %v", none.Telemetry, err)
	}
}

func TestSampleVendorFiles(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/cloud/vendors/*.yaml")
	if len(files) == 0 {
		t.Fatal("no sample vendor files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := dispatch.ParseVendors(f, data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if len(vs) == 0 {
			t.Errorf("%s: no vendors", f)
		}
	}
}

func TestSamplePeopleFiles(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/cloud/people/*.yaml")
	if len(files) == 0 {
		t.Fatal("no sample people files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if ps, err := notify.ParsePeople(f, data); err != nil || len(ps) == 0 {
			t.Errorf("%s: %d people, %v", f, len(ps), err)
		}
	}
}

func TestNotificationsConfigErrorsNameFields(t *testing.T) {
	_, err := ParseConfig([]byte(`
notifications:
  link_ttl: 1s
  escalation: {after: 1s, levels: 9}
  digest_at: "25:00"
  digest_timezone: Mars/Olympus
  email: {host: smtp.example.com, tls: ssl, from: nobody}
  sender: {batch: 0}
`))
	for _, want := range []string{"notifications.base_url", "notifications.link_secret_file", "notifications.link_ttl", "notifications.escalation.levels",
		"notifications.digest_at", "notifications.digest_timezone", "notifications.email.tls", "notifications.email.from", "notifications.sender.batch"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if cfg, err := ParseConfig([]byte("listen: :8080\n")); err != nil || cfg.Notifications.enabled() {
		t.Errorf("without an email host notifications are off: %v", err)
	}
}
