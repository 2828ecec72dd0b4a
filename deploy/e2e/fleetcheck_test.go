package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/cloud/relay"
	"github.com/frostline/frostline/edge/wire"
)

func notableEvent(e woEvent) bool { return notable(e) }

// fleetEvidenceDiff says how the work orders' evidence differs from the
// oracle's last event of each incident ("" when it does not): every
// incident on exactly one work order, at the same sequence number, state
// and occurrence count, and no incident the oracle never raised.
func fleetEvidenceDiff(wos []workOrder, last map[string]incidentEvent) string {
	var diffs []string
	have := map[string][]evidence{}
	for _, w := range wos {
		for _, e := range w.Evidence {
			if e.Incident != "" {
				have[e.Incident] = append(have[e.Incident], e)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(last)) {
		o := last[id]
		es := have[id]
		switch {
		case len(es) == 0:
			diffs = append(diffs, fmt.Sprintf("%s (%s %s %s): on no work order, want %s seq %d", id, o.Site, o.Asset, o.Rule, o.Event, o.Seq))
		case len(es) > 1:
			diffs = append(diffs, fmt.Sprintf("%s (%s %s %s): on %d work orders", id, o.Site, o.Asset, o.Rule, len(es)))
		case es[0].Seq != o.Seq || es[0].Event != o.Event || es[0].Occurrences != o.Occurrences:
			diffs = append(diffs, fmt.Sprintf("%s (%s %s): %s seq %d occ %d, want %s seq %d occ %d", id, o.Asset, o.Rule,
				es[0].Event, es[0].Seq, es[0].Occurrences, o.Event, o.Seq, o.Occurrences))
		}
		delete(have, id)
	}
	for _, id := range slices.Sorted(maps.Keys(have)) {
		diffs = append(diffs, fmt.Sprintf("%s (%s): on a work order, not in the oracle", id, have[id][0].Rule))
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

// checkWorkOrders checks what the oracle does not see through the
// evidence: nothing merged (a work order's incidents are all of its
// asset), nothing doubled (the incident ids and the occurrence count);
// and it counts the timers and people's steps in the work orders' events,
// each of which must have happened. It returns the counts and every work
// order's events, by id.
func (f *fleet) checkWorkOrders(wos []workOrder) (map[string]int, map[string][]woEvent) {
	t := f.t
	t.Helper()
	last := f.want.last()
	evs := map[string][]woEvent{}
	timers := map[string]int{}
	for _, w := range wos {
		for _, id := range w.Incidents {
			if o, ok := last[id]; ok && (o.Site != w.Site || o.Asset != w.Asset) {
				t.Errorf("work order #%d (%s %s) carries incident %s of %s %s: merged across assets", w.Number, w.Site, w.Asset, id, o.Site, o.Asset)
			}
		}
		occ := 0
		for _, id := range w.Incidents {
			occ += max(last[id].Occurrences, 1)
		}
		if len(w.Incidents) > 0 && w.Occurrences != occ {
			t.Errorf("work order #%d counts %d occurrences, want %d: an incident counted twice or lost", w.Number, w.Occurrences, occ)
		}
		if len(w.Incidents) == 0 {
			t.Errorf("work order #%d (%s %s %s) has no incident; the oracle raises none for it", w.Number, w.Site, w.Asset, w.Problem)
		}
		var full struct {
			RecallOf string `json:"recall_of"`
		}
		f.admin.must(http.StatusOK, "GET", "/api/v1/workorders/"+w.ID, nil, &full)
		if full.RecallOf != "" {
			timers["recall"]++
		}
		es := f.admin.events(w.ID)
		evs[w.ID] = es
		versions := map[int]bool{}
		for _, e := range es {
			if versions[e.Version] {
				t.Errorf("work order #%d: event version %d twice", w.Number, e.Version)
			}
			versions[e.Version] = true
			switch {
			case e.Kind == "transition" && e.Action == "release" && strings.Contains(e.Reason, "hold-off"):
				timers["hold-off dispatch"]++
			case e.Kind == "transition" && e.Action == "avoid":
				timers["hold-off avoided"]++
			case e.Kind == "transition" && e.Action == "dispatch":
				timers["offer"]++
			case e.Kind == "transition" && e.Action == "decline" && strings.Contains(e.Reason, "did not accept in time"):
				timers["offer timed out"]++
			case e.Kind == "transition" && e.Action == "verify" && e.Verification == "sensor":
				timers["verified by sensor"]++
			case e.Kind == "transition" && e.Action == "verify":
				timers["verified by a person"]++
			case e.Kind == "transition" && e.Action == "reopen":
				timers["reopened"]++
			case e.Kind == "note" && (e.Verification == "awaiting_person" || e.Verification == "extended"):
				timers["verification inconclusive"]++
			}
		}
	}
	required := []string{"hold-off dispatch", "offer", "offer timed out", "verified by a person"}
	// A recall needs the first store's cooler's work order verified
	// before its second failure; in the short run the two are some 25
	// real seconds apart, and faults can delay the first verification
	// past it (the second failure then joins the open work order).
	// From a day of simulated time on it is required.
	if f.span >= 24*time.Hour {
		required = append(required, "recall")
	} else if timers["recall"] == 0 {
		t.Logf("no recall in this short run (%v)", timers)
	}
	for _, k := range required {
		if timers[k] == 0 {
			t.Errorf("no %q in %d work orders' events: the drill did not exercise it (%v)", k, len(wos), timers)
		}
	}
	// The verification window's end: the sensors' verdict, either way.
	// Here it is always inconclusive: the fleet's readings are hours old
	// on the wall clock (setUpFleet), and silence in the window is no
	// evidence; TestCompressorFailure, whose simulation runs ahead of the
	// clock, sees a fix verified by the sensors.
	if timers["verified by sensor"]+timers["verification inconclusive"] == 0 {
		t.Errorf("no verification window came to an end in %d work orders' events (%v)", len(wos), timers)
	}
	if timers["hold-off avoided"] == 0 {
		t.Logf("no work order avoided at the end of its hold-off in this run (%v)", timers)
	}
	return timers, evs
}

// jetStream connects to NATS at url as name, for reading the streams; the
// connection closes when the test ends.
func jetStream(t *testing.T, url, name string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// readStream calls each for every message of a stream.
func readStream(ctx context.Context, js jetstream.JetStream, stream string, each func(m *jetstream.RawStreamMsg)) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return fmt.Errorf("stream %s seq %d: %w", stream, seq, err)
		}
		each(m)
	}
	return nil
}

// checkFleetStreams reads what crossed NATS: every incident event the
// oracle names in the incident stream exactly once and none it does not;
// every notable work-order event published once as a notice.
func (f *fleet) checkFleetStreams(wos []workOrder, evs map[string][]woEvent) {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js := jetStream(t, f.natsURL, "frostline-chaos")
	sent := map[string]int{}
	if err := readStream(ctx, js, wire.IncidentStream, func(m *jetstream.RawStreamMsg) {
		var ev incidentEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("incident message %d: %v", m.Sequence, err)
			return
		}
		if strings.HasPrefix(ev.Site, "chaos-") {
			sent[ev.msgID()]++
		}
	}); err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	bad := 0
	for _, e := range f.want.events {
		named[e.msgID()] = true
		if sent[e.msgID()] != 1 && bad < 20 {
			bad++
			t.Errorf("incident event %s (%s %s %s %s) is in the stream %d times, want once", e.msgID(), e.Event, e.Site, e.Asset, e.Rule, sent[e.msgID()])
		}
	}
	for id, n := range sent {
		if !named[id] {
			t.Errorf("incident event %s is in the stream (%d times) but the oracle never raised it", id, n)
		}
	}

	byNumber := map[int64]string{}
	for _, w := range wos {
		byNumber[w.Number] = w.ID
	}
	var notices map[string]map[int]int
	poll(t, 60*time.Second, "every notable work-order event relayed as a notice", func() string {
		notices = map[string]map[int]int{}
		if err := readStream(ctx, js, relay.Stream, func(m *jetstream.RawStreamMsg) {
			if !strings.HasPrefix(m.Subject, "frostline.events.workorder.chaos-") {
				return
			}
			number, version, ok := noticeOf(t, m)
			if !ok {
				return
			}
			id := byNumber[number]
			if notices[id] == nil {
				notices[id] = map[int]int{}
			}
			notices[id][version]++
		}); err != nil {
			return err.Error()
		}
		for id, es := range evs {
			for _, e := range es {
				if notable(e) && notices[id][e.Version] == 0 {
					return fmt.Sprintf("work order %s event %d (%s %s) not yet published", id, e.Version, e.Kind, e.Action)
				}
			}
		}
		return ""
	})
	if _, ok := notices[""]; ok {
		t.Errorf("notices for work orders the API does not list: %v", notices[""])
	}
	bad = 0
	for id, es := range evs {
		for _, e := range es {
			n := notices[id][e.Version]
			if (notable(e) && n != 1) || (!notable(e) && n != 0) {
				if bad++; bad <= 20 {
					t.Errorf("work order %s event %d (%s %s) published %d times as a notice", id, e.Version, e.Kind, e.Action, n)
				}
			}
		}
	}
}

// checkWebhooks checks the deliveries each subscription received: every
// notable event of every work order the subscription sees, under its
// delivery id <webhook>/<work order>-<version>, and nothing else. A
// delivery may come more than once (a replica killed between the
// receiver's answer and recording it sends it again, by design: delivery
// is at least once), always under the same id, which the receiver dedups
// on; the count of such repeats is returned with the deliveries.
func (f *fleet) checkWebhooks(wos []workOrder, evs map[string][]woEvent) (deliveries, repeats int) {
	t := f.t
	t.Helper()
	if bad := f.hooks.refused(); len(bad) > 0 {
		t.Errorf("the webhook receiver refused %d deliveries: %v", len(bad), bad[:min(len(bad), 10)])
	}
	for _, h := range f.webhooks {
		want := map[string]bool{}
		for _, w := range wos {
			if !h.sees(w.Site) {
				continue
			}
			for _, e := range evs[w.ID] {
				if notable(e) {
					want[fmt.Sprintf("%s/%s-%d", h.id, w.ID, e.Version)] = true
				}
			}
		}
		var got map[string]int
		poll(t, 90*time.Second, "every webhook delivery of "+h.path, func() string {
			got = f.hooks.received(h.path)
			missing := 0
			for id := range want {
				if got[id] == 0 {
					missing++
				}
			}
			if missing > 0 {
				return fmt.Sprintf("%d of %d deliveries not received", missing, len(want))
			}
			return ""
		})
		extra := 0
		for id, n := range got {
			deliveries++
			repeats += n - 1
			if !want[id] {
				if extra++; extra <= 10 {
					t.Errorf("webhook %s: delivery %s (%d times) is no notable event of a work order it sees", h.path, id, n)
				}
			}
		}
		if len(want) == 0 {
			t.Errorf("webhook %s: no deliveries expected; the drill made no work orders it sees", h.path)
		}
	}
	return deliveries, repeats
}

// checkFleetInflux checks the air-temperature rollups in InfluxDB, by
// InfluxQL, against the minutes the oracle's readings cover: one series
// per asset (a point written under other tags would double it), every
// point on a minute the asset reported in, and every such minute present.
// An edge SIGKILL loses no minute: the minutes open at the kill are kept
// with the edge's checkpoints and rebuilt on restart (docs/telemetry.md).
// It returns the points and the minutes missing (0, or the test failed).
func (f *fleet) checkFleetInflux() (points, lost int) {
	t := f.t
	t.Helper()
	span := fmt.Sprintf("time >= '%s' AND time < '%s'", f.start.Add(-time.Hour).Format(time.RFC3339),
		f.start.Add(f.span+time.Hour).Format(time.RFC3339))
	// The last periods close on the wall clock after the feed stops; they
	// are not waited for.
	closedBy := f.start.Add(f.span - 2*time.Minute)
	for _, s := range f.sites {
		var byKey map[string]map[time.Time]int
		var missing map[string][]string
		poll(t, 120*time.Second, "the rollups of "+s.id+" in InfluxDB", func() string {
			byKey, missing = map[string]map[time.Time]int{}, map[string][]string{}
			res, err := f.influx.Query(fmt.Sprintf(`SELECT "mean" FROM "rollups" WHERE "site" = '%s' AND "metric" = 'air_temp' AND %s GROUP BY *`, s.id, span))
			if err != nil {
				return err.Error()
			}
			for _, series := range res {
				key := s.id + "/" + series.Tags["asset"]
				if byKey[key] != nil {
					t.Errorf("%s: air_temp rollups under two tag sets (%v): doubled", key, series.Tags)
				}
				byKey[key] = map[time.Time]int{}
				for _, v := range series.Values {
					ms, _ := v[0].(float64)
					byKey[key][time.UnixMilli(int64(ms)).UTC()]++
				}
			}
			worst := ""
			for key, want := range f.want.minutes {
				if !strings.HasPrefix(key, s.id+"/") {
					continue
				}
				for m := range want {
					if m.Before(closedBy) && byKey[key][m] == 0 {
						missing[key] = append(missing[key], m.Format("01-02T15:04"))
					}
				}
				if len(missing[key]) > 0 {
					worst = fmt.Sprintf("%s: %d minutes missing (after %d edge kills): %v", key, len(missing[key]), f.edgeKills, first(missing[key], 10))
				}
			}
			return worst
		})
		for key, ms := range byKey {
			for m, n := range ms {
				points += n
				if n != 1 {
					t.Errorf("%s: %d rollups at %s", key, n, m.Format(time.RFC3339))
				}
				if !f.want.minutes[key][m] {
					t.Errorf("%s: a rollup at %s, a minute without readings", key, m.Format(time.RFC3339))
				}
			}
		}
		for _, ms := range missing {
			lost += len(ms)
		}
	}
	return points, lost
}

func first(s []string, n int) []string {
	sort.Strings(s)
	return s[:min(len(s), n)]
}
