package main

import (
	"fmt"
	"io"
)

func rulesTest(paths []string, stdout, stderr io.Writer) error {
	fmt.Fprintln(stderr, "frostline rules test: not available in this build")
	return exitError(2)
}
