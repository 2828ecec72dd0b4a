package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/frostline/frostline/edge/wire"
)

// Reader reads rollups back from InfluxDB, so that a work order's page can
// chart an asset beyond the window its incidents carried: the fix and the
// verification after the last incident event, or an asset's month. It
// speaks InfluxQL on /query, which InfluxDB 1.x serves and 2.x serves
// through its database/retention-policy mapping (deploy/compose's
// influxdb-init creates it).
type Reader struct {
	url, db, rp string
	user, pass  string
	token       string
	client      *http.Client
}

// NewReader returns a Reader for the writer's configuration.
func NewReader(cfg Config) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	token, err := cfg.token()
	if err != nil {
		return nil, err
	}
	r := &Reader{url: strings.TrimRight(cfg.URL, "/"), client: &http.Client{Timeout: cfg.Timeout}}
	r.db, r.rp, _ = strings.Cut(cfg.Bucket, "/")
	if u, p, ok := strings.Cut(token, ":"); ok {
		r.user, r.pass = u, p
	} else {
		r.token = token
	}
	return r, nil
}

// Window returns an asset's metric from rollups in [from, to), one point
// per step (min of the minima, mean of the means, max of the maxima),
// oldest first, as an evidence window without signal changes.
func (r *Reader) Window(ctx context.Context, site, asset, metric string, from, to time.Time, step time.Duration) (*wire.Window, error) {
	if step < time.Minute {
		step = time.Minute
	}
	q := fmt.Sprintf(`SELECT min("min"), mean("mean"), max("max") FROM %s WHERE "site" = %s AND "asset" = %s AND "metric" = %s AND time >= %dms AND time < %dms GROUP BY time(%ds) fill(none)`,
		r.measurement(Rollups), quote(site), quote(asset), quote(metric), from.UnixMilli(), to.UnixMilli(), int64(step/time.Second))
	rows, err := r.query(ctx, q)
	if err != nil {
		return nil, err
	}
	w := &wire.Window{Metric: metric, Unit: "C", Step: step.Seconds()}
	for _, v := range rows {
		if len(v) < 4 {
			continue
		}
		ms, ok1 := v[0].(float64)
		lo, ok2 := v[1].(float64)
		mean, ok3 := v[2].(float64)
		hi, ok4 := v[3].(float64)
		if ok1 && ok2 && ok3 && ok4 {
			w.Points = append(w.Points, wire.WindowPoint{At: time.UnixMilli(int64(ms)).UTC(), Min: lo, Mean: mean, Max: hi})
		}
	}
	return w, nil
}

func (r *Reader) measurement(m string) string {
	if r.rp != "" {
		return quote2(r.db) + "." + quote2(r.rp) + "." + quote2(m)
	}
	return quote2(m)
}

// quote is an InfluxQL string literal; quote2 an identifier.
func quote(s string) string  { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" }
func quote2(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

// query runs one InfluxQL statement and returns the values of its first
// series.
func (r *Reader) query(ctx context.Context, q string) ([][]any, error) {
	form := url.Values{"q": {q}, "db": {r.db}, "epoch": {"ms"}}
	if r.rp != "" {
		form.Set("rp", r.rp)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", r.url+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	switch {
	case r.token != "":
		req.Header.Set("Authorization", "Token "+r.token)
	case r.user != "":
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("telemetry: query: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("telemetry: query: %s: %w", resp.Status, err)
	}
	switch {
	case out.Error != "":
		return nil, fmt.Errorf("telemetry: query: %s", out.Error)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("telemetry: query: %s", resp.Status)
	case len(out.Results) == 0 || len(out.Results[0].Series) == 0:
		if len(out.Results) > 0 && out.Results[0].Error != "" {
			return nil, fmt.Errorf("telemetry: query: %s", out.Results[0].Error)
		}
		return nil, nil
	}
	return out.Results[0].Series[0].Values, nil
}
