package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/frostline/frostline/edge/wire"
)

// Writer writes Frostline's points to InfluxDB with the client's blocking
// write API: a call returns once the server has the points, or with the
// error that says why not. It keeps no buffer of its own, so a failed
// write is the caller's to retry from its durable source. It is safe for
// concurrent use.
type Writer struct {
	client influxdb2.Client
	api    api.WriteAPIBlocking
	batch  int
	// pool recycles line buffers: the consumer builds a batch per write,
	// and a steady 5,000-point batch would otherwise allocate ~500 kB.
	pool sync.Pool
}

// NewWriter returns a writer for cfg, which must be valid. It does not
// contact the server.
func NewWriter(cfg Config) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	token, err := cfg.token()
	if err != nil {
		return nil, err
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(Precision).
		SetHTTPRequestTimeout(uint(cfg.Timeout.Seconds() + 0.999)).
		SetApplicationName("frostline-cloud").
		SetMaxRetries(0) // not used by the blocking API; said so the reader need not check
	client := influxdb2.NewClientWithOptions(cfg.URL, token, opts)
	return &Writer{client: client, api: client.WriteAPIBlocking(cfg.Org, cfg.Bucket), batch: cfg.BatchSize}, nil
}

// Ping returns nil when the server answers its health endpoint (it does
// not check the token).
func (w *Writer) Ping(ctx context.Context) error {
	ok, err := w.client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("telemetry: ping: %w", err)
	}
	if !ok {
		return errors.New("telemetry: ping: server not ready")
	}
	return nil
}

// Close releases the client's idle connections.
func (w *Writer) Close() { w.client.Close() }

func (w *Writer) buf() *lines {
	if l, ok := w.pool.Get().(*lines); ok {
		l.reset()
		return l
	}
	return &lines{}
}

func (w *Writer) put(l *lines) {
	if cap(l.b) <= 4<<20 { // an outsized batch is not kept
		w.pool.Put(l)
	}
}

// flush writes the points in l as one request.
func (w *Writer) flush(ctx context.Context, l *lines) error {
	if l.n == 0 {
		return nil
	}
	if err := w.api.WriteRecord(ctx, string(l.b)); err != nil {
		return writeError(err)
	}
	return nil
}

// WriteTelemetry writes the points of the batches, about BatchSize points
// per request (a request holds whole batches). An error leaves some of them possibly written, which is
// harmless: a point written again overwrites itself. A batch that cannot
// be encoded is reported as ErrInvalid before anything is written.
func (w *Writer) WriteTelemetry(ctx context.Context, batches ...*wire.Telemetry) error {
	l := w.buf()
	defer w.put(l)
	for _, t := range batches {
		if err := l.telemetry(t); err != nil {
			return fmt.Errorf("telemetry: batch %s: %w", t.Batch, err)
		}
		if l.n >= w.batch {
			if err := w.flush(ctx, l); err != nil {
				return err
			}
			l.reset()
		}
	}
	return w.flush(ctx, l)
}

// WriteIncidents writes incident events as annotation points on the
// incidents measurement. The cloud intake calls it after its commit; see
// docs/telemetry.md for why a failure there must not fail the intake.
func (w *Writer) WriteIncidents(ctx context.Context, incs ...*wire.Incident) error {
	l := w.buf()
	defer w.put(l)
	for _, inc := range incs {
		if err := l.incident(&inc.Event); err != nil {
			return fmt.Errorf("telemetry: incident %s: %w", inc.MsgID(), err)
		}
	}
	return w.flush(ctx, l)
}

// WriteWorkOrderEvents writes work-order events as annotation points on
// the incidents measurement, their event tag prefixed "wo_".
func (w *Writer) WriteWorkOrderEvents(ctx context.Context, evs ...WorkOrderEvent) error {
	l := w.buf()
	defer w.put(l)
	for i := range evs {
		if err := l.workOrder(&evs[i]); err != nil {
			return fmt.Errorf("telemetry: work order %s: %w", evs[i].WorkOrder, err)
		}
	}
	return w.flush(ctx, l)
}

// WriteKPIs writes daily KPI points (cloud/analytics is the caller). A
// field outside KPIFields is refused, so the dashboards and the writer
// cannot drift apart.
func (w *Writer) WriteKPIs(ctx context.Context, ks ...KPI) error {
	l := w.buf()
	defer w.put(l)
	for i := range ks {
		if err := l.kpi(&ks[i]); err != nil {
			return fmt.Errorf("telemetry: kpi %s %s: %w", ks[i].Scope, ks[i].Day.Format("2006-01-02"), err)
		}
	}
	return w.flush(ctx, l)
}

// ErrRejected marks a write the server refused for its content (400, 413,
// 422): sending the same points again cannot succeed. Any other failure
// (connection refused, 5xx, 429, 401/403/404 while an operator fixes the
// token or bucket) is worth retrying.
var ErrRejected = errors.New("telemetry: points rejected by the server")

func writeError(err error) error {
	var he *http2.Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return fmt.Errorf("%w: %d %v", ErrRejected, he.StatusCode, he)
		case 0:
			return fmt.Errorf("telemetry: write: %w", he)
		}
		return fmt.Errorf("telemetry: write: %d %w", he.StatusCode, he)
	}
	return fmt.Errorf("telemetry: write: %w", err)
}
