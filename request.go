package cloudmc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// drainCap is how much of an unread body is read to let the connection be
// reused; a longer rest is dropped with the connection.
const drainCap = 64 << 10

// drainWait bounds how long draining may wait for bytes that do not come.
const drainWait = 100 * time.Millisecond

// request is one API call before it is sent.
type request struct {
	method string
	segs   []string // unescaped path segments below the base URL
	query  url.Values
	body   any // marshalled to JSON when not nil
}

// decodeFunc reads a 2xx body. It gets the response for its headers.
type decodeFunc func(resp *http.Response, body io.Reader) error

// url builds the request URL under the base path, escaping each segment.
func (c *Client) url(r *request) *url.URL {
	u := *c.base
	// Sized up front: one allocation per path rather than one per growth.
	size := 0
	for _, s := range r.segs {
		size += 1 + len(s)
	}
	var rp strings.Builder
	rp.Grow(len(c.baseRawPath) + size)
	rp.WriteString(c.baseRawPath)
	escaped := c.basePath != c.baseRawPath
	for _, s := range r.segs {
		e := escapeSegment(s)
		escaped = escaped || e != s
		rp.WriteByte('/')
		rp.WriteString(e)
	}
	u.RawPath = rp.String()
	u.Path = u.RawPath // the usual case: nothing needed escaping
	if escaped {
		var p strings.Builder
		p.Grow(len(c.basePath) + size)
		p.WriteString(c.basePath)
		for _, s := range r.segs {
			p.WriteByte('/')
			p.WriteString(s)
		}
		u.Path = p.String()
	}
	q := r.query
	if c.orgID != "" {
		q = cloneValues(q)
		q.Set("org_id", c.orgID)
	}
	u.RawQuery = ""
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return &u
}

// escapeSegment is url.PathEscape, also escaping dots when the segment is
// made only of them, so no server can read it as "." or "..".
func escapeSegment(s string) string {
	if strings.Trim(s, ".") == "" {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

// do sends r, retrying per the policy, and hands a 2xx body to decode.
// Every body is read through the size limit, drained and closed.
func (c *Client) do(ctx context.Context, r *request, decode decodeFunc) error {
	if ctx == nil {
		return invalidArg("nil context")
	}
	u := c.url(r)
	path := u.RequestURI()
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("cloudmc: %s %s: encoding request: %w", r.method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cloudmc: %s %s: %w", r.method, path, err)
		}
		start := time.Now()
		status, retryAfter, err := c.attempt(ctx, r.method, u, path, payload, decode)
		err = c.scrub(err) // before it is logged or returned
		if c.logger != nil {
			c.log(ctx, r.method, path, attempt, status, time.Since(start), err)
		}
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The transport's own words about a cancelled request are noise.
			return fmt.Errorf("cloudmc: %s %s: %w", r.method, path, ctxErr)
		}
		if attempt >= c.retry.MaxRetries || !shouldRetry(r.method, status, transportErr(err)) {
			return err
		}
		wait := c.retry.backoff(attempt)
		if retryAfter >= 0 {
			if retryAfter > c.retry.MaxBackoff {
				// The server wants longer than we may wait: give the caller its answer.
				return err
			}
			wait = retryAfter
		}
		if c.logger != nil {
			c.logger.DebugContext(ctx, "cloudmc retry", "method", r.method, "path", path, "attempt", attempt+1, "wait", wait)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("cloudmc: %s %s: %w (after %d attempts; last error: %v)", r.method, path, serr, attempt+1, err)
		}
	}
}

// netError marks a transport failure, so the retry policy can tell it from
// an answer the server gave.
type netError struct {
	method, path string
	err          error
}

func (e *netError) Error() string {
	return fmt.Sprintf("cloudmc: %s %s: %v", e.method, e.path, e.err)
}

func (e *netError) Unwrap() error { return e.err }

func transportErr(err error) error {
	var ne *netError
	if errors.As(err, &ne) {
		return ne.err
	}
	return nil
}

// attempt makes one HTTP exchange. It returns the status (0 when none came),
// the Retry-After the server asked for (-1 when none) and the error.
func (c *Client) attempt(ctx context.Context, method string, u *url.URL, path string, payload []byte, decode decodeFunc) (int, time.Duration, error) {
	// The header values share one array (one allocation, not four); each
	// slice is capped so that appending to one cannot touch the next.
	vals := &[4]string{c.key(), c.userAgent, "application/json", "application/json"}
	hdr := make(http.Header, 5)
	hdr[headerAPIKeyCanonical] = vals[0:1:1]
	hdr["User-Agent"] = vals[1:2:2]
	hdr["Accept"] = vals[2:3:3]
	// tmpl stays on the stack; WithContext makes the one heap copy.
	tmpl := http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Host:       u.Host,
	}
	req := tmpl.WithContext(ctx)
	if payload != nil {
		req.Header["Content-Type"] = vals[3:4:4]
		req.ContentLength = int64(len(payload))
		req.Body = io.NopCloser(bytes.NewReader(payload))
		req.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(payload)), nil
		}
	} else if method != http.MethodGet && method != http.MethodHead {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, -1, &netError{method: method, path: path, err: stripURL(err)}
	}
	if resp.StatusCode < 200 {
		// A 101 hands over a raw connection that no context governs:
		// never read it.
		_ = resp.Body.Close()
		return resp.StatusCode, -1, &APIError{StatusCode: resp.StatusCode, Method: method, Path: path,
			refused: "unexpected informational answer"}
	}
	rd := &responseReaders{limit: limitReader{r: resp.Body, n: c.maxBody}}
	body := &rd.limit
	defer finishBody(resp.Body, body)

	retryAfter := time.Duration(-1)
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		retryAfter = d
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, retryAfter, c.apiError(method, path, resp, body, retryAfter)
	}
	pre := &rd.prefix
	pre.r = body
	err = decode(resp, pre)
	if err == nil {
		return resp.StatusCode, retryAfter, nil
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		// A 2xx body that carries "errors".
		apiErr.StatusCode, apiErr.Method, apiErr.Path = resp.StatusCode, method, path
		apiErr.RequestID = c.redact(requestID(resp.Header))
		apiErr.Body = c.redactBytes(pre.captured())
		return resp.StatusCode, retryAfter, apiErr
	}
	if errors.As(err, new(*TaskError)) {
		return resp.StatusCode, retryAfter, err
	}
	if body.tooLarge {
		return resp.StatusCode, retryAfter, &DecodeError{Method: method, Path: path, StatusCode: resp.StatusCode,
			ContentType: resp.Header.Get("Content-Type"),
			Err:         fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, c.maxBody)}
	}
	if body.readErr != nil {
		// The connection broke mid-body: a network fault, retryable for GET.
		return 0, retryAfter, &netError{method: method, path: path,
			err: fmt.Errorf("reading response body (status %d): %w", resp.StatusCode, body.readErr)}
	}
	return resp.StatusCode, retryAfter, &DecodeError{Method: method, Path: path, StatusCode: resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"), Sample: sample(c.redactBytes(pre.captured())), Err: err}
}

// stripURL drops the URL from a *url.Error: the caller's error already
// names method and path, and the base URL may carry a host they'd rather
// not see repeated.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) apiError(method, path string, resp *http.Response, body *limitReader, retryAfter time.Duration) error {
	raw, readErr := io.ReadAll(io.LimitReader(body, maxErrorBody))
	raw = c.redactBytes(raw) // a proxy may echo the request's headers
	e := &APIError{
		StatusCode: resp.StatusCode,
		Method:     method,
		Path:       path,
		Body:       raw,
		RequestID:  c.redact(requestID(resp.Header)),
	}
	if retryAfter > 0 {
		e.RetryAfter = retryAfter
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc, err := resp.Location(); err == nil {
			switch {
			case !sameOrigin(c.base, loc):
				e.refused = "redirect to " + (&url.URL{Scheme: loc.Scheme, Host: loc.Host}).String() + " not followed (another origin)"
			case method != http.MethodGet && method != http.MethodHead && resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect:
				e.refused = "redirect not followed: it would turn the " + method + " into a GET"
			}
		}
	}
	if readErr == nil && len(raw) > 0 && raw[0] != '<' {
		e.Errors = errorsFromBody(raw)
	}
	return e
}

// errorsFromBody reads the "errors" (or a lone "message") of an error body;
// nil when the body is not such JSON.
func errorsFromBody(raw []byte) []ErrorDetail {
	var env struct {
		Errors  json.RawMessage `json:"errors"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return nil
	}
	if d := parseErrors(env.Errors); len(d) > 0 {
		return d
	}
	if m := scalarText(env.Message); m != "" {
		return []ErrorDetail{{Message: m}}
	}
	return nil
}

func requestID(h http.Header) string {
	for _, k := range []string{"X-Request-Id", "Request-Id", "X-Correlation-Id", "X-Amzn-Requestid"} {
		if v := h.Get(k); v != "" {
			if len(v) > 128 || !printableASCII(v) {
				return ""
			}
			return v
		}
	}
	return ""
}

func (c *Client) log(ctx context.Context, method, path string, attempt, status int, d time.Duration, err error) {
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("attempt", attempt+1),
		slog.Duration("duration", d),
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "cloudmc request", attrs...)
}

// finishBody drains a little of what is left, so the connection can be
// reused, then closes. A body already read to its end needs neither.
func finishBody(b io.ReadCloser, lr *limitReader) {
	if !lr.eof {
		// A server may hold a finished answer open: drain only what comes
		// at once, then close (the connection is dropped if unfinished).
		t := time.AfterFunc(drainWait, func() { _ = b.Close() })
		_, _ = io.CopyN(io.Discard, b, drainCap)
		t.Stop()
	}
	_ = b.Close()
}

// limitReader fails, rather than stopping quietly, past n bytes, and
// remembers a transport error so it can be told from bad JSON.
type limitReader struct {
	r        io.Reader
	n        int64
	tooLarge bool
	eof      bool // the body was read to its end
	readErr  error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells "exactly the limit" from "over it".
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.tooLarge = true
			return 0, ErrResponseTooLarge
		}
		l.eof = err == io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err == io.EOF {
		l.eof = true
	} else if err != nil {
		l.readErr = err
	}
	return n, err
}

// responseReaders are a response's two readers, allocated together.
type responseReaders struct {
	limit  limitReader
	prefix prefixReader
}

// prefixReader keeps the first bytes read, for error samples.
type prefixReader struct {
	r   io.Reader
	buf [160]byte
	n   int
}

func (p *prefixReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.n < len(p.buf) && n > 0 {
		p.n += copy(p.buf[p.n:], b[:n])
	}
	return n, err
}

func (p *prefixReader) captured() []byte { return append([]byte(nil), p.buf[:p.n]...) }

// redactBytes replaces the key in text from the server, including a key cut
// off at the end of a bounded read, so no error can carry it.
func (c *Client) redactBytes(b []byte) []byte {
	key := []byte(c.key())
	if len(key) == 0 || len(b) == 0 {
		return b
	}
	if bytes.Contains(b, key) {
		b = bytes.ReplaceAll(b, key, []byte("[redacted]"))
	}
	for n := len(key) - 1; n >= 4; n-- {
		if bytes.HasSuffix(b, key[:n]) {
			return append(b[:len(b)-n:len(b)-n], "[redacted]"...)
		}
	}
	return b
}

func (c *Client) redact(s string) string {
	if s == "" || !strings.Contains(s, c.key()) {
		return s
	}
	return strings.ReplaceAll(s, c.key(), "[redacted]")
}

// scrub takes the key out of every text an error carries: a server or proxy
// may echo the request's headers into bodies, error entries or task results.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		ae.Errors = c.redactDetails(ae.Errors)
		ae.Body = c.redactBytes(ae.Body)
		ae.RequestID = c.redact(ae.RequestID)
	}
	var te *TaskError
	if errors.As(err, &te) {
		te.Errors = c.redactDetails(te.Errors)
		if te.Task != nil {
			te.Task.ID = c.redact(te.Task.ID)
			te.Task.Errors = c.redactDetails(te.Task.Errors)
			te.Task.Result = c.redactBytes(te.Task.Result)
		}
	}
	var de *DecodeError
	if errors.As(err, &de) {
		de.Sample = c.redact(de.Sample)
		de.ContentType = c.redact(de.ContentType)
	}
	if msg := err.Error(); strings.Contains(msg, c.key()) {
		// Whatever else quoted it (a transport's words about a malformed
		// answer, say): the message is redacted, the chain kept.
		return &redactedError{msg: c.redact(msg), err: err}
	}
	return err
}

func (c *Client) redactDetails(ds []ErrorDetail) []ErrorDetail {
	for i := range ds {
		ds[i].Code = c.redact(ds[i].Code)
		ds[i].Message = c.redact(ds[i].Message)
		for k, v := range ds[i].Context {
			ds[i].Context[k] = c.redactValue(v)
		}
	}
	return ds
}

func (c *Client) redactValue(v any) any {
	switch t := v.(type) {
	case string:
		return c.redact(t)
	case map[string]any:
		for k, x := range t {
			t[k] = c.redactValue(x)
		}
	case []any:
		for i, x := range t {
			t[i] = c.redactValue(x)
		}
	}
	return v
}

// redactedError is an error whose message had to lose the key.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
