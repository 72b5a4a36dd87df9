package cloudmc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a request is retried.
//
// GET is retried on network errors and on 429, 502, 503 and 504. Requests
// with side effects (POST, DELETE) are retried only when the server
// certainly did not act: on 429, and when the connection failed before the
// request was sent. Waits grow from MinBackoff, doubling, with jitter, up to
// MaxBackoff; a Retry-After header sets the wait instead, and one longer
// than MaxBackoff ends the retries at once.
type RetryPolicy struct {
	MaxRetries int           // retries after the first attempt; 0 turns retries off
	MinBackoff time.Duration // first wait, before jitter
	MaxBackoff time.Duration // cap on any wait, Retry-After included
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxRetries < 0 || p.MaxRetries > 100:
		return invalidArg("RetryPolicy.MaxRetries %d is outside 0..100", p.MaxRetries)
	case p.MinBackoff < 0 || p.MaxBackoff < 0:
		return invalidArg("RetryPolicy backoffs must not be negative")
	case p.MaxBackoff < p.MinBackoff:
		return invalidArg("RetryPolicy.MaxBackoff %s is below MinBackoff %s", p.MaxBackoff, p.MinBackoff)
	}
	return nil
}

// shouldRetry is the whole retry decision for one failed attempt: status is
// the response's status, or 0 when err (a transport error) came instead.
func shouldRetry(method string, status int, err error) bool {
	idempotent := method == http.MethodGet || method == http.MethodHead
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && !isNetTimeout(err) {
			return false
		}
		if isCertError(err) || errors.Is(err, ErrResponseTooLarge) {
			return false
		}
		if notSent(err) {
			return true
		}
		return idempotent
	}
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

// notSent reports a failure to connect: no byte of the request left.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isCertError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		errors.As(err, &ci) || errors.As(err, &rh)
}

// backoff is the wait before retry number n (from 0): MinBackoff doubled n
// times, capped, then jittered into [d/2, d].
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 0; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	if d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; ok is false
// when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
