// Package agent wires the edge agent together: MQTT ingestion, the rule
// engine, telemetry rollups, the durable outbox and the forwarder to NATS
// JetStream, plus rules hot reload and the /metrics, /healthz and /readyz
// endpoints.
//
// The pipeline is
//
//	ingest.Subscriber -> queue -> processor (rules.Engine, telemetry) -> outbox -> forward.Forwarder
//
// One goroutine, the processor, owns the engine: it evaluates a batch of
// messages, commits the incident events, telemetry and the engine's
// checkpoint in one fsynced outbox transaction, and only then acknowledges
// the batch's MQTT messages. A crash at any point therefore either loses
// nothing (unacknowledged messages are redelivered and re-evaluated from the
// matching checkpoint) or duplicates nothing (events and the state that
// produced them were committed together).
//
// Signals are main's business: Run takes a context, and Reload asks for a
// rules reload, so tests run the whole agent in process.
package agent
