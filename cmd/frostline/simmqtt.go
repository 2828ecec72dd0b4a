package main

import (
	"context"
	"fmt"
	"io"

	"github.com/frostline/frostline/edge/sim"
)

func simMQTT(ctx context.Context, s *sim.Sim, f *simFlags, stdout, stderr io.Writer) error {
	return fmt.Errorf("--mqtt: not built yet")
}
