package workorder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/rules"
)

// Act takes a person's action on a work order in the caller's transaction
// and moves the work order on from there: dispatch, accept, decline and
// check-in go through the Dispatcher (when there is one), which re-checks
// the vendor's compliance; a completed sensor work order starts its
// verification window; a reopened one goes back to its vendor as a
// recall; a verified one is billed.
func (in *Intake[T]) Act(ctx context.Context, tx T, w *WorkOrder, action Action, inp Input) ([]Event, error) {
	var events []Event
	var err error
	switch action {
	case Dispatch, Accept, Decline, CheckIn, Complete:
		if in.Dispatcher != nil {
			events, err = in.Dispatcher.Answer(ctx, tx, w, action, inp)
			var moved *MovedOn
			if errors.As(err, &moved) {
				return events, err // refused, but the work order moved on
			}
			if err != nil {
				return nil, err
			}
			break
		}
		fallthrough
	default:
		if action == Dispatch && inp.AcceptBy == nil {
			inp.AcceptBy = in.Policy.AcceptBy(w.Priority, inp.At)
		}
		if action == Dispatch && !(inp.NTE > 0) {
			inp.NTE = in.Policy.NTEFor(w.Priority) // never unlimited
		}
		if events, err = Act(w, action, inp); err != nil {
			return nil, err
		}
	}
	if err := in.after(ctx, tx, w, action, inp.At, &events); err != nil {
		return nil, err
	}
	return events, nil
}

// after moves a work order on from the status an action left it in.
func (in *Intake[T]) after(ctx context.Context, tx T, w *WorkOrder, action Action, at time.Time, events *[]Event) error {
	switch w.Status {
	case Ready:
		if action == Approve {
			var res Result
			return in.dispatch(ctx, tx, w, at, events, &res, "approved")
		}
	case Cancelled, Duplicate:
		return in.settle(ctx, tx, w, at, events)
	case WorkComplete:
		if err := in.settle(ctx, tx, w, at, events); err != nil {
			return err
		}
		if window := in.Policy.VerifyWindowFor(w.AssetClass); w.Source == Sensor && len(w.Incidents) > 0 && window > 0 {
			until := at.Add(window)
			ev, err := Act(w, StartVerifying, Input{Actor: string(System), Role: System, At: at, VerifyUntil: &until,
				Reason: fmt.Sprintf("sensor verification: %s must stay in range until %s", w.Asset, until.Format(time.RFC3339))})
			if err == nil {
				*events = append(*events, ev...)
			}
		}
	case Verified:
		return in.settle(ctx, tx, w, at, events)
	case Reopened:
		if err := in.settle(ctx, tx, w, at, events); err != nil {
			return err
		}
		why := "reopened"
		if w.Vendor != "" {
			why = "reopened: recall to " + w.Vendor
		}
		var res Result
		return in.dispatch(ctx, tx, w, at, events, &res, why)
	}
	return nil
}

// verifyBySensor decides a verification window that has passed. The fix
// holds when every incident on the work order has cleared (the edge saw
// the asset back in range) and nothing says the asset's data stopped (no
// open sensor or gateway work order for it): the work order is VERIFIED
// by the sensor. A fault that came back reopened it already, when its
// incident arrived. Without that evidence a person must verify, and the
// work order says so.
func (in *Intake[T]) verifyBySensor(ctx context.Context, tx T, w *WorkOrder, now time.Time, events *[]Event) error {
	reason, pending := in.sensorEvidence(ctx, tx, w, now)
	if reason == "" {
		ev, err := Act(w, Verify, Input{Actor: string(System), Role: System, At: now, Verification: "sensor",
			Reason: fmt.Sprintf("%s stayed in range through the verification window", w.Asset)})
		if err != nil {
			return nil
		}
		*events = append(*events, ev...)
		return in.after(ctx, tx, w, Verify, now, events)
	}
	if w.Verification == "" && pending {
		// The edge clears some incidents only after the equipment has
		// proved itself for a while (a compressor's long-run incident
		// after three hours of normal cycles): wait one more window
		// before asking a person.
		if window := in.Policy.VerifyWindowFor(w.AssetClass); window > 0 {
			until := now.Add(window)
			w.record(events, Event{Kind: Noted, Actor: string(System), At: now, Verification: "extended", VerifyUntil: &until,
				Note: &Note{Author: string(System), Text: "sensor verification extended to " + until.Format(time.RFC3339) + ": " + reason, Visibility: "shared", At: now}})
			return nil
		}
	}
	w.record(events, Event{Kind: Noted, Actor: string(System), At: now, Verification: "awaiting_person",
		Note: &Note{Author: string(System), Text: "sensor verification inconclusive: " + reason + "; a person must verify", Visibility: "shared", At: now}})
	return nil
}

// sensorEvidence returns why the sensors cannot vouch for the fix, or ""
// when they can; pending says an incident is still open, or the asset sent
// nothing in the window, which more time may settle.
func (in *Intake[T]) sensorEvidence(ctx context.Context, tx T, w *WorkOrder, now time.Time) (reason string, pending bool) {
	incidents := 0
	for _, e := range w.Evidence {
		if e.Incident == "" {
			continue
		}
		incidents++
		if e.Event != string(rules.Cleared) {
			return fmt.Sprintf("incident %s (%s) has not cleared", e.Incident, e.Problem), true
		}
	}
	if incidents == 0 {
		return "no sensor incident on the work order", false
	}
	if in.Readings != nil {
		// Silence is not evidence: an asset whose data stopped during
		// the window (a dead probe, a gateway not yet judged offline)
		// did not stay in range, it stopped saying.
		if newest, known := in.Readings(ctx, w.Site, w.Asset); known {
			if start := now.Add(-in.Policy.VerifyWindowFor(w.AssetClass)); !newest.After(start) {
				if newest.IsZero() {
					return fmt.Sprintf("no reading from %s reported by its gateway", w.Asset), true
				}
				return fmt.Sprintf("no reading from %s since %s, before the window began", w.Asset, newest.Format(time.RFC3339)), true
			}
		}
	}
	for _, q := range []struct{ asset, family string }{{w.Asset, Family("sensor_offline")}, {rules.SiteAsset, Family("gateway_offline")}} {
		open, err := tx.OpenFor(ctx, w.Site, q.asset, q.family)
		if err != nil {
			return "the store could not be asked about the sensors: " + err.Error(), false
		}
		if open != nil {
			return fmt.Sprintf("work order %d says the data stopped (%s)", open.Number, open.Problem), false
		}
	}
	return "", false
}

// MovedOn is an action refused after the work order moved on because of
// it: a vendor found non-compliant when accepting loses the offer, and the
// work order goes to the next vendor. The caller saves the events it was
// given and reports Err.
type MovedOn struct{ Err error }

func (e *MovedOn) Error() string { return e.Err.Error() }

func (e *MovedOn) Unwrap() error { return e.Err }
