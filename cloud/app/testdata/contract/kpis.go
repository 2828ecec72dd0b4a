//go:build lacking_kpis

package contract

import (
	"context"

	"github.com/frostline/frostline/cloud/analytics"
)

func (twin) KPIs(context.Context, analytics.Query) (*analytics.Report, error) { return nil, nil }
