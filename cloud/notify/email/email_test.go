package email_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/notify/email"
	"github.com/frostline/frostline/cloud/notify/mailsink"
)

// TestSend sends one message through a real SMTP server, in-process, in
// each TLS mode, and reads it back: headers, the text part and the HTML
// part.
func TestSend(t *testing.T) {
	tlsCfg, pemCert, err := mailsink.SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sink mailsink.Options
		cfg  email.Config
	}{
		{"plain local relay", mailsink.Options{}, email.Config{TLS: email.NoTLS}},
		{"relay with a password, no TLS", mailsink.Options{Username: "fl", Password: "s3cret"},
			email.Config{TLS: email.NoTLS, Username: "fl", PasswordFile: pwFile}},
		{"STARTTLS with auth", mailsink.Options{TLS: tlsCfg, Username: "fl", Password: "s3cret"},
			email.Config{TLS: email.StartTLS, Username: "fl", PasswordFile: pwFile, CAFile: caFile}},
		{"implicit TLS with auth", mailsink.Options{TLS: tlsCfg, Implicit: true, Username: "fl", Password: "s3cret"},
			email.Config{TLS: email.Implicit, Auth: "plain", Username: "fl", PasswordFile: pwFile, CAFile: caFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, err := mailsink.Start("127.0.0.1:0", tc.sink)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			cfg := tc.cfg
			cfg.Host, cfg.Port, cfg.From, cfg.Timeout = "127.0.0.1", sink.Port(), "Frostline <alerts@frostline.example>", 5*time.Second
			ch, err := email.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := &notify.Message{ID: "wo_1-3/p_ann/email", To: "ann@store.example", ToName: "Ann Lee",
				Subject: "WO-7: Walk-in cooler — vendor on site", Text: "CoolCo checked in at 10:04.\n",
				HTML: "<p>CoolCo checked in at <b>10:04</b>.</p>"}
			if err := ch.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := sink.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			g := got[0]
			if g.Subject != m.Subject || !strings.Contains(g.Text, "CoolCo checked in at 10:04.") || !strings.Contains(g.HTML, "<b>10:04</b>") {
				t.Errorf("got subject %q text %q html %q", g.Subject, g.Text, g.HTML)
			}
			if len(g.To) != 1 || g.To[0] != "ann@store.example" || g.From != "alerts@frostline.example" {
				t.Errorf("envelope from %q to %v", g.From, g.To)
			}
			if g.MessageID != "wo_1-3.p_ann.email@frostline.example" {
				t.Errorf("Message-ID %q, want the notification's id", g.MessageID)
			}
			if !strings.Contains(g.Header.Get("To"), "Ann Lee") || g.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("headers %v", g.Header)
			}
		})
	}
}

// TestSendFailures: a refused recipient is permanent, a server that is not
// there is worth retrying, and STARTTLS is not silently skipped.
func TestSendFailures(t *testing.T) {
	sink, err := mailsink.Start("127.0.0.1:0", mailsink.Options{Reject: func(rcpt string) error {
		if strings.HasPrefix(rcpt, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		if strings.HasPrefix(rcpt, "busy@") {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	cfg := email.Config{Host: "127.0.0.1", Port: sink.Port(), TLS: email.NoTLS, From: "alerts@frostline.example", Timeout: 5 * time.Second}
	ch, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	send := func(ch *email.Channel, to string) error {
		return ch.Send(context.Background(), &notify.Message{ID: "x", To: to, Subject: "s", Text: "t"})
	}
	if err := send(ch, "gone@store.example"); err == nil || !notify.IsPermanent(err) {
		t.Errorf("550: %v, want a permanent error", err)
	}
	if err := send(ch, "busy@store.example"); err == nil || notify.IsPermanent(err) {
		t.Errorf("451: %v, want a temporary error", err)
	}
	if err := send(ch, "not an address"); err == nil || !notify.IsPermanent(err) {
		t.Errorf("bad address: %v, want a permanent error", err)
	}
	starttls := cfg
	starttls.TLS = email.StartTLS
	ch2, err := email.New(starttls)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(ch2, "ann@store.example"); err == nil || notify.IsPermanent(err) {
		t.Errorf("STARTTLS to a server without it: %v, want a temporary error", err)
	}
	sink.Close()
	if err := send(ch, "ann@store.example"); err == nil || notify.IsPermanent(err) {
		t.Errorf("server gone: %v, want a temporary error", err)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("%d messages delivered, want 0", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*email.Config)
		want []string
	}{
		{"good", func(*email.Config) {}, nil},
		{"nothing", func(c *email.Config) { *c = email.Config{} }, []string{"x.host", "x.tls", "x.from", "x.timeout"}},
		{"bad port and tls", func(c *email.Config) { c.Port, c.TLS = 70000, "ssl" }, []string{"x.port", "x.tls"}},
		{"auth without user", func(c *email.Config) { c.Auth = "login" }, []string{"x.username"}},
		{"user without password", func(c *email.Config) { c.Username = "u" }, []string{"x.password_file"}},
		{"bad from", func(c *email.Config) { c.From = "frostline" }, []string{"x.from"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := email.DefaultConfig()
			c.Host, c.From = "smtp.example.com", "Frostline <f@example.com>"
			tc.mod(&c)
			err := c.Validate("x")
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w+":") {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
