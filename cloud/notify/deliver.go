package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/frostline/frostline/cloud"
)

// Backoff is the retry schedule: the n-th retry waits Initial *
// Multiplier^(n-1), capped at Max, spread by ±Jitter so that deliveries
// that failed together do not retry together. After Attempts attempts in
// all, the delivery is dead-lettered.
type Backoff struct {
	Initial    time.Duration `json:"initial"`
	Max        time.Duration `json:"max"`
	Multiplier float64       `json:"multiplier"`
	Jitter     float64       `json:"jitter"` // 0.2: +-20%
	Attempts   int           `json:"attempts"`
}

// DefaultBackoff retries after about 10s, 20s, 40s ... up to an hour
// apart, eight attempts in all: seven waits of 10s to 640s, about 21
// minutes from the first attempt to the last. The service configures
// more (DefaultWorkerConfig: twelve, the last about 3h25m after the first).
func DefaultBackoff() Backoff {
	return Backoff{Initial: 10 * time.Second, Max: time.Hour, Multiplier: 2, Jitter: 0.2, Attempts: 8}
}

// Delay returns the wait before retry n (1 for the retry after the first
// failure); rnd returns a number in [0, 1).
func (b Backoff) Delay(n int, rnd func() float64) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(max(n-1, 0)))
	d = math.Min(d, float64(b.Max))
	if b.Jitter > 0 {
		d *= 1 - b.Jitter + 2*b.Jitter*rnd()
	}
	return time.Duration(d)
}

// State is where a delivery is.
type State string

// Delivery states.
const (
	Pending   State = "pending"   // waiting for its next attempt at NextAt
	Delivered State = "delivered" // a 2xx answer
	Dead      State = "dead"      // given up: dead-lettered for a person to look at and replay
)

// Delivery is one event on its way to one subscription.
type Delivery struct {
	// ID is "<subscription>/<event id>": deterministic, so that routing
	// the same event twice (a relay retry, a second replica) inserts one
	// row under a unique constraint.
	ID           string    `json:"id"`
	Subscription string    `json:"subscription"`
	Event        string    `json:"event"`
	Type         string    `json:"type"`
	Body         []byte    `json:"body"`
	State        State     `json:"state"`
	Attempts     int       `json:"attempts"`
	NextAt       time.Time `json:"next_at"`
	LastError    string    `json:"last_error,omitempty"`
}

// Route returns a delivery for each subscription that wants the notice.
func Route(subs []Subscription, env Envelope, now time.Time) ([]Delivery, error) {
	return route(subs, env.ID, env.Type, env.Data.Site, env.Data.Vendor, env, now)
}

// OtherEnvelope is the body of a delivery of an event that is not a
// work order's: a purchase order's. Data is the event's own notice.
type OtherEnvelope struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// RouteOther is Route for an event of another record that belongs to a
// site and, when set, a vendor: the same subscriptions see it as would see
// a work order of that site and vendor.
func RouteOther(subs []Subscription, env OtherEnvelope, site, vendor string, now time.Time) ([]Delivery, error) {
	return route(subs, env.ID, env.Type, site, vendor, env, now)
}

func route(subs []Subscription, id, typ, site, vendor string, env any, now time.Time) ([]Delivery, error) {
	var out []Delivery
	var body []byte
	for i := range subs {
		s := &subs[i]
		if !s.wants(typ, site, vendor) {
			continue
		}
		if body == nil {
			var err error
			if body, err = json.Marshal(env); err != nil {
				return nil, fmt.Errorf("notify: encode event %s: %w", id, err)
			}
		}
		out = append(out, Delivery{ID: s.ID + "/" + id, Subscription: s.ID, Event: id, Type: typ,
			Body: body, State: Pending, NextAt: now})
	}
	return out, nil
}

// Outcome is what an attempt led to.
type Outcome string

// Attempt outcomes.
const (
	OutcomeDelivered Outcome = "delivered"
	OutcomeRetry     Outcome = "retry"
	OutcomeDead      Outcome = "dead"
)

// Attempt is one line of the delivery log.
type Attempt struct {
	Delivery     string        `json:"delivery"`
	Subscription string        `json:"subscription"`
	URL          string        `json:"url"`
	N            int           `json:"attempt"`
	At           time.Time     `json:"at"`
	Took         time.Duration `json:"took"`
	Status       int           `json:"status,omitempty"` // HTTP status; 0 when none came
	Error        string        `json:"error,omitempty"`
	// Response is the start of the receiver's answer, for whoever debugs it.
	Response string    `json:"response,omitempty"`
	Outcome  Outcome   `json:"outcome"`
	NextAt   time.Time `json:"next_at,omitzero"`
}

// Doer sends an HTTP request; *http.Client is one.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Deliverer makes delivery attempts. Its zero value is not usable; fill
// Client, and the rest has defaults.
type Deliverer struct {
	Client Doer
	// Timeout bounds each attempt, from connecting to reading the answer.
	Timeout time.Duration
	Backoff Backoff
	// Now, Rand and Sleep are the clock, the jitter source ([0, 1)) and
	// the wait between in-process retries; tests inject fakes.
	Now   func() time.Time
	Rand  func() float64
	Sleep func(ctx context.Context, d time.Duration) error
	// UserAgent is sent with each request.
	UserAgent string
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) rand() float64 {
	if d.Rand != nil {
		return d.Rand()
	}
	return 0.5
}

// maxResponse is how much of a receiver's answer is read and logged.
const maxResponse = 512

// Attempt makes one attempt at a delivery: it signs the body with the
// subscription's active secrets at the current time, POSTs it with the
// timeout, and moves the delivery on: Delivered on a 2xx; Dead on 410 Gone
// (the receiver says the endpoint is gone), or when the attempts are used
// up; otherwise Pending again at the backoff's next time (a Retry-After
// from a 429 or 503 is honoured up to Backoff.Max). It returns the log
// record of the attempt.
func (d *Deliverer) Attempt(ctx context.Context, sub *Subscription, dl *Delivery) Attempt {
	at := d.now()
	dl.Attempts++
	a := Attempt{Delivery: dl.ID, Subscription: sub.ID, URL: sub.URL, N: dl.Attempts, At: at}
	status, resp, retryAfter, err := d.post(ctx, sub, dl, at)
	a.Took = d.now().Sub(at)
	a.Status, a.Response = status, resp
	if err != nil {
		a.Error = err.Error()
	}
	b := d.Backoff
	if b.Attempts <= 0 {
		b = DefaultBackoff()
	}
	switch {
	case err == nil && status >= 200 && status < 300:
		dl.State, a.Outcome, dl.LastError = Delivered, OutcomeDelivered, ""
		return a
	case status == http.StatusGone:
		dl.State, a.Outcome = Dead, OutcomeDead
	case dl.Attempts >= b.Attempts:
		dl.State, a.Outcome = Dead, OutcomeDead
	default:
		wait := b.Delay(dl.Attempts, d.rand)
		if retryAfter > wait {
			wait = min(retryAfter, b.Max)
		}
		dl.State, a.Outcome, dl.NextAt = Pending, OutcomeRetry, at.Add(wait)
		a.NextAt = dl.NextAt
	}
	dl.LastError = a.Error
	if dl.LastError == "" {
		dl.LastError = fmt.Sprintf("HTTP %d", status)
	}
	return a
}

func (d *Deliverer) post(ctx context.Context, sub *Subscription, dl *Delivery, at time.Time) (status int, resp string, retryAfter time.Duration, err error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return 0, "", 0, fmt.Errorf("notify: request for %s: %w", dl.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(dl.Body, at, Active(sub.Secrets, at)...))
	req.Header.Set(EventHeader, dl.Type)
	req.Header.Set(DeliveryHeader, dl.ID)
	if d.UserAgent != "" {
		req.Header.Set("User-Agent", d.UserAgent)
	}
	r, err := d.Client.Do(req)
	if err != nil {
		return 0, "", 0, fmt.Errorf("notify: post %s: %w", dl.ID, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, maxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)) // let the connection be reused
	if err != nil && r.StatusCode/100 != 2 {
		return r.StatusCode, string(b), 0, fmt.Errorf("notify: read answer to %s: %w", dl.ID, err)
	}
	if s := r.Header.Get("Retry-After"); s != "" && (r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusServiceUnavailable) {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			retryAfter = time.Duration(n) * time.Second
		}
	}
	return r.StatusCode, string(b), retryAfter, nil
}

// ErrDead is returned by Deliver for a dead-lettered delivery.
var ErrDead = errors.New("notify: delivery dead-lettered")

// Deliver runs a delivery's attempts in-process until it is delivered or
// dead, waiting out the backoff with Sleep, and passes each attempt's
// record to log. It returns ErrDead (wrapped, with the last error) for a
// dead letter, or the context's error.
func (d *Deliverer) Deliver(ctx context.Context, sub *Subscription, dl *Delivery, log func(Attempt)) error {
	sleep := d.Sleep
	if sleep == nil {
		sleep = cloud.Sleep
	}
	for {
		a := d.Attempt(ctx, sub, dl)
		if log != nil {
			log(a)
		}
		switch dl.State {
		case Delivered:
			return nil
		case Dead:
			return fmt.Errorf("delivery %s after %d attempts: %s: %w", dl.ID, dl.Attempts, dl.LastError, ErrDead)
		}
		if err := sleep(ctx, dl.NextAt.Sub(d.now())); err != nil {
			return fmt.Errorf("delivery %s: %w", dl.ID, err)
		}
	}
}
