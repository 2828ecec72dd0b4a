// Command frostline-cloud is Frostline's cloud service: it turns incidents
// from every store's edge agent and people's reports into work orders, and
// serves the API and pages.
//
//	frostline-cloud --config FILE              serve
//	frostline-cloud token create --config FILE --role ROLE [--sites a,b] [--region R] [--vendor V] [--name N] [--ttl 30d | --expires-at T]
//	frostline-cloud token list --config FILE [--json] [--active]
//	frostline-cloud token revoke --config FILE ID...
//
// FROSTLINE_ADMIN_TOKEN, if set, is accepted as an admin token (stored
// hashed), so a fresh deployment can be reached; a new value replaces the
// previous one, which stops working.
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
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
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
	if len(args) >= 2 && args[0] == "token" {
		switch args[1] {
		case "create":
			return tokenCreate(ctx, args[2:], stdout, stderr)
		case "list":
			return tokenList(ctx, args[2:], stdout, stderr)
		case "revoke":
			return tokenRevoke(ctx, args[2:], stdout, stderr)
		}
		fmt.Fprintf(stderr, "unknown token command %q (want create, list or revoke)\n", args[1])
		return errUsage
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
	ttl := fs.String("ttl", "", "lifetime, e.g. 12h, 30d (default: until revoked)")
	expires := fs.String("expires-at", "", "end of life, RFC 3339 (instead of --ttl)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	store, err := openStore(ctx, *config)
	if err != nil {
		return err
	}
	defer store.Close()
	q := cloudhttp.TokenRequest{Role: cloud.Role(*role), Region: *region, Vendor: *vendor, Name: *name, TTL: *ttl, ExpiresAt: *expires}
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

// tokenList prints every token's grant and clocks, straight from the
// configured store; never a secret.
func tokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("frostline-cloud token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration `FILE` (YAML)")
	asJSON := fs.Bool("json", false, "print JSON (the API's list) instead of a table")
	active := fs.Bool("active", false, "only tokens that are neither revoked nor expired")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	store, err := openStore(ctx, *config)
	if err != nil {
		return err
	}
	defer store.Close()
	ps, err := store.Tokens(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if *active {
		ps = slices.DeleteFunc(ps, func(p *cloud.Principal) bool { return p.Usable(now) != nil })
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"items": ps})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSCOPE\tCREATED\tLAST USED\tEXPIRES\tSTATE")
	for _, p := range ps {
		state := "active"
		switch err := p.Usable(now); {
		case errors.Is(err, cloud.ErrTokenRevoked):
			state = "revoked " + stamp(p.Revoked)
		case errors.Is(err, cloud.ErrTokenExpired):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.TokenID, dash(p.Name), p.Role, scope(p), stamp(&p.Created),
			stamp(p.LastUsed), stamp(p.Expires), state)
	}
	return tw.Flush()
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// scope is a token's grant in a few words.
func scope(p *cloud.Principal) string {
	var parts []string
	if len(p.Sites) > 0 {
		parts = append(parts, "sites="+strings.Join(p.Sites, ","))
	}
	if p.Region != "" {
		parts = append(parts, "region="+p.Region)
	}
	if p.Vendor != "" {
		parts = append(parts, "vendor="+p.Vendor)
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// tokenRevoke revokes tokens by id, straight in the configured store: the
// running replicas refuse them from their next request.
func tokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("frostline-cloud token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration `FILE` (YAML)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: frostline-cloud token revoke --config FILE ID...")
		return errUsage
	}
	store, err := openStore(ctx, *config)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, id := range fs.Args() {
		if err := store.RevokeToken(ctx, id, time.Now()); err != nil {
			return fmt.Errorf("revoke %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
	}
	return nil
}

// openStore opens the database the configuration at path names, for the
// token commands, which work on the store without running the service.
func openStore(ctx context.Context, path string) (app.Store, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return app.OpenStore(ctx, cfg.Database)
}
