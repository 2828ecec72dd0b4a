// Package ingest turns MQTT messages from a store's broker into rule-engine
// readings.
//
// It is the first stage of the edge agent: MQTT -> ingest -> rules ->
// outbox -> forward. A Decoder maps a topic onto (site, asset, metric)
// through configurable templates and decodes the payload (a bare number, a
// word such as "cool", a JSON value object or a per-asset JSON object of
// values), normalising units to Frostline's SI units. A Subscriber wraps
// the paho client: a fixed client id, a persistent session, subscriptions
// made in OnConnect, and QoS 1 acknowledgements held back until the
// consumer says the reading is durable. Its paho callback never blocks: it
// hands messages to a bounded queue whose overflow policy is stated on
// Subscriber and counted.
package ingest
