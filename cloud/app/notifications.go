package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/notify/email"
)

// NotificationsConfig is the notifications block: how people are reached
// (the email channel), what their messages link to, the acknowledge links,
// the escalation chain and the daily digest. Without a channel, nothing is
// planned or sent.
type NotificationsConfig struct {
	// BaseURL is where people open the service; links in messages start
	// with it ("https://frostline.example.com").
	BaseURL string `yaml:"base_url"`
	// LinkSecretFile holds the secret (at least 32 bytes) acknowledge
	// links are signed with; one per line, the first signs and all
	// verify, for rotation. Every replica must read the same file.
	// LinkSecret is for embedding programs and tests.
	LinkSecretFile string `yaml:"link_secret_file"`
	LinkSecret     string `yaml:"-"`
	// LinkTTL is how long an acknowledge link works.
	LinkTTL time.Duration `yaml:"link_ttl"`
	// Escalation: an SLA breach goes to the site's FMs; unacknowledged
	// after escalation.after, to each one's manager, up to
	// escalation.levels managers.
	Escalation notify.Escalation `yaml:"escalation"`
	// DigestAt is the local time of day the daily digest is written;
	// DigestTimezone the zone for people who have none (IANA name).
	DigestAt       string `yaml:"digest_at"`
	DigestTimezone string `yaml:"digest_timezone"`
	// CheckEvery is how often escalations and digests are looked for.
	CheckEvery time.Duration `yaml:"check_every"`
	// Retention is how long finished notifications stay in the log.
	Retention time.Duration `yaml:"retention"`
	// Email is the SMTP channel; an empty host leaves it off.
	Email  email.Config        `yaml:"email"`
	Sender notify.SenderConfig `yaml:"sender"`
}

// DefaultNotificationsConfig: links valid for three days, escalation to
// the manager after 30 minutes (one level), digests at 07:00 UTC unless a
// person says otherwise, checked every minute.
func DefaultNotificationsConfig() NotificationsConfig {
	return NotificationsConfig{LinkTTL: 72 * time.Hour, Escalation: notify.Escalation{After: 30 * time.Minute, Levels: 1},
		DigestAt: "07:00", DigestTimezone: "UTC", CheckEvery: time.Minute, Retention: 90 * 24 * time.Hour, Email: email.DefaultConfig(),
		Sender: notify.DefaultSenderConfig()}
}

// enabled reports whether any channel is configured.
func (c *NotificationsConfig) enabled() bool { return c.Email.Host != "" }

// Validate names each field at fault under notifications.
func (c *NotificationsConfig) Validate() error {
	if !c.enabled() {
		return nil
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("notifications.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !strings.HasPrefix(c.BaseURL, "https://") && !strings.HasPrefix(c.BaseURL, "http://") {
		bad("base_url", "want the service's address, such as https://frostline.example.com, for the links in messages")
	}
	if c.LinkSecretFile == "" && c.LinkSecret == "" {
		bad("link_secret_file", "required: acknowledge links are signed with it")
	}
	if c.LinkTTL < time.Minute || c.LinkTTL > 30*24*time.Hour {
		bad("link_ttl", "want 1m to 720h, got %s", c.LinkTTL)
	}
	if c.Escalation.Levels < 0 || c.Escalation.Levels > 5 {
		bad("escalation.levels", "want 0-5")
	}
	if c.Escalation.Levels > 0 && c.Escalation.After < time.Minute {
		bad("escalation.after", "at least 1m")
	}
	if c.DigestAt != "" {
		if _, err := time.Parse("15:04", c.DigestAt); err != nil {
			bad("digest_at", "want HH:MM or empty (no digest), got %q", c.DigestAt)
		}
	}
	if _, err := time.LoadLocation(c.DigestTimezone); err != nil || c.DigestTimezone == "Local" {
		bad("digest_timezone", "%q is not an IANA time zone name", c.DigestTimezone)
	}
	if c.CheckEvery < time.Second {
		bad("check_every", "at least 1s")
	}
	if c.Retention < 24*time.Hour {
		bad("retention", "at least 24h")
	}
	errs = append(errs, c.Email.Validate("notifications.email"), c.Sender.Validate("notifications.sender"))
	return errors.Join(errs...)
}

// linkKeys reads the link secrets: the file's non-empty lines, else
// LinkSecret.
func (c *NotificationsConfig) linkKeys() ([][]byte, error) {
	if c.LinkSecretFile == "" {
		return [][]byte{[]byte(c.LinkSecret)}, nil
	}
	b, err := os.ReadFile(c.LinkSecretFile)
	if err != nil {
		return nil, fmt.Errorf("app: notifications.link_secret_file: %w", err)
	}
	var keys [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			keys = append(keys, []byte(line))
		}
	}
	return keys, nil
}

// notifications is the assembled notification side of a replica.
type notifications struct {
	planner *notify.Planner
	links   *notify.Links
	sender  *notify.Sender
	chains  *notify.Chains
}

// buildNotifications assembles the planner, the sender and the loops, or
// nothing when no channel is configured.
func (a *App) buildNotifications(store Store) (*notifications, error) {
	c := a.cfg.Notifications
	if !c.enabled() {
		return nil, nil
	}
	keys, err := c.linkKeys()
	if err != nil {
		return nil, err
	}
	links, err := notify.NewLinks(keys...)
	if err != nil {
		return nil, fmt.Errorf("app: notifications: %w", err)
	}
	tm, err := notify.LoadTemplates()
	if err != nil {
		return nil, err
	}
	mail, err := email.New(c.Email)
	if err != nil {
		return nil, fmt.Errorf("app: notifications: %w", err)
	}
	zone, _ := time.LoadLocation(c.DigestTimezone) // validated
	n := &notifications{links: links,
		planner: &notify.Planner{Templates: tm, BaseURL: c.BaseURL, Links: links, LinkTTL: c.LinkTTL, Escalation: c.Escalation}}
	n.sender = notify.NewSender(store, []notify.Channel{mail}, c.Sender, a.log, a.Registry)
	n.chains = &notify.Chains{Store: store, Planner: n.planner, Every: c.CheckEvery, DigestAt: c.DigestAt, DigestZone: zone,
		Retention: c.Retention, Log: a.log}
	return n, nil
}

// seedPeople loads the configured people files into the register. Every
// person is validated first; a bad file changes nothing.
func (a *App) seedPeople(ctx context.Context) error {
	var all []notify.Person
	for _, pattern := range a.cfg.People {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return fmt.Errorf("app: people %q: %w", pattern, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			ps, err := notify.ParsePeople(file, data)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			all = append(all, ps...)
		}
	}
	now := time.Now().UTC()
	for i := range all {
		all[i].UpdatedAt = now
		if err := a.store.PutPerson(ctx, &all[i]); err != nil {
			return err
		}
	}
	if len(all) > 0 {
		a.log.Info("people seeded", "people", len(all))
	}
	return nil
}
