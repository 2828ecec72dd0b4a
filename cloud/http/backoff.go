package http

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
)

// BackoffConfig is the backoff on failed sign-ins and bad bearer tokens
// (auth.backoff). Each client address and each presented secret has a
// failure score that decays by half every HalfLife; once it passes Free,
// that address (or secret) waits Base, doubling with each further
// failure up to Max, before its credentials are looked at again.
type BackoffConfig struct {
	Free       float64       `yaml:"free"`
	Base       time.Duration `yaml:"base"`
	Max        time.Duration `yaml:"max"`
	HalfLife   time.Duration `yaml:"half_life"`
	MaxTracked int           `yaml:"max_tracked"`
}

// DefaultBackoffConfig returns the defaults: five free failures, then 1s
// doubling to 5m; failures forgotten by half every 10 minutes; 10,000
// addresses and secrets tracked.
func DefaultBackoffConfig() BackoffConfig {
	return BackoffConfig{Free: 5, Base: time.Second, Max: 5 * time.Minute, HalfLife: 10 * time.Minute, MaxTracked: 10000}
}

func (c BackoffConfig) validate(bad func(field, format string, args ...any)) {
	if c.Free < 0 || c.Free > 1000 || math.IsNaN(c.Free) {
		bad("backoff.free", "want 0 to 1000")
	}
	if c.Base < time.Millisecond || c.Base > time.Hour {
		bad("backoff.base", "want 1ms to 1h")
	}
	if c.Max < c.Base || c.Max > 24*time.Hour {
		bad("backoff.max", "want backoff.base to 24h")
	}
	if c.HalfLife < time.Second || c.HalfLife > 7*24*time.Hour {
		bad("backoff.half_life", "want 1s to 7d")
	}
	if c.MaxTracked < 16 || c.MaxTracked > 10_000_000 {
		bad("backoff.max_tracked", "want 16 to 10000000")
	}
}

// limiter keeps the failure scores. Memory is bounded: at MaxTracked
// entries, a new key evicts the entry with the lowest score among a few
// sampled at random (Go's map order), so an attacker spraying addresses
// pushes out its own cold entries first and the table never grows.
type limiter struct {
	cfg BackoffConfig
	// mu guards m: every failed or throttled request reads and writes it,
	// from the server's request goroutines.
	mu sync.Mutex
	m  map[string]*strike

	tracked prometheus.GaugeFunc
	evicted prometheus.Counter
}

type strike struct {
	score float64   // failures, decayed to at
	at    time.Time // last failure
	until time.Time // no credential checked before this
}

func newLimiter(cfg BackoffConfig) *limiter {
	l := &limiter{cfg: cfg, m: map[string]*strike{}}
	l.tracked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "frostline_auth_backoff_tracked",
		Help: "Client addresses and presented secrets with a failure score (bounded by auth.backoff.max_tracked)."},
		func() float64 { l.mu.Lock(); defer l.mu.Unlock(); return float64(len(l.m)) })
	l.evicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "frostline_auth_backoff_evictions_total",
		Help: "Failure scores dropped to keep the table at auth.backoff.max_tracked."})
	return l
}

// decayed is s's score at now.
func (l *limiter) decayed(s *strike, now time.Time) float64 {
	dt := now.Sub(s.at)
	if dt <= 0 {
		return s.score
	}
	return s.score * math.Exp2(-float64(dt)/float64(l.cfg.HalfLife))
}

// wait returns how long the longest-waiting of keys must still wait
// before a credential is looked at; 0 means go ahead.
func (l *limiter) wait(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if s, ok := l.m[k]; ok && s.until.After(now) {
			d = max(d, s.until.Sub(now))
		}
	}
	return d
}

// fail records a failure for each key and returns the longest backoff it
// leaves.
func (l *limiter) fail(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		s, ok := l.m[k]
		if !ok {
			if len(l.m) >= l.cfg.MaxTracked {
				l.evict(now)
			}
			s = &strike{at: now}
			l.m[k] = s
		}
		s.score = l.decayed(s, now) + 1
		s.at = now
		if over := s.score - l.cfg.Free; over > 0 {
			wait := time.Duration(float64(l.cfg.Base) * math.Exp2(math.Min(over-1, 40)))
			s.until = now.Add(min(wait, l.cfg.Max))
			d = max(d, s.until.Sub(now))
		}
	}
	return d
}

// evict drops one entry: the coldest of a few sampled. Called with mu held.
func (l *limiter) evict(now time.Time) {
	const sample = 8
	var (
		victim string
		lowest = math.Inf(1)
		n      int
	)
	for k, s := range l.m {
		if sc := l.decayed(s, now); sc < lowest {
			victim, lowest = k, sc
		}
		if n++; n == sample {
			break
		}
	}
	delete(l.m, victim)
	l.evicted.Inc()
}

// ipKey is the backoff key of a client address: the address itself, or
// for IPv6 its /64, which one host usually holds whole.
func ipKey(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}

// throttledError refuses a request whose address or secret is backing
// off; it answers 429 with Retry-After.
type throttledError struct{ wait time.Duration }

func (e *throttledError) seconds() int { return int(math.Ceil(e.wait.Seconds())) }

func (e *throttledError) Error() string { return e.Unwrap().Error() }

func (e *throttledError) Unwrap() error {
	return cloud.Errorf(cloud.ETHROTTLED, "too many failed sign-ins: try again in %d seconds", e.seconds())
}

// retryAfter sets Retry-After when err is a throttled refusal.
func retryAfter(h interface{ Set(k, v string) }, err error) {
	var te *throttledError
	if errors.As(err, &te) {
		h.Set("Retry-After", strconv.Itoa(te.seconds()))
	}
}

// authMetrics count refusals: failures by how the credential came and
// why it failed, and requests turned away while backing off.
type authMetrics struct {
	failures  *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

func newAuthMetrics() authMetrics {
	return authMetrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_auth_failures_total",
			Help: "Failed authentications by credential (bearer, login, session) and reason (unknown, revoked, expired, malformed)."},
			[]string{"via", "reason"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_auth_throttled_total",
			Help: "Requests refused with 429, without looking at their credential, while their address or secret backs off."},
			[]string{"via"}),
	}
}

// reason names why a credential failed, for the log and the metric.
func reason(err error) string {
	switch {
	case errors.Is(err, cloud.ErrTokenRevoked):
		return "revoked"
	case errors.Is(err, cloud.ErrTokenExpired), errors.Is(err, cloud.ErrSessionExpired):
		return "expired"
	case errors.Is(err, errMalformed):
		return "malformed"
	}
	return "unknown"
}

var errMalformed = cloud.Errorf(cloud.EUNAUTHORIZED, "use Authorization: Bearer <token>")
