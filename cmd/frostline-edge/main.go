// Command frostline-edge is the Frostline edge agent: it runs on a store's
// gateway, evaluates the store's sensor readings against the rules and
// forwards incidents and telemetry to the cloud.
//
//	frostline-edge --config FILE       run the agent
//	frostline-edge check-config FILE   validate a config and what it names
//
// main only turns signals into a context and a reload request; run does
// the rest so that tests call it directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/frostline/frostline/edge/agent"
	"github.com/frostline/frostline/rules"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], hup, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "frostline-edge:", err)
		os.Exit(1)
	}
}

// run is the program. reload delivers SIGHUP (nil: none).
func run(ctx context.Context, args []string, reload <-chan os.Signal, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check-config" {
		return checkConfig(args[1:], stdout)
	}
	fs := flag.NewFlagSet("frostline-edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/frostline/edge.yaml", "config `file`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: frostline-edge --config FILE\n       frostline-edge check-config FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := agent.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	tuneRuntime(cfg.Runtime, log)
	stopProfile, err := startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	a := agent.New(cfg, log, agent.Options{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Forwards SIGHUP until run returns.
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				log.Info("SIGHUP: reloading rules")
				a.Reload()
			}
		}
	}()
	return a.Run(ctx)
}

// tuneRuntime applies the config's runtime settings, unless the
// environment sets them (GOMAXPROCS, GOGC, GOMEMLIMIT): the process's own,
// not the agent package's, since they are global.
func tuneRuntime(c agent.RuntimeConfig, log *slog.Logger) {
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok && c.MaxProcs > 0 {
		runtime.GOMAXPROCS(c.MaxProcs)
	}
	gc, ok := os.LookupEnv("GOGC")
	if !ok {
		debug.SetGCPercent(c.GCPercent)
		gc = strconv.Itoa(c.GCPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok && c.MemoryLimit > 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
	}
	// SetMemoryLimit with a negative value only reads the limit.
	log.Debug("go runtime", "max_procs", runtime.GOMAXPROCS(0), "gogc", gc, "memory_limit", debug.SetMemoryLimit(-1))
}

func checkConfig(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: frostline-edge check-config FILE")
	}
	cfg, err := agent.CheckConfig(args[0])
	if err != nil {
		if es := rules.AsErrors(err); len(es) > 0 {
			for _, e := range es {
				fmt.Fprintln(stdout, e)
			}
			return fmt.Errorf("%s: %d problem(s) in rules or sites", args[0], len(es))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (gateway %s, %d site file(s))\n", args[0], cfg.Gateway, len(cfg.Sites))
	return nil
}
