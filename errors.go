package cloudmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Match them with errors.Is; use errors.As with *APIError,
// *TaskError or *DecodeError for the details.
var (
	// ErrInvalidArgument reports bad input caught before any request was sent.
	ErrInvalidArgument = errors.New("cloudmc: invalid argument")
	// ErrNotFound matches an *APIError with status 404.
	ErrNotFound = errors.New("cloudmc: not found")
	// ErrUnauthorized matches an *APIError with status 401 or 403.
	ErrUnauthorized = errors.New("cloudmc: unauthorized")
	// ErrRateLimited matches an *APIError with status 429 (after any retries).
	ErrRateLimited = errors.New("cloudmc: rate limited")
	// ErrTaskFailed matches a *TaskError: a task that ended FAILED.
	ErrTaskFailed = errors.New("cloudmc: task failed")
	// ErrInvalidResponse matches a *DecodeError: a body the client could not
	// make sense of.
	ErrInvalidResponse = errors.New("cloudmc: invalid response")
	// ErrResponseTooLarge reports a response body over the client's limit
	// (see WithMaxResponseBytes). It also matches ErrInvalidResponse.
	ErrResponseTooLarge = errors.New("cloudmc: response body too large")
	// ErrRedirectRefused matches an *APIError for a redirect the client would
	// not follow because it leads to another origin (the key would leak).
	ErrRedirectRefused = errors.New("cloudmc: redirect to another origin refused")
)

// maxErrorBody bounds the raw body kept on an *APIError.
const maxErrorBody = 16 << 10

// APIError is a response with an error status, or a 2xx response that
// carries an "errors" list.
type APIError struct {
	StatusCode int
	Method     string
	Path       string // request path and query; never holds the key
	Errors     []ErrorDetail
	Body       []byte // the raw body, at most 16 KiB
	RequestID  string // from a request-id header when the server sends one
	// RetryAfter is the wait the server asked for (Retry-After), if any.
	RetryAfter time.Duration

	refused string // why a redirect was not followed
}

// ErrorDetail is one entry of the server's "errors" list.
type ErrorDetail struct {
	Code    string // "2012" for a numeric code, "FOO_ERROR" for errorCode
	Message string
	Context map[string]any
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("cloudmc: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	switch {
	case e.refused != "":
		b.WriteString(": ")
		b.WriteString(printableText(e.refused, 240))
	case len(e.Errors) > 0:
		for i, d := range e.Errors {
			if i == 3 {
				fmt.Fprintf(&b, " (and %d more)", len(e.Errors)-3)
				break
			}
			if i == 0 {
				b.WriteString(": ")
			} else {
				b.WriteString("; ")
			}
			b.WriteString(d.String())
		}
	case len(bytes.TrimSpace(e.Body)) == 0:
		b.WriteString(" (empty body)")
	default:
		b.WriteString(": body: ")
		b.WriteString(sample(e.Body))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// Is maps the status code to the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrRedirectRefused:
		return e.refused != ""
	}
	return false
}

// LogValue lets slog show the error as fields.
func (e *APIError) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int("status", e.StatusCode),
		slog.String("method", e.Method),
		slog.String("path", e.Path),
	}
	if len(e.Errors) > 0 {
		attrs = append(attrs, slog.String("code", e.Errors[0].Code), slog.String("message", e.Errors[0].Message))
	}
	if e.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", e.RequestID))
	}
	return slog.GroupValue(attrs...)
}

// String formats the detail as "[code] message" for an error string: code
// and message are cut short and their control characters escaped (see
// printableText). The fields keep the server's full text.
func (d ErrorDetail) String() string {
	code, msg := printableText(d.Code, 64), printableText(d.Message, maxTextInError)
	switch {
	case code != "" && msg != "":
		return "[" + code + "] " + msg
	case code != "":
		return "[" + code + "]"
	case msg != "":
		return msg
	}
	return "(no message)"
}

// maxTextInError bounds each piece of server text an error string repeats.
const maxTextInError = 300

// printableText makes server text safe to put in an error string: at most
// about max bytes, cut on a rune boundary and marked "...", with invalid
// UTF-8 and every rune that is not graphic (control characters, line
// breaks, bidi overrides) escaped as in a Go string literal.
func printableText(s string, max int) string {
	clean := len(s) <= max
	for _, r := range s {
		clean = clean && r != utf8.RuneError && unicode.IsGraphic(r)
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if b.Len() >= max {
			b.WriteString("...")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsGraphic(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// TaskError is a task that ended FAILED. It matches ErrTaskFailed.
type TaskError struct {
	Task   *Task
	Errors []ErrorDetail // the task's errors, when the server sent any
}

// Error implements error.
func (e *TaskError) Error() string {
	var b strings.Builder
	b.WriteString("cloudmc: task ")
	if e.Task != nil && e.Task.ID != "" {
		b.WriteString(printableText(e.Task.ID, 100))
		b.WriteByte(' ')
	}
	b.WriteString("failed")
	if len(e.Errors) > 0 {
		b.WriteString(": ")
		b.WriteString(e.Errors[0].String())
	} else if e.Task != nil {
		var r struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Task.Result, &r) == nil && r.Message != "" {
			b.WriteString(": ")
			b.WriteString(printableText(r.Message, maxTextInError))
		}
	}
	return b.String()
}

// Is reports whether target is ErrTaskFailed.
func (e *TaskError) Is(target error) bool { return target == ErrTaskFailed }

// DecodeError is a response body the client could not decode. It matches
// ErrInvalidResponse.
type DecodeError struct {
	Method      string
	Path        string
	StatusCode  int
	ContentType string
	Sample      string // a short, printable start of the body
	Err         error
}

// Error implements error.
func (e *DecodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cloudmc: %s %s: cannot decode response (status %d", e.Method, e.Path, e.StatusCode)
	if e.ContentType != "" {
		b.WriteString(", ")
		b.WriteString(printableText(e.ContentType, 100))
	}
	b.WriteString("): ")
	if e.Err != nil {
		// encoding/json quotes the offending value, which may be huge.
		b.WriteString(printableText(e.Err.Error(), 300))
	} else {
		b.WriteString("unknown cause")
	}
	if e.Sample != "" {
		b.WriteString("; body starts: ")
		b.WriteString(e.Sample)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrInvalidResponse.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidResponse }

// sample quotes at most 120 bytes of b, valid UTF-8, control characters escaped.
func sample(b []byte) string {
	b = bytes.TrimSpace(b)
	const n = 120
	cut := len(b) > n
	if cut {
		b = b[:n] // a rune cut in two shows as \x escapes, like any invalid byte
	}
	s := strconv.Quote(string(b))
	if cut {
		s += "..."
	}
	return s
}

func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// errorWire is one error entry as servers send it.
type errorWire struct {
	Code      json.RawMessage `json:"code"`
	ErrorCode json.RawMessage `json:"errorCode"`
	Message   json.RawMessage `json:"message"`
	Context   json.RawMessage `json:"context"`
}

// parseErrors turns the raw "errors" value into details. It accepts a list,
// a single object or a string, and never fails: an unreadable entry becomes
// a detail holding its text.
func parseErrors(raw json.RawMessage) []ErrorDetail {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var list []json.RawMessage
	switch raw[0] {
	case '[':
		if json.Unmarshal(raw, &list) != nil {
			return []ErrorDetail{{Message: sample(raw)}}
		}
	default:
		list = []json.RawMessage{raw}
	}
	out := make([]ErrorDetail, 0, len(list))
	for _, item := range list {
		out = append(out, parseErrorEntry(item))
	}
	return out
}

func parseErrorEntry(item json.RawMessage) ErrorDetail {
	item = bytes.TrimSpace(item)
	if len(item) == 0 || item[0] != '{' {
		return ErrorDetail{Message: scalarText(item)}
	}
	var w errorWire
	if json.Unmarshal(item, &w) != nil {
		return ErrorDetail{Message: sample(item)}
	}
	d := ErrorDetail{Code: scalarText(w.Code), Message: scalarText(w.Message)}
	if d.Code == "" {
		d.Code = scalarText(w.ErrorCode)
	}
	if len(w.Context) > 0 && w.Context[0] == '{' {
		var ctx map[string]any
		if json.Unmarshal(w.Context, &ctx) == nil {
			d.Context = ctx
		}
	}
	return d
}

// scalarText renders a JSON string or number as text; other values as "".
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw)
	case 't', 'f':
		return string(raw)
	}
	return ""
}
