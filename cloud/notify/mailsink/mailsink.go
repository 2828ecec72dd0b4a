// Package mailsink is an SMTP server that keeps what it is sent, in
// memory: the demo's mail room (its messages are readable at /demo/mail)
// and the real server the email tests send to. It is
// github.com/emersion/go-smtp in the process, speaking plain SMTP,
// STARTTLS or implicit TLS, with or without PLAIN authentication; each
// message is parsed into its headers and its text and HTML parts.
package mailsink

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a sink. The zero value is a plain local relay.
type Options struct {
	// TLS, when set, offers STARTTLS, or with Implicit speaks TLS from
	// the first byte.
	TLS      *tls.Config
	Implicit bool
	// Username and Password, when set, require PLAIN authentication.
	Username, Password string
	// Reject, when set, is asked about each recipient; an error refuses
	// it (a *smtp.SMTPError carries its code).
	Reject func(rcpt string) error
	// Hold, when set, is called with the client's HELO name before each
	// recipient is taken, and may block: a test holds a client in the
	// middle of its transaction, before the server has taken anything.
	Hold func(helo, rcpt string)
	// Max is how many messages are kept, the oldest dropped first; 0 is
	// 1000.
	Max int
}

// Mail is one received message.
type Mail struct {
	// Helo is the name the client gave in HELO or EHLO.
	Helo      string
	From      string
	To        []string
	Subject   string
	MessageID string
	Header    mail.Header
	Text      string
	HTML      string
	Raw       []byte
	At        time.Time
}

// Sink is a running SMTP server.
type Sink struct {
	srv  *smtp.Server
	ln   net.Listener
	opts Options
	// mu guards mails and waiters: sessions run on the server's
	// connection goroutines, readers on theirs.
	mu      sync.Mutex
	mails   []Mail
	waiters []chan struct{}
	done    chan error
	close   sync.Once
	err     error
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves
// until Close.
func Start(addr string, o Options) (*Sink, error) {
	if o.Max <= 0 {
		o.Max = 1000
	}
	s := &Sink{opts: o, done: make(chan error, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{sink: s, conn: c}, nil }))
	s.srv.Domain, s.srv.ReadTimeout, s.srv.WriteTimeout = "mailsink.local", time.Minute, time.Minute
	s.srv.MaxMessageBytes, s.srv.MaxRecipients = 10<<20, 100
	s.srv.AllowInsecureAuth = o.TLS == nil
	s.srv.TLSConfig = o.TLS
	var err error
	if o.TLS != nil && o.Implicit {
		s.ln, err = tls.Listen("tcp", addr, o.TLS)
	} else {
		s.ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("mailsink: listen: %w", err)
	}
	// The server's accept loop; Close stops it and waits for it.
	go func() { s.done <- s.srv.Serve(s.ln) }()
	return s, nil
}

// Addr is the address the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Port is the port the sink listens on.
func (s *Sink) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server and waits for its accept loop. It may be called
// more than once.
func (s *Sink) Close() error {
	s.close.Do(func() {
		s.err = s.srv.Close()
		// A Close that comes before the accept loop has taken the
		// listener (a test that starts and closes at once) would leave
		// it accepting forever: close the listener here too.
		s.ln.Close()
		<-s.done
	})
	return s.err
}

// Messages returns the messages received, oldest first.
func (s *Sink) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Changed returns a channel closed when the next message arrives.
func (s *Sink) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	return ch
}

func (s *Sink) add(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	if over := len(s.mails) - s.opts.Max; over > 0 {
		s.mails = append([]Mail(nil), s.mails[over:]...)
	}
	for _, ch := range s.waiters {
		close(ch)
	}
	s.waiters = nil
}

type session struct {
	sink   *Sink
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.sink.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.sink.opts.Username || password != ss.sink.opts.Password {
			return errors.New("invalid username or password")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if h := ss.sink.opts.Hold; h != nil {
		h(ss.conn.Hostname(), to)
	}
	if r := ss.sink.opts.Reject; r != nil {
		if err := r(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	m.Helo, m.From, m.To, m.At = ss.conn.Hostname(), ss.from, append([]string(nil), ss.to...), time.Now().UTC()
	ss.sink.add(m)
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// Parse reads a message: its headers, and its text/plain and text/html
// parts, however nested in multipart containers and whichever transfer
// encoding each has.
func Parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, fmt.Errorf("mailsink: %w", err)
	}
	m := Mail{Header: msg.Header, Raw: raw, MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<>")}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		m.Subject = msg.Header.Get("Subject")
	}
	err = walk(&m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	return m, err
}

func walk(m *Mail, ctype, cte string, body io.Reader, depth int) error {
	if depth > 5 {
		return errors.New("mailsink: multipart nested too deep")
	}
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("mailsink: content type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("mailsink: %w", err)
			}
			if err := walk(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("mailsink: %s part: %w", mt, err)
	}
	switch mt {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

// newlineStripper drops CR and LF, which base64 bodies are broken by.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
