package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/app"
	"github.com/frostline/frostline/cloud/notify/mailsink"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/agent"
	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
)

// demodata holds the demo's stores, and two recorded days of one store of
// the labelled sample for `frostline demo --recorded`.
//
//go:embed demodata
var demodata embed.FS

type demoFlags struct {
	http, mqtt, data string
	speed            float64
	sim, recorded    bool
	updates          bool
	sites            multiFlag
	preroll          time.Duration
	grafana          string
}

// panelURL is the work orders' Grafana link: the asset dashboard that
// deploy/grafana provisions (uid frostline-asset), over the incident.
func (f *demoFlags) panelURL() string {
	if f.grafana == "" {
		return ""
	}
	return strings.TrimRight(f.grafana, "/") + "/d/frostline-asset?var-site={site}&var-asset={asset}&from={from}&to={to}"
}

const demoUsage = `usage: frostline demo [--http ADDR] [--mqtt ADDR] [--data DIR] [--speed N] [--sim=false] [--site FILE]... [--grafana URL]
       frostline demo --recorded
`

func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, error) {
	f := &demoFlags{}
	fl := flag.NewFlagSet("frostline demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&f.http, "http", "127.0.0.1:8080", "address of the web pages and the API")
	fl.StringVar(&f.mqtt, "mqtt", "127.0.0.1:1883", "address of the embedded MQTT broker")
	fl.StringVar(&f.data, "data", "frostline-demo", "data folder (starting again with the same folder resumes)")
	fl.Float64Var(&f.speed, "speed", 60, "simulated minutes per real minute")
	fl.BoolVar(&f.sim, "sim", true, "run the simulator (false: readings come from outside, e.g. mosquitto_pub)")
	fl.Var(&f.sites, "site", "site file (repeatable; replaces the demo stores)")
	fl.DurationVar(&f.preroll, "preroll", 13*time.Hour, "simulated history published at start, so that the rules know each asset's normal")
	fl.StringVar(&f.grafana, "grafana", "http://localhost:3000", "Grafana the work orders link to (deploy/grafana's dashboards); empty for no link")
	fl.BoolVar(&f.recorded, "recorded", false, "instead: replay two recorded days of a store through the rules and print the incidents")
	fl.BoolVar(&f.updates, "updates", false, "with --recorded: also print incident progress updates")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 || f.speed <= 0 {
		return nil, errors.New("bad arguments")
	}
	return f, nil
}

// runDemo runs the whole loop in one process: an MQTT broker, NATS with
// JetStream, the cloud service on SQLite, one edge agent per store, and
// the simulator driving the stores' equipment into faults.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDemoFlags(args, stderr)
	if err != nil {
		fmt.Fprint(stderr, demoUsage)
		return exitError(2)
	}
	if f.recorded {
		return runRecordedDemo(ctx, f.updates, stdout)
	}
	d, err := newDemo(f, stdout)
	if err != nil {
		return err
	}
	defer d.close()
	return d.run(ctx)
}

// demo is one running demo and everything it started.
type demo struct {
	f       *demoFlags
	out     io.Writer
	log     *slog.Logger
	logFile *os.File
	sites   []*rules.Site
	files   []string // the site files, as written in the data folder
	token   string
	broker  *demoBroker
	nats    *demoNATS
	cloud   *app.App
	// mail is the demo's SMTP server: the cloud's notifications go there
	// and are readable at /demo/mail.
	mail   *mailsink.Sink
	agents []*agent.Agent
	// regs are the agents' metrics, one registry per agent.
	regs  []*prometheus.Registry
	clock *simClock
}

func newDemo(f *demoFlags, out io.Writer) (d *demo, err error) {
	d = &demo{f: f, out: out, clock: &simClock{speed: f.speed}}
	opened := d // the error returns below set d to nil before this runs
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(f.data, "sites"), 0o750); err != nil {
		return nil, err
	}
	if d.logFile, err = os.OpenFile(filepath.Join(f.data, "frostline.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640); err != nil {
		return nil, err
	}
	d.log = slog.New(slog.NewJSONHandler(d.logFile, nil))
	if err := d.writeSites(); err != nil {
		return nil, err
	}
	if d.token, err = demoToken(f.data); err != nil {
		return nil, err
	}
	ids := make([]string, len(d.sites))
	for i, s := range d.sites {
		ids[i] = s.ID
	}
	if d.broker, err = startBroker(f.mqtt, d.log, ids); err != nil {
		return nil, err
	}
	if d.nats, err = startNATS(filepath.Join(f.data, "nats")); err != nil {
		return nil, err
	}
	cfg := app.DefaultConfig()
	cfg.Listen = f.http
	cfg.Database.Path = filepath.Join(f.data, "cloud.db")
	cfg.NATS.URL = d.nats.url
	cfg.Sites = d.files
	cfg.AdminToken = d.token
	cfg.SweepEvery = 5 * time.Second
	// The demo's vendor register (demodata/vendors.yaml): one vendor per
	// trade, and a refrigeration contractor ranked first whose insurance
	// has expired, which dispatch passes over.
	vendors, err := demodata.ReadFile("demodata/vendors.yaml")
	if err != nil {
		return nil, err
	}
	cfg.Vendors = []string{filepath.Join(f.data, "vendors.yaml")}
	if err := os.WriteFile(cfg.Vendors[0], vendors, 0o640); err != nil {
		return nil, err
	}
	// Verification windows run on the cloud's clock, the simulation at
	// --speed: scale them so that a repaired cooler proves itself in the
	// demo's two hours of simulated time, not two real ones.
	if f.speed > 1 {
		for class, w := range cfg.Triage.VerifyWindow {
			cfg.Triage.VerifyWindow[class] = workorder.Duration(max(time.Duration(float64(w)/f.speed), 10*time.Second))
		}
	}
	cfg.Triage.Panel = f.panelURL()
	cfg.ShutdownTimeout = 5 * time.Second
	if err := d.configureMail(&cfg); err != nil {
		return nil, err
	}
	if d.cloud, err = app.New(context.Background(), cfg, d.log.With("component", "cloud")); err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	d.cloud.Handle("GET /demo/mail", d.mail.Handler())
	for i, s := range d.sites {
		c := agent.DefaultConfig()
		c.Gateway = "gateway-" + s.ID
		c.Sites = []string{d.files[i]}
		c.MQTT.Broker = "tcp://" + d.broker.addr
		c.MQTT.ClientID = "frostline-edge-" + s.ID
		c.MQTT.Username = "gw-" + s.ID
		c.MQTT.PasswordFile = filepath.Join(f.data, "edge", s.ID, "mqtt-password")
		if err := os.MkdirAll(filepath.Dir(c.MQTT.PasswordFile), 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(c.MQTT.PasswordFile, []byte(d.broker.passwords[c.MQTT.Username]+"\n"), 0o600); err != nil {
			return nil, err
		}
		c.MQTT.Topics = []agent.TopicConfig{
			{Template: "sites/" + s.ID + "/assets/{asset}/{metric}", Site: s.ID},
			{Template: "sites/" + s.ID + "/assets/{asset}", Site: s.ID},
		}
		// The simulation runs --speed times faster than the wall clock,
		// so its readings are ahead of it on purpose.
		c.Ingest.MaxFutureSkew = 0
		c.NATS.URL = d.nats.url
		c.NATS.EnsureStreams = true
		c.NATS.MaxBackoff = 5 * time.Second
		c.Outbox.Path = filepath.Join(f.data, "edge", s.ID, "outbox.db")
		c.HTTP.Listen = ""
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("edge %s: %w", s.ID, err)
		}
		reg := prometheus.NewRegistry()
		d.regs = append(d.regs, reg)
		d.agents = append(d.agents, agent.New(&c, d.log.With("component", "edge", "site", s.ID),
			agent.Options{Stamp: d.clock.now, Registry: reg}))
	}
	return d, nil
}

// configureMail starts the demo's mail room, an SMTP server in the
// process, and points the cloud's notifications at it, with the demo's
// people (demodata/people.yaml).
func (d *demo) configureMail(cfg *app.Config) error {
	var err error
	if d.mail, err = mailsink.Start("127.0.0.1:0", mailsink.Options{}); err != nil {
		return err
	}
	people, err := demodata.ReadFile("demodata/people.yaml")
	if err != nil {
		return err
	}
	cfg.People = []string{filepath.Join(d.f.data, "people.yaml")}
	if err := os.WriteFile(cfg.People[0], people, 0o640); err != nil {
		return err
	}
	host := d.f.http
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	n := &cfg.Notifications
	n.BaseURL = "http://" + host
	n.LinkSecret = d.token // the demo's own secret, kept in its data folder
	n.Email.Host, n.Email.Port, n.Email.TLS, n.Email.From = "127.0.0.1", d.mail.Port(), "none", "Frostline demo <frostline@demo.example>"
	n.Sender.Poll = 200 * time.Millisecond
	return nil
}

// writeSites puts the demo's site files in the data folder, where the
// cloud and the agents read them (and an operator can edit them).
func (d *demo) writeSites() error {
	var srcs []struct {
		name string
		data []byte
	}
	if len(d.f.sites) > 0 {
		for _, p := range d.f.sites {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			srcs = append(srcs, struct {
				name string
				data []byte
			}{filepath.Base(p), b})
		}
	} else {
		for _, name := range []string{"store-101.yaml", "store-102.yaml"} {
			b, err := demodata.ReadFile("demodata/" + name)
			if err != nil {
				return err
			}
			srcs = append(srcs, struct {
				name string
				data []byte
			}{name, b})
		}
	}
	for _, src := range srcs {
		s, err := rules.ParseSite(src.name, src.data)
		if err != nil {
			return err
		}
		path := filepath.Join(d.f.data, "sites", s.ID+".yaml")
		if err := os.WriteFile(path, src.data, 0o640); err != nil {
			return err
		}
		d.sites = append(d.sites, s)
		d.files = append(d.files, path)
	}
	return nil
}

// demoToken is FROSTLINE_ADMIN_TOKEN, or the token a previous run with
// this data folder generated, or a new one.
func demoToken(dir string) (string, error) {
	if t := os.Getenv("FROSTLINE_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	path := filepath.Join(dir, "admin-token")
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	t, _ := cloud.NewToken()
	return t, os.WriteFile(path, []byte(t+"\n"), 0o600)
}

func (d *demo) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.cloud.Run(ctx) })
	for _, a := range d.agents {
		g.Go(func() error { return a.Run(ctx) })
	}
	watch := &demoWatch{out: d.out, nats: d.nats.url, store: d.cloud.Store()}
	g.Go(func() error { return watch.run(ctx) })
	if d.f.sim {
		// The demo's vendors answer their offers, go on site and repair.
		vendors := &demoVendors{base: d.cloud.Addr(), store: d.cloud.Store(), techs: demoTechnicians, log: d.log.With("component", "demo-vendors"), out: d.out}
		g.Go(func() error { return vendors.run(ctx) })
	}
	d.banner()
	if d.f.sim {
		if err := d.broker.srv.Subscribe("sites/+/assets/#", 1, d.handReading); err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		g.Go(func() error { return d.simulate(ctx) })
	}
	err := g.Wait()
	// The demo's context is done: the summary reads the store on its own.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if wos, serr := allWorkOrders(sctx, d.cloud.Store()); serr != nil {
		fmt.Fprintf(d.out, "\nfrostline demo: no summary: %v\n", serr)
	} else {
		printSummary(d.out, tally(wos))
	}
	fmt.Fprintln(d.out, "\nfrostline demo: stopped; start again with the same --data to resume.")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// handReading says that a reading came from outside the simulation (the
// banner's mosquitto_pub) and the time the edge gave it: a newcomer
// sees that the reading arrived, and why its time is not the clock's.
func (d *demo) handReading(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	if pk.Origin == mqtt.InlineClientId {
		return // the simulator's own
	}
	fmt.Fprintf(d.out, "%s  reading by hand on %s: %s (without a \"ts\" it takes the simulation's time, %s)\n",
		time.Now().Format("15:04:05"), pk.TopicName, bytes.TrimSpace(pk.Payload), d.clock.now().Format("01-02 15:04"))
}

func (d *demo) banner() {
	host := d.cloud.Addr()
	if h, port, err := net.SplitHostPort(host); err == nil && (h == "" || h == "::" || h == "0.0.0.0") {
		host = net.JoinHostPort("127.0.0.1", port)
	}
	mqttHost, mqttPort, _ := net.SplitHostPort(d.broker.addr)
	s := d.sites[0]
	asset := s.Assets[0].ID
	fmt.Fprintf(d.out, `Frostline demo: %d stores, an MQTT broker, NATS JetStream, the cloud service and an edge agent per store.

  Work orders (FM):      http://%s/
  Report a problem:      http://%s/report   (store staff, phone-sized)
  API:                   http://%s/api/v1/workorders   (Authorization: Bearer <token>)
  OpenAPI:               http://%s/api/v1/openapi.json
  Metrics:               http://%s/metrics
  Mail room:             http://%s/demo/mail   (what the store, the FM and the vendors were emailed)
  Admin token:           %s
  Data and logs:         %s

Publish a reading by hand (a warm walk-in cooler):
  mosquitto_pub -h %s -p %s -u ctl-%s -P %s -q 1 -t sites/%s/assets/%s/air_temp -m '{"value": 12.5, "unit": "C"}'

`, len(d.sites), host, host, host, host, host, host, d.token, d.f.data, mqttHost, mqttPort, s.ID, d.broker.passwords["ctl-"+s.ID], s.ID, asset)
	if d.f.sim {
		fmt.Fprintf(d.out, "Simulating at %gx real time after %s of history; a compressor fails, a freezer leaks refrigerant and a compressor rack trips.\n\n", d.f.speed, d.f.preroll)
	}
}

// close releases what newDemo started, in reverse order.
func (d *demo) close() {
	if d.cloud != nil {
		d.cloud.Close()
	}
	if d.nats != nil {
		d.nats.close()
	}
	if d.broker != nil {
		d.broker.close()
	}
	if d.mail != nil {
		d.mail.Close()
	}
	if d.logFile != nil {
		d.logFile.Close()
	}
}

// runRecordedDemo replays the recorded store through the default rule pack
// and prints, as they happen, the incidents the edge would raise.
func runRecordedDemo(ctx context.Context, updates bool, stdout io.Writer) error {
	set, err := packs.Default()
	if err != nil {
		return err
	}
	sites, err := demoSites()
	if err != nil {
		return err
	}
	site := sites[0]
	data, err := demodata.ReadFile("demodata/store-6950.csv.gz")
	if err != nil {
		return err
	}
	eng, err := rules.NewEngine(set, []*rules.Site{site}, rules.Options{})
	if err != nil {
		return err
	}
	rd, err := replay.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer rd.Close()
	fmt.Fprintf(stdout, "Frostline demo: replaying two recorded days of %s (%d assets) through the default rule pack (%d rules).\n\n",
		site.ID, len(site.Assets), set.Len())
	prio := map[string]string{} // each open incident's priority, to show escalations
	sum, err := replay.Run(ctx, eng, rd, func(ev *rules.Event) error {
		escalated := ev.Event == rules.Updated && prio[ev.Incident] != "" && ev.Priority != prio[ev.Incident]
		prio[ev.Incident] = ev.Priority
		if ev.Event == rules.Cleared {
			delete(prio, ev.Incident)
		}
		switch {
		case escalated:
			fmt.Fprintln(stdout, describeEscalation(ev))
		case ev.Event == rules.Updated && !updates:
		default:
			fmt.Fprintln(stdout, describe(ev))
		}
		return nil
	}, nil)
	fmt.Fprintln(stdout)
	sum.Print(stdout)
	return err
}

// describe renders an incident event as one line for a person.
func describe(ev *rules.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-7s %s %-15s %s/%s  %s", ev.At.Format("2006-01-02 15:04"), strings.ToUpper(string(ev.Event)),
		ev.Priority, ev.Problem, ev.Site, ev.Asset, ev.Title)
	if ev.Event != rules.Cleared {
		fmt.Fprintf(&b, "\n%20s%s", "", ev.Summary)
		if w := breachWords(ev); w != "" {
			fmt.Fprintf(&b, "\n%20s%s", "", w)
		}
	}
	return b.String()
}

// describeEscalation renders an incident raised to a more urgent priority.
func describeEscalation(ev *rules.Event) string {
	s := fmt.Sprintf("%s  %-7s %s %-15s %s/%s  %s", ev.At.Format("2006-01-02 15:04"), "RAISED",
		ev.Priority, ev.Problem, ev.Site, ev.Asset, ev.Title)
	if w := breachWords(ev); w != "" {
		s += fmt.Sprintf("\n%20s%s", "", w)
	}
	return s
}

// breachWords says when the food passes its limit, as the incident
// predicts it, or that it has.
func breachWords(ev *rules.Event) string {
	switch {
	case ev.BreachedAt != nil:
		return "Food-safety limit passed at " + ev.BreachedAt.Format("15:04") + "."
	case ev.PredictedBreachAt != nil:
		in := strings.TrimSuffix(ev.PredictedBreachAt.Sub(ev.At).Round(time.Minute).String(), "0s")
		return fmt.Sprintf("Food-safety limit predicted at %s (in %s).", ev.PredictedBreachAt.Format("15:04"), in)
	}
	return ""
}

// demoSites returns the recorded store's site file.
func demoSites() ([]*rules.Site, error) {
	b, err := fs.ReadFile(demodata, "demodata/store-6950.yaml")
	if err != nil {
		return nil, err
	}
	s, err := rules.ParseSite("demodata/store-6950.yaml", b)
	if err != nil {
		return nil, err
	}
	return []*rules.Site{s}, nil
}

// demoFaults is what the simulator does to the demo stores, relative to
// the moment the demo goes live: a leak that started in the history (so
// that a predictive work order comes within minutes), a compressor that
// fails ten simulated minutes in, a compressor rack that trips an hour and
// a half in (every case it serves warms at once), a door left open and a
// sensor that dies.
func demoFaults(sites []*rules.Site, live time.Time) []sim.Fault {
	var out []sim.Fault
	serves := func(site *rules.Site, rack string) bool {
		for _, a := range site.Assets {
			if a.ServedBy == rack {
				return true
			}
		}
		return false
	}
	add := func(site *rules.Site, class, kind string, at, dur time.Duration) {
		for _, a := range site.Assets {
			if a.Class == class && (class != "compressor_rack" || serves(site, a.ID)) {
				out = append(out, sim.Fault{Site: site.ID, Asset: a.ID, Kind: kind, Start: live.Add(at), Duration: dur})
				return
			}
		}
	}
	if len(sites) > 0 {
		add(sites[0], "walk_in_freezer", sim.RefrigerantLeak, -11*time.Hour, 14*time.Hour)
		add(sites[0], "walk_in_cooler", sim.CompressorFailure, 10*time.Minute, 6*time.Hour)
		add(sites[0], "compressor_rack", sim.RackFailure, 90*time.Minute, 3*time.Hour)
	}
	if len(sites) > 1 {
		add(sites[1], "walk_in_cooler", sim.DoorAjar, 40*time.Minute, time.Hour)
		add(sites[1], "display_case_mt", sim.SensorOffline, 2*time.Hour, 3*time.Hour)
	}
	return out
}
