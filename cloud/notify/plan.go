package notify

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// Notification states beyond the webhook delivery's Pending, Delivered and
// Dead.
const (
	Skipped  State = "skipped"  // the person turned the topic off; kept for the log
	Held     State = "digest"   // waits for the person's daily digest
	Digested State = "digested" // went out in a digest
)

// Notification is one message to one person on one channel about one
// event: a row of the notification outbox. Its ID is
// "<event>/<topic>/<person>/<channel>", the primary key, so the same event
// planned twice (a retried transaction, a second replica) is one row, and
// one row is sent once.
type Notification struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	WorkOrder string `json:"work_order,omitempty"`
	Topic     string `json:"topic"`
	Person    string `json:"person"`
	Name      string `json:"name,omitempty"` // the person's, as addressed
	Channel   string `json:"channel"`
	Address   string `json:"address"`
	Priority  string `json:"priority,omitempty"`
	Subject   string `json:"subject"`
	Text      string `json:"-"`
	HTML      string `json:"-"`
	State     State  `json:"state"`
	Attempts  int    `json:"attempts"`
	// NextAt is when the next attempt is due: now, or the end of the
	// person's quiet hours.
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
	// Note says why a notification waits or was skipped.
	Note string `json:"note,omitempty"`
	// Step is the escalation step (0: the FM, 1: their manager ...);
	// EscalateAt, when set, is when the next step goes out unless
	// someone acknowledges.
	Step       int        `json:"step,omitempty"`
	EscalateAt *time.Time `json:"escalate_at,omitempty"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
	AckedAt    *time.Time `json:"acked_at,omitempty"`
	AckedBy    string     `json:"acked_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// prefer applies the person's preference for the notification's topic
// and their address: skipped, held for the digest, or dead for want of
// an address. It reports whether it changed the state.
func (n *Notification) prefer(to *Person) bool {
	switch pref := to.Preference(n.Topic); {
	case pref == Off:
		n.State, n.Note = Skipped, "preference off"
	case pref == Digest:
		n.State, n.Note = Held, "held for the daily digest"
	case n.Address == "":
		n.State, n.Note = Dead, "no "+n.Channel+" address on file"
	default:
		return false
	}
	return true
}

// Message is the notification as its channel sends it.
func (n *Notification) Message() *Message {
	return &Message{ID: n.ID, To: n.Address, ToName: n.Name, Subject: n.Subject, Text: n.Text, HTML: n.HTML}
}

// Escalation is the chain an SLA breach climbs while nobody acknowledges
// it: the FMs of the site first, then each one's manager After later, and
// so on up to Levels managers.
type Escalation struct {
	After  time.Duration `yaml:"after"`
	Levels int           `yaml:"levels"`
}

// World is what planning needs to know beyond the work order: the people
// on file (vendors' contacts among them) and the site.
type World struct {
	People []Person
	// Site is the work order's site (its name, region and time zone);
	// nil when it is not in the register.
	Site *cloud.Site
}

// location is the site's time zone, UTC when unknown.
func (w *World) location() *time.Location {
	if w.Site != nil && w.Site.Timezone != "" {
		if loc, err := time.LoadLocation(w.Site.Timezone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// Planner decides who hears about a work-order event, and renders what
// they get. It keeps no state: a store calls Plan in the transaction that
// saves the events and writes what it returns.
type Planner struct {
	Templates *Templates
	// BaseURL is where people open the service ("https://frostline.example.com").
	BaseURL string
	// Links signs acknowledge links; nil: messages carry none.
	Links *Links
	// LinkTTL is how long an acknowledge link works.
	LinkTTL    time.Duration
	Escalation Escalation
}

// want is one person to tell about one topic.
type want struct {
	topic  string
	person *Person
}

// Plan returns the notifications for events just saved on w, at now.
func (p *Planner) Plan(w *workorder.WorkOrder, events []workorder.Event, world *World, now time.Time) ([]Notification, error) {
	var out []Notification
	region := ""
	if world.Site != nil {
		region = world.Site.Region
	}
	sees := func(role cloud.Role) []*Person {
		var ps []*Person
		for i := range world.People {
			q := &world.People[i]
			if q.Role == role && q.Scope.covers(w.Site, region, w.Vendor) {
				ps = append(ps, q)
			}
		}
		return ps
	}
	vendorPeople := func(vendor string) []*Person {
		var ps []*Person
		for i := range world.People {
			q := &world.People[i]
			if q.Role == cloud.RoleVendor && q.Scope.covers(w.Site, region, vendor) {
				ps = append(ps, q)
			}
		}
		return ps
	}
	for i := range events {
		e := &events[i]
		var wants []want
		add := func(topic string, ps []*Person) {
			for _, q := range ps {
				wants = append(wants, want{topic, q})
			}
		}
		switch e.Kind {
		case workorder.Created:
			if e.Opening != nil && e.Opening.RecallOf != "" {
				add(TopicRecalled, sees(cloud.RoleStore))
			} else if w.Source == workorder.Manual {
				add(TopicReportReceived, sees(cloud.RoleStore))
			}
			if e.Opening != nil && e.Opening.Priority == "P1" {
				add(TopicP1Created, sees(cloud.RoleFM))
			}
		case workorder.Attached:
			if e.Evidence != nil && e.Evidence.Incident == "" && e.Version > 1 && !createdIn(events) {
				add(TopicReportMerged, sees(cloud.RoleStore))
			}
		case workorder.Escalated:
			if e.Priority == "P1" {
				add(TopicP1Created, sees(cloud.RoleFM))
			}
		case workorder.Quoted:
			if w.Quote != nil {
				add(TopicQuoteWaiting, sees(cloud.RoleFM))
			}
		case workorder.SLAMarked:
			if e.SLA != nil && e.SLA.Kind == "breach" {
				add(TopicSLABreach, sees(cloud.RoleFM))
			} else if e.SLA != nil && w.Vendor != "" {
				add(TopicSLAReminder, vendorPeople(w.Vendor))
			}
		case workorder.Transition:
			switch e.Action {
			case workorder.Dispatch:
				add(TopicOffer, vendorPeople(e.Vendor))
			case workorder.Accept:
				add(TopicVendorAssigned, sees(cloud.RoleStore))
			case workorder.CheckIn:
				add(TopicOnSite, sees(cloud.RoleStore))
			case workorder.Complete:
				add(TopicCompleted, sees(cloud.RoleStore))
			case workorder.Verify:
				add(TopicVerified, sees(cloud.RoleStore))
			}
		case workorder.Rated:
			if e.Rating != nil && !e.Rating.Fixed {
				add(TopicNotFixed, sees(cloud.RoleFM))
			}
		}
		for _, wt := range wants {
			ns, err := p.render(w, e, wt.topic, wt.person, world, 0, now)
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
	}
	return out, nil
}

// Notifies reports whether any of the events can notify someone, before a
// store reads who is on file: evidence updates from sensors, notes and
// most transitions never do.
func Notifies(events []workorder.Event) bool {
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case workorder.Created, workorder.Escalated, workorder.Quoted, workorder.SLAMarked:
			return true
		case workorder.Rated:
			if e.Rating != nil && !e.Rating.Fixed {
				return true
			}
		case workorder.Attached:
			if e.Evidence != nil && e.Evidence.Incident == "" {
				return true
			}
		case workorder.Transition:
			switch e.Action {
			case workorder.Dispatch, workorder.Accept, workorder.CheckIn, workorder.Complete, workorder.Verify:
				return true
			}
		}
	}
	return false
}

// createdIn reports whether the events open the work order (a report's
// evidence on a new work order is its opening, not a merge).
func createdIn(events []workorder.Event) bool {
	return slices.ContainsFunc(events, func(e workorder.Event) bool { return e.Kind == workorder.Created })
}

// EventID is the id of a work order's event, as webhooks and the NATS
// stream name it.
func EventID(wo string, version int) string { return fmt.Sprintf("%s-%d", wo, version) }

// render makes one person's notifications, one per channel.
func (p *Planner) render(w *workorder.WorkOrder, e *workorder.Event, topic string, to *Person, world *World, step int, now time.Time) ([]Notification, error) {
	loc := world.location()
	v := p.view(w, e, world, loc)
	v.Person, v.Step = to.Name, step
	if step > 0 {
		v.After = p.Escalation.After.String()
	}
	event := EventID(w.ID, e.Version)
	var out []Notification
	for _, ch := range to.channels() {
		n := Notification{Event: event, WorkOrder: w.ID, Topic: topic, Person: to.ID, Name: to.Name, Channel: ch,
			Address: to.Address(ch), Priority: w.Priority, State: Pending, NextAt: now, Step: step, CreatedAt: now}
		n.ID = event + "/" + topic + "/" + to.ID + "/" + ch
		if step > 0 {
			n.ID = fmt.Sprintf("%s/%s.%d/%s/%s", event, topic, step, to.ID, ch)
		}
		vv := v
		if kind := LinkFor(topic); p.Links != nil && kind != "" {
			link := strings.TrimRight(p.BaseURL, "/") + "/" + kind + "/" + p.Links.Sign(n.ID, now.Add(p.LinkTTL))
			if kind == LinkAck {
				vv.AckLink = link
			} else {
				vv.RateLink = link
			}
		}
		var err error
		if n.Subject, n.Text, n.HTML, err = p.Templates.Render(topic, &vv); err != nil {
			return nil, err
		}
		if !n.prefer(to) && w.Priority != "P1" {
			if until := to.Quiet.Until(now.In(loc)); !until.IsZero() {
				n.NextAt, n.Note = until.UTC(), "held for quiet hours until "+when(until, loc)
			}
		}
		// A breach climbs the chain unless acknowledged, whatever became
		// of this message: held for a digest, turned off, or with no
		// address, its reader is not taking it.
		if topic == TopicSLABreach && step < p.Escalation.Levels && p.Escalation.After > 0 {
			at := now.Add(p.Escalation.After)
			n.EscalateAt = &at
		}
		out = append(out, n)
	}
	return out, nil
}

// view is the template's view of w at event e.
func (p *Planner) view(w *workorder.WorkOrder, e *workorder.Event, world *World, loc *time.Location) View {
	v := View{Number: w.Number, What: w.Title, Site: w.Site, SiteName: w.Site, Asset: w.Asset, Problem: w.Problem,
		Priority: w.Priority, Trade: w.Trade, Status: string(w.Status), Vendor: w.Vendor, Technician: w.Technician,
		Verification: w.Verification, RecallOf: w.RecallOf, At: when(e.At, loc), NTE: money(w.NTE)}
	if v.What == "" {
		v.What = strings.ReplaceAll(w.Problem, "_", " ")
	}
	if world.Site != nil && world.Site.Name != "" {
		v.SiteName = world.Site.Name
	}
	if e.Vendor != "" {
		v.Vendor = e.Vendor
	}
	if e.ETA != nil {
		v.ETA = when(*e.ETA, loc)
	} else if w.ETA != nil {
		v.ETA = when(*w.ETA, loc)
	}
	if e.AcceptBy != nil {
		v.AcceptBy = when(*e.AcceptBy, loc)
	}
	if e.NTE > 0 {
		v.NTE = money(e.NTE)
	}
	if e.Completion != nil {
		v.Remedy = strings.ReplaceAll(e.Completion.Remedy, "_", " ")
	}
	if q := e.Quote; q != nil {
		v.Quote, v.QuoteText = money(q.Amount), q.Description
	}
	if r := e.Rating; r != nil {
		v.Score, v.Comment = r.Score, r.Comment
		v.Recall, v.Flagged = r.Outcome == workorder.RatingRecall, r.Outcome == workorder.RatingFlagged
		if r.Outcome == workorder.RatingAlreadyOpen {
			v.RecallOf = r.Open
		}
	}
	if s := e.SLA; s != nil {
		v.Milestone, v.Due, v.Lateness = s.Milestone, when(s.Due, loc), age(s.Lateness)
	}
	if p.BaseURL != "" {
		v.Link = strings.TrimRight(p.BaseURL, "/") + "/workorders/" + url.PathEscape(w.ID)
	}
	return v
}

// The signed links a message may carry, named as their paths are
// (<base_url>/ack/<token>, <base_url>/rate/<token>).
const (
	LinkAck  = "ack"  // acknowledge a breach or a P1
	LinkRate = "rate" // tell whether a verified fix held (the store's rating)
)

// LinkFor returns the signed link a topic's messages carry, LinkAck or
// LinkRate, or "" for none. A link's token names one notification; the
// service honours it only where its topic's link is served, so one kind
// of link cannot be used as the other.
func LinkFor(topic string) string {
	switch topic {
	case TopicSLABreach, TopicP1Created:
		return LinkAck
	case TopicVerified:
		return LinkRate
	}
	return ""
}

// Escalate returns the next step of an unacknowledged breach notification
// src about event e of w: one notification per channel to the manager of
// src's person, or none when src was the last step or the person has no
// manager on file.
func (p *Planner) Escalate(src *Notification, w *workorder.WorkOrder, e *workorder.Event, world *World, now time.Time) ([]Notification, error) {
	if src.Topic != TopicSLABreach || src.Step >= p.Escalation.Levels {
		return nil, nil
	}
	if e.SLA == nil || EventID(w.ID, e.Version) != src.Event {
		return nil, fmt.Errorf("notify: escalate %s: event %s of %s is not its breach", src.ID, EventID(w.ID, e.Version), w.ID)
	}
	var manager *Person
	if from := personByID(world.People, src.Person); from != nil && from.Manager != "" {
		manager = personByID(world.People, from.Manager)
	}
	if manager == nil {
		return nil, nil
	}
	return p.render(w, e, TopicSLABreach, manager, world, src.Step+1, now)
}

func personByID(people []Person, id string) *Person {
	for i := range people {
		if people[i].ID == id {
			return &people[i]
		}
	}
	return nil
}

// DigestEvent names a person's digest of a day.
func DigestEvent(person, day string) string { return "digest:" + person + ":" + day }

// Digest returns a person's daily digest for day ("2026-12-07" in their
// time zone): the open work orders they see, by site and oldest first, and
// the subjects of the notifications held for it. Its event is
// "digest:<person>:<day>", so a second replica making the same digest
// writes nothing new.
func (p *Planner) Digest(to *Person, day string, open []*workorder.WorkOrder, held []Notification, sites map[string]*cloud.Site, now time.Time) ([]Notification, error) {
	v := View{Person: to.Name, OpenCount: 0}
	bySite := map[string]int{}
	for _, w := range open {
		region := ""
		if s := sites[w.Site]; s != nil {
			region = s.Region
		}
		if to.Role != cloud.RoleAdmin && !to.Scope.covers(w.Site, region, w.Vendor) {
			continue
		}
		name := w.Site
		if s := sites[w.Site]; s != nil && s.Name != "" {
			name = s.Name + " (" + w.Site + ")"
		}
		i, ok := bySite[name]
		if !ok {
			i = len(v.Sites)
			bySite[name] = i
			v.Sites = append(v.Sites, DigestSite{Site: name})
		}
		what := w.Title
		if what == "" {
			what = strings.ReplaceAll(w.Problem, "_", " ")
		}
		row := DigestRow{Number: w.Number, Priority: w.Priority, Status: string(w.Status), Age: age(now.Sub(w.CreatedAt)),
			What: what, Vendor: w.Vendor}
		if p.BaseURL != "" {
			row.Link = strings.TrimRight(p.BaseURL, "/") + "/workorders/" + url.PathEscape(w.ID)
		}
		v.Sites[i].Rows = append(v.Sites[i].Rows, row)
		v.OpenCount++
	}
	slices.SortFunc(v.Sites, func(a, b DigestSite) int { return strings.Compare(a.Site, b.Site) })
	for _, s := range v.Sites {
		slices.SortFunc(s.Rows, func(a, b DigestRow) int { return int(a.Number - b.Number) }) // oldest first
	}
	for _, n := range held {
		v.Held = append(v.Held, n.Subject)
	}
	event := DigestEvent(to.ID, day)
	var out []Notification
	for _, ch := range to.channels() {
		n := Notification{ID: event + "/" + TopicDigest + "/" + to.ID + "/" + ch, Event: event, Topic: TopicDigest,
			Person: to.ID, Name: to.Name, Channel: ch, Address: to.Address(ch), State: Pending, NextAt: now, CreatedAt: now}
		var err error
		if n.Subject, n.Text, n.HTML, err = p.Templates.Render(TopicDigest, &v); err != nil {
			return nil, err
		}
		if to.Preference(TopicDigest) == Off {
			n.State, n.Note = Skipped, "preference off"
		} else if n.Address == "" {
			n.State, n.Note = Dead, "no "+ch+" address on file"
		}
		out = append(out, n)
	}
	return out, nil
}

// PlanTx is what planning needs of a store's write transaction.
type PlanTx interface {
	// NotifyWorld reads who is on file and the site, in the transaction.
	NotifyWorld(ctx context.Context, site string) (*World, error)
	// AddNotifications writes notifications beside the events; an id
	// written before is left as it is.
	AddNotifications(ctx context.Context, ns []Notification) error
}

// Project plans the notifications for events just saved on w and writes
// them in tx, the transaction that saves the events: a crash leaves both
// or neither, a retried transaction starts over, and the ids make a second
// planning of one event a no-op.
func (p *Planner) Project(ctx context.Context, tx PlanTx, w *workorder.WorkOrder, events []workorder.Event, now time.Time) error {
	if !Notifies(events) {
		return nil
	}
	world, err := tx.NotifyWorld(ctx, w.Site)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	ns, err := p.Plan(w, events, world, now)
	if err != nil || len(ns) == 0 {
		return err
	}
	return tx.AddNotifications(ctx, ns)
}

// Disputed is an invoice's news as its people are told it: a dispute
// (the vendor's), an approval (the vendor's), or an invoice that waits
// for an approver (the FMs').
type Disputed struct {
	Invoice string // the vendor's number
	Total   float64
	// Reasons, one a line: "line 1 (labour): your rate is $100/h"; for
	// an invoice waiting, what its checks found.
	Reasons []string
	At      time.Time
	// Event names the news: "<invoice id>-<revision>-dispute".
	Event string
	// Topic is TopicInvoiceDispute when empty.
	Topic string
}

// PlanDispute tells the vendor's people (its billing contacts, or anyone
// on file for the vendor who wants it) that lines of its invoice were
// disputed, and writes the notifications in tx.
func (p *Planner) PlanDispute(ctx context.Context, tx PlanTx, w *workorder.WorkOrder, d Disputed, now time.Time) error {
	d.Topic = TopicInvoiceDispute
	return p.PlanInvoice(ctx, tx, w, d, now)
}

// PlanInvoice tells people of an invoice's news (d.Topic): a dispute or
// an approval its vendor's people, an invoice waiting for approval the
// FMs who cover the site; and writes the notifications in tx.
func (p *Planner) PlanInvoice(ctx context.Context, tx PlanTx, w *workorder.WorkOrder, d Disputed, now time.Time) error {
	if d.Topic == "" {
		d.Topic = TopicInvoiceDispute
	}
	world, err := tx.NotifyWorld(ctx, w.Site)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	region := ""
	if world.Site != nil {
		region = world.Site.Region
	}
	role := cloud.RoleVendor
	if d.Topic == TopicInvoiceWaiting {
		role = cloud.RoleFM
	}
	loc := world.location()
	e := workorder.Event{At: d.At}
	v := p.view(w, &e, world, loc)
	v.Invoice, v.Quote, v.Held = d.Invoice, money(d.Total), d.Reasons
	var out []Notification
	for i := range world.People {
		to := &world.People[i]
		if to.Role != role || !to.Scope.covers(w.Site, region, w.Vendor) {
			continue
		}
		vv := v
		vv.Person = to.Name
		for _, ch := range to.channels() {
			n := Notification{ID: d.Event + "/" + d.Topic + "/" + to.ID + "/" + ch, Event: d.Event, WorkOrder: w.ID,
				Topic: d.Topic, Person: to.ID, Name: to.Name, Channel: ch, Address: to.Address(ch), Priority: w.Priority,
				State: Pending, NextAt: now, CreatedAt: now}
			if n.Subject, n.Text, n.HTML, err = p.Templates.Render(d.Topic, &vv); err != nil {
				return err
			}
			n.prefer(to)
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return tx.AddNotifications(ctx, out)
}
