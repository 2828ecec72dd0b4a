//go:build lacking_claim

package contract

import (
	"context"
	"time"

	"github.com/frostline/frostline/cloud/pm"
)

func (twinTx) ClaimOccurrence(context.Context, string, pm.Target, pm.Occurrence, time.Time) (bool, error) {
	return false, nil
}
