package workorder

import (
	"context"
	"fmt"
	"time"
)

// Order within an incident.
//
// An incident's events carry a sequence: 1 for its first event and one
// more for each after it (rules.Event.Seq). The edge publishes them in
// that order, but the cloud may commit them in another: replicas share the
// incident consumer, and a message whose replica died is redelivered after
// AckWait, behind its successors. What intake decides depends on order: a
// clear applied before its opening ends a work order AVOIDED that, in
// order, a P1 opening would have dispatched. So intake applies an
// incident's events in sequence order, whichever replica receives which
// first:
//
//   - Tx.Sequence locks the incident's order row for the transaction, so
//     transactions on one incident take turns (PostgreSQL: the row lock of
//     an upsert; SQLite: its single writer).
//   - An event whose predecessor has not been applied is held in the store
//     (Tx.Hold), acknowledged, and applied in the transaction that applies
//     its predecessor, right after it (drain).
//   - An event at or before the last applied is applied as it always was:
//     an older event's evidence never replaces a newer one's (attach).
//
// A held event whose predecessor never comes (lost beyond JetStream's
// redeliveries) would wait for ever; the sweeper releases it after a bound
// (Release), and says so in a log line and a metric.

// HeldEvent names an event held for its turn, and since when.
type HeldEvent struct {
	Incident string
	Seq      int
	HeldAt   time.Time
}

// inOrder applies an incident event in its turn, or holds it until then.
func (in *Intake[T]) inOrder(ctx context.Context, tx T, r Report) (Result, error) {
	inc := r.Incident
	applied, held, err := tx.Sequence(ctx, inc.Incident)
	if err != nil {
		return Result{}, fmt.Errorf("intake: incident %s: order: %w", inc.Incident, err)
	}
	if inc.Seq > applied+1 {
		known := false
		if applied == 0 {
			// An incident already linked without an order row had its
			// earlier events applied before the cloud kept order, or its
			// row was pruned with the claims: its events are in turn.
			w, err := tx.ByIncident(ctx, inc.Incident)
			if err != nil {
				return Result{}, fmt.Errorf("intake: incident %s: %w", inc.Incident, err)
			}
			dead, err := tx.Tombstoned(ctx, inc.Incident)
			if err != nil {
				return Result{}, fmt.Errorf("intake: incident %s: %w", inc.Incident, err)
			}
			known = w != nil || dead
		}
		if !known {
			if err := tx.Hold(ctx, inc); err != nil {
				return Result{}, fmt.Errorf("intake: hold %s: %w", r.Key, err)
			}
			return Result{Reason: Held}, tx.Sequenced(ctx, inc.Incident, applied, held+1)
		}
	}
	res, err := in.receive(ctx, tx, r)
	if err != nil {
		return Result{}, err
	}
	return res, in.drain(ctx, tx, inc.Incident, max(applied, inc.Seq), held, &res)
}

// drain applies the held events that follow last, in sequence, and
// records where the incident stands.
func (in *Intake[T]) drain(ctx context.Context, tx T, incident string, last, held int, res *Result) error {
	for held > 0 {
		ev, err := tx.Unhold(ctx, incident, last+1)
		if err != nil {
			return fmt.Errorf("intake: incident %s: unhold %d: %w", incident, last+1, err)
		}
		if ev == nil {
			break // a gap still: the rest waits for it
		}
		held--
		r := FromIncident(ev)
		r.Key = "" // claimed when it was held
		next, err := in.receive(ctx, tx, r)
		if err != nil {
			return err
		}
		res.absorb(next)
		last = ev.Seq
	}
	return tx.Sequenced(ctx, incident, last, held)
}

// Release applies an incident's held event seq and the held events after
// it, giving up on the events before it that never came. The sweeper calls
// it for events held longer than any redelivery takes. Nothing is done
// when the event is no longer held (applied or released meanwhile).
func (in *Intake[T]) Release(ctx context.Context, tx T, incident string, seq int) (Result, error) {
	applied, held, err := tx.Sequence(ctx, incident)
	if err != nil {
		return Result{}, fmt.Errorf("intake: incident %s: order: %w", incident, err)
	}
	ev, err := tx.Unhold(ctx, incident, seq)
	if err != nil || ev == nil {
		return Result{}, err
	}
	r := FromIncident(ev)
	r.Key = ""
	res, err := in.receive(ctx, tx, r)
	if err != nil {
		return Result{}, err
	}
	return res, in.drain(ctx, tx, incident, max(applied, seq), held-1, &res)
}

// absorb adds what a held event, applied after r's, did.
func (r *Result) absorb(n Result) {
	r.Avoided = r.Avoided || n.Avoided
	r.Dispatched = r.Dispatched || n.Dispatched
	r.Events = append(r.Events, n.Events...)
	if n.WorkOrder != nil {
		r.WorkOrder = n.WorkOrder
	}
}
