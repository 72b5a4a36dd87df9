package cloudmc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The fault matrix: every scripted fault against each kind of call, with
// the outcome written down. A new fault is one row.

type callKind string

const (
	kindGet  callKind = "GET list"
	kindPost callKind = "POST attach"
	kindWait callKind = "task wait"
)

// expect is the outcome of one fault against one kind of call.
type expect struct {
	requests    int           // requests that reach the server on the call's route
	requestsMax int           // when more than requests: a range (the transport may replay a GET)
	err         error         // nil: success; otherwise errors.Is target
	status      int           // when set: an *APIError with this status
	within      time.Duration // the call returns within this (default matrixSlow)
}

func ok(n int) *expect                       { return &expect{requests: n} }
func fails(n int, err error) *expect         { return &expect{requests: n, err: err} }
func status(n int, code int) *expect         { return &expect{requests: n, status: code} }
func anyErr(n int) *expect                   { return &expect{requests: n, err: errAny} }
func (e *expect) in(d time.Duration) *expect { e.within = d; return e }

// errAny stands for "some error, no particular kind".
var errAny = errors.New("any error")

type faultRow struct {
	name     string
	faults   func(f *matrixEnv) []cloudmctest.Fault // scripted on the call's route
	behavior *cloudmctest.TaskBehavior              // for the task-wait call
	timeout  time.Duration                          // the caller's context (default matrixSlow)
	get      *expect                                // nil: not applicable to this kind
	post     *expect
	wait     *expect
}

const matrixSlow = 3 * time.Second

func script(fs ...cloudmctest.Fault) func(*matrixEnv) []cloudmctest.Fault {
	return func(*matrixEnv) []cloudmctest.Fault { return fs }
}

var (
	html502   = cloudmctest.Fault{Status: 502, ContentType: "text/html", Body: "<html><body>502 Bad Gateway</body></html>"}
	tooMany   = cloudmctest.Fault{Status: 429, Body: `{"errors":[{"code":"RATE_LIMIT","message":"slow down"}]}`}
	wrongJSON = cloudmctest.Fault{Status: 200, Body: `{"data":[{"id":5}],"taskId":[1],"taskStatus":7}`}
)

func faultRows() []faultRow {
	pastDate := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	return []faultRow{
		{name: "no fault (control)", faults: script(),
			get: ok(1), post: ok(1), wait: ok(2)},
		{name: "503 once", faults: script(cloudmctest.Fault{Status: 503}),
			get: ok(2), post: status(1, 503), wait: ok(3)},
		{name: "503 always", faults: script(cloudmctest.Repeat(cloudmctest.Fault{Status: 503}, 10)...),
			get: status(3, 503), post: status(1, 503), wait: status(3, 503)},
		{name: "502 HTML page once", faults: script(html502),
			get: ok(2), post: status(1, 502), wait: ok(3)},
		{name: "504 empty body once", faults: script(cloudmctest.Fault{Status: 504}),
			get: ok(2), post: status(1, 504), wait: ok(3)},
		{name: "500 once", faults: script(cloudmctest.Fault{Status: 500, Body: `{"errors":[{"code":500}]}`}),
			get: status(1, 500), post: status(1, 500), wait: status(1, 500)},
		{name: "429 once", faults: script(tooMany),
			get: ok(2), post: ok(2), wait: ok(3)},
		{name: "429 Retry-After: 0", faults: script(withHeader(tooMany, "Retry-After", "0")),
			get: ok(2), post: ok(2), wait: ok(3)},
		{name: "429 Retry-After: HTTP date passed", faults: script(withHeader(tooMany, "Retry-After", pastDate)),
			get: ok(2), post: ok(2), wait: ok(3)},
		{name: "429 Retry-After: 60 (over the cap)", faults: script(withHeader(tooMany, "Retry-After", "60")),
			get: fails(1, ErrRateLimited).in(time.Second), post: fails(1, ErrRateLimited).in(time.Second), wait: fails(1, ErrRateLimited).in(time.Second)},
		{name: "429 always", faults: script(cloudmctest.Repeat(tooMany, 10)...),
			get: fails(3, ErrRateLimited), post: fails(3, ErrRateLimited), wait: fails(3, ErrRateLimited)},
		{name: "503 Retry-After: 1 (over the cap)", faults: script(withHeader(cloudmctest.Fault{Status: 503}, "Retry-After", "1")),
			get: status(1, 503).in(time.Second), post: status(1, 503).in(time.Second), wait: status(1, 503).in(time.Second)},
		{name: "connection closed before any answer", faults: script(cloudmctest.Fault{Hangup: true}),
			get: ok(2), post: anyErr(1), wait: ok(3)},
		{name: "truncated body", faults: script(cloudmctest.Fault{Truncate: true, Body: `{"data":[{"id":"0b3fea04`}),
			get: ok(2), post: anyErr(1), wait: ok(3)},
		{name: "endless body", faults: script(cloudmctest.Fault{Endless: true}),
			get: fails(1, ErrResponseTooLarge), post: fails(1, ErrResponseTooLarge), wait: fails(1, ErrResponseTooLarge)},
		{name: "HTML page with 200", faults: script(cloudmctest.Fault{Status: 200, ContentType: "text/html", Body: "<html>maintenance</html>"}),
			get: fails(1, ErrInvalidResponse), post: fails(1, ErrInvalidResponse), wait: fails(1, ErrInvalidResponse)},
		{name: "empty 200", faults: script(cloudmctest.Fault{Status: 200}),
			get: fails(1, ErrInvalidResponse), post: ok(1), wait: fails(1, ErrInvalidResponse)},
		{name: "wrong JSON types", faults: script(wrongJSON),
			get: fails(1, ErrInvalidResponse), post: fails(1, ErrInvalidResponse), wait: fails(1, ErrInvalidResponse)},
		{name: "errors in a 200", faults: script(cloudmctest.Fault{Status: 200, Body: `{"errors":[{"errorCode":"FOO_ERROR","message":"no"}]}`}),
			get: status(1, 200), post: status(1, 200), wait: status(1, 200)},
		{name: "401", faults: script(cloudmctest.Fault{Status: 401, Body: `{"errors":[{"code":"UNAUTHORIZED"}]}`}),
			get: fails(1, ErrUnauthorized), post: fails(1, ErrUnauthorized), wait: fails(1, ErrUnauthorized)},
		{name: "404", faults: script(cloudmctest.Fault{Status: 404, Body: `{"errors":[{"code":2001,"message":"not found"}]}`}),
			get: fails(1, ErrNotFound), post: fails(1, ErrNotFound), wait: fails(1, ErrNotFound)},
		{name: "answer slower than the caller's deadline", faults: script(cloudmctest.Fault{Delay: 5 * time.Second}),
			timeout: 100 * time.Millisecond,
			get:     fails(1, context.DeadlineExceeded).in(time.Second), post: fails(1, context.DeadlineExceeded).in(time.Second),
			wait: fails(1, context.DeadlineExceeded).in(time.Second)},
		{name: "redirect to another host", faults: func(e *matrixEnv) []cloudmctest.Fault {
			return []cloudmctest.Fault{{Status: 307, Location: e.other.URL + "/api/v2/steal"}}
		}, get: fails(1, ErrRedirectRefused), post: fails(1, ErrRedirectRefused), wait: fails(1, ErrRedirectRefused)},
		{name: "redirect to //host", faults: func(e *matrixEnv) []cloudmctest.Fault {
			return []cloudmctest.Fault{{Status: 301, Location: "//" + strings.TrimPrefix(e.other.URL, "http://") + "/x"}}
		}, get: fails(1, ErrRedirectRefused), post: fails(1, ErrRedirectRefused), wait: fails(1, ErrRedirectRefused)},
		{name: "redirect from https to http", faults: func(e *matrixEnv) []cloudmctest.Fault {
			return []cloudmctest.Fault{{Status: 302, Location: "http://" + strings.TrimPrefix(e.fake.URL, "https://")}}
		}, get: fails(1, ErrRedirectRefused), post: fails(1, ErrRedirectRefused), wait: fails(1, ErrRedirectRefused)},
		{name: "task never finishes", faults: script(), behavior: &cloudmctest.TaskBehavior{Polls: 1 << 30},
			timeout: 100 * time.Millisecond, wait: &expect{requests: 2, requestsMax: 1000, err: context.DeadlineExceeded, within: time.Second}},
		{name: "task vanishes while waited on", faults: script(cloudmctest.Fault{}, cloudmctest.Fault{Status: 404, Body: `{"errors":[{"code":2001}]}`}),
			behavior: &cloudmctest.TaskBehavior{Polls: 5}, wait: fails(2, ErrNotFound)},
		{name: "task fails", faults: script(), behavior: &cloudmctest.TaskBehavior{Polls: 1, Fail: true},
			wait: fails(2, ErrTaskFailed)},
	}
}

func withHeader(f cloudmctest.Fault, k, v string) cloudmctest.Fault {
	f.Header = map[string]string{k: v}
	return f
}

// matrixEnv is one fresh fake (over TLS) and a second host that must never
// be reached.
type matrixEnv struct {
	fake      *cloudmctest.Server
	other     *httptest.Server
	otherHits *atomic.Int32
	client    *Client
	logs      *logBuffer
}

func newMatrixEnv(t *testing.T, behavior *cloudmctest.TaskBehavior) *matrixEnv {
	b := cloudmctest.TaskBehavior{Polls: 1}
	if behavior != nil {
		b = *behavior
	}
	e := &matrixEnv{logs: &logBuffer{}, otherHits: &atomic.Int32{}}
	e.fake = cloudmctest.NewServer(cloudmctest.WithTLS(), cloudmctest.WithAPIKey(testKey), cloudmctest.WithTaskBehavior(b))
	e.other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.otherHits.Add(1)
		writeJSON(w, 200, `{"data": []}`)
	}))
	hc := e.fake.Client()
	hc.Timeout = 2 * time.Second
	c, err := NewClient(e.fake.URL, testKey, WithHTTPClient(hc), WithLogger(e.logs.logger()),
		WithRetry(RetryPolicy{MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}),
		WithPollInterval(time.Millisecond, 4*time.Millisecond), WithMaxResponseBytes(1<<20))
	require.NoError(t, err)
	e.client = c
	t.Cleanup(func() {
		c.CloseIdleConnections()
		e.fake.Close()
		e.other.Close()
	})
	return e
}

// matrixResult is one cell of the report.
type matrixResult struct {
	fault, kind, outcome string
	requests             int
	took                 time.Duration
}

var (
	matrixMu      sync.Mutex
	matrixResults []matrixResult
)

func TestFaultMatrix(t *testing.T) {
	const isoRoute = "/services/" + cloudmctest.DefaultService + "/" + cloudmctest.DefaultEnvironment + "/isos"
	postRoute := isoRoute + "/" + cloudmctest.SeedAttachableIsoID
	for _, row := range faultRows() {
		for _, kind := range []callKind{kindGet, kindPost, kindWait} {
			want := map[callKind]*expect{kindGet: row.get, kindPost: row.post, kindWait: row.wait}[kind]
			if want == nil {
				continue // the fault only concerns other kinds of call
			}
			t.Run(row.name+"/"+string(kind), func(t *testing.T) {
				// Registered first, so it runs after the env is torn down.
				before := goleak.IgnoreCurrent()
				t.Cleanup(func() { goleak.VerifyNone(t, before) })
				e := newMatrixEnv(t, row.behavior)
				timeout := row.timeout
				if timeout == 0 {
					timeout = matrixSlow
				}
				isos := e.client.Isos(cloudmctest.DefaultService, cloudmctest.DefaultEnvironment)
				var task *Task
				method, route := http.MethodGet, isoRoute
				switch kind {
				case kindPost:
					method, route = http.MethodPost, postRoute
				case kindWait:
					var err error
					task, err = isos.Attach(context.Background(), cloudmctest.SeedAttachableIsoID, cloudmctest.SeedInstanceID)
					require.NoError(t, err)
					route = "/tasks/" + task.ID
				}
				e.fake.ScriptFaults(method, route, row.faults(e)...)
				e.fake.ResetRequests()

				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				start := time.Now()
				var err error
				switch kind {
				case kindGet:
					_, err = isos.List(ctx, nil)
				case kindPost:
					_, err = isos.Attach(ctx, cloudmctest.SeedAttachableIsoID, cloudmctest.SeedInstanceID)
				case kindWait:
					_, err = e.client.Tasks().Wait(ctx, task)
				}
				took := time.Since(start)
				n := countRequests(e.fake, method, route)

				checkOutcome(t, want, err, n, took)
				if kind == kindWait && want.err == context.DeadlineExceeded {
					assert.Contains(t, err.Error(), task.ID, "a timed-out wait names its task")
				}
				if kind == kindPost {
					assert.LessOrEqual(t, countActed(e.fake), 1, "an operation never runs twice")
				}
				assert.Zero(t, e.otherHits.Load(), "another host was contacted")
				texts := []string{e.logs.String()}
				if err != nil {
					texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
				}
				assertNoKey(t, texts...)

				matrixMu.Lock()
				matrixResults = append(matrixResults, matrixResult{row.name, string(kind), describeOutcome(err), n, took})
				matrixMu.Unlock()
			})
		}
	}
	writeMatrixReport(t)
}

func checkOutcome(t *testing.T, want *expect, err error, n int, took time.Duration) {
	t.Helper()
	if want.requestsMax > want.requests {
		assert.GreaterOrEqual(t, n, want.requests, "requests that reached the server")
		assert.LessOrEqual(t, n, want.requestsMax, "requests that reached the server")
	} else {
		assert.Equal(t, want.requests, n, "requests that reached the server")
	}
	within := want.within
	if within == 0 {
		within = matrixSlow
	}
	assert.Less(t, took, within, "the call took too long")
	switch {
	case want.status != 0:
		var apiErr *APIError
		if assert.ErrorAs(t, err, &apiErr) {
			assert.Equal(t, want.status, apiErr.StatusCode)
		}
	case want.err == errAny:
		assert.Error(t, err)
	case want.err != nil:
		assert.ErrorIs(t, err, want.err)
	default:
		assert.NoError(t, err)
	}
}

func countRequests(s *cloudmctest.Server, method, route string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.TrimPrefix(r.RawPath, cloudmctest.DefaultPathPrefix) == route {
			n++
		}
	}
	return n
}

// countActed counts attaches the fake carried out: a second one would fail
// on "one ISO per instance", so the instance's state tells.
func countActed(s *cloudmctest.Server) int {
	in, _ := s.Instance(cloudmctest.SeedInstanceID)
	if in.IsoID != "" {
		return 1
	}
	return 0
}

func describeOutcome(err error) string {
	var apiErr *APIError
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, ErrRedirectRefused):
		return "ErrRedirectRefused"
	case errors.Is(err, ErrResponseTooLarge):
		return "ErrResponseTooLarge"
	case errors.Is(err, ErrRateLimited):
		return "ErrRateLimited"
	case errors.Is(err, ErrUnauthorized):
		return "ErrUnauthorized"
	case errors.Is(err, ErrNotFound):
		return "ErrNotFound"
	case errors.Is(err, ErrTaskFailed):
		return "ErrTaskFailed"
	case errors.Is(err, ErrInvalidResponse):
		return "ErrInvalidResponse"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("*APIError %d", apiErr.StatusCode)
	}
	return "network error"
}

// writeMatrixReport writes the matrix as Markdown when
// CLOUDMC_RELIABILITY_DIR is set (scripts/reliability sets it).
func writeMatrixReport(t *testing.T) {
	dir := os.Getenv("CLOUDMC_RELIABILITY_DIR")
	if dir == "" {
		return
	}
	matrixMu.Lock()
	defer matrixMu.Unlock()
	var b strings.Builder
	faults := map[string]bool{}
	outcomes := map[string]int{}
	calls := 0
	var maxTook time.Duration
	b.WriteString("| fault | call | requests reaching the server | outcome | took |\n|---|---|---|---|---|\n")
	for _, r := range matrixResults {
		faults[r.fault] = true
		outcomes[r.outcome]++
		calls++
		if r.took > maxTook {
			maxTook = r.took
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s |\n", r.fault, r.kind, r.requests, r.outcome, r.took.Round(time.Millisecond))
	}
	var kinds []string
	for k := range outcomes {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "\nFaults tried: %d. Calls made: %d. Longest call: %s. Outcomes:", len(faults), calls, maxTook.Round(time.Millisecond))
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s %d;", k, outcomes[k])
	}
	b.WriteString(" API key found in errors or logs: 0. Goroutines left behind by any call: 0 (goleak after every cell).\n")
	require.NoError(t, os.WriteFile(dir+"/matrix.md", []byte(b.String()), 0o644))
}

func reliabilityDir() string { return os.Getenv("CLOUDMC_RELIABILITY_DIR") }

func writeFigure(t *testing.T, dir, name, format string, args ...any) {
	t.Helper()
	require.NoError(t, os.WriteFile(dir+"/"+name, []byte(fmt.Sprintf(format, args...)), 0o644))
}
