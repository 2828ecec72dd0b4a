package workorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

// memTx is an in-memory Tx: a hand-written fake for the intake rules.
type memTx struct {
	claims map[string]bool
	wos    []*WorkOrder
	events map[string][]Event
	n      int64
	// order: each incident's last applied seq and held count; held: the
	// held events by message id.
	order map[string][2]int
	held  map[string]*rules.Event
}

func newMemTx() *memTx {
	return &memTx{claims: map[string]bool{}, events: map[string][]Event{}, order: map[string][2]int{}, held: map[string]*rules.Event{}}
}

func (m *memTx) Sequence(_ context.Context, inc string) (int, int, error) {
	o := m.order[inc]
	return o[0], o[1], nil
}

func (m *memTx) Sequenced(_ context.Context, inc string, applied, held int) error {
	m.order[inc] = [2]int{applied, held}
	return nil
}

func (m *memTx) Hold(_ context.Context, ev *rules.Event) error {
	c := *ev
	m.held[ev.MsgID()] = &c
	return nil
}

func (m *memTx) Unhold(_ context.Context, inc string, seq int) (*rules.Event, error) {
	key := (&rules.Event{Incident: inc, Seq: seq}).MsgID()
	ev := m.held[key]
	delete(m.held, key)
	return ev, nil
}

func (m *memTx) WorkOrder(_ context.Context, id string) (*WorkOrder, error) {
	if _, ok := m.events[id]; !ok {
		return nil, nil
	}
	return m.copy(&WorkOrder{ID: id}), nil
}

func (m *memTx) Tombstone(_ context.Context, inc string) error {
	m.claims["tomb:"+inc] = true
	return nil
}

func (m *memTx) Tombstoned(_ context.Context, inc string) (bool, error) {
	return m.claims["tomb:"+inc], nil
}

func (m *memTx) Claim(_ context.Context, key string) (bool, error) {
	if m.claims[key] {
		return false, nil
	}
	m.claims[key] = true
	return true, nil
}

func (m *memTx) ByIncident(_ context.Context, id string) (*WorkOrder, error) {
	for _, w := range m.wos {
		if w.HasIncident(id) {
			return m.copy(w), nil
		}
	}
	return nil, nil
}

func (m *memTx) OpenFor(_ context.Context, site, asset, family string) (*WorkOrder, error) {
	for _, w := range m.wos {
		if w.Site == site && w.Asset == asset && w.Family == family && w.Status.Open() {
			return m.copy(w), nil
		}
	}
	return nil, nil
}

func (m *memTx) LastVerified(_ context.Context, site, asset, family string, since time.Time) (*WorkOrder, error) {
	for _, w := range slices.Backward(m.wos) {
		if w.Site == site && w.Asset == asset && w.Family == family && w.VerifiedAt != nil && !w.VerifiedAt.Before(since) {
			return m.copy(w), nil
		}
	}
	return nil, nil
}

// Asset: the register of the golden cases has one asset under warranty.
func (m *memTx) Asset(_ context.Context, site, asset string) (*cloud.Asset, error) {
	if site == "s1" && asset == "wif-9" {
		return &cloud.Asset{Site: site, ID: asset, Class: "walk_in_freezer", Warranty: &cloud.Warranty{Provider: "hussmann", Expires: "2027-12-31"}}, nil
	}
	return nil, nil
}
func (m *memTx) NextNumber(context.Context) (int64, error) { m.n++; return m.n, nil }

// copy replays a work order so the caller can't alias the stored one.
func (m *memTx) copy(w *WorkOrder) *WorkOrder {
	c, err := Replay(m.events[w.ID])
	if err != nil {
		panic(err)
	}
	return c
}

func (m *memTx) Save(_ context.Context, w *WorkOrder, events []Event) error {
	old := m.events[w.ID]
	if len(events) > 0 && events[0].Version != len(old)+1 {
		return cloud.Errorf(cloud.ECONFLICT, "version moved")
	}
	m.events[w.ID] = append(old, events...)
	for i, x := range m.wos {
		if x.ID == w.ID {
			m.wos[i] = w
			return nil
		}
	}
	m.wos = append(m.wos, w)
	return nil
}

// step is one line of a case's input.jsonl: an incident event, a person's
// report, an action by a person, or a sweep of due hold-offs.
type step struct {
	Incident *rules.Event `json:"incident,omitempty"`
	Report   *Report      `json:"report,omitempty"`
	Act      *struct {
		WO     int64  `json:"wo"`
		Action Action `json:"action"`
		Role   string `json:"role"`
		Input
	} `json:"act,omitempty"`
	Sweep *time.Time `json:"sweep,omitempty"`
	// release: the sweeper gives up on the predecessors of a held event
	// (TestIncidentOrder only).
	release *rules.Event
}

// summary is what a golden file compares: the decisions and each work
// order's shape, without random ids.
type summary struct {
	Steps      []string    `json:"steps"`
	WorkOrders []woSummary `json:"work_orders"`
}

type woSummary struct {
	Number      int64    `json:"number"`
	Site, Asset string   `json:"-"`
	Where       string   `json:"where"`
	Source      Source   `json:"source"`
	Problem     string   `json:"problem"`
	Trade       string   `json:"trade"`
	Priority    string   `json:"priority"`
	Status      Status   `json:"status"`
	Vendor      string   `json:"vendor,omitempty"`
	Incidents   []string `json:"incidents"`
	Occurrences int      `json:"occurrences"`
	Recall      int64    `json:"recall_of,omitempty"`
	History     []string `json:"history"`
}

func TestIntakeGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/intake/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			policy := DefaultPolicy()
			if data, err := os.ReadFile(filepath.Join(dir, "policy.yaml")); err == nil {
				if policy, err = ParsePolicy(data); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			in := &Intake[Tx]{Policy: policy, NewID: func() string { n++; return fmt.Sprintf("wo_%d", n) }}
			tx := newMemTx()
			var sum summary
			f, err := os.Open(filepath.Join(dir, "input.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for line := 1; sc.Scan(); line++ {
				if len(bytes.TrimSpace(sc.Bytes())) == 0 {
					continue
				}
				var s step
				dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&s); err != nil {
					t.Fatalf("input.jsonl:%d: %v", line, err)
				}
				sum.Steps = append(sum.Steps, run(t, in, tx, s))
			}
			for _, w := range tx.wos {
				ws := woSummary{Number: w.Number, Where: w.Site + "/" + w.Asset, Source: w.Source, Problem: w.Problem,
					Trade: w.Trade, Priority: w.Priority, Status: w.Status, Vendor: w.Vendor, Incidents: w.Incidents,
					Occurrences: w.Occurrences}
				for _, x := range tx.wos {
					if x.ID == w.RecallOf {
						ws.Recall = x.Number
					}
				}
				for _, e := range tx.events[w.ID] {
					h := string(e.Kind)
					switch e.Kind {
					case Transition:
						h = fmt.Sprintf("%s -> %s", e.Action, e.To)
					case Attached:
						h = "evidence " + e.Evidence.Event
					case Escalated:
						h = fmt.Sprintf("escalated %s: %s", strings.TrimSpace(e.Priority+" "+e.Problem), e.Reason)
					}
					ws.History = append(ws.History, h)
				}
				// Status is derived from events: replay must agree.
				if r, err := Replay(tx.events[w.ID]); err != nil || r.Status != w.Status {
					t.Errorf("WO %d: replayed status %v (%v), projected %s", w.Number, r, err, w.Status)
				}
				sum.WorkOrders = append(sum.WorkOrders, ws)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(sum); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("intake differs from %s (run with -update to accept):\n%s", golden, got)
			}
		})
	}
}

func run(t *testing.T, in *Intake[Tx], tx *memTx, s step) string {
	t.Helper()
	ctx := context.Background()
	switch {
	case s.Incident != nil:
		res, err := in.Receive(ctx, tx, FromIncident(s.Incident))
		if err != nil {
			t.Fatal(err)
		}
		return describe(s.Incident.MsgID(), res)
	case s.Report != nil:
		s.Report.Source = Manual
		res, err := in.Receive(ctx, tx, *s.Report)
		if err != nil {
			t.Fatal(err)
		}
		return describe("report "+s.Report.Problem, res)
	case s.Act != nil:
		w := tx.copy(tx.wos[s.Act.WO-1])
		a := s.Act
		a.Input.Role = cloud.Role(a.Role)
		ev, err := Act(w, a.Action, a.Input)
		if err != nil {
			return fmt.Sprintf("%s WO %d: refused: %v", a.Action, a.WO, err)
		}
		if err := tx.Save(ctx, w, ev); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s WO %d: %s", a.Action, a.WO, w.Status)
	case s.Sweep != nil:
		var out []string
		for _, w := range slices.Clone(tx.wos) {
			w = tx.copy(w)
			ev, res, err := in.Sweep(ctx, tx, w, *s.Sweep)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) == 0 {
				continue
			}
			if err := tx.Save(ctx, w, ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, describe(fmt.Sprintf("WO %d", w.Number), res))
		}
		return fmt.Sprintf("sweep %s: %v", s.Sweep.Format(time.TimeOnly), out)
	}
	t.Fatal("empty step")
	return ""
}

func describe(what string, r Result) string {
	s := fmt.Sprintf("%s: %s", what, r.Reason)
	if r.WorkOrder != nil {
		s += fmt.Sprintf(" WO %d %s %s", r.WorkOrder.Number, r.WorkOrder.Priority, r.WorkOrder.Status)
	}
	if r.Avoided {
		s += " (avoided)"
	}
	if r.Dispatched {
		s += " (dispatched)"
	}
	return s
}

func TestParsePolicyErrors(t *testing.T) {
	_, err := ParsePolicy([]byte("hold_off: {P9: 5m}\nrules:\n  - priority: P7\n    trade: magic\n"))
	if err == nil {
		t.Fatal("bad policy accepted")
	}
	for _, want := range []string{"hold_off.P9", "rules[0].priority", "rules[0].trade"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := ParsePolicy([]byte("hold_of: {}\n")); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := ParsePolicy(nil); err != nil {
		t.Errorf("empty policy: %v", err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("hold_off: {P2: 10m}\nrules:\n  - match: {problem: temp_high}\n    raise: 1\n"))
	f.Add([]byte("vendors:\n  - {site: '*', trade: refrigeration, vendor: coolco}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err == nil {
			if err := p.Validate(); err != nil {
				t.Fatalf("parsed policy does not validate: %v", err)
			}
		}
	})
}

// TestIncidentOrder: an incident's events are applied in sequence order
// whatever order they arrive in. A clear that overtakes its opening is
// held and applied right after it, so a P1 opening still dispatches and a
// P3 one still ends AVOIDED by its clear; a clear whose predecessors never
// come is released by the sweeper and, as before, counts AVOIDED once.
func TestIncidentOrder(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)
	lim := 5.0
	inc := func(ev rules.EventType, id string, seq int, asset, prio string) step {
		return step{Incident: &rules.Event{Event: ev, Incident: id, Seq: seq, Site: "s1", Asset: asset,
			AssetClass: "walk_in_cooler", Rule: "temp_high", Problem: "temp_high", Priority: prio, Trade: "refrigeration",
			At: t0.Add(time.Duration(seq) * time.Minute), Started: t0, Metric: "air_temp", Peak: 7, Limit: &lim}}
	}
	release := func(id string, seq int) step { return step{release: &rules.Event{Incident: id, Seq: seq}} }
	tests := []struct {
		name  string
		steps []step
		// want is each step's outcome as describe writes it; status the
		// final status of every work order, in number order.
		want   []string
		status []Status
	}{
		{"P1 clear overtook its opening: dispatched, not avoided", []step{
			inc(rules.Cleared, "i", 2, "wic-1", "P1"), inc(rules.Opened, "i", 1, "wic-1", "P1")},
			[]string{"held", "opened WO 1 P1 dispatched (dispatched)"}, []Status{Dispatched}},
		{"P3 clear overtook its opening: avoided by the clear, once", []step{
			inc(rules.Cleared, "i", 3, "wic-1", "P3"), inc(rules.Opened, "i", 1, "wic-1", "P3"), inc(rules.Updated, "i", 2, "wic-1", "P3")},
			[]string{"held", "opened WO 1 P3 triaged", "updated WO 1 P3 avoided (avoided)"}, []Status{Avoided}},
		{"held clear redelivered", []step{inc(rules.Cleared, "i", 2, "wic-1", "P2"), inc(rules.Cleared, "i", 2, "wic-1", "P2"),
			inc(rules.Opened, "i", 1, "wic-1", "P2")},
			[]string{"held", "repeat", "opened WO 1 P2 avoided (avoided)"}, []Status{Avoided}},
		{"update and clear overtook the opening, in reverse", []step{
			inc(rules.Cleared, "i", 3, "wic-1", "P1"), inc(rules.Updated, "i", 2, "wic-1", "P1"), inc(rules.Opened, "i", 1, "wic-1", "P1")},
			[]string{"held", "held", "opened WO 1 P1 dispatched (dispatched)"}, []Status{Dispatched}},
		{"clear whose opening never comes: released, avoided once", []step{
			inc(rules.Cleared, "i", 3, "wic-1", "P1"), release("i", 3), release("i", 3), inc(rules.Opened, "i", 1, "wic-1", "P1")},
			[]string{"held", "opened WO 1 P1 avoided (avoided)", "nothing", "updated WO 1 P1 avoided"}, []Status{Avoided}},
		{"released clear joins the open work order for the problem", []step{
			inc(rules.Opened, "a", 1, "wic-1", "P3"), inc(rules.Cleared, "b", 3, "wic-1", "P3"), release("b", 3)},
			[]string{"opened WO 1 P3 triaged", "held", "merged WO 1 P3 triaged"}, []Status{Triaged}},
		{"gap released: the events after it follow in order", []step{
			inc(rules.Opened, "i", 1, "wic-1", "P3"), inc(rules.Cleared, "i", 4, "wic-1", "P3"), inc(rules.Updated, "i", 3, "wic-1", "P3"),
			release("i", 3)},
			[]string{"opened WO 1 P3 triaged", "held", "held", "updated WO 1 P3 avoided (avoided)"}, []Status{Avoided}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Intake[Tx]{Policy: DefaultPolicy()}
			in.Policy.Vendors = []VendorRule{{Vendor: "coolco"}} // a P1 goes out at once
			tx := newMemTx()
			var got []string
			for _, s := range tt.steps {
				var res Result
				var err error
				if s.release != nil {
					res, err = in.Release(context.Background(), tx, s.release.Incident, s.release.Seq)
				} else {
					res, err = in.Receive(context.Background(), tx, FromIncident(s.Incident))
				}
				if err != nil {
					t.Fatal(err)
				}
				d := strings.TrimPrefix(describe("", res), ": ")
				if d == "" {
					d = "nothing"
				}
				got = append(got, d)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("steps\n got %q\nwant %q", got, tt.want)
			}
			var status []Status
			for _, w := range tx.wos {
				status = append(status, w.Status)
				if r, err := Replay(tx.events[w.ID]); err != nil || r.Status != w.Status {
					t.Errorf("WO %d: replayed %v (%v), projected %s", w.Number, r, err, w.Status)
				}
			}
			if !slices.Equal(status, tt.status) {
				t.Errorf("status %v, want %v", status, tt.status)
			}
			if len(tx.held) != 0 {
				t.Errorf("%d events still held", len(tx.held))
			}
		})
	}
}

// TestRackIncidentCarriesBreachAndCases: a rack's incident makes one work
// order on the rack whose evidence names the cases and the predicted
// breach, and the update that says the breach is near raises it to P1.
func TestRackIncidentCarriesBreachAndCases(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)
	breach := t0.Add(50 * time.Minute)
	ev := func(typ rules.EventType, seq int, prio string, affected []string) Report {
		return FromIncident(&rules.Event{Event: typ, Incident: "inc-rack", Seq: seq, Site: "s1", Asset: "rack-9",
			AssetClass: "compressor_rack", Rule: "rack-failure", Problem: "rack_failure", Priority: prio,
			Trade: "refrigeration", At: t0.Add(time.Duration(seq) * time.Minute), Started: t0,
			Affected: affected, PredictedBreachAt: &breach})
	}
	in := &Intake[Tx]{Policy: DefaultPolicy()}
	tx := newMemTx()
	for _, r := range []Report{ev(rules.Opened, 1, "P2", []string{"dimt-5", "dimt-6"}), ev(rules.Updated, 2, "P1", []string{"dimt-5", "dimt-6", "dilt-7"})} {
		if _, err := in.Receive(context.Background(), tx, r); err != nil {
			t.Fatal(err)
		}
	}
	if len(tx.wos) != 1 {
		t.Fatalf("%d work orders, want one for the rack", len(tx.wos))
	}
	w := tx.wos[0]
	if w.Asset != "rack-9" || w.Problem != "rack_failure" || w.Priority != "P1" || w.Trade != "refrigeration" {
		t.Errorf("work order %s/%s %s %s %s, want rack-9 rack_failure P1 refrigeration", w.Site, w.Asset, w.Problem, w.Priority, w.Trade)
	}
	if len(w.Evidence) != 1 {
		t.Fatalf("%d evidence entries, want the incident's latest", len(w.Evidence))
	}
	e := w.Evidence[0]
	if !slices.Equal(e.Affected, []string{"dimt-5", "dimt-6", "dilt-7"}) {
		t.Errorf("affected %v", e.Affected)
	}
	if e.PredictedBreachAt == nil || !e.PredictedBreachAt.Equal(breach) || e.BreachedAt != nil {
		t.Errorf("breach %v / %v, want predicted %v", e.PredictedBreachAt, e.BreachedAt, breach)
	}
	if Family("rack_failure") != Family("no_cooling") || Severity("rack_failure") <= Severity("no_cooling") {
		t.Error("rack_failure is not the worst of the temperature family")
	}
}
