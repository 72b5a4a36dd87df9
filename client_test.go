package cloudmc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name string
		base string
		key  string
		opts []Option
	}{
		{"empty key", "https://cloudmc.example.test/api/v2", "", nil},
		{"blank key", "https://cloudmc.example.test/api/v2", "   ", nil},
		{"key with newline", "https://cloudmc.example.test/api/v2", "abc\r\nX-Evil: 1", nil},
		{"relative url", "/api/v2", testKey, nil},
		{"no scheme", "cloudmc.example.test/api/v2", testKey, nil},
		{"empty url", "", testKey, nil},
		{"ftp", "ftp://cloudmc.example.test/", testKey, nil},
		{"plain http remote", "http://cloudmc.example.test/api/v2", testKey, nil},
		{"plain http remote ip", "http://10.1.2.3/api/v2", testKey, nil},
		{"credentials in url", "https://u:p@cloudmc.example.test/", testKey, nil},
		{"query in url", "https://cloudmc.example.test/api/v2?x=1", testKey, nil},
		{"port out of range", "https://cloudmc.example.test:99999/api/v2", testKey, nil},
		{"port zero", "https://cloudmc.example.test:0/api/v2", testKey, nil},
		{"nil http client", "https://cloudmc.example.test", testKey, []Option{WithHTTPClient(nil)}},
		{"negative retries", "https://cloudmc.example.test", testKey, []Option{WithRetry(RetryPolicy{MaxRetries: -1})}},
		{"max below min backoff", "https://cloudmc.example.test", testKey, []Option{WithRetry(RetryPolicy{MaxRetries: 1, MinBackoff: time.Second, MaxBackoff: time.Millisecond})}},
		{"zero poll", "https://cloudmc.example.test", testKey, []Option{WithPollInterval(0, time.Second)}},
		{"poll max below min", "https://cloudmc.example.test", testKey, []Option{WithPollInterval(time.Second, time.Millisecond)}},
		{"empty org", "https://cloudmc.example.test", testKey, []Option{WithOrganization(" ")}},
		{"empty user agent", "https://cloudmc.example.test", testKey, []Option{WithUserAgent("")}},
		{"user agent newline", "https://cloudmc.example.test", testKey, []Option{WithUserAgent("a\nb")}},
		{"zero body limit", "https://cloudmc.example.test", testKey, []Option{WithMaxResponseBytes(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.base, tt.key, tt.opts...)
			assert.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assertNoKey(t, err.Error())
			assert.NotContains(t, err.Error(), "X-Evil")
		})
	}
}

func TestNewClientAccepts(t *testing.T) {
	for _, base := range []string{
		"https://cloudmc.example.test/api/v2",
		"https://cloudmc.example.test/api/v2/",
		"https://cloudmc.example.test",
		"http://127.0.0.1:8080/v1",
		"http://localhost/api/v1",
		"http://[::1]:9000/",
		"https://cloudmc.example.test/api/v2?",
		"HTTPS://CloudMC.example.test/api/v2",
	} {
		c, err := NewClient(base, testKey)
		require.NoError(t, err, base)
		require.NotNil(t, c)
	}
	c, err := NewClient("http://cloudmc.internal.test/api/v2", testKey, WithInsecureHTTP())
	require.NoError(t, err)
	require.NotNil(t, c)
}

func TestBaseURLJoining(t *testing.T) {
	for _, prefix := range []string{"/api/v2", "/api/v2/", "/v1", "/v1//", "", "/"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.EscapedPath()
				writeJSON(w, 200, `{"data": []}`)
			}))
			defer srv.Close()
			c, err := NewClient(srv.URL+prefix, testKey)
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			_, err = c.Isos("compute-on", "test_area").List(context.Background(), nil)
			require.NoError(t, err)
			want := strings.TrimRight(prefix, "/") + "/services/compute-on/test_area/isos"
			assert.Equal(t, want, path)
		})
	}
}

func TestHTTPClientIsCopied(t *testing.T) {
	hc := &http.Client{Timeout: 3 * time.Second}
	c, err := NewClient(mockBase, testKey, WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Nil(t, hc.CheckRedirect, "the caller's client is never modified")
	assert.NotSame(t, hc, c.hc)
	assert.Equal(t, 3*time.Second, c.hc.Timeout)
}

func TestDefaultHTTPClientHasTimeoutAndPool(t *testing.T) {
	c, err := NewClient(mockBase, testKey)
	require.NoError(t, err)
	assert.Equal(t, DefaultTimeout, c.hc.Timeout)
	tr, ok := c.hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 64)
}

func TestClientPrintsNoKey(t *testing.T) {
	c, err := NewClient(mockBase, testKey)
	require.NoError(t, err)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoKey(t, fmt.Sprintf(format, c))
		assertNoKey(t, fmt.Sprintf(format, *c))
	}
}

func TestOrganizationOnEveryRequest(t *testing.T) {
	c, mux, _ := setup(t, WithOrganization("org-7"))
	var seen []string
	record := func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Query().Get("org_id")+" "+r.URL.Query().Get("operation"))
	}
	mux.HandleFunc("GET /services/s/e/isos", func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		writeJSON(w, 200, `{"data": []}`)
	})
	mux.HandleFunc("POST /services/s/e/isos/{id}", func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		writeJSON(w, 200, `{"taskId": "`+taskID+`", "taskStatus": "PENDING"}`)
	})
	mux.HandleFunc("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		writeJSON(w, 200, `{"data": {"id": "`+taskID+`", "status": "SUCCESS"}}`)
	})
	ctx := context.Background()
	_, err := c.Isos("s", "e").List(ctx, nil)
	require.NoError(t, err)
	task, err := c.Isos("s", "e").Attach(ctx, isoID, instanceID)
	require.NoError(t, err)
	_, err = c.Tasks().Wait(ctx, task)
	require.NoError(t, err)
	assert.Equal(t, []string{"GET org-7 ", "POST org-7 attach", "GET org-7 "}, seen)
}

// redirectTarget counts requests and whether they carried the key.
type redirectTarget struct {
	srv     *httptest.Server
	hits    atomic.Int32
	keyHits atomic.Int32
}

func newRedirectTarget(tls bool) *redirectTarget {
	rt := &redirectTarget{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.hits.Add(1)
		if r.Header.Get("MC-Api-Key") != "" {
			rt.keyHits.Add(1)
		}
		writeJSON(w, 200, `{"data": []}`)
	})
	if tls {
		rt.srv = httptest.NewTLSServer(h)
	} else {
		rt.srv = httptest.NewServer(h)
	}
	return rt
}

func TestKeyNeverFollowsRedirectToAnotherOrigin(t *testing.T) {
	other := newRedirectTarget(false)
	defer other.srv.Close()
	otherHost := strings.TrimPrefix(other.srv.URL, "http://")

	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, loc := range []string{
			other.srv.URL + "/api/v2/services/s/e/isos",
			"//" + otherHost + "/api/v2/services/s/e/isos",
		} {
			t.Run(fmt.Sprintf("%d %s", code, loc), func(t *testing.T) {
				var logs logBuffer
				c, mux, _ := setup(t, WithLogger(logs.logger()))
				mux.HandleFunc("/services/s/e/isos", func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, loc, code)
				})
				_, err := c.Isos("s", "e").List(context.Background(), nil)
				require.ErrorIs(t, err, ErrRedirectRefused)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, code, apiErr.StatusCode)
				assert.Contains(t, err.Error(), "not followed")
				assert.Equal(t, int32(0), other.hits.Load(), "the other host was never contacted")
				assertNoKey(t, err.Error(), logs.String())
			})
		}
	}
}

func TestKeyNeverFollowsHTTPSToHTTP(t *testing.T) {
	plain := newRedirectTarget(false)
	defer plain.srv.Close()
	// The TLS server redirects to the same loopback host over plain http.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.srv.URL+r.URL.Path, http.StatusFound)
	}))
	defer tlsSrv.Close()
	c, err := NewClient(tlsSrv.URL+"/api/v2", testKey, WithHTTPClient(tlsSrv.Client()), WithRetry(RetryPolicy{}))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.Isos("s", "e").List(context.Background(), nil)
	require.ErrorIs(t, err, ErrRedirectRefused)
	assert.Equal(t, int32(0), plain.hits.Load())
}

func TestSameOriginRedirectIsFollowed(t *testing.T) {
	c, mux, _ := setup(t)
	var key string
	mux.HandleFunc("/services/s/e/isos", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/v2/services/s/e/moved", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/services/s/e/moved", func(w http.ResponseWriter, r *http.Request) {
		key = r.Header.Get("MC-Api-Key")
		writeJSON(w, 200, `{"data": [{"id": "`+isoID+`"}]}`)
	})
	list, err := c.Isos("s", "e").List(context.Background(), nil)
	require.NoError(t, err)
	assert.Len(t, list.Data, 1)
	assert.Equal(t, testKey, key)
}

func TestLoggerLogsRequestsWithoutKey(t *testing.T) {
	var logs logBuffer
	c, mux, _ := setup(t, WithLogger(logs.logger()))
	mux.HandleFunc("/services/s/e/isos", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"data": []}`)
	})
	_, err := c.Isos("s", "e").List(context.Background(), nil)
	require.NoError(t, err)
	_, err = c.Isos("s", "e").Get(context.Background(), isoID)
	require.Error(t, err)
	out := logs.String()
	assert.Contains(t, out, "method=GET")
	assert.Contains(t, out, "path=/api/v2/services/s/e/isos")
	assert.Contains(t, out, "status=200")
	assert.Contains(t, out, "status=404")
	assertNoKey(t, out)
}

func TestRedirectThatChangesMethodIsRefused(t *testing.T) {
	for _, code := range []int{301, 302, 303} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			c, mux, _ := setup(t)
			var gets atomic.Int32
			mux.HandleFunc("POST /services/s/e/isos/{id}", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/api/v2/tasks/"+taskID, code)
			})
			mux.HandleFunc("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
				gets.Add(1)
				writeJSON(w, 200, `{"data": {"id": "`+taskID+`", "status": "PENDING"}}`)
			})
			task, err := c.Isos("s", "e").Attach(context.Background(), isoID, instanceID)
			assert.Nil(t, task, "never a success")
			require.ErrorIs(t, err, ErrRedirectRefused)
			assert.Contains(t, err.Error(), "POST into a GET")
			assert.Zero(t, gets.Load())
		})
	}
}

func TestSameOriginPOSTRedirect307KeepsBody(t *testing.T) {
	c, mux, _ := setup(t)
	var body string
	mux.HandleFunc("POST /services/s/e/isos/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/v2/moved", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("POST /moved", func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		_, _ = io.Copy(b, r.Body)
		body = b.String()
		writeJSON(w, 200, `{"taskId": "`+taskID+`", "taskStatus": "PENDING"}`)
	})
	task, err := c.Isos("s", "e").Attach(context.Background(), isoID, instanceID)
	require.NoError(t, err)
	assert.Equal(t, taskID, task.ID)
	assert.JSONEq(t, `{"instanceId": "`+instanceID+`"}`, body)
}

func TestInformationalAnswerDoesNotHang(t *testing.T) {
	c, mux, _ := setup(t, WithRetry(RetryPolicy{}))
	release := make(chan struct{})
	defer close(release)
	mux.HandleFunc("/services/s/e/isos", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n")
		_ = buf.Flush()
		<-release
	})
	start := time.Now()
	_, err := c.Isos("s", "e").List(context.Background(), nil)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 101, apiErr.StatusCode)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestAnswerHeldOpenAfterItsEndDoesNotStall(t *testing.T) {
	c, mux, _ := setup(t)
	release := make(chan struct{})
	defer close(release)
	mux.HandleFunc("/services/s/e/isos", func(w http.ResponseWriter, r *http.Request) {
		// Chunked: the JSON is complete, the body is not.
		_, _ = io.WriteString(w, `{"data": []}`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	start := time.Now()
	list, err := c.Isos("s", "e").List(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, list.Data)
	assert.Less(t, time.Since(start), 2*time.Second, "the drain is bounded in time")
}
