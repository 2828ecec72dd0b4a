// Package email is the email channel of cloud/notify: each notification
// goes out as one multipart/alternative message (text and HTML) through an
// SMTP server, with github.com/wneessen/go-mail. It works with a provider's
// submission port (STARTTLS on 587, or implicit TLS on 465, with
// authentication) and with a plain local relay (port 25, no TLS, no auth).
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/frostline/frostline/cloud/notify"
)

// TLS modes.
const (
	StartTLS = "starttls" // upgrade a plain connection; refuse a server that cannot
	Implicit = "implicit" // TLS from the first byte (SMTPS, port 465)
	NoTLS    = "none"     // a local relay on a trusted network
)

// Config is the SMTP server and the sender (the notifications.email block
// of the cloud's configuration).
type Config struct {
	Host string `yaml:"host"`
	// Port defaults by TLS mode: 587 (starttls), 465 (implicit), 25 (none).
	Port int    `yaml:"port"`
	TLS  string `yaml:"tls"`
	// Auth is plain, login or cram-md5; empty means plain when a
	// username is set and none otherwise.
	Auth     string `yaml:"auth"`
	Username string `yaml:"username"`
	// PasswordFile holds the password, so that it stays out of the
	// configuration file. Password is for embedding programs and tests.
	PasswordFile string `yaml:"password_file"`
	Password     string `yaml:"-"`
	// From is the sender, "Frostline <frostline@example.com>".
	From string `yaml:"from"`
	// CAFile, when set, is the PEM bundle the server's certificate must
	// chain to instead of the system's (a company CA).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one message, connecting to QUIT.
	Timeout time.Duration `yaml:"timeout"`
	// HELO is the name the client gives; empty: go-mail's default.
	HELO string `yaml:"helo"`
}

// DefaultConfig is STARTTLS with a 30-second timeout; host and from have
// no default.
func DefaultConfig() Config { return Config{TLS: StartTLS, Timeout: 30 * time.Second} }

// Validate checks the configuration, naming each field at fault under
// prefix ("notifications.email").
func (c *Config) Validate(prefix string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
	}
	if c.Host == "" {
		bad("host", "required")
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "want 1-65535 (0: the TLS mode's default), got %d", c.Port)
	}
	switch c.TLS {
	case StartTLS, Implicit, NoTLS:
	default:
		bad("tls", "want starttls, implicit or none, got %q", c.TLS)
	}
	switch c.Auth {
	case "", "plain", "login", "cram-md5":
	default:
		bad("auth", "want plain, login or cram-md5, got %q", c.Auth)
	}
	if c.Auth != "" && c.Username == "" {
		bad("username", "required with auth %s", c.Auth)
	}
	if c.Username != "" && c.PasswordFile == "" && c.Password == "" {
		bad("password_file", "required with a username")
	}
	if a, err := mail.ParseAddress(c.From); err != nil || a.Address == "" {
		bad("from", "want an address such as \"Frostline <frostline@example.com>\", got %q", c.From)
	}
	if c.Timeout < time.Second {
		bad("timeout", "at least 1s")
	}
	return errors.Join(errs...)
}

// Channel sends notifications as email. It is safe for concurrent use:
// each message has its own connection (go-mail's Client holds one
// connection at a time), which at notification volumes costs nothing that
// matters and keeps a broken connection from taking others with it.
type Channel struct {
	cfg  Config
	opts []gomail.Option
}

var _ notify.Channel = (*Channel)(nil)

// New validates cfg, reads the password and CA files, and returns the
// channel. It does not contact the server.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate("email"); err != nil {
		return nil, err
	}
	port := cfg.Port
	if port == 0 {
		port = map[string]int{StartTLS: 587, Implicit: 465, NoTLS: 25}[cfg.TLS]
	}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email: ca_file %s: no PEM certificates", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(cfg.Timeout), gomail.WithTLSConfig(tc)}
	switch cfg.TLS {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case Implicit:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		pw := cfg.Password
		if cfg.PasswordFile != "" {
			b, err := os.ReadFile(cfg.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("email: password_file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		mech := map[string]gomail.SMTPAuthType{"": gomail.SMTPAuthPlain, "plain": gomail.SMTPAuthPlain,
			"login": gomail.SMTPAuthLogin, "cram-md5": gomail.SMTPAuthCramMD5}[cfg.Auth]
		if cfg.TLS == NoTLS && mech != gomail.SMTPAuthCramMD5 {
			// A relay without TLS that still wants a password: go-mail
			// refuses to send it in the clear unless told.
			mech = map[gomail.SMTPAuthType]gomail.SMTPAuthType{gomail.SMTPAuthPlain: gomail.SMTPAuthPlainNoEnc,
				gomail.SMTPAuthLogin: gomail.SMTPAuthLoginNoEnc}[mech]
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(cfg.Username), gomail.WithPassword(pw))
	}
	return &Channel{cfg: cfg, opts: opts}, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "email" }

// Send implements notify.Channel: one message, text and HTML as
// alternatives, with the notification's id as its Message-ID. A server
// that refuses the recipient or the message for good (a 5xx reply) is a
// permanent failure; anything else (a connection refused, a 4xx) is
// retried by the caller. Once the server has taken the message, a failure
// to say goodbye (QUIT) is not a failure to send.
func (c *Channel) Send(ctx context.Context, m *notify.Message) error {
	msg, err := c.compose(m)
	if err != nil {
		return notify.Permanent(err)
	}
	client, err := gomail.NewClient(c.cfg.Host, c.opts...)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("email: connect %s: %w", c.cfg.Host, err)
	}
	defer client.CloseWithSMTPClient(conn) //nolint:errcheck // the message was taken or refused already
	if err := client.SendWithSMTPClient(conn, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return notify.Permanent(fmt.Errorf("email: %s refused: %w", c.cfg.Host, err))
		}
		return fmt.Errorf("email: send via %s: %w", c.cfg.Host, err)
	}
	return nil
}

func (c *Channel) compose(m *notify.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(c.cfg.From); err != nil {
		return nil, fmt.Errorf("email: from: %w", err)
	}
	to := m.To
	if m.ToName != "" {
		to = (&mail.Address{Name: m.ToName, Address: m.To}).String()
	}
	if err := msg.To(to); err != nil {
		return nil, fmt.Errorf("email: to %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.ID != "" {
		msg.SetMessageIDWithValue(messageID(m.ID, c.cfg.From))
	}
	// Automated mail: no out-of-office replies back to the sender.
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID is "<notification id with / and : made safe>@<sender's
// domain>": the same for every retry of one notification.
func messageID(id, from string) string {
	domain := "frostline.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = a.Address[at+1:]
		}
	}
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.+=", r) {
			return r
		}
		return '.'
	}, id)
	return safe + "@" + domain
}
