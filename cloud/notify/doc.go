// Package notify delivers work-order events to the webhooks integrators
// register: which subscriptions get an event (never another tenant's), how
// each delivery is signed, retried and dead-lettered, and how a receiver
// verifies what it got.
//
// The pieces, in the order an event meets them:
//
//	workorder.Notice -> Route (scope and event filter) -> Delivery per subscription
//	Delivery -> Deliverer.Attempt (sign, POST with a timeout) -> Attempt record
//	          -> delivered | retry at NextAt (exponential backoff, jitter) | dead letter
//
// Signing follows the scheme integrators know from Stripe and Slack: the
// header "Frostline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">" carries one v1 per active secret, so that during a secret
// rotation both the old and the new secret verify. Verify is what a
// receiver written in Go calls; docs/dispatch.md shows the same check in
// shell with openssl.
//
// Routing, signing and the retry decision keep no state: a store persists
// Deliveries and Attempts (cloud/internal/sqldb writes a notice's
// deliveries in the transaction that saves it), and Worker, one per cloud
// replica, leases due deliveries from the store, calls Deliverer.Attempt
// for each and records the outcome (Deliverer.Deliver runs the whole retry
// loop in-process, for tests and small installations). NewClient is the
// HTTP client for deliveries: public addresses only, no redirects. The
// clock, the random source and the HTTP client are injected.
package notify
