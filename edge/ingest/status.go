package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A Status says that devices of a site went offline or came back: an MQTT
// last will (the broker publishes it when a device or the store's bridge
// drops off without saying goodbye) or a Sparkplug NDEATH or DDEATH. The
// rules then mark them offline at once instead of waiting out their
// silence threshold.
type Status struct {
	Site string
	// Assets are the devices the status is about; none means the whole
	// site (its gateway or bridge).
	Assets []string
	Online bool
	At     time.Time
}

// ErrStaleDeath counts a Sparkplug NDEATH whose bdSeq is not that of the
// node's current birth: the broker's will of an earlier session, sent
// after the node was already back.
var ErrStaleDeath = errors.New("ingest: sparkplug death of an earlier session")

// ParseStatusTemplate checks a last-will topic layout. It is a topic
// template whose {asset} is optional (without it, the status is the whole
// site's) and which has no {metric}.
func ParseStatusTemplate(pattern, site string) (Template, error) {
	t, err := parseLevels(pattern, site)
	if err == nil && t.metric >= 0 {
		err = fmt.Errorf("ingest: status topic %q: {metric} has no place in a status topic", pattern)
	}
	if err == nil {
		err = t.needSite()
	}
	return t, err
}

// SetStatusTopics makes the decoder read last-will messages on topics of
// the given templates (see ParseStatusTemplate).
func (d *Decoder) SetStatusTopics(templates []Template) { d.status = templates }

// WatchesStatus reports whether Status can match anything: the subscriber
// asks it before decoding only then.
func (d *Decoder) WatchesStatus() bool { return len(d.status) > 0 || d.spb != nil }

// Status reads a status message. ok is false for a topic that carries no
// status (the message is then decoded as readings). err says why a
// status topic's message was refused.
func (d *Decoder) Status(topic string, payload []byte) (st Status, ok bool, err error) {
	if d.spb != nil && strings.HasPrefix(topic, "spBv1.0/") {
		return d.sparkplugDeath(topic, payload)
	}
	for i := range d.status {
		site, asset, _, matched := d.status[i].match(topic)
		if !matched {
			continue
		}
		st.Site = site
		if asset != "" {
			st.Assets = []string{asset}
		}
		st.Online, st.At, err = d.will(payload)
		return st, true, err
	}
	return st, false, nil
}

// will reads a last-will payload: a bare word ("offline", "online",
// Tasmota's "Offline", Homie's "lost" and "ready", "0" and "1", "false"
// and "true") or a JSON object with one of "status", "state" or "online",
// and an optional "ts" (RFC 3339 or epoch seconds, as readings take).
func (d *Decoder) will(b []byte) (online bool, at time.Time, err error) {
	at = d.now()
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "{") {
		var p struct {
			Status json.RawMessage `json:"status"`
			State  json.RawMessage `json:"state"`
			Online json.RawMessage `json:"online"`
			TS     json.RawMessage `json:"ts"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return false, at, fmt.Errorf("%w: status: %v", ErrPayload, err)
		}
		if at, err = d.timestamp(p.TS); err != nil {
			return false, at, err
		}
		word := p.Status
		for _, w := range []json.RawMessage{p.State, p.Online} {
			if len(word) == 0 {
				word = w
			}
		}
		if len(word) == 0 {
			return false, at, fmt.Errorf("%w: status: want \"status\", \"state\" or \"online\"", ErrPayload)
		}
		s = strings.Trim(string(word), `"`)
	}
	switch strings.ToLower(s) {
	case "offline", "lost", "disconnected", "dead", "0", "false":
		return false, at, nil
	case "online", "ready", "connected", "alive", "1", "true":
		return true, at, nil
	}
	return false, at, fmt.Errorf("%w: status %q: want online or offline", ErrPayload, truncate(s, 40))
}

// sparkplugDeath reads an NDEATH or DDEATH. A DDEATH is its device; an
// NDEATH is every device the node declared a birth for, and the node
// itself when it carries metrics of its own. Both forget the aliases of
// what died: a rebirth declares them again.
func (d *Decoder) sparkplugDeath(topic string, data []byte) (Status, bool, error) {
	parts := strings.Split(topic, "/")
	if len(parts) < 4 || len(parts) > 5 || parts[1] == "" || parts[3] == "" {
		return Status{}, false, nil
	}
	site, kind, node := parts[1], parts[2], parts[3]
	if kind != "NDEATH" && kind != "DDEATH" {
		return Status{}, false, nil
	}
	ts, metrics, err := parseSparkplugPayload(data)
	st := Status{Site: site, At: d.now()}
	if ts > 0 {
		st.At = time.UnixMilli(int64(min(ts, maxMillis))).UTC()
	}
	if err != nil {
		return st, true, err
	}
	d.spb.mu.Lock()
	defer d.spb.mu.Unlock()
	prefix := site + "/" + node + "/"
	if kind == "DDEATH" {
		if len(parts) != 5 || parts[4] == "" {
			return st, true, fmt.Errorf("%w: DDEATH %q names no device", ErrPayload, topic)
		}
		st.Assets = []string{parts[4]}
		delete(d.spb.aliases, prefix+parts[4])
		return st, true, nil
	}
	if seq, has := bdSeq(metrics); has {
		if birth, known := d.spb.births[site+"/"+node]; known && birth != seq {
			return st, true, fmt.Errorf("%w: bdSeq %d, birth %d", ErrStaleDeath, seq, birth)
		}
	}
	delete(d.spb.births, site+"/"+node)
	for key, aliases := range d.spb.aliases {
		if asset, found := strings.CutPrefix(key, prefix); found {
			delete(d.spb.aliases, key)
			if asset == node && len(aliases) == 0 {
				continue // a birth with only bdSeq: the node is no asset
			}
			st.Assets = append(st.Assets, asset)
		}
	}
	slices.Sort(st.Assets)
	if len(st.Assets) == 0 {
		// A death before any birth this session: the node's own id is
		// the asset its metrics would have read as.
		st.Assets = []string{node}
	}
	return st, true, nil
}

// bdSeq returns the birth/death sequence number among a payload's metrics.
func bdSeq(ms []spbMetric) (uint64, bool) {
	for i := range ms {
		if ms[i].name == "bdSeq" && ms[i].hasNum {
			return uint64(ms[i].num), true
		}
	}
	return 0, false
}
