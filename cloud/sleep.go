package cloud

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx is done if that comes first, and then
// returns ctx's error (nil when d passed). Every loop of the service that
// waits between attempts (a failed fetch, a webhook retry) waits here, so
// a shutdown never sits out a backoff.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
