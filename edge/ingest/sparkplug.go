package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/frostline/frostline/rules"
)

// Sparkplug B (Eclipse Tahu) support: topics
// spBv1.0/{group}/{type}/{node}[/{device}] carry protobuf payloads. The
// group is the site and the device (or, for node metrics, the node) is
// the asset; a metric's name is its last path segment ("Case 3/air_temp"
// reads air_temp). BIRTH messages declare the aliases later DATA messages
// use. Historical metrics (store-and-forward replays by the node) are
// counted and left out: a reading from the past must not raise a live
// incident.

// maxMillis caps Sparkplug timestamps (ms since the epoch) to year 2255.
const maxMillis uint64 = 1 << 43

// SparkplugFilter is the subscription filter for Sparkplug B.
const SparkplugFilter = "spBv1.0/#"

// ErrHistorical counts Sparkplug metrics flagged is_historical.
var ErrHistorical = errors.New("ingest: historical sparkplug metric")

// sparkplug holds the aliases BIRTH messages declared, per node or device.
type sparkplug struct {
	// mu guards aliases: paho calls the decoder from its router goroutine,
	// tests and fuzzing from others.
	mu      sync.Mutex
	aliases map[string]map[uint64]string
	// births are the bdSeq of each node's current NBIRTH, by site/node:
	// an NDEATH with another is the will of an earlier session.
	births map[string]uint64
}

// EnableSparkplug makes the decoder accept Sparkplug B topics.
func (d *Decoder) EnableSparkplug() {
	d.spb = &sparkplug{aliases: map[string]map[uint64]string{}, births: map[string]uint64{}}
}

// spbMetric is one decoded Sparkplug metric.
type spbMetric struct {
	name       string
	alias      uint64
	hasAlias   bool
	ts         uint64
	datatype   uint64
	historical bool
	null       bool
	num        float64
	hasNum     bool
	str        string
	hasStr     bool
}

func (d *Decoder) decodeSparkplug(dst []rules.Reading, topic string, data []byte) ([]rules.Reading, error) {
	parts := strings.Split(topic, "/")
	if len(parts) < 4 || len(parts) > 5 || parts[1] == "" || parts[3] == "" {
		return dst, fmt.Errorf("%w: %q", ErrNoTemplate, topic)
	}
	site, kind, asset := parts[1], parts[2], parts[3]
	if len(parts) == 5 {
		asset = parts[4]
	}
	key := site + "/" + parts[3] + "/" + asset
	switch kind {
	case "NBIRTH", "DBIRTH", "NDATA", "DDATA":
	default:
		// DEATH (see Status), STATE and commands carry no readings.
		return dst, nil
	}
	ts, metrics, err := parseSparkplugPayload(data)
	if err != nil {
		return dst, err
	}
	d.spb.mu.Lock()
	defer d.spb.mu.Unlock()
	aliases := d.spb.aliases[key]
	if strings.HasSuffix(kind, "BIRTH") || aliases == nil {
		// A BIRTH declares the node's or device's aliases afresh.
		aliases = map[uint64]string{}
		d.spb.aliases[key] = aliases
	}
	var errs []error
	for i := range metrics {
		m := &metrics[i]
		if m.hasAlias && m.name != "" {
			aliases[m.alias] = m.name
		}
		name := m.name
		if name == "" && m.hasAlias {
			name = aliases[m.alias]
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("%w: alias %d not declared by a BIRTH", ErrUnknownMetric, m.alias))
			continue
		}
		if m.null || (!m.hasNum && !m.hasStr) {
			continue
		}
		if m.historical {
			errs = append(errs, ErrHistorical)
			continue
		}
		if name == "bdSeq" {
			// The birth/death sequence: an NDEATH must carry this
			// birth's to be believed (sparkplugDeath).
			if kind == "NBIRTH" {
				d.spb.births[site+"/"+parts[3]] = uint64(m.num)
			}
			continue
		}
		if strings.HasPrefix(name, "Node Control/") {
			continue // the host's commands to the node: no reading
		}
		if k := strings.LastIndexByte(name, '/'); k >= 0 {
			name = name[k+1:]
		}
		id, err := lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v := m.num
		if m.hasStr {
			if v, err = parseValue(id, []byte(m.str)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		at := d.now()
		switch {
		case m.ts > 0:
			at = time.UnixMilli(int64(min(m.ts, maxMillis))).UTC()
		case ts > 0:
			at = time.UnixMilli(int64(min(ts, maxMillis))).UTC()
		}
		dst = append(dst, rules.Reading{Site: site, Asset: asset, Metric: id, At: at, Value: v})
	}
	return dst, errors.Join(errs...)
}

// parseSparkplugPayload reads the Payload message: its timestamp and
// metrics; other fields are skipped.
func parseSparkplugPayload(b []byte) (uint64, []spbMetric, error) {
	var ts uint64
	var ms []spbMetric
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, nil, fmt.Errorf("%w: sparkplug: %v", ErrPayload, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			ts, n = protowire.ConsumeVarint(b)
		case num == 2 && typ == protowire.BytesType:
			var mb []byte
			mb, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				m, err := parseSparkplugMetric(mb)
				if err != nil {
					return 0, nil, err
				}
				ms = append(ms, m)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return 0, nil, fmt.Errorf("%w: sparkplug: %v", ErrPayload, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return ts, ms, nil
}

func parseSparkplugMetric(b []byte) (spbMetric, error) {
	var m spbMetric
	var intVal uint64
	hasInt := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m, fmt.Errorf("%w: sparkplug metric: %v", ErrPayload, protowire.ParseError(n))
		}
		b = b[n:]
		var v uint64
		switch {
		case typ == protowire.VarintType && (num <= 7 || num == 10 || num == 11 || num == 14):
			v, n = protowire.ConsumeVarint(b)
			switch num {
			case 2:
				m.alias, m.hasAlias = v, true
			case 3:
				m.ts = v
			case 4:
				m.datatype = v
			case 5:
				m.historical = v != 0
			case 7:
				m.null = v != 0
			case 10, 11:
				intVal, hasInt = v, true
			case 14:
				m.num, m.hasNum = 0, true
				if v != 0 {
					m.num = 1
				}
			}
		case num == 1 && typ == protowire.BytesType:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			m.name = string(s)
		case num == 15 && typ == protowire.BytesType:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			m.str, m.hasStr = string(s), true
		case num == 12 && typ == protowire.Fixed32Type:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			m.num, m.hasNum = float64(math.Float32frombits(f)), true
		case num == 13 && typ == protowire.Fixed64Type:
			var f uint64
			f, n = protowire.ConsumeFixed64(b)
			m.num, m.hasNum = math.Float64frombits(f), true
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return m, fmt.Errorf("%w: sparkplug metric: %v", ErrPayload, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if hasInt {
		// Signed types travel as two's complement in the unsigned field.
		switch m.datatype {
		case 1:
			m.num = float64(int8(intVal))
		case 2:
			m.num = float64(int16(intVal))
		case 3:
			m.num = float64(int32(intVal))
		case 4:
			m.num = float64(int64(intVal))
		default:
			m.num = float64(intVal)
		}
		m.hasNum = true
	}
	if m.hasNum && (math.IsNaN(m.num) || math.IsInf(m.num, 0)) {
		return m, fmt.Errorf("%w: sparkplug metric %q: value not finite", ErrPayload, m.name)
	}
	return m, nil
}
