package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/workorder"
)

// PutPerson creates or replaces a person.
func (db *DB) PutPerson(ctx context.Context, p *notify.Person) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	put := Insert{Table: "people", Columns: cols("id, role, data, updated_at"), Conflict: cols("id"), Update: cols("role, data, updated_at")}
	if _, err := db.write().ExecContext(ctx, put.SQL(),
		p.ID, string(p.Role), string(data), micros(p.UpdatedAt)); err != nil {
		return fmt.Errorf("%s: put person: %w", db.Dialect.Name, err)
	}
	return nil
}

// Person returns a person on file, or ENOTFOUND.
func (db *DB) Person(ctx context.Context, id string) (*notify.Person, error) {
	p, err := jsonRow[notify.Person](db.read().QueryRowContext(ctx, `SELECT data FROM people WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("%s: person: %w", db.Dialect.Name, err)
	}
	if p == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "person %s not found", id)
	}
	return p, nil
}

// People lists the people on file, by id.
func (db *DB) People(ctx context.Context) ([]notify.Person, error) {
	ps, err := jsonRows[notify.Person](db.read().QueryContext(ctx, `SELECT data FROM people ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("%s: people: %w", db.Dialect.Name, err)
	}
	return ps, nil
}

// DeletePerson removes a person; their notifications stay in the log.
func (db *DB) DeletePerson(ctx context.Context, id string) error {
	return db.deleteOne(ctx, "people", "id", "person", id)
}

// everyone returns the people on file and the vendors' contacts, read
// through q (the pool, or a transaction).
func everyone(ctx context.Context, q querier) ([]notify.Person, error) {
	people, err := jsonRows[notify.Person](q.QueryContext(ctx, `SELECT data FROM people ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	vendors, err := jsonRows[dispatch.Vendor](q.QueryContext(ctx, `SELECT data FROM vendors ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("vendor contacts: %w", err)
	}
	var contacts []notify.VendorContact
	for _, v := range vendors {
		for _, c := range v.Contacts {
			contacts = append(contacts, notify.VendorContact{Vendor: v.ID, Name: c.Name, Role: c.Role, Email: c.Email, Phone: c.Phone})
		}
	}
	return append(people, notify.VendorPeople(contacts, people)...), nil
}

// Everyone is the people on file and the vendors' contacts as people.
func (db *DB) Everyone(ctx context.Context) ([]notify.Person, error) {
	ps, err := everyone(ctx, db.read())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", db.Dialect.Name, err)
	}
	return ps, nil
}

// NotifyWorld is what planning a work order's notifications needs, read
// in the transaction: everyone and the site. Planning asks only for events
// that notify someone (notify.Notifies), so an intake batch of evidence
// updates reads nothing here.
func (t *Tx) NotifyWorld(ctx context.Context, site string) (*notify.World, error) {
	ps, err := everyone(ctx, t.tx)
	if err != nil {
		return nil, err
	}
	s, err := getSite(ctx, t.tx, site)
	if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
		return nil, err
	}
	return &notify.World{People: ps, Site: s}, nil
}

// AddNotifications writes notifications in the transaction; one already
// written (the same id) is left as it is.
func (t *Tx) AddNotifications(ctx context.Context, ns []notify.Notification) error {
	return addNotifications(ctx, t.tx, ns)
}

const notificationCols = `id, event, work_order, topic, person, name, channel, address, priority, subject, body_text, body_html,
	state, attempts, next_at, last_error, note, step, escalate_at, sent_at, acked_at, acked_by, created_at, updated_at`

func addNotifications(ctx context.Context, x executor, ns []notify.Notification) error {
	const chunk = 40 // 24 columns each: far below parameter limits
	for lo := 0; lo < len(ns); lo += chunk {
		part := ns[lo:min(lo+chunk, len(ns))]
		add := Insert{Table: "notifications", Columns: cols(notificationCols), Rows: len(part), Conflict: cols("id"), DoNothing: true}
		args := make([]any, 0, 24*len(part))
		for i := range part {
			n := &part[i]
			args = append(args, n.ID, n.Event, n.WorkOrder, n.Topic, n.Person, n.Name, n.Channel, n.Address, n.Priority,
				n.Subject, n.Text, n.HTML, string(n.State), n.Attempts, micros(n.NextAt), n.LastError, n.Note, n.Step,
				nullMicros(n.EscalateAt), nullMicros(n.SentAt), nullMicros(n.AckedAt), n.AckedBy, micros(n.CreatedAt), micros(n.CreatedAt))
		}
		if _, err := x.ExecContext(ctx, add.SQL(), args...); err != nil {
			return fmt.Errorf("notifications: %w", err)
		}
	}
	return nil
}

func scanNotification(row interface{ Scan(...any) error }) (*notify.Notification, error) {
	var n notify.Notification
	var state string
	var next, created, updated int64
	var esc, sent, acked sql.NullInt64
	if err := row.Scan(&n.ID, &n.Event, &n.WorkOrder, &n.Topic, &n.Person, &n.Name, &n.Channel, &n.Address, &n.Priority,
		&n.Subject, &n.Text, &n.HTML, &state, &n.Attempts, &next, &n.LastError, &n.Note, &n.Step, &esc, &sent, &acked,
		&n.AckedBy, &created, &updated); err != nil {
		return nil, err
	}
	n.State, n.NextAt, n.CreatedAt = notify.State(state), time.UnixMicro(next).UTC(), time.UnixMicro(created).UTC()
	for _, f := range []struct {
		v   sql.NullInt64
		dst **time.Time
	}{{esc, &n.EscalateAt}, {sent, &n.SentAt}, {acked, &n.AckedAt}} {
		if f.v.Valid {
			t := time.UnixMicro(f.v.Int64).UTC()
			*f.dst = &t
		}
	}
	return &n, nil
}

func scanNotifications(rows *sql.Rows, err error) ([]notify.Notification, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []notify.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *n)
	}
	return out, rows.Err()
}

// Notifications is a work order's delivery log, oldest first.
func (db *DB) Notifications(ctx context.Context, workOrder string, limit int) ([]notify.Notification, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	ns, err := scanNotifications(db.read().QueryContext(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE work_order = $1 ORDER BY created_at, id LIMIT $2`, workOrder, limit))
	if err != nil {
		return nil, fmt.Errorf("%s: notifications: %w", db.Dialect.Name, err)
	}
	return ns, nil
}

// Notification returns one notification, or ENOTFOUND.
func (db *DB) Notification(ctx context.Context, id string) (*notify.Notification, error) {
	n, err := scanNotification(db.read().QueryRowContext(ctx, `SELECT `+notificationCols+` FROM notifications WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "notification %s not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("%s: notification: %w", db.Dialect.Name, err)
	}
	return n, nil
}

// ClaimNotifications implements notify.Outbox: due pending notifications
// leased to owner until now+lease, as ClaimDeliveries does for webhooks.
func (db *DB) ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]notify.Notification, error) {
	ns, err := scanNotifications(db.write().QueryContext(ctx, db.Dialect.lease("notifications", "", cols(notificationCols)), owner, micros(now.Add(lease)), micros(now), limit))
	if err != nil {
		return nil, fmt.Errorf("%s: claim notifications: %w", db.Dialect.Name, err)
	}
	return ns, nil
}

// FinishNotification implements notify.Outbox: the outcome of an attempt,
// if the notification is still pending at the attempt count it was
// claimed with; notify.ErrLeaseLost otherwise.
func (db *DB) FinishNotification(ctx context.Context, n *notify.Notification, at time.Time) error {
	res, err := db.write().ExecContext(ctx, `UPDATE notifications SET state = $3, attempts = $4, next_at = $5, last_error = $6,
		sent_at = $7, lease_owner = '', lease_until = 0, updated_at = $8 WHERE id = $1 AND state = 'pending' AND attempts = $2`,
		n.ID, n.Attempts-1, string(n.State), n.Attempts, micros(n.NextAt), n.LastError, nullMicros(n.SentAt), micros(at))
	if err != nil {
		return fmt.Errorf("%s: finish notification: %w", db.Dialect.Name, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return notify.ErrLeaseLost
	}
	return nil
}

// AckNotification records that by acknowledged notification id at now,
// for every notification of its event and topic (the escalation stops).
// A notification acknowledged before is ECONFLICT naming who and when: a
// link works once.
func (db *DB) AckNotification(ctx context.Context, id, by string, now time.Time) (*notify.Notification, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: ack: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback()
	n, err := scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationCols+` FROM notifications WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "notification %s not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("%s: ack: %w", db.Dialect.Name, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE notifications SET acked_at = $3, acked_by = $4, escalate_at = NULL, updated_at = $3
		WHERE event = $1 AND topic = $2 AND acked_at IS NULL`, n.Event, n.Topic, micros(now), by)
	if err != nil {
		return nil, fmt.Errorf("%s: ack: %w", db.Dialect.Name, err)
	}
	if k, _ := res.RowsAffected(); k == 0 || n.AckedAt != nil {
		if n.AckedAt == nil { // acknowledged meanwhile through another link of the event
			n, err = scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationCols+` FROM notifications WHERE id = $1`, id))
			if err != nil || n.AckedAt == nil {
				return nil, fmt.Errorf("%s: ack: %v", db.Dialect.Name, err)
			}
		}
		return n, cloud.Errorf(cloud.ECONFLICT, "already acknowledged by %s at %s", n.AckedBy, n.AckedAt.Format(time.RFC3339))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("%s: ack: %w", db.Dialect.Name, err)
	}
	n.AckedAt, n.AckedBy = &now, by
	return n, nil
}

// DueEscalations returns notifications whose escalation is due at now and
// that nobody acknowledged.
func (db *DB) DueEscalations(ctx context.Context, now time.Time, limit int) ([]notify.Notification, error) {
	ns, err := scanNotifications(db.read().QueryContext(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE escalate_at <= $1 AND acked_at IS NULL ORDER BY escalate_at LIMIT $2`, micros(now), limit))
	if err != nil {
		return nil, fmt.Errorf("%s: due escalations: %w", db.Dialect.Name, err)
	}
	return ns, nil
}

// Escalated writes the next step of src's escalation and clears src's
// escalation time, in one transaction, if src is still due and nobody
// acknowledged its event meanwhile. It reports whether it did: a second
// replica escalating the same notification finds it done.
func (db *DB) Escalated(ctx context.Context, src *notify.Notification, next []notify.Notification) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: escalate: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE notifications SET escalate_at = NULL WHERE id = $1 AND escalate_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM notifications a WHERE a.event = $2 AND a.topic = $3 AND a.acked_at IS NOT NULL)`,
		src.ID, src.Event, src.Topic)
	if err != nil {
		return false, fmt.Errorf("%s: escalate: %w", db.Dialect.Name, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return false, nil
	}
	if err := addNotifications(ctx, tx, next); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// EventNotified implements notify.PeopleStore.
func (db *DB) EventNotified(ctx context.Context, event string) (bool, error) {
	var n int
	if err := db.read().QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE event = $1`, event).Scan(&n); err != nil {
		return false, fmt.Errorf("%s: notified: %w", db.Dialect.Name, err)
	}
	return n > 0, nil
}

// HeldFor returns the notifications held for a person's digest.
func (db *DB) HeldFor(ctx context.Context, person string) ([]notify.Notification, error) {
	ns, err := scanNotifications(db.read().QueryContext(ctx, `SELECT `+notificationCols+` FROM notifications
		WHERE person = $1 AND state = 'digest' ORDER BY created_at, id`, person))
	if err != nil {
		return nil, fmt.Errorf("%s: held: %w", db.Dialect.Name, err)
	}
	return ns, nil
}

// PutDigest writes a digest and marks the notifications it carries as
// digested, in one transaction, unless that digest was written before
// (another replica, a restart): then it changes nothing and reports
// false.
func (db *DB) PutDigest(ctx context.Context, digest []notify.Notification, held []notify.Notification) (bool, error) {
	if len(digest) == 0 {
		return false, nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: digest: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE event = $1`, digest[0].Event).Scan(&n); err != nil {
		return false, fmt.Errorf("%s: digest: %w", db.Dialect.Name, err)
	}
	if n > 0 {
		return false, nil
	}
	if err := addNotifications(ctx, tx, digest); err != nil {
		return false, err
	}
	now := micros(digest[0].CreatedAt)
	for _, h := range held {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET state = 'digested', note = $2, updated_at = $3 WHERE id = $1 AND state = 'digest'`,
			h.ID, "sent in "+digest[0].Event, now); err != nil {
			return false, fmt.Errorf("%s: digest: %w", db.Dialect.Name, err)
		}
	}
	return true, tx.Commit()
}

// PruneNotifications removes finished notifications last changed before t.
func (db *DB) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.write().ExecContext(ctx, `DELETE FROM notifications WHERE state NOT IN ('pending', 'digest') AND updated_at < $1`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("%s: prune notifications: %w", db.Dialect.Name, err)
	}
	return res.RowsAffected()
}

// peopleProjection plans who is told about each saved event (cloud/notify)
// and writes the notifications in the transaction that saves it.
type peopleProjection struct{ planner *notify.Planner }

// Project implements Projector.
//
// Notifications are planned at the events' time when it has passed (a
// replay or a backlog plans what it would have at the time: its quiet
// hours, its escalation times), and never later than the wall clock: an
// event stamped ahead of it (an edge whose clock runs fast, the demo's
// simulation) is told now, not when its time comes.
func (p peopleProjection) Project(ctx context.Context, tx *Tx, w *workorder.WorkOrder, events []workorder.Event) error {
	at, now := events[len(events)-1].At, tx.db.now()
	if at.IsZero() || at.After(now) {
		at = now
	}
	return p.planner.Project(ctx, tx, w, events, at)
}

// Flush implements Projector: notifications are written as planned.
// ProjectRecord implements Projector: people hear of work orders (and of
// invoices, planned by their own transactions), not of purchase orders.
func (peopleProjection) ProjectRecord(context.Context, *Tx, Record) error { return nil }

func (peopleProjection) Flush(context.Context, *Tx) error { return nil }

var _ Projector = peopleProjection{}

// NotifyPeople adds the people projection to the store's pipeline, with
// the planner the service's configuration made: from then on every saved
// event is planned. Call it once, before the store is used (cloud/app's
// build); without it nobody is told (no channel is configured).
func (db *DB) NotifyPeople(p *notify.Planner) {
	db.Projectors = append(db.Projectors, peopleProjection{planner: p})
}
