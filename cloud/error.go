package cloud

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status in one function
// (cloud/http.statusOf); everything else only picks the code.
const (
	EINVALID      = "invalid"      // the request is malformed or a field is wrong
	ENOTFOUND     = "not_found"    // no such object, or not in the caller's scope
	ECONFLICT     = "conflict"     // illegal transition or a stale version
	EUNAUTHORIZED = "unauthorized" // no or unknown credentials
	EFORBIDDEN    = "forbidden"    // known caller, action not allowed for the role
	ETOOLARGE     = "too_large"    // request body over the limit
	ETHROTTLED    = "throttled"    // backing off after failed authentications
	EINTERNAL     = "internal"     // a bug or an unavailable dependency
)

// Error is the service's one error type: a code, a message fit to show the
// caller and, when one field is at fault, the field's name.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("cloud %s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("cloud %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID *Error naming the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-facing message of err: the *Error's
// message, or a generic text for internal errors, which are logged and
// never shown.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field an *Error in err's chain names, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
