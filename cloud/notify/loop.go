package notify

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
)

// drain is the loop the webhook worker and the notification sender share:
// once claims and handles one batch; a full batch is followed at once by
// the next, a short one by a wait of poll, a failure (logged, as failed)
// by at least 2s. hourly, when set, is called each hour between batches
// (the webhook log's pruning). It returns nil when ctx ends.
func drain(ctx context.Context, poll time.Duration, batch int, once func(context.Context) (int, error), log *slog.Logger, failed string, hourly func(context.Context)) error {
	t := time.NewTimer(0)
	defer t.Stop()
	var tick <-chan time.Time
	if hourly != nil {
		h := time.NewTicker(pruneEvery)
		defer h.Stop()
		tick = h.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			hourly(ctx)
			continue
		case <-t.C:
		}
		n, err := once(ctx)
		wait := poll
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn(failed, "err", err)
			wait = max(wait, 2*time.Second)
		case n == batch:
			wait = 0 // more may be due
		}
		t.Reset(wait)
	}
}

// each runs fn on every claimed item at once, one goroutine each (a
// claim is at most a batch, so the batch bounds them), and returns how
// many there were and the first error; Wait is the goroutines' exit.
func each[T any](items []T, fn func(*T) error) (int, error) {
	var g errgroup.Group
	for i := range items {
		it := &items[i]
		g.Go(func() error { return fn(it) })
	}
	return len(items), g.Wait()
}
