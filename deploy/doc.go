// Package deploy holds Frostline's deployment files (systemd units, broker
// and NATS configurations, Grafana and Prometheus provisioning) and the
// tests that keep them honest: every file here is parsed by the program
// that will read it in production.
package deploy
