package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/frostline/frostline/cloud"
)

// statusOf maps an error code to an HTTP status: the one place that does.
func statusOf(code string) int {
	switch code {
	case cloud.EINVALID:
		return http.StatusBadRequest
	case cloud.ENOTFOUND:
		return http.StatusNotFound
	case cloud.ECONFLICT:
		return http.StatusConflict
	case cloud.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case cloud.EFORBIDDEN:
		return http.StatusForbidden
	case cloud.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case cloud.ETHROTTLED:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
}

// writeError answers with problem+json. Internal errors are logged here,
// once, and never shown to the caller.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := cloud.ErrorCode(err)
	status := statusOf(code)
	if code == cloud.EINTERNAL {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p := Problem{
		Type: "https://frostline.dev/problems/" + code, Title: http.StatusText(status), Status: status,
		Detail: cloud.ErrorMessage(err), Instance: r.URL.Path, Code: code, Field: cloud.ErrorField(err),
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="frostline"`)
	}
	retryAfter(w.Header(), err)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p) //nolint:errcheck // the client went away
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	// Encode first: a value that cannot be encoded (a non-finite number)
	// answers a problem, never a status already sent with half a body.
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("http: encode the response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// decodeJSON reads one JSON object into v strictly: size-limited, unknown
// fields refused, type errors naming the field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(http.MaxBytesReader(w, r.Body, MaxJSONBody), v)
}

func decodeBody(body interface{ Read([]byte) (int, error) }, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return cloud.FieldError("body", "the body must be one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var (
		tooBig *http.MaxBytesError
		typ    *json.UnmarshalTypeError
		syn    *json.SyntaxError
	)
	var coded *cloud.Error
	switch {
	case errors.As(err, &coded): // from a field's own UnmarshalJSON
		return coded
	case errors.As(err, &tooBig):
		return cloud.Errorf(cloud.ETOOLARGE, "the body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body" // the body itself is of the wrong type
		}
		return cloud.FieldError(field, "want %s, got %s", typ.Type, typ.Value)
	case errors.As(err, &syn):
		return cloud.FieldError("body", "malformed JSON at byte %d", syn.Offset)
	}
	var unknown string
	if _, e := fmt.Sscanf(err.Error(), "json: unknown field %q", &unknown); e == nil {
		if unknown == "" {
			return cloud.FieldError("body", `unknown field ""`) // still name where the fault is
		}
		return cloud.FieldError(unknown, "unknown field")
	}
	return cloud.FieldError("body", "malformed JSON body: %v", err)
}
