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
}

func newMemTx() *memTx { return &memTx{claims: map[string]bool{}, events: map[string][]Event{}} }

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
			in := &Intake{Policy: policy, NewID: func() string { n++; return fmt.Sprintf("wo_%d", n) }}
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

func run(t *testing.T, in *Intake, tx *memTx, s step) string {
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

// TestClearedFirstIsAvoided: an incident whose clear arrives before (or
// overtakes) its opening was a problem that went away before anyone was
// sent. It must count as AVOIDED exactly once, whatever arrives after it.
func TestClearedFirstIsAvoided(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)
	lim := 5.0
	inc := func(ev rules.EventType, id string, seq int, asset, prio string) Report {
		return FromIncident(&rules.Event{Event: ev, Incident: id, Seq: seq, Site: "s1", Asset: asset,
			AssetClass: "walk_in_cooler", Rule: "temp_high", Problem: "temp_high", Priority: prio, Trade: "refrigeration",
			At: t0.Add(time.Duration(seq) * time.Minute), Started: t0, Metric: "air_temp", Peak: 7, Limit: &lim})
	}
	tests := []struct {
		name  string
		steps []Report
		// want is each step's outcome as describe writes it; status the
		// final status of every work order, in number order.
		want   []string
		status []Status
	}{
		{"clear alone", []Report{inc(rules.Cleared, "i", 3, "wic-1", "P3")},
			[]string{"opened WO 1 P3 avoided (avoided)"}, []Status{Avoided}},
		{"clear then late opening and update", []Report{
			inc(rules.Cleared, "i", 3, "wic-1", "P3"), inc(rules.Opened, "i", 1, "wic-1", "P3"), inc(rules.Updated, "i", 2, "wic-1", "P3")},
			[]string{"opened WO 1 P3 avoided (avoided)", "updated WO 1 P3 avoided", "updated WO 1 P3 avoided"}, []Status{Avoided}},
		{"clear redelivered", []Report{inc(rules.Cleared, "i", 3, "wic-1", "P2"), inc(rules.Cleared, "i", 3, "wic-1", "P2")},
			[]string{"opened WO 1 P2 avoided (avoided)", "repeat"}, []Status{Avoided}},
		{"P1 clear alone: nobody was sent", []Report{inc(rules.Cleared, "i", 3, "wic-1", "P1")},
			[]string{"opened WO 1 P1 avoided (avoided)"}, []Status{Avoided}},
		{"clear joins the open work order for the problem", []Report{
			inc(rules.Opened, "a", 1, "wic-1", "P3"), inc(rules.Cleared, "b", 3, "wic-1", "P3")},
			[]string{"opened WO 1 P3 triaged", "merged WO 1 P3 triaged"}, []Status{Triaged}},
		{"clear of the only incident after its peer cleared: avoided once", []Report{
			inc(rules.Opened, "a", 1, "wic-1", "P3"), inc(rules.Cleared, "a", 2, "wic-1", "P3"), inc(rules.Cleared, "b", 3, "wic-1", "P3")},
			[]string{"opened WO 1 P3 triaged", "updated WO 1 P3 avoided (avoided)", "opened WO 2 P3 avoided (avoided)"},
			[]Status{Avoided, Avoided}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Intake{Policy: DefaultPolicy()}
			tx := newMemTx()
			var got []string
			for _, r := range tt.steps {
				res, err := in.Receive(context.Background(), tx, r)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, strings.TrimPrefix(describe("", res), ": "))
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
	in := &Intake{Policy: DefaultPolicy()}
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
