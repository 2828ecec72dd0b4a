// Command frostline is the operator's tool: `frostline demo` runs the whole
// loop in one process, `frostline sim` simulates a store's equipment, and
// `frostline rules` checks, unit-tests and backtests rules.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		fmt.Fprintln(os.Stderr, "frostline:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status after the command has already
// said what went wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: frostline <command> [arguments]

commands:
  demo                 run the whole loop in one process on embedded defaults
  sim                  simulate stores' equipment: MQTT or CSV with labels
  rules check PATH...  validate rules files or folders
  rules test PATH...   run rule unit tests (YAML)
  rules replay ...     backtest rules on recorded readings (see frostline rules replay -h)
  rules score ...      score incidents against labels (see frostline rules score -h)
  loadtest ...         emulate a fleet of gateways against a deployment (see frostline loadtest -h)
  version              print the version
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	switch args[0] {
	case "rules":
		return runRules(ctx, args[1:], stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], stdout, stderr)
	case "loadtest":
		return runLoadtest(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "frostline", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "frostline: unknown command %q\n\n%s", args[0], usage)
	return exitError(2)
}

var version = "dev"
