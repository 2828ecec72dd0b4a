package app

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
)

// The dependencies a replica reports on: it starts without any of them,
// serves /healthz at once, names on /readyz the ones it waits for, and
// connects to each when it comes back.
const (
	depDatabase = "database"
	depNATS     = "nats"
	depInflux   = "influxdb"
)

// deps is the state of the replica's dependencies: what /readyz reports
// and the frostline_cloud_dependency_* metrics show. Its mutex guards
// waiting, written by the connecting goroutines and NATS's callbacks and
// read by /readyz.
type deps struct {
	mu      sync.Mutex
	waiting map[string]string // dependency -> why it is not usable
	up      *prometheus.GaugeVec
	retries *prometheus.CounterVec
}

func newDeps(reg prometheus.Registerer, names ...string) *deps {
	d := &deps{
		waiting: map[string]string{},
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "frostline_cloud_dependency_up",
			Help: "1 while a dependency (database, nats, influxdb) is connected and usable, 0 while the replica waits for it."}, []string{"dependency"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_cloud_dependency_retries_total",
			Help: "Failed attempts to connect to or set up a dependency, each retried after a backoff."}, []string{"dependency"}),
	}
	for _, n := range names {
		d.up.WithLabelValues(n)
		d.retries.WithLabelValues(n)
	}
	reg.MustRegister(d.up, d.retries)
	return d
}

// set records a dependency as usable (why == "") or as waited for.
func (d *deps) set(name, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if why == "" {
		delete(d.waiting, name)
		d.up.WithLabelValues(name).Set(1)
		return
	}
	d.waiting[name] = why
	d.up.WithLabelValues(name).Set(0)
}

// problems lists what the replica waits for, sorted: "nats: not connected".
func (d *deps) problems() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.waiting))
	for n, why := range d.waiting {
		out = append(out, n+": "+why)
	}
	slices.Sort(out)
	return out
}

// Backoff between attempts: from minBackoff, doubling, up to maxBackoff,
// with up to a fifth of jitter so that replicas do not retry in step.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// retry calls attempt until it succeeds or ctx ends, backing off between
// failures; each failure is counted, logged and shown on /readyz under
// name. It returns ctx's error when ctx ends first.
func (d *deps) retry(ctx context.Context, log *slog.Logger, name string, attempt func(context.Context) error) error {
	wait := minBackoff
	for {
		err := attempt(ctx)
		if err == nil {
			d.set(name, "")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.retries.WithLabelValues(name).Inc()
		d.set(name, fmt.Sprintf("waiting (%v)", err))
		log.Warn("dependency unavailable, retrying", "dependency", name, "err", err, "retry_in", wait)
		if err := cloud.Sleep(ctx, wait+rand.N(wait/5+1)); err != nil {
			return err
		}
		wait = min(2*wait, maxBackoff)
	}
}
