package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/rules"
)

// Decode errors. Every refused message is counted by its reason (Reason),
// never a crash.
var (
	ErrNoTemplate    = errors.New("ingest: topic matches no template")
	ErrPayload       = errors.New("ingest: malformed payload")
	ErrUnknownMetric = errors.New("ingest: unknown metric")
	ErrUnit          = errors.New("ingest: unknown unit")
	ErrTimestamp     = errors.New("ingest: bad timestamp")
)

// Reason names a decode error for a metric label.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNoTemplate):
		return "no_template"
	case errors.Is(err, ErrUnknownMetric):
		return "unknown_metric"
	case errors.Is(err, ErrUnit):
		return "unit"
	case errors.Is(err, ErrTimestamp):
		return "timestamp"
	case errors.Is(err, ErrHistorical):
		return "historical"
	case errors.Is(err, ErrStaleDeath):
		return "stale_death"
	default:
		return "payload"
	}
}

// Decoder turns an MQTT topic and payload into readings.
type Decoder struct {
	templates []Template
	now       func() time.Time
	spb       *sparkplug // nil: Sparkplug B topics are not decoded
	status    []Template // last-will topics (Status)
	noFast    bool       // tests: encoding/json only
}

// NewDecoder returns a Decoder trying templates in order. now gives the
// arrival time used for payloads without a timestamp.
func NewDecoder(templates []Template, now func() time.Time) *Decoder {
	return &Decoder{templates: templates, now: now}
}

// Filters are the subscription filters of the decoder's templates.
func (d *Decoder) Filters() []string {
	var fs []string
	for _, t := range [][]Template{d.templates, d.status} {
		for i := range t {
			if f := t[i].Filter(); !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
	}
	if d.spb != nil {
		fs = append(fs, SparkplugFilter)
	}
	return fs
}

// payload is the JSON shape of both payload kinds: {"value": v} for one
// metric and {"values": {...}} for several of one asset.
type payload struct {
	Value  json.RawMessage            `json:"value"`
	TS     json.RawMessage            `json:"ts"`
	Unit   string                     `json:"unit"`
	Values map[string]json.RawMessage `json:"values"`
}

// Decode appends the readings in one message to dst. A per-asset payload
// naming some unknown metrics still yields the known ones, together with
// an error wrapping ErrUnknownMetric: the caller uses the readings and
// counts the error.
func (d *Decoder) Decode(dst []rules.Reading, topic string, data []byte) ([]rules.Reading, error) {
	if d.spb != nil && strings.HasPrefix(topic, "spBv1.0/") {
		return d.decodeSparkplug(dst, topic, data)
	}
	var site, asset, metric string
	matched := false
	for i := range d.templates {
		if site, asset, metric, matched = d.templates[i].match(topic); matched {
			break
		}
	}
	if !matched {
		return dst, fmt.Errorf("%w: %q", ErrNoTemplate, topic)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return dst, fmt.Errorf("%w: empty", ErrPayload)
	}
	if data[0] != '{' {
		// A bare number or word: one metric, arrival time, SI unit.
		id, err := lookup(metric)
		if err != nil {
			return dst, err
		}
		v, err := parseValue(id, data)
		if err != nil {
			return dst, err
		}
		return append(dst, rules.Reading{Site: site, Asset: asset, Metric: id, At: d.now(), Value: v}), nil
	}
	if !d.noFast {
		if out, ok := d.decodeFast(dst, site, asset, metric, data); ok {
			return out, nil
		}
	}
	var p payload
	if err := json.Unmarshal(data, &p); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	at, err := d.timestamp(p.TS)
	if err != nil {
		return dst, err
	}
	fahrenheit, err := isFahrenheit(p.Unit)
	if err != nil {
		return dst, err
	}
	one := func(dst []rules.Reading, name string, raw json.RawMessage) ([]rules.Reading, error) {
		id, err := lookup(name)
		if err != nil {
			return dst, err
		}
		v, err := parseValue(id, raw)
		if err != nil {
			return dst, err
		}
		if fahrenheit && id.IsTemperature() {
			v = (v - 32) * 5 / 9
		}
		return append(dst, rules.Reading{Site: site, Asset: asset, Metric: id, At: at, Value: v}), nil
	}
	if metric != "" {
		if p.Value == nil {
			return dst, fmt.Errorf("%w: no value", ErrPayload)
		}
		return one(dst, metric, p.Value)
	}
	if len(p.Values) == 0 {
		return dst, fmt.Errorf("%w: no values", ErrPayload)
	}
	// Map order is random; readings of one message go out in name order so
	// that a replay is deterministic.
	names := make([]string, 0, len(p.Values))
	for name := range p.Values {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		if dst, err = one(dst, name, p.Values[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return dst, errors.Join(errs...)
}

func lookup(name string) (rules.MetricID, error) {
	id := rules.LookupMetric(name)
	if id == rules.NoMetric {
		return id, fmt.Errorf("%w %q", ErrUnknownMetric, name)
	}
	return id, nil
}

// parseValue reads a number, a JSON number, bool or string, or a bare word
// ("cool", "on") of the metric's vocabulary.
func parseValue(id rules.MetricID, raw []byte) (float64, error) {
	s := string(bytes.TrimSpace(raw))
	switch s {
	case "true":
		s = "1"
	case "false":
		s = "0"
	}
	if len(s) >= 2 && s[0] == '"' {
		var str string
		if err := json.Unmarshal([]byte(s), &str); err != nil {
			return 0, fmt.Errorf("%w: value: %v", ErrPayload, err)
		}
		s = strings.TrimSpace(str)
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%w: value %q is not finite", ErrPayload, s)
		}
		return v, nil
	}
	if v, ok := rules.WordValue(id, strings.ToLower(s)); ok {
		return v, nil
	}
	return 0, fmt.Errorf("%w: value %.40q is not a number or a word of %s", ErrPayload, s, id)
}

// timestamp reads ts: RFC 3339 text, or epoch milliseconds. A number below
// 1e11 is taken as epoch seconds (1e11 ms is 1973, 1e11 s is year 5138), as
// many controllers send seconds. No ts means arrival time.
func (d *Decoder) timestamp(raw json.RawMessage) (time.Time, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return d.now(), nil
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return time.Time{}, fmt.Errorf("%w: %v", ErrTimestamp, err)
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %v", ErrTimestamp, err)
		}
		return t, nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n > 1e15 || math.IsNaN(n) {
		return time.Time{}, fmt.Errorf("%w: %.40q", ErrTimestamp, s)
	}
	if n < 1e11 {
		n *= 1000
	}
	return time.UnixMilli(int64(n)).UTC(), nil
}

func isFahrenheit(unit string) (bool, error) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(unit)), "°") {
	case "", "C":
		return false, nil
	case "F":
		return true, nil
	}
	return false, fmt.Errorf("%w %.20q (want C or F)", ErrUnit, unit)
}
