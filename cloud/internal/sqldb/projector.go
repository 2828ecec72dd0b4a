package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/workorder"
)

// Projector projects what Save persisted, a work order and the events
// just appended to it, into what the rest of the service reads, inside
// the same transaction: the change and its projections commit or roll
// back together, and a retried transaction projects afresh. Alertmanager's
// notify stages are the model: each projection is one named step, and the
// pipeline is a visible list (Projections).
type Projector interface {
	// Project is called by every Save, after the work order is written,
	// with the work order as saved and its new events (never none).
	Project(ctx context.Context, tx *Tx, w *workorder.WorkOrder, events []workorder.Event) error
	// ProjectRecord is called for each change to a record beside the
	// work orders (a purchase order's new version), in its transaction.
	ProjectRecord(ctx context.Context, tx *Tx, r Record) error
	// Flush is called once before the transaction commits, for a
	// projector that batches its writes over a transaction (Facts).
	Flush(ctx context.Context, tx *Tx) error
}

// Record is a change to a record beside the work orders, a purchase
// order's new version, as the projectors see it: the notice the relay
// publishes and the same event as webhooks receive it.
type Record struct {
	// Subject and MsgID are the notice's subject and its stable message
	// id ("<id>-<version>": a retried transaction writes the same one).
	Subject, MsgID string
	// Notice is the notice's JSON; At when the change was made.
	Notice []byte
	At     time.Time
	// Envelope is the event on the webhook stream, seen by the webhooks
	// that see WorkOrder, Site or Vendor.
	Envelope                notify.OtherEnvelope
	WorkOrder, Site, Vendor string
}

// projectRecord runs the store's projectors over a record's change.
func (t *Tx) projectRecord(ctx context.Context, r Record) error {
	for _, p := range t.db.Projectors {
		if err := p.ProjectRecord(ctx, t, r); err != nil {
			return err
		}
	}
	return nil
}

// Projections is the service's pipeline, in order: notable events to the
// outbox for the relay, to the webhooks that want them, the KPI facts, and
// the stores' ratings.
// A new projection is one Projector and one line here.
//
// The list is the store's, not cloud/app's, because every program and
// test that opens a store (cloud/sqlite.Open, cloud/postgres.Open) gets
// it: a store that saved work orders without them would lose notices
// silently.
func Projections() []Projector {
	return []Projector{Notices{}, Webhooks{}, Facts{}, Ratings{}}
}

// Notices puts a work order's notable events in the outbox, which the
// relay (cloud/relay) publishes to the events stream after commit.
type Notices struct{}

// Project implements Projector.
func (Notices) Project(ctx context.Context, t *Tx, w *workorder.WorkOrder, events []workorder.Event) error {
	var args []any
	n := 0
	for i := range events {
		if !events[i].Notable() {
			continue
		}
		data, err := json.Marshal(workorder.NoticeOf(w, events[i]))
		if err != nil {
			return err
		}
		n++
		args = append(args, workorder.NoticeSubject(w.Site), fmt.Sprintf("%s-%d", w.ID, events[i].Version), string(data), micros(events[i].At))
	}
	if n == 0 {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, Insert{Table: "outbox", Columns: cols("subject, msg_id, data, at"), Rows: n}.SQL(), args...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// ProjectRecord implements Projector: the record's notice goes in the
// outbox too.
func (Notices) ProjectRecord(ctx context.Context, t *Tx, r Record) error {
	out := Insert{Table: "outbox", Columns: cols("subject, msg_id, data, at")}
	if _, err := t.tx.ExecContext(ctx, out.SQL(), r.Subject, r.MsgID, string(r.Notice), micros(r.At)); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Flush implements Projector.
func (Notices) Flush(context.Context, *Tx) error { return nil }

// Webhooks writes a delivery for each webhook that wants a notable event
// (webhooks.go explains why in this transaction); cloud/notify's worker
// delivers them.
type Webhooks struct{}

// Project implements Projector.
func (Webhooks) Project(ctx context.Context, t *Tx, w *workorder.WorkOrder, events []workorder.Event) error {
	return t.fanOutWebhooks(ctx, w, events)
}

// ProjectRecord implements Projector: a delivery for each webhook that
// sees the record's work order, site or vendor.
func (Webhooks) ProjectRecord(ctx context.Context, t *Tx, r Record) error {
	return t.fanOutOther(ctx, r.WorkOrder, r.Envelope, r.Site, r.Vendor)
}

// Flush implements Projector.
func (Webhooks) Flush(context.Context, *Tx) error { return nil }

// Facts keeps the work order's KPI facts row (facts.go), written for the
// whole transaction at once before it commits.
type Facts struct{}

// Project implements Projector.
func (Facts) Project(ctx context.Context, t *Tx, w *workorder.WorkOrder, events []workorder.Event) error {
	return t.saveFacts(ctx, w, events)
}

// ProjectRecord implements Projector: no KPI facts but work orders'.
func (Facts) ProjectRecord(context.Context, *Tx, Record) error { return nil }

// Flush implements Projector.
func (Facts) Flush(ctx context.Context, t *Tx) error { return t.flushFacts(ctx) }
