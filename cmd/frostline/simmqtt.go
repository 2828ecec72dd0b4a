package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/rules"
)

// simPayload is the JSON a simulated sensor publishes: the documented
// single-metric form.
type simPayload struct {
	Value any    `json:"value"`
	TS    string `json:"ts"`
	Unit  string `json:"unit,omitempty"`
}

// simTopic fills a topic template such as sites/{site}/assets/{asset}/{metric}.
func simTopic(tmpl string, r *sim.Reading) string {
	return strings.NewReplacer("{site}", r.Site, "{asset}", r.Asset, "{metric}", r.Metric).Replace(tmpl)
}

// simMessage renders one reading as a topic and payload.
func simMessage(tmpl string, fahrenheit bool, r *sim.Reading) (string, []byte, error) {
	p := simPayload{Value: r.Value, TS: r.At.Format(time.RFC3339)}
	if r.Word != "" {
		p.Value = r.Word
	}
	if rules.LookupMetric(r.Metric).IsTemperature() {
		p.Unit = "C"
		if fahrenheit {
			p.Value, p.Unit = math.Round((r.Value*9/5+32)*10)/10, "F"
		}
	}
	b, err := json.Marshal(p)
	return simTopic(tmpl, r), b, err
}

// simMQTT publishes the simulation to a broker, one simulated minute every
// 60/speed seconds, until the days are done or ctx ends.
func simMQTT(ctx context.Context, s *sim.Sim, f *simFlags, stdout, stderr io.Writer) error {
	if f.speed <= 0 {
		return fmt.Errorf("--speed must be positive")
	}
	opts := paho.NewClientOptions().AddBroker(f.mqtt).SetClientID(f.clientID).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt %s: %w", f.mqtt, err)
		}
	case <-ctx.Done():
		return nil
	}
	defer c.Disconnect(250)
	fmt.Fprintf(stdout, "sim: publishing to %s at %gx real time\n", f.mqtt, f.speed)
	step := time.Duration(float64(time.Minute) / f.speed)
	tick := time.NewTicker(step)
	defer tick.Stop()
	steps := int(f.days * 24 * 60)
	var buf []sim.Reading
	for i := 0; steps == 0 || i < steps; i++ {
		buf = s.Step(buf[:0])
		for j := range buf {
			topic, payload, err := simMessage(f.topic, f.fahrenheit, &buf[j])
			if err != nil {
				return err
			}
			c.Publish(topic, 1, false, payload)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}
