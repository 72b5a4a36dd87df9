package cloudmc

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// testKey is made up and distinctive, so a leak into any text is easy to spot.
const testKey = "mc-test-KEY-5c1f0e3a-never-print-me"

const (
	isoID      = "0b3fea04-b1ed-48cf-921d-96795dfe9a81"
	instanceID = "c043e651-8b3f-4941-b47f-5ecb77f3423b"
	taskID     = "7a1c2f9e-6d2b-4b1e-9f3a-5c8d0e4b2a10"
	mockBase   = "https://cloudmc.example.test/api/v2"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastRetry keeps tests quick: real backoff shapes, millisecond waits.
var fastRetry = RetryPolicy{MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

// newMock returns a client whose requests go to an httpmock transport.
func newMock(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{WithHTTPClient(&http.Client{Transport: mt}), WithRetry(fastRetry),
		WithPollInterval(time.Millisecond, 2*time.Millisecond)}, opts...)
	c, err := NewClient(mockBase, testKey, all...)
	require.NoError(t, err)
	return c, mt
}

// setup starts a server with mux mounted under /api/v2, so a request built
// with an absolute path misses the mux and fails loudly.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	outer := http.NewServeMux()
	outer.Handle("/api/v2/", http.StripPrefix("/api/v2", mux))
	outer.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base path: %s %s", r.Method, r.URL.Path)
		http.Error(w, "outside base path", http.StatusTeapot)
	})
	srv := httptest.NewServer(outer)
	all := append([]Option{WithRetry(fastRetry), WithPollInterval(time.Millisecond, 2*time.Millisecond)}, opts...)
	c, err := NewClient(srv.URL+"/api/v2", testKey, all...)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.CloseIdleConnections()
		srv.Close()
	})
	return c, mux, srv
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// logBuffer is a concurrency-safe slog sink for asserting on log text.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func assertNoKey(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, testKey) || strings.Contains(s, "5c1f0e3a") {
			t.Fatalf("API key leaked into: %s", s)
		}
	}
}
