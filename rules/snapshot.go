package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// snapshotVersion is bumped when the snapshot layout changes incompatibly;
// an engine refuses a snapshot of another version rather than misread it.
const snapshotVersion = 1

type snapshot struct {
	Version   int                 `json:"version"`
	Watermark int64               `json:"watermark"`
	NextScan  int64               `json:"next_scan"`
	Sites     map[string]siteSnap `json:"sites"`
}

type siteSnap struct {
	LastSeen int64                `json:"last_seen"`
	Resumed  int64                `json:"resumed,omitempty"`
	Rules    map[string]instSnap  `json:"rules,omitempty"` // site-scope rules
	Assets   map[string]assetSnap `json:"assets"`
}

type assetSnap struct {
	LastSeen int64               `json:"last_seen"`
	Held     map[string]held     `json:"held,omitempty"`
	Rules    map[string]instSnap `json:"rules,omitempty"`
}

type instSnap struct {
	Fingerprint string          `json:"fp"`
	Kind        string          `json:"kind"`
	Episode     episode         `json:"episode"`
	State       json.RawMessage `json:"state"`
}

// Snapshot encodes the engine's state: held values, episodes and every
// rule instance's state. The encoding is deterministic (the same state
// gives the same bytes) and versioned.
func (e *Engine) Snapshot() ([]byte, error) { return e.AppendSnapshot(nil) }

// AppendSnapshot appends Snapshot's encoding to dst. It writes the JSON of
// the snapshot type above straight into dst, site by site and asset by
// asset in the engine's order, rather than building that tree of maps and
// marshalling it: for a large store the tree was several times the size
// of the result, all of it garbage a few seconds later.
func (e *Engine) AppendSnapshot(dst []byte) ([]byte, error) {
	w := &appender{b: dst}
	if err := e.writeSnapshot(w); err != nil {
		return dst, err
	}
	return w.b, nil
}

// WriteSnapshot writes Snapshot's encoding to out a piece at a time, so
// that the whole of it is never in memory at once (the edge agent
// compresses it on the way to its outbox).
func (e *Engine) WriteSnapshot(out io.Writer) error {
	w := &appender{out: out}
	if err := e.writeSnapshot(w); err != nil {
		return err
	}
	return w.flush()
}

// snapshotChunk is how much of a snapshot WriteSnapshot holds before
// writing it out.
const snapshotChunk = 32 << 10

func (e *Engine) writeSnapshot(w *appender) error {
	enc := json.NewEncoder(w)
	// value appends v's JSON (without the Encoder's newline).
	value := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		w.b = w.b[:len(w.b)-1]
		return nil
	}
	inst := func(in *instance) error {
		w.b = append(w.b, `{"fp":`...)
		w.str(in.rule.fingerprint)
		w.b = append(w.b, `,"kind":`...)
		w.str(in.rule.kind)
		w.b = append(w.b, `,"episode":`...)
		ep := in.ep
		if ep == nil {
			ep = &closedEpisode
		}
		if err := value(ep); err != nil {
			return err
		}
		w.b = append(w.b, `,"state":`...)
		if err := value(in.st); err != nil {
			return err
		}
		w.b = append(w.b, '}')
		return nil
	}
	fail := func(err error) error { return fmt.Errorf("rules: snapshot: %w", err) }
	w.b = append(w.b, `{"version":`...)
	w.b = strconv.AppendInt(w.b, snapshotVersion, 10)
	w.b = append(w.b, `,"watermark":`...)
	w.b = strconv.AppendInt(w.b, e.wm, 10)
	w.b = append(w.b, `,"next_scan":`...)
	w.b = strconv.AppendInt(w.b, e.nextScan, 10)
	w.b = append(w.b, `,"sites":{`...)
	for i, ss := range e.sites {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(ss.site.ID)
		w.b = append(w.b, `:{"last_seen":`...)
		w.b = strconv.AppendInt(w.b, ss.lastSeen, 10)
		if ss.resumed != 0 {
			w.b = append(w.b, `,"resumed":`...)
			w.b = strconv.AppendInt(w.b, ss.resumed, 10)
		}
		if len(ss.scoped) > 0 {
			w.b = append(w.b, `,"rules":{`...)
			for j, in := range ss.scoped {
				if j > 0 {
					w.b = append(w.b, ',')
				}
				w.str(in.rule.id)
				w.b = append(w.b, ':')
				if err := inst(in); err != nil {
					return fail(fmt.Errorf("%s: %w", in.rule.id, err))
				}
			}
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, `,"assets":{`...)
		for j, a := range ss.assets {
			if j > 0 {
				w.b = append(w.b, ',')
			}
			w.str(a.asset.ID)
			w.b = append(w.b, `:{"last_seen":`...)
			w.b = strconv.AppendInt(w.b, a.lastSeen, 10)
			w.b = append(w.b, `,"held":{`...)
			n := 0
			for m := range numMetrics {
				if h := a.heldValue(MetricID(m)); h == nil || (!h.Seen && h.Newest == 0) {
					continue
				}
				if n > 0 {
					w.b = append(w.b, ',')
				}
				n++
				w.str(MetricID(m).String())
				w.b = append(w.b, ':')
				if err := value(a.heldValue(MetricID(m))); err != nil {
					return fail(err)
				}
			}
			w.b = append(w.b, `},"rules":{`...)
			for k := range a.insts {
				in := &a.insts[k]
				if !a.live {
					break // no state yet: nothing to keep
				}
				if k > 0 {
					w.b = append(w.b, ',')
				}
				w.str(in.rule.id)
				w.b = append(w.b, ':')
				if err := inst(in); err != nil {
					return fail(fmt.Errorf("%s: %w", in.rule.id, err))
				}
			}
			w.b = append(w.b, "}}"...)
			if w.out != nil && len(w.b) >= snapshotChunk {
				if err := w.flush(); err != nil {
					return fail(err)
				}
			}
		}
		w.b = append(w.b, "}}"...)
	}
	w.b = append(w.b, "}}"...)
	return nil
}

// closedEpisode is how a snapshot writes an instance with no episode open.
var closedEpisode episode

// appender is an io.Writer appending to a slice, which flush empties
// into out, if any.
type appender struct {
	b   []byte
	out io.Writer
}

func (w *appender) flush() error {
	if w.out == nil || len(w.b) == 0 {
		return nil
	}
	_, err := w.out.Write(w.b)
	w.b = w.b[:0]
	return err
}

func (w *appender) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// str appends s as a JSON string. Ids are plain ASCII and go as they are;
// anything else is left to encoding/json.
func (w *appender) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			w.b = append(w.b, q...)
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

// Restore loads a snapshot taken by Snapshot, possibly from an engine with
// other rules or sites (a hot reload). An instance whose rule is unchanged
// continues exactly where it was. One whose rule changed keeps its open
// episode, so that the incident still clears, but restarts its evaluation.
// An open episode whose rule or asset is gone is cleared: the returned
// events (appended to dst) say so, so that no incident stays open forever.
func (e *Engine) Restore(dst []Event, data []byte) ([]Event, error) {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return dst, fmt.Errorf("rules: restore: %w", err)
	}
	if s.Version != snapshotVersion {
		return dst, fmt.Errorf("rules: restore: snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	if s.Watermark > e.wm {
		e.wm, e.nextScan = s.Watermark, s.NextScan
	}
	e.out = dst
	defer func() { e.out = nil }()
	defer e.noteFits()
	for _, siteID := range sortedKeys(s.Sites) {
		sn := s.Sites[siteID]
		ss := e.siteByID[siteID]
		if ss == nil {
			for _, assetID := range sortedKeys(sn.Assets) {
				e.orphans(siteID, assetID, sn.Assets[assetID].Rules)
			}
			e.orphans(siteID, SiteAsset, sn.Rules)
			continue
		}
		ss.lastSeen = max(ss.lastSeen, sn.LastSeen)
		ss.resumed = max(ss.resumed, sn.Resumed)
		byID := map[string]*instance{}
		for _, in := range ss.scoped {
			byID[in.rule.id] = in
		}
		left, err := restoreInstances(byID, sn.Rules)
		if err != nil {
			return e.out, err
		}
		e.orphans(siteID, SiteAsset, left)
		for _, assetID := range sortedKeys(sn.Assets) {
			an := sn.Assets[assetID]
			a := e.assets[assetKey{siteID, assetID}]
			if a == nil {
				e.orphans(siteID, assetID, an.Rules)
				continue
			}
			a.lastSeen = max(a.lastSeen, an.LastSeen)
			for name, h := range an.Held {
				if m := LookupMetric(name); m != NoMetric {
					*a.slot(m) = h
				}
			}
			if len(an.Rules) > 0 {
				a.materialize()
			}
			byID := map[string]*instance{}
			for i := range a.insts {
				byID[a.insts[i].rule.id] = &a.insts[i]
			}
			left, err := restoreInstances(byID, an.Rules)
			if err != nil {
				return e.out, err
			}
			e.orphans(siteID, assetID, left)
		}
	}
	return e.out, nil
}

// restoreInstances loads saved instance states into the live instances and
// returns the saved ones that have no live instance any more.
func restoreInstances(live map[string]*instance, saved map[string]instSnap) (map[string]instSnap, error) {
	left := map[string]instSnap{}
	for id, is := range saved {
		in := live[id]
		if in == nil || in.rule.kind != is.Kind {
			left[id] = is
			continue
		}
		in.ep = nil
		if is.Episode.Open {
			ep := is.Episode
			in.ep = &ep
		}
		if is.Fingerprint != in.rule.fingerprint {
			continue
		}
		if err := json.Unmarshal(is.State, in.st); err != nil {
			return nil, fmt.Errorf("rules: restore %s: %w", id, err)
		}
	}
	return left, nil
}

// orphans clears the open episodes of rules that no longer run.
func (e *Engine) orphans(site, asset string, saved map[string]instSnap) {
	for _, id := range sortedKeys(saved) {
		ep := saved[id].Episode
		if !ep.Open {
			continue
		}
		e.stats.Cleared++
		e.out = append(e.out, Event{
			Event: Cleared, Incident: ep.ID, Seq: ep.Seq + 1, Site: site, Asset: asset, AssetClass: ep.Class,
			Rule: id, Problem: ep.Problem, Priority: ep.Priority, Trade: ep.Trade,
			Title:   "rule no longer applies",
			Summary: "cleared: the rule was removed or no longer applies to this asset",
			At:      time.Unix(0, e.wm).UTC(), Started: time.Unix(0, ep.Start).UTC(),
			Value: round3(ep.Last), Peak: round3(ep.Peak), OutOfRange: float64(ep.OutOfRange / int64(time.Second)),
			Occurrences: ep.Occurrences,
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
