// Command frostline-cloud is Frostline's cloud service: it turns incidents
// from every store's edge agent and people's reports into work orders, and
// serves the API and pages.
//
//	frostline-cloud --config FILE              serve
//	frostline-cloud token create --config FILE --role ROLE [--sites a,b] [--region R] [--vendor V] [--name N]
//
// FROSTLINE_ADMIN_TOKEN, if set, is accepted as an admin token (stored
// hashed), so a fresh deployment can be reached.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/app"
	cloudhttp "github.com/frostline/frostline/cloud/http"
)

func main() {
	// Signals are handled only here, so run can be embedded in tests.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "frostline-cloud:", err)
		os.Exit(1)
	}
}

// errUsage is returned after the usage text has been printed.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) >= 2 && args[0] == "token" && args[1] == "create" {
		return tokenCreate(ctx, args[2:], stdout, stderr)
	}
	fs := flag.NewFlagSet("frostline-cloud", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration `FILE` (YAML)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unknown command %q\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	cfg.AdminToken = getenv("FROSTLINE_ADMIN_TOKEN")
	log := newLogger(stderr, cfg.LogLevel)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

func loadConfig(path string) (app.Config, error) {
	if path == "" {
		cfg := app.DefaultConfig()
		return cfg, cfg.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return app.Config{}, err
	}
	cfg, err := app.ParseConfig(data)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level)) //nolint:errcheck // validated with the config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// tokenCreate issues a token offline, straight into the configured store.
func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("frostline-cloud token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration `FILE` (YAML)")
	role := fs.String("role", "", "admin, fm, store, vendor or technician")
	sites := fs.String("sites", "", "comma-separated site ids (store, or fm limited to sites)")
	region := fs.String("region", "", "region (fm)")
	vendor := fs.String("vendor", "", "vendor (vendor, technician)")
	name := fs.String("name", "", "who holds the token (technician: their id)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	store, err := app.OpenStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer store.Close()
	q := cloudhttp.TokenRequest{Role: cloud.Role(*role), Region: *region, Vendor: *vendor, Name: *name}
	if *sites != "" {
		q.Sites = strings.Split(*sites, ",")
	}
	tok, p, err := cloudhttp.IssueToken(ctx, store, q, time.Now())
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(cloudhttp.TokenResponse{Token: tok, Principal: p})
}
