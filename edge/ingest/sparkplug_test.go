package ingest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/rules"
)

var (
	spbMetricBytes = edgetest.SparkplugMetric
	spbPayload     = edgetest.SparkplugPayload
)

func TestSparkplug(t *testing.T) {
	d := testDecoder(t)
	d.EnableSparkplug()
	ms := uint64(1783332000000)
	at := time.UnixMilli(int64(ms)).UTC()
	air, mode := rules.LookupMetric("air_temp"), rules.LookupMetric("mode")
	steps := []struct {
		name    string
		topic   string
		payload []byte
		want    []rules.Reading
		err     error
	}{
		{"birth declares aliases", "spBv1.0/s1/DBIRTH/node1/wic1", spbPayload(ms,
			spbMetricBytes(1, "Cooler/air_temp", 2, uint64(7), 4, uint64(10), 13, 3.5),
			spbMetricBytes(1, "mode", 2, uint64(8), 4, uint64(12), 15, "cool")),
			[]rules.Reading{{Site: "s1", Asset: "wic1", Metric: air, At: at, Value: 3.5}, {Site: "s1", Asset: "wic1", Metric: mode, At: at, Value: 1}}, nil},
		{"data by alias, signed int", "spBv1.0/s1/DDATA/node1/wic1", spbPayload(ms,
			spbMetricBytes(2, uint64(7), 4, uint64(3), 10, uint64(uint32(0xFFFFFFFE)))),
			[]rules.Reading{{Site: "s1", Asset: "wic1", Metric: air, At: at, Value: -2}}, nil},
		{"metric timestamp wins", "spBv1.0/s1/DDATA/node1/wic1", spbPayload(ms,
			spbMetricBytes(2, uint64(7), 3, ms+60000, 13, 4.0)),
			[]rules.Reading{{Site: "s1", Asset: "wic1", Metric: air, At: at.Add(time.Minute), Value: 4}}, nil},
		{"historical left out", "spBv1.0/s1/DDATA/node1/wic1", spbPayload(ms,
			spbMetricBytes(2, uint64(7), 5, true, 13, 9.0)), nil, ErrHistorical},
		{"undeclared alias", "spBv1.0/s1/DDATA/node1/wic1", spbPayload(ms,
			spbMetricBytes(2, uint64(99), 13, 9.0)), nil, ErrUnknownMetric},
		{"node metric", "spBv1.0/s1/NDATA/rack1", spbPayload(0,
			spbMetricBytes(1, "compressor_on", 4, uint64(11), 14, true)),
			[]rules.Reading{{Site: "s1", Asset: "rack1", Metric: rules.LookupMetric("compressor_on"), At: arrival, Value: 1}}, nil},
		{"death carries nothing", "spBv1.0/s1/DDEATH/node1/wic1", spbPayload(ms), nil, nil},
		{"malformed", "spBv1.0/s1/DDATA/node1/wic1", []byte{0x12, 0x05, 0x01}, nil, ErrPayload},
		{"short topic", "spBv1.0/s1/DDATA", nil, nil, ErrNoTemplate},
	}
	for _, st := range steps {
		got, err := d.Decode(nil, st.topic, st.payload)
		if !errors.Is(err, st.err) || (err != nil && st.err == nil) {
			t.Errorf("%s: err = %v, want %v", st.name, err, st.err)
		}
		if len(got) != len(st.want) {
			t.Errorf("%s: got %+v, want %+v", st.name, got, st.want)
			continue
		}
		for i := range got {
			if got[i] != st.want[i] {
				t.Errorf("%s: reading %d = %+v, want %+v", st.name, i, got[i], st.want[i])
			}
		}
	}
}

func FuzzSparkplug(f *testing.F) {
	f.Add("spBv1.0/s1/DBIRTH/n/d", spbPayload(1783332000000, spbMetricBytes(1, "air_temp", 2, uint64(1), 13, 3.5)))
	f.Add("spBv1.0/s1/DDATA/n/d", spbPayload(0, spbMetricBytes(2, uint64(1), 4, uint64(1), 10, uint64(200))))
	d := testDecoder(f)
	d.EnableSparkplug()
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		got, _ := d.Decode(nil, topic, payload)
		for _, r := range got {
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Metric == rules.NoMetric {
				t.Fatalf("bad reading %+v", r)
			}
		}
	})
}
