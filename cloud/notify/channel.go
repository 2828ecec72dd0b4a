package notify

import (
	"context"
	"errors"
)

// Channel is one way of reaching a person: email, an SMS gateway, Slack,
// Teams. Each is one small package (cloud/notify/email is the first) that
// turns a rendered Message into whatever its service takes. A channel keeps
// no queue of its own: the notification outbox (Sender) decides when to
// send, retries, and records what happened.
type Channel interface {
	// Name is the channel's name in people's preferences and the
	// delivery log ("email").
	Name() string
	// Send delivers one message or returns why not. An error wrapped by
	// Permanent is not retried (a refused address); any other is.
	Send(ctx context.Context, m *Message) error
}

// Message is a notification rendered for one recipient on one channel.
type Message struct {
	// ID is the notification's id, the same on every retry: a channel
	// that can carry it (email's Message-ID) does, so that a receiver
	// sees a retry after a lost acknowledgement as the same message.
	ID string
	// To is the address on the channel (an email address, a phone
	// number); ToName is the person's name.
	To, ToName string
	Subject    string
	// Text and HTML are the two renderings; a channel uses what it can
	// carry (SMS the text, email both).
	Text, HTML string
}

// permanentError marks a failure that retrying cannot mend.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the Sender dead-letters the
// notification at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
