package e2e

import (
	"fmt"

	"github.com/frostline/frostline/cloud/telemetry/influxtest"
)

// cloudConfig is a replica's frostline-cloud configuration: the shared
// PostgreSQL and NATS, the store's site file, telemetry into InfluxDB and
// the vendor register. Timings are shortened where the test would
// otherwise wait: a message held by a killed replica is redelivered after
// 3 s (intake) or 10 s (telemetry), and the sweeper looks every second.
func cloudConfig(port int, dsn, natsURL, sitePath string, influx *influxtest.InfluxDB, vend vendors) string {
	return cloudConfigWith(port, dsn, natsURL, fmt.Sprintf("%q", sitePath), influx, vend,
		fmt.Sprintf("triage:\n  verify_window: {walk_in_cooler: %s}\n", verifyWindow))
}

// cloudConfigWith is cloudConfig with the sites (a YAML flow list's
// items) and the triage section given.
func cloudConfigWith(port int, dsn, natsURL, sites string, influx *influxtest.InfluxDB, vend vendors, triage string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:%d
database: {driver: postgres, dsn: %q}
nats: {url: %q}
intake: {ack_wait: 3s}
sweep_every: 1s
sites: [%s]
telemetry:
  url: %q
  token: %q
  bucket: %q
  flush_interval: 1s
  timeout: 3s
  retry_min: 200ms
  retry_max: 2s
  ack_wait: 10s
%slog_level: info
shutdown_timeout: 5s
%s`, port, dsn, natsURL, sites, influx.WriteURL, influx.Token, influx.Bucket, triage, vend.config)
}

// edgeConfig is the store gateway's frostline-edge configuration: the
// defaults (the default rule pack, a 10 s checkpoint, one-minute
// telemetry) with the test's broker, NATS and outbox.
func edgeConfig(sitePath, mqttURL, natsURL, outbox string, httpPort int) string {
	return edgeConfigWith(site, fmt.Sprintf("%q", sitePath), mqttURL, natsURL, outbox, httpPort)
}

// edgeConfigWith is edgeConfig for a gateway named for name, serving the
// sites (a YAML flow list's items).
func edgeConfigWith(name, sites, mqttURL, natsURL, outbox string, httpPort int) string {
	return fmt.Sprintf(`gateway: gw-%s
sites: [%s]
mqtt:
  broker: %q
  client_id: frostline-edge-%s   # fixed: mosquitto keeps the session while the agent is down
  qos: 1
ingest:
  max_future_skew: 0s            # the simulation runs ahead of the wall clock on purpose
nats:
  url: %q
  ensure_streams: false          # the cloud owns the streams
  max_backoff: 2s
outbox:
  path: %q
http:
  listen: 127.0.0.1:%d
log:
  level: info
`, name, sites, mqttURL, name, natsURL, outbox, httpPort)
}
