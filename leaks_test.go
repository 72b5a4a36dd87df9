package cloudmc

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countDials makes the client's default transport count the connections it
// opens. It must be called before the first request.
func countDials(t *testing.T, c *Client) *atomic.Int32 {
	t.Helper()
	tr, ok := c.hc.Transport.(*http.Transport)
	require.True(t, ok, "the default transport")
	var n atomic.Int32
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	return &n
}

func TestSequentialCallsReuseConnections(t *testing.T) {
	fake := cloudmctest.NewServer(cloudmctest.WithAPIKey(testKey))
	defer fake.Close()
	c, err := NewClient(fake.URL, testKey, WithRetry(fastRetry))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	dials := countDials(t, c)
	isos := c.Isos(cloudmctest.DefaultService, cloudmctest.DefaultEnvironment)
	ctx := context.Background()
	listRoute := "/services/" + cloudmctest.DefaultService + "/" + cloudmctest.DefaultEnvironment + "/isos"

	for i := 0; i < 200; i++ {
		switch i % 4 {
		case 0:
			_, err := isos.List(ctx, nil)
			require.NoError(t, err)
		case 1:
			_, err := isos.Get(ctx, "00000000-0000-4000-8000-000000000000")
			require.ErrorIs(t, err, ErrNotFound)
		case 2:
			fake.ScriptFaults(http.MethodGet, listRoute, cloudmctest.Fault{Status: 503, Body: `{"errors":[{"code":503}]}`})
			_, err := isos.List(ctx, nil)
			require.NoError(t, err, "the 503 is retried")
		case 3:
			fake.ScriptFaults(http.MethodGet, listRoute, cloudmctest.Repeat(cloudmctest.Fault{Status: 503, ContentType: "text/html", Body: "<html>down</html>"}, 4)...)
			_, err := isos.List(ctx, nil)
			require.Error(t, err, "503 after every retry")
		}
	}
	assert.LessOrEqual(t, dials.Load(), int32(2), "connections opened for 200 calls")
	assert.Greater(t, len(fake.Requests()), 200)
}

func TestLoadSharedClient(t *testing.T) {
	fake := cloudmctest.NewServer(cloudmctest.WithAPIKey(testKey))
	defer fake.Close()
	c, err := NewClient(fake.URL, testKey,
		WithRetry(RetryPolicy{MaxRetries: 5, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}),
		WithPollInterval(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	dials := countDials(t, c)

	// One request in twenty gets a retryable fault.
	var script []cloudmctest.Fault
	for i := 0; i < 400; i++ {
		script = append(script, cloudmctest.Repeat(cloudmctest.Fault{}, 19)...)
		script = append(script, cloudmctest.Fault{Status: 503, Body: "<html>busy</html>", ContentType: "text/html"})
	}
	var tooMany []cloudmctest.Fault
	for i := 0; i < 100; i++ {
		tooMany = append(tooMany, cloudmctest.Repeat(cloudmctest.Fault{}, 9)...)
		tooMany = append(tooMany, cloudmctest.Fault{Status: 429, Header: map[string]string{"Retry-After": "0"}})
	}
	fake.ScriptFaults(http.MethodGet, "*", script...)
	fake.ScriptFaults(http.MethodPost, "*", tooMany...)

	const workers, perWorker = 64, 40
	var calls, failures atomic.Int32
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			isos := c.Isos(cloudmctest.DefaultService, cloudmctest.DefaultEnvironment)
			ctx := context.Background()
			for i := 0; i < perWorker; i++ {
				var err error
				switch (w + i) % 5 {
				case 0, 1:
					var list *ListResponse[Iso]
					list, err = isos.List(ctx, nil)
					if err == nil && len(list.Data) != 2 {
						err = assert.AnError
					}
				case 2, 3:
					var got *Response[Iso]
					got, err = isos.Get(ctx, cloudmctest.SeedIsoID)
					if err == nil && got.Data.Name != "ubuntu" {
						err = assert.AnError
					}
				case 4:
					_, err = isos.DownloadURL(ctx, cloudmctest.SeedAttachableIsoID)
				}
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, int32(workers*perWorker), calls.Load())
	assert.Zero(t, failures.Load(), "unexpected errors; first: %v", firstErr)
	assert.LessOrEqual(t, dials.Load(), int32(workers), "connections opened")
	t.Logf("load: %d calls, %d requests, %d connections, %d failures", calls.Load(), len(fake.Requests()), dials.Load(), failures.Load())
	if dir := reliabilityDir(); dir != "" {
		writeFigure(t, dir, "load.md", "64 goroutines sharing one client made %d calls (%d HTTP requests, 1 in 20 GETs answered 503 and 1 in 10 POSTs 429): %d unexpected errors, %d connections opened, under the race detector.\n",
			calls.Load(), len(fake.Requests()), failures.Load(), dials.Load())
	}
}
