package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/workorder"
)

const webhookCols = `id, url, description, scope, events, secrets, active, disabled_reason, created_by, created_at, updated_at`

func scanWebhook(row interface{ Scan(...any) error }) (*notify.Webhook, error) {
	var h notify.Webhook
	var scope, events, secrets string
	var active int
	var created, updated int64
	if err := row.Scan(&h.ID, &h.URL, &h.Description, &scope, &events, &secrets, &active, &h.DisabledReason,
		&h.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	h.Active, h.CreatedAt, h.UpdatedAt = active == 1, time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	for _, f := range []struct {
		s string
		v any
	}{{scope, &h.Scope}, {events, &h.Events}, {secrets, &h.Secrets}} {
		if err := json.Unmarshal([]byte(f.s), f.v); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", h.ID, err)
		}
	}
	return &h, nil
}

func webhookArgs(h *notify.Webhook) ([]any, error) {
	scope, err := json.Marshal(h.Scope)
	if err != nil {
		return nil, err
	}
	events, err := json.Marshal(h.Events)
	if err != nil {
		return nil, err
	}
	if h.Events == nil {
		events = []byte("[]")
	}
	secrets, err := json.Marshal(h.Secrets)
	if err != nil {
		return nil, err
	}
	active := 0
	if h.Active {
		active = 1
	}
	return []any{h.ID, h.URL, h.Description, string(scope), string(events), string(secrets), active, h.DisabledReason,
		h.CreatedBy, micros(h.CreatedAt), micros(h.UpdatedAt)}, nil
}

// CreateWebhook stores a new webhook.
func (db *DB) CreateWebhook(ctx context.Context, h *notify.Webhook) error {
	args, err := webhookArgs(h)
	if err != nil {
		return err
	}
	if _, err := db.write().ExecContext(ctx, `INSERT INTO webhooks (`+webhookCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, args...); err != nil {
		return fmt.Errorf("%s: create webhook: %w", db.Dialect.Name, err)
	}
	return nil
}

// Webhook returns a webhook by id, or ENOTFOUND.
func (db *DB) Webhook(ctx context.Context, id string) (*notify.Webhook, error) {
	h, err := scanWebhook(db.read().QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "webhook %s not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("%s: webhook: %w", db.Dialect.Name, err)
	}
	return h, nil
}

// Webhooks lists the webhooks created by a token, or every webhook when
// createdBy is "", oldest first.
func (db *DB) Webhooks(ctx context.Context, createdBy string) ([]*notify.Webhook, error) {
	q, args := `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at, id`, []any(nil)
	if createdBy != "" {
		q, args = `SELECT `+webhookCols+` FROM webhooks WHERE created_by = $1 ORDER BY created_at, id`, []any{createdBy}
	}
	rows, err := db.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: webhooks: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := []*notify.Webhook{}
	for rows.Next() {
		h, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// UpdateWebhook replaces a webhook's url, description, scope, events,
// active flag and reason; its secrets change only by RotateWebhookSecret.
// A webhook disabled and registered by a revoked token is not activated
// again (ECONFLICT): what it may see was the token's grant, which is gone;
// it is registered again under a live token.
func (db *DB) UpdateWebhook(ctx context.Context, h *notify.Webhook) error {
	args, err := webhookArgs(h)
	if err != nil {
		return err
	}
	res, err := db.write().ExecContext(ctx, `UPDATE webhooks SET url = $2, description = $3, scope = $4, events = $5,
		active = $6, disabled_reason = $7, updated_at = $8 WHERE id = $1
		AND (active = 1 OR $6 = 0 OR created_by NOT IN (SELECT id FROM tokens WHERE revoked_at IS NOT NULL))`,
		args[0], args[1], args[2], args[3], args[4], args[6], args[7], args[10])
	if err != nil {
		return fmt.Errorf("%s: update webhook: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var by string
		err := db.write().QueryRowContext(ctx, `SELECT created_by FROM webhooks WHERE id = $1`, h.ID).Scan(&by)
		if errors.Is(err, sql.ErrNoRows) {
			return cloud.Errorf(cloud.ENOTFOUND, "webhook %s not found", h.ID)
		} else if err != nil {
			return fmt.Errorf("%s: update webhook: %w", db.Dialect.Name, err)
		}
		return cloud.Errorf(cloud.ECONFLICT, "webhook %s was registered by token %s, which is revoked: register it again with a live token", h.ID, by)
	}
	return nil
}

// Why a revoked token's webhooks and their queued deliveries stopped.
const (
	revokedWebhookReason   = "the token that registered it was revoked"
	revokedDeliveryMessage = "not delivered: the token that registered the webhook was revoked"
)

// disableTokenWebhooks, in the transaction that revokes a token, disables
// the webhooks it registered and marks their queued deliveries dead. A
// webhook's scope is the grant of the token that registered it (a
// vendor's work orders, an FM's region): once the token is revoked, no
// more of what it could see may reach the URL it gave. The webhooks and
// the delivery log stay for an admin to read; a delivery already leased
// to a worker may still go out, its outcome not recorded (ErrLeaseLost).
func disableTokenWebhooks(ctx context.Context, tx executor, token string, at time.Time) error {
	now := micros(at)
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'dead', last_error = $2, lease_owner = '', lease_until = 0, updated_at = $3
		WHERE state = 'pending' AND webhook IN (SELECT id FROM webhooks WHERE created_by = $1)`, token, revokedDeliveryMessage, now); err != nil {
		return fmt.Errorf("webhook deliveries: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET active = 0, disabled_reason = $2, updated_at = $3 WHERE created_by = $1 AND active = 1`,
		token, revokedWebhookReason, now); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}

// DeleteWebhook removes a webhook with its deliveries and their log.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	return db.deleteOne(ctx, "webhooks", "id", "webhook", id)
}

// RotateWebhookSecret adds a fresh secret to a webhook and lets the
// current ones expire after grace (notify.Rotate), returning the new
// secret. Two rotations racing: one wins, the other is ECONFLICT.
func (db *DB) RotateWebhookSecret(ctx context.Context, id string, now time.Time, grace time.Duration) (notify.Secret, error) {
	var old string
	err := db.write().QueryRowContext(ctx, `SELECT secrets FROM webhooks WHERE id = $1`, id).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Secret{}, cloud.Errorf(cloud.ENOTFOUND, "webhook %s not found", id)
	} else if err != nil {
		return notify.Secret{}, fmt.Errorf("%s: rotate: %w", db.Dialect.Name, err)
	}
	var secrets []notify.Secret
	if err := json.Unmarshal([]byte(old), &secrets); err != nil {
		return notify.Secret{}, fmt.Errorf("webhook %s: %w", id, err)
	}
	next, fresh := notify.Rotate(secrets, now, grace)
	data, err := json.Marshal(next)
	if err != nil {
		return notify.Secret{}, err
	}
	// Optimistic: the secrets must be those read.
	res, err := db.write().ExecContext(ctx, `UPDATE webhooks SET secrets = $2, updated_at = $3 WHERE id = $1 AND secrets = $4`,
		id, string(data), micros(now), old)
	if err != nil {
		return notify.Secret{}, fmt.Errorf("%s: rotate: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notify.Secret{}, cloud.Errorf(cloud.ECONFLICT, "the webhook's secrets changed meanwhile; try again")
	}
	return fresh, nil
}

// WebhookDeliveries returns a webhook's deliveries, newest first, up to
// limit, and only those in state when it is not "".
func (db *DB) WebhookDeliveries(ctx context.Context, webhook string, state notify.State, limit int) ([]*notify.WebhookDelivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q := `SELECT id, webhook, event, type, work_order, state, attempts, replays, next_at, last_error, created_at, updated_at
		FROM webhook_deliveries WHERE webhook = $1`
	args := []any{webhook}
	if state != "" {
		q += ` AND state = $2`
		args = append(args, string(state))
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(limit)
	rows, err := db.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: deliveries: %w", db.Dialect.Name, err)
	}
	out := []*notify.WebhookDelivery{}
	byID := map[string]*notify.WebhookDelivery{}
	for rows.Next() {
		var d notify.WebhookDelivery
		var st string
		var next, created, updated int64
		if err := rows.Scan(&d.ID, &d.Subscription, &d.Event, &d.Type, &d.WorkOrder, &st, &d.Attempts, &d.Replays,
			&next, &d.LastError, &created, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		d.State, d.NextAt = notify.State(st), time.UnixMicro(next).UTC()
		d.CreatedAt, d.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		d.Log = []notify.Attempt{}
		out = append(out, &d)
		byID[d.ID] = &d
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, len(out))
	for i, d := range out {
		ids[i] = d.ID
	}
	rows, err = db.read().QueryContext(ctx, `SELECT delivery, n, url, at, took_us, status, error, response, outcome, next_at
		FROM webhook_attempts WHERE delivery IN (`+placeholders(1, len(ids))+`) ORDER BY id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("%s: attempts: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a notify.Attempt
		var at, took int64
		var next sql.NullInt64
		var outcome string
		if err := rows.Scan(&a.Delivery, &a.N, &a.URL, &at, &took, &a.Status, &a.Error, &a.Response, &outcome, &next); err != nil {
			return nil, err
		}
		a.At, a.Took, a.Outcome = time.UnixMicro(at).UTC(), time.Duration(took)*time.Microsecond, notify.Outcome(outcome)
		if next.Valid {
			a.NextAt = time.UnixMicro(next.Int64).UTC()
		}
		d := byID[a.Delivery]
		a.Subscription = d.Subscription
		d.Log = append(d.Log, a)
	}
	return out, rows.Err()
}

// ReplayDelivery puts a dead delivery of a webhook back in the queue, due
// at now, with a fresh set of attempts. ENOTFOUND if the webhook has no
// such delivery, ECONFLICT if it is not dead.
func (db *DB) ReplayDelivery(ctx context.Context, webhook, id string, now time.Time) error {
	res, err := db.write().ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, replays = replays + 1,
		next_at = $3, last_error = '', lease_owner = '', lease_until = 0, updated_at = $3
		WHERE id = $1 AND webhook = $2 AND state = 'dead'`, id, webhook, micros(now))
	if err != nil {
		return fmt.Errorf("%s: replay: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var st string
	err = db.write().QueryRowContext(ctx, `SELECT state FROM webhook_deliveries WHERE id = $1 AND webhook = $2`, id, webhook).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return cloud.Errorf(cloud.ENOTFOUND, "delivery %s not found", id)
	} else if err != nil {
		return fmt.Errorf("%s: replay: %w", db.Dialect.Name, err)
	}
	return cloud.Errorf(cloud.ECONFLICT, "delivery %s is %s; only a dead delivery can be replayed", id, st)
}

// ClaimDeliveries implements notify.Store. The lease is a column, so it
// holds across transactions and replicas; on PostgreSQL the candidate
// rows are locked with SKIP LOCKED, so two replicas claiming at the same
// moment take different rows instead of queueing on each other (a row
// whose lease was just taken is re-checked after the lock and dropped).
// SQLite has one writer, which serialises claims by itself.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]notify.Claim, error) {
	rows, err := db.write().QueryContext(ctx, db.Dialect.lease("webhook_deliveries", "webhook IN (SELECT id FROM webhooks WHERE active = 1)",
		cols("id, webhook, event, type, body, attempts, next_at, last_error")), owner, micros(now.Add(lease)), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("%s: claim deliveries: %w", db.Dialect.Name, err)
	}
	var claims []notify.Claim
	hooks := map[string]bool{}
	for rows.Next() {
		var d notify.Delivery
		var body string
		var next int64
		if err := rows.Scan(&d.ID, &d.Subscription, &d.Event, &d.Type, &body, &d.Attempts, &next, &d.LastError); err != nil {
			rows.Close()
			return nil, err
		}
		d.Body, d.NextAt, d.State = []byte(body), time.UnixMicro(next).UTC(), notify.Pending
		claims = append(claims, notify.Claim{Delivery: d})
		hooks[d.Subscription] = true
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("%s: claim deliveries: %w", db.Dialect.Name, err)
	}
	if len(claims) == 0 {
		return nil, nil
	}
	subs := make(map[string]*notify.Webhook, len(hooks))
	for id := range hooks {
		h, err := scanWebhook(db.write().QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%s: claim deliveries: %w", db.Dialect.Name, err)
		}
		subs[id] = h
	}
	// A webhook deleted between the claim and now: its deliveries went
	// with it.
	claims = slices.DeleteFunc(claims, func(c notify.Claim) bool { return subs[c.Delivery.Subscription] == nil })
	for i := range claims {
		claims[i].Subscription = subs[claims[i].Delivery.Subscription].Subscription(nil)
	}
	return claims, nil
}

// FinishDelivery implements notify.Store: the delivery's new state and
// the attempt's log line in one transaction, if the delivery is still
// pending at the attempt count it was claimed with (whoever holds the
// lease now). A 410 Gone also disables the webhook.
func (db *DB) FinishDelivery(ctx context.Context, dl *notify.Delivery, a *notify.Attempt) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: finish delivery: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback()
	now := micros(a.At.Add(a.Took))
	res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = $3, attempts = $4, next_at = $5, last_error = $6,
		lease_owner = '', lease_until = 0, updated_at = $7 WHERE id = $1 AND state = 'pending' AND attempts = $2`,
		dl.ID, dl.Attempts-1, string(dl.State), dl.Attempts, micros(dl.NextAt), dl.LastError, now)
	if err != nil {
		return fmt.Errorf("%s: finish delivery: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notify.ErrLeaseLost
	}
	var next any
	if !a.NextAt.IsZero() {
		next = micros(a.NextAt)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery, n, url, at, took_us, status, error, response, outcome, next_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, dl.ID, a.N, a.URL, micros(a.At), a.Took.Microseconds(), a.Status,
		a.Error, strings.ToValidUTF8(a.Response, "?"), string(a.Outcome), next); err != nil {
		return fmt.Errorf("%s: log attempt: %w", db.Dialect.Name, err)
	}
	if a.Status == 410 {
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET active = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1`,
			dl.Subscription, "the receiver answered 410 Gone", now); err != nil {
			return fmt.Errorf("%s: disable webhook: %w", db.Dialect.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: finish delivery: %w", db.Dialect.Name, err)
	}
	return nil
}

// WebhookBacklog counts deliveries not yet delivered, by state, for
// metrics.
func (db *DB) WebhookBacklog(ctx context.Context) (map[notify.State]int, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT state, count(*) FROM webhook_deliveries WHERE state <> 'delivered' GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("%s: webhook backlog: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := map[notify.State]int{notify.Pending: 0, notify.Dead: 0}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[notify.State(st)] = n
	}
	return out, rows.Err()
}

// PruneWebhookDeliveries removes delivered and dead deliveries, with
// their log, last changed before t. Pending ones stay whatever their age,
// but for a revoked token's: a fan-out whose transaction read the webhook
// active just before the revocation committed may have queued one after
// the revocation killed the rest, and nothing would ever claim it (only
// active webhooks' deliveries are). It is marked dead here as they were.
func (db *DB) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	if _, err := db.write().ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'dead', last_error = $1, lease_owner = '', lease_until = 0, updated_at = $2
		WHERE state = 'pending' AND webhook IN (SELECT id FROM webhooks WHERE active = 0 AND disabled_reason = $3)`,
		revokedDeliveryMessage, micros(db.now()), revokedWebhookReason); err != nil {
		return 0, fmt.Errorf("%s: revoked deliveries: %w", db.Dialect.Name, err)
	}
	res, err := db.write().ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < $1`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("%s: prune deliveries: %w", db.Dialect.Name, err)
	}
	return res.RowsAffected()
}

// webhookRoutes is a transaction's view of the active webhooks, loaded
// on its first notice and kept for the rest of it: an intake batch saves
// hundreds of work orders in one transaction, and the query is paid once.
type webhookRoutes struct {
	subs []notify.Subscription
}

// fanOutWebhooks writes one delivery per matching webhook for each
// notable event, in the transaction that writes the notices to the
// outbox.
//
// Why here and not in a worker reading the outbox: the delivery rows then
// commit or roll back with the events they describe, so a crash anywhere
// leaves either both or neither; a retried transaction starts over on a
// fresh Tx; and the delivery id "<webhook>/<event id>" is the primary
// key, so even a second fan-out of one notice inserts nothing (ON
// CONFLICT DO NOTHING). Two replicas never fan out one event, because
// only the transaction that saves the event does. The outbox itself is
// the relay's and is deleted as it publishes. The cost is one query per
// transaction that saves a notable event (and one insert per notice that
// some webhook wants); none when no webhook exists beyond that query.
func (t *Tx) fanOutWebhooks(ctx context.Context, w *workorder.WorkOrder, events []workorder.Event) error {
	var notable []int
	for i := range events {
		if events[i].Notable() {
			notable = append(notable, i)
		}
	}
	if len(notable) == 0 {
		return nil
	}
	return t.fanOut(ctx, w.ID, func(subs []notify.Subscription) ([]notify.Delivery, error) {
		var all []notify.Delivery
		for _, i := range notable {
			ds, err := notify.Route(subs, notify.EnvelopeOf(workorder.NoticeOf(w, events[i])), t.db.now())
			if err != nil {
				return nil, err
			}
			all = append(all, ds...)
		}
		return all, nil
	})
}

// fanOutOther puts the deliveries of an event of another record (a
// purchase order) beside its outbox row, as fanOutWebhooks does for work
// orders; wo is the work order the record belongs to.
func (t *Tx) fanOutOther(ctx context.Context, wo string, env notify.OtherEnvelope, site, vendor string) error {
	return t.fanOut(ctx, wo, func(subs []notify.Subscription) ([]notify.Delivery, error) {
		return notify.RouteOther(subs, env, site, vendor, t.db.now())
	})
}

// fanOut inserts the deliveries route makes from the active webhooks.
func (t *Tx) fanOut(ctx context.Context, wo string, route func([]notify.Subscription) ([]notify.Delivery, error)) error {
	if t.webhooks == nil {
		r, err := t.loadWebhookRoutes(ctx)
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		t.webhooks = r
	}
	if len(t.webhooks.subs) == 0 {
		return nil
	}
	ds, err := route(t.webhooks.subs)
	if err != nil || len(ds) == 0 {
		return err
	}
	now := micros(t.db.now())
	add := Insert{Table: "webhook_deliveries", Columns: cols("id, webhook, event, type, work_order, body, state, next_at, created_at, updated_at"),
		Rows: len(ds), Conflict: cols("id"), DoNothing: true}
	args := make([]any, 0, 10*len(ds))
	for _, d := range ds {
		args = append(args, d.ID, d.Subscription, d.Event, d.Type, wo, string(d.Body), "pending", now, now, now)
	}
	if _, err := t.tx.ExecContext(ctx, add.SQL(), args...); err != nil {
		return fmt.Errorf("webhook deliveries: %w", err)
	}
	return nil
}

func (t *Tx) loadWebhookRoutes(ctx context.Context) (*webhookRoutes, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE active = 1`)
	if err != nil {
		return nil, err
	}
	var hooks []*notify.Webhook
	var regions []any
	for rows.Next() {
		h, err := scanWebhook(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		hooks = append(hooks, h)
		if h.Scope.Region != "" && !slices.Contains(regions, any(h.Scope.Region)) {
			regions = append(regions, h.Scope.Region)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	inRegion := map[string][]string{}
	if len(regions) > 0 {
		rows, err := t.tx.QueryContext(ctx, `SELECT id, region FROM sites WHERE region IN (`+placeholders(1, len(regions))+`)`, regions...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var site, region string
			if err := rows.Scan(&site, &region); err != nil {
				rows.Close()
				return nil, err
			}
			inRegion[region] = append(inRegion[region], site)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	r := &webhookRoutes{subs: make([]notify.Subscription, 0, len(hooks))}
	for _, h := range hooks {
		r.subs = append(r.subs, h.Subscription(inRegion[h.Scope.Region]))
	}
	return r, nil
}
