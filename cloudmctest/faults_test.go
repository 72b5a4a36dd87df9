package cloudmctest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rawGet(t *testing.T, s *Server, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("MC-Api-Key", s.APIKey)
	return s.Client().Do(req)
}

const isosPath = "/services/compute-on/test_area/isos"

func TestScriptedFaultsThenNormal(t *testing.T) {
	s := newServer(t)
	s.ScriptFaults(http.MethodGet, isosPath,
		Fault{Status: 503, Header: map[string]string{"Retry-After": "7"}},
		Fault{Status: 502, ContentType: "text/html", Body: "<html>bad gateway</html>"},
		Fault{},
		Fault{Status: 307, Location: "https://elsewhere.example.test/x"},
	)
	r := call(t, s, http.MethodGet, isosPath, "")
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "7", r.header.Get("Retry-After"))
	r = call(t, s, http.MethodGet, isosPath, "")
	assert.Equal(t, 502, r.status)
	assert.Equal(t, "<html>bad gateway</html>", r.raw)
	r = call(t, s, http.MethodGet, isosPath, "")
	assert.Equal(t, 200, r.status, "a zero Fault lets the request through")

	client := s.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodGet, s.URL+isosPath, nil)
	req.Header.Set("MC-Api-Key", s.APIKey)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 307, resp.StatusCode)
	assert.Equal(t, "https://elsewhere.example.test/x", resp.Header.Get("Location"))

	r = call(t, s, http.MethodGet, isosPath, "")
	assert.Equal(t, 200, r.status, "the queue is used up")
	assert.Len(t, s.Requests(), 5, "faulted requests are recorded too")
}

func TestFaultRoutesMatchMethodAndPrefix(t *testing.T) {
	s := newServer(t)
	s.ScriptFaults(http.MethodPost, "/tasks/*", Fault{Status: 500})
	s.ScriptFaults("", "/services/*", Fault{Status: 418})
	assert.Equal(t, 418, call(t, s, http.MethodGet, isosPath+"/"+SeedIsoID, "").status)
	assert.Equal(t, 200, call(t, s, http.MethodGet, isosPath, "").status)
	assert.Equal(t, 404, call(t, s, http.MethodGet, "/tasks/"+SeedIsoID, "").status, "GET does not match the POST script")
	s.ClearFaults()
	s.ScriptFaults(http.MethodGet, "/tasks/*", Fault{Status: 500})
	s.ClearFaults()
	assert.Equal(t, 404, call(t, s, http.MethodGet, "/tasks/"+SeedIsoID, "").status)
}

func TestFaultHangupTruncateEndless(t *testing.T) {
	s := newServer(t)
	s.ScriptFaults(http.MethodGet, isosPath, Fault{Hangup: true})
	_, err := rawGet(t, s, isosPath)
	require.Error(t, err, "the connection closes before any answer")

	s.ScriptFaults(http.MethodGet, isosPath, Fault{Truncate: true, Body: `{"data":[`})
	resp, err := rawGet(t, s, isosPath)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, `{"data":[`, string(b))

	s.ScriptFaults(http.MethodGet, isosPath, Fault{Endless: true})
	resp, err = rawGet(t, s, isosPath)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(4<<20), n, "it keeps sending")
}

func TestFaultDelayEndsWithClient(t *testing.T) {
	s := newServer(t)
	s.ScriptFaults(http.MethodGet, isosPath, Fault{Delay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+isosPath, nil)
	start := time.Now()
	_, err := s.Client().Do(req)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)

	s.ScriptFaults(http.MethodGet, isosPath, Fault{Delay: 10 * time.Millisecond})
	r := call(t, s, http.MethodGet, isosPath, "")
	assert.Equal(t, 200, r.status, "a delay alone then answers normally")
	assert.True(t, strings.Contains(r.raw, SeedIsoID))
}

func TestRepeat(t *testing.T) {
	fs := Repeat(Fault{Status: 503}, 3)
	assert.Len(t, fs, 3)
	assert.Equal(t, 503, fs[2].Status)
}
