package cloudmc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShouldRetry(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	dns := &net.DNSError{Err: "no such host", Name: "x.test"}
	tests := []struct {
		method string
		status int
		err    error
		want   bool
	}{
		{"GET", 429, nil, true},
		{"GET", 502, nil, true},
		{"GET", 503, nil, true},
		{"GET", 504, nil, true},
		{"GET", 500, nil, false},
		{"GET", 400, nil, false},
		{"GET", 401, nil, false},
		{"GET", 404, nil, false},
		{"GET", 0, reset, true},
		{"GET", 0, io.ErrUnexpectedEOF, true},
		{"GET", 0, refused, true},
		{"GET", 0, context.Canceled, false},
		{"GET", 0, x509.UnknownAuthorityError{}, false},
		{"GET", 0, fmt.Errorf("wrapped: %w", ErrResponseTooLarge), false},
		{"POST", 429, nil, true},
		{"POST", 502, nil, false},
		{"POST", 503, nil, false},
		{"POST", 504, nil, false},
		{"POST", 500, nil, false},
		{"POST", 0, refused, true},
		{"POST", 0, dns, true},
		{"POST", 0, reset, false},
		{"POST", 0, io.ErrUnexpectedEOF, false},
		{"DELETE", 429, nil, true},
		{"DELETE", 503, nil, false},
		{"DELETE", 0, refused, true},
		{"DELETE", 0, reset, false},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %d %v", tt.method, tt.status, tt.err)
		assert.Equal(t, tt.want, shouldRetry(tt.method, tt.status, tt.err), name)
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	p := RetryPolicy{MaxRetries: 10, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n, base := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		base *= time.Millisecond
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			d := p.backoff(n)
			require.GreaterOrEqual(t, d, base/2, "attempt %d", n)
			require.LessOrEqual(t, d, base, "attempt %d", n)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 10, "jittered, attempt %d", n)
	}
	assert.Equal(t, time.Duration(0), RetryPolicy{}.backoff(3))
	huge := RetryPolicy{MinBackoff: time.Hour, MaxBackoff: 2 * time.Hour}
	assert.LessOrEqual(t, huge.backoff(62), 2*time.Hour, "no overflow")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"Thu, 03 Dec 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thu, 03 Dec 2026 11:00:00 GMT", 0, true},
		{"99999999999", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func statuses(codes ...int) httpmock.Responder {
	var rs []*http.Response
	for _, c := range codes {
		body := `{"data": [], "taskId": "` + taskID + `", "taskStatus": "PENDING"}`
		if c >= 300 {
			body = `{"errors": [{"code": "E` + fmt.Sprint(c) + `"}]}`
		}
		rs = append(rs, httpmock.NewStringResponse(c, body))
	}
	return httpmock.ResponderFromMultipleResponses(rs)
}

func TestRetryFlows(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		responses []int
		wantCalls int
		wantErr   int // expected APIError status; 0 for success
	}{
		{"GET 503 then ok", "GET", []int{503, 502, 200}, 3, 0},
		{"GET gives up", "GET", []int{503, 503, 503, 503, 200}, 4, 503},
		{"GET 500 not retried", "GET", []int{500, 200}, 1, 500},
		{"POST 503 not retried", "POST", []int{503, 200}, 1, 503},
		{"POST 502 not retried", "POST", []int{502, 200}, 1, 502},
		{"POST 429 retried", "POST", []int{429, 200}, 2, 0},
		{"DELETE 504 not retried", "DELETE", []int{504, 200}, 1, 504},
		{"GET 429 after retries", "GET", []int{429, 429, 429, 429}, 4, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t)
			isos := c.Isos("compute-on", "test_area")
			var err error
			switch tt.method {
			case "GET":
				mt.RegisterResponder("GET", isosURL, statuses(tt.responses...))
				_, err = isos.List(context.Background(), nil)
			case "POST":
				mt.RegisterResponder("POST", isosURL+"/"+isoID, statuses(tt.responses...))
				_, err = isos.Attach(context.Background(), isoID, instanceID)
			case "DELETE":
				mt.RegisterResponder("DELETE", isosURL+"/"+isoID, statuses(tt.responses...))
				_, err = isos.Delete(context.Background(), isoID)
			}
			assert.Equal(t, tt.wantCalls, mt.GetTotalCallCount())
			if tt.wantErr == 0 {
				require.NoError(t, err)
				return
			}
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.wantErr, apiErr.StatusCode)
			if tt.wantErr == 429 {
				assert.ErrorIs(t, err, ErrRateLimited)
			}
		})
	}
}

func TestRetryAfterLongerThanCapStops(t *testing.T) {
	for _, header := range []string{"120", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
		c, mt := newMock(t, WithRetry(RetryPolicy{MaxRetries: 5, MinBackoff: time.Millisecond, MaxBackoff: time.Second}))
		mt.RegisterResponder("GET", isosURL, func(r *http.Request) (*http.Response, error) {
			resp := httpmock.NewStringResponse(429, `{"errors": [{"code": "RATE_LIMIT", "message": "slow down"}]}`)
			resp.Header.Set("Retry-After", header)
			return resp, nil
		})
		start := time.Now()
		_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
		assert.Less(t, time.Since(start), 500*time.Millisecond, "no waiting for a Retry-After over the cap")
		require.ErrorIs(t, err, ErrRateLimited)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Greater(t, apiErr.RetryAfter, 59*time.Second, header)
		assert.Contains(t, err.Error(), "retry after")
		assert.Equal(t, 1, mt.GetTotalCallCount())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	c, mt := newMock(t, WithRetry(RetryPolicy{MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Second}))
	first := true
	var gap time.Duration
	var last time.Time
	mt.RegisterResponder("GET", isosURL, func(r *http.Request) (*http.Response, error) {
		if first {
			first = false
			last = time.Now()
			resp := httpmock.NewStringResponse(503, ``)
			resp.Header.Set("Retry-After", "1")
			return resp, nil
		}
		gap = time.Since(last)
		return httpmock.NewStringResponse(200, `{"data": []}`), nil
	})
	_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, gap, 900*time.Millisecond, "waited as the server asked, not the 1ms backoff")
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	c, mt := newMock(t, WithRetry(RetryPolicy{MaxRetries: 5, MinBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second}))
	mt.RegisterResponder("GET", isosURL, httpmock.NewStringResponder(503, ``))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Isos("compute-on", "test_area").List(ctx, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "503", "the last answer is kept in the message")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestNetworkErrorRetries(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name      string
		post      bool
		err       error
		wantCalls int
	}{
		{"GET refused", false, refused, 4},
		{"GET reset", false, reset, 4},
		{"POST refused", true, refused, 4},
		{"POST reset", true, reset, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t)
			mt.RegisterNoResponder(httpmock.NewErrorResponder(tt.err))
			var err error
			if tt.post {
				_, err = c.Isos("compute-on", "test_area").Attach(context.Background(), isoID, instanceID)
			} else {
				_, err = c.Isos("compute-on", "test_area").List(context.Background(), nil)
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, tt.err), "keeps the cause: %v", err)
			assert.Equal(t, tt.wantCalls, mt.GetTotalCallCount())
			assertNoKey(t, err.Error())
		})
	}
}

// brokenBody returns some bytes then fails, like a connection cut mid-body.
type brokenBody struct{ r io.Reader }

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
func (b *brokenBody) Close() error { return nil }

func TestTruncatedBodyRetriedForGETOnly(t *testing.T) {
	cut := func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(200, "")
		resp.Body = &brokenBody{r: strings.NewReader(`{"data": [{"id": "` + isoID)}
		return resp, nil
	}
	c, mt := newMock(t)
	mt.RegisterResponder("GET", isosURL, cut)
	_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, 4, mt.GetTotalCallCount())

	mt.RegisterResponder("POST", isosURL+"/"+isoID, cut)
	mt.ZeroCallCounters()
	_, err = c.Isos("compute-on", "test_area").Attach(context.Background(), isoID, instanceID)
	require.Error(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "a POST whose answer broke may have acted: never resent")
}

func TestRetryPolicyZeroDisables(t *testing.T) {
	c, mt := newMock(t, WithRetry(RetryPolicy{}))
	mt.RegisterResponder("GET", isosURL, statuses(503, 200))
	_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.Error(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}
