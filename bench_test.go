package cloudmc

// Benchmarks of the SDK beside a hand-written net/http + encoding/json
// baseline (issue 4). scripts/bench runs them and renders the table kept in
// BENCHMARKS.md; the guard-rail tests at the end check what does not depend
// on machine speed (allocation and connection counts, the poll schedule).
//
// Every benchmark pairs an "sdk" sub-benchmark with a "baseline" one that
// does the same work against the same httptest server and payload.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchService = "compute-on"
	benchEnv     = "test_area"
	benchKey     = "bench-made-up-key"
	benchPrefix  = "/api/v2"
)

// plainIso is what a hand-written client decodes into: the same fields as
// Iso, with plain types (and therefore none of the wire quirks tolerated).
type plainIso struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	ArchitectureWidth int      `json:"architectureWidth"`
	Size              int64    `json:"size"`
	Ready             bool     `json:"ready"`
	Bootable          bool     `json:"bootable"`
	AvailablePublicly bool     `json:"availablePublicly"`
	Extractable       bool     `json:"extractable"`
	OSTypeID          string   `json:"osTypeId"`
	OSTypeName        string   `json:"osTypeName"`
	ZoneID            string   `json:"zoneId"`
	ZoneName          string   `json:"zoneName"`
	Created           string   `json:"created"`
	AvailableInZones  []string `json:"availableInZones"`
}

type plainList struct {
	Data     []plainIso `json:"data"`
	Metadata struct {
		RecordCount int `json:"recordCount"`
	} `json:"metadata"`
}

type plainObject struct {
	Data plainIso `json:"data"`
}

// benchUUID is a deterministic, well-formed UUID.
func benchUUID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

var (
	benchOSTypes = []string{"Other (64-bit)", "Ubuntu 22.04 (64-bit)", "Windows Server 2022 (64-bit)", "CentOS 7 (64-bit)", "Debian GNU/Linux 12 (64-bit)"}
	benchDescs   = []string{
		"Example ISO",
		"Installer image — mirrored nightly from the vendor",
		"Outils de dépannage, édition « rescue »",
		"ブート可能なリカバリーイメージ",
		"",
		"Drivers (virtio-win 0.1.240) for Windows guests; attach before first boot",
	}
)

// benchIsos returns n realistic ISOs, the same for the same n: UUIDs, long
// and Unicode names and descriptions, sizes from a few MB to past 2^53,
// the seed page's "created" form, one to three zones or none (several-zone
// ISOs have no zoneId).
func benchIsos(n int) []plainIso {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	zones := []string{benchUUID(r), benchUUID(r), benchUUID(r)}
	osTypes := make([]string, len(benchOSTypes))
	for i := range osTypes {
		osTypes[i] = benchUUID(r)
	}
	out := make([]plainIso, n)
	for i := range out {
		ot := r.IntN(len(osTypes))
		iso := plainIso{
			ID:                benchUUID(r),
			Name:              fmt.Sprintf("ubuntu-22.04.%d-live-server-amd64-%05d", r.IntN(5), i),
			Description:       benchDescs[r.IntN(len(benchDescs))],
			ArchitectureWidth: 64,
			Size:              1<<20 + r.Int64N(8<<30),
			Ready:             r.IntN(10) != 0,
			Bootable:          r.IntN(2) == 0,
			AvailablePublicly: r.IntN(4) == 0,
			Extractable:       r.IntN(3) == 0,
			OSTypeID:          osTypes[ot],
			OSTypeName:        benchOSTypes[ot],
			Created: time.Date(2017, 12, 21, 16, 41, 33, 0, time.UTC).
				Add(time.Duration(r.Int64N(6*365*24)) * time.Hour).Format("2006-01-02 3:04:05 PM Z"),
		}
		if i%7 == 3 {
			iso.ArchitectureWidth = 32
		}
		if i%97 == 5 {
			iso.Size = 1<<53 + r.Int64N(1<<20) // past float64 precision
		}
		switch k := r.IntN(10); {
		case k == 0: // several zones, no zone of its own
			iso.AvailableInZones = zones
		case k == 1: // availableInZones null
			z := r.IntN(len(zones))
			iso.ZoneID, iso.ZoneName = zones[z], "zone"+strconv.Itoa(z+1)
		default:
			z := r.IntN(len(zones))
			iso.ZoneID, iso.ZoneName = zones[z], "zone"+strconv.Itoa(z+1)
			iso.AvailableInZones = []string{zones[z]}
		}
		out[i] = iso
	}
	return out
}

// benchListBody is the list envelope a server sends for n ISOs.
func benchListBody(n int) []byte {
	body, err := json.Marshal(map[string]any{
		"data":     benchIsos(n),
		"metadata": map[string]any{"recordCount": n},
	})
	if err != nil {
		panic(err)
	}
	return body
}

var benchBodies sync.Map // n -> []byte, so large payloads are built once

func cachedListBody(n int) []byte {
	if b, ok := benchBodies.Load(n); ok {
		return b.([]byte)
	}
	b, _ := benchBodies.LoadOrStore(n, benchListBody(n))
	return b.([]byte)
}

// benchServer serves one list payload on .../isos and one ISO on
// .../isos/{id}, counting the TCP connections opened to it.
type benchServer struct {
	srv   *httptest.Server
	conns atomic.Int64
	getID string
}

func newBenchServer(tb testing.TB, listBody []byte) *benchServer {
	tb.Helper()
	one := benchIsos(1)[0]
	getBody, err := json.Marshal(map[string]any{"data": one})
	if err != nil {
		tb.Fatal(err)
	}
	bs := &benchServer{getID: one.ID}
	listPath := benchPrefix + "/services/" + benchService + "/" + benchEnv + "/isos"
	getPath := listPath + "/" + one.ID
	listLen, getLen := strconv.Itoa(len(listBody)), strconv.Itoa(len(getBody))
	bs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(headerAPIKey) != benchKey {
			http.Error(w, `{"errors":[{"code":401,"message":"bad key"}]}`, http.StatusUnauthorized)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		switch r.URL.Path {
		case listPath:
			h["Content-Length"] = []string{listLen}
			_, _ = w.Write(listBody)
		case getPath:
			h["Content-Length"] = []string{getLen}
			_, _ = w.Write(getBody)
		default:
			http.NotFound(w, r)
		}
	}))
	bs.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			bs.conns.Add(1)
		}
	}
	bs.srv.Start()
	return bs
}

func (bs *benchServer) base() string { return bs.srv.URL + benchPrefix }

// sdkClient is the SDK as a user gets it: no tuning at all.
func (bs *benchServer) sdkClient(tb testing.TB) *Client {
	tb.Helper()
	c, err := NewClient(bs.base(), benchKey)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// timeoutHTTPClient is the naive client with the SDK's default request
// timeout, which net/http pays for with a deadline context and a timer on
// every request: the fair baseline for what the SDK adds on top.
func timeoutHTTPClient() *http.Client {
	hc := naiveHTTPClient()
	hc.Timeout = DefaultTimeout
	return hc
}

// naiveHTTPClient is what a hand-written client usually is: &http.Client{}
// on the default transport (2 idle connections per host). A clone, so its
// idle connections can be closed without touching http.DefaultTransport.
func naiveHTTPClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}

// tunedHTTPClient is a hand-written client that kept 64 idle connections.
func tunedHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

// baselineGet is the hand-written call: headers like the SDK's, one request,
// json.Decoder straight into a plain struct, body drained and closed.
func baselineGet(ctx context.Context, hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(headerAPIKey, benchKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "baseline/1.0")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (bs *benchServer) listURL() string {
	return bs.base() + "/services/" + benchService + "/" + benchEnv + "/isos"
}

func (bs *benchServer) getURL() string { return bs.listURL() + "/" + bs.getID }

func sdkList(tb testing.TB, c *Client, n int) {
	res, err := c.Isos(benchService, benchEnv).List(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if len(res.Data) != n {
		tb.Fatalf("listed %d ISOs, want %d", len(res.Data), n)
	}
}

func baseList(tb testing.TB, hc *http.Client, url string, n int) {
	var out plainList
	if err := baselineGet(context.Background(), hc, url, &out); err != nil {
		tb.Fatal(err)
	}
	if len(out.Data) != n {
		tb.Fatalf("listed %d ISOs, want %d", len(out.Data), n)
	}
}

// warmCalls is how many untimed calls precede a timed List of n ISOs: the
// first benchmark of a process otherwise pays for the process warming up.
func warmCalls(n int) int { return max(1, 1000/n) }

// BenchmarkList lists 1, 100 and 10,000 ISOs, one call per op.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		body := cachedListBody(n)
		b.Run(fmt.Sprintf("n=%d/sdk", n), func(b *testing.B) {
			bs := newBenchServer(b, body)
			defer bs.srv.Close()
			c := bs.sdkClient(b)
			defer c.CloseIdleConnections()
			for range warmCalls(n) { // open the connection, warm caches
				sdkList(b, c, n)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sdkList(b, c, n)
			}
		})
		for _, base := range []struct {
			name string
			hc   func() *http.Client
		}{{"baseline", naiveHTTPClient}, {"baseline-timeout", timeoutHTTPClient}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, base.name), func(b *testing.B) {
				bs := newBenchServer(b, body)
				defer bs.srv.Close()
				hc := base.hc()
				defer hc.CloseIdleConnections()
				url := bs.listURL()
				for range warmCalls(n) {
					baseList(b, hc, url, n)
				}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					baseList(b, hc, url, n)
				}
			})
		}
	}
}

// BenchmarkGet gets one ISO per op from one goroutine.
func BenchmarkGet(b *testing.B) {
	b.Run("sdk", func(b *testing.B) {
		bs := newBenchServer(b, cachedListBody(1))
		defer bs.srv.Close()
		c := bs.sdkClient(b)
		defer c.CloseIdleConnections()
		isos := c.Isos(benchService, benchEnv)
		ctx := context.Background()
		if _, err := isos.Get(ctx, bs.getID); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := isos.Get(ctx, bs.getID); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, base := range []struct {
		name string
		hc   func() *http.Client
	}{{"baseline", naiveHTTPClient}, {"baseline-timeout", timeoutHTTPClient}} {
		b.Run(base.name, func(b *testing.B) {
			bs := newBenchServer(b, cachedListBody(1))
			defer bs.srv.Close()
			hc := base.hc()
			defer hc.CloseIdleConnections()
			url, ctx := bs.getURL(), context.Background()
			var out plainObject
			if err := baselineGet(ctx, hc, url, &out); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				out = plainObject{}
				if err := baselineGet(ctx, hc, url, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// getParallelism is the number of goroutines sharing one client.
const getParallelism = 64

// runParallel64 runs get from exactly getParallelism goroutines until b.N
// calls are done.
func runParallel64(b *testing.B, get func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range getParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := get(); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGetParallel gets one ISO per op from 64 goroutines sharing one
// client. "conns" is the TCP connections the server saw opened during the
// timed run; "conns/kop" the same per thousand calls.
func BenchmarkGetParallel(b *testing.B) {
	report := func(b *testing.B, bs *benchServer, before int64) {
		opened := bs.conns.Load() - before
		b.ReportMetric(float64(opened), "conns")
		b.ReportMetric(float64(opened)*1000/float64(b.N), "conns/kop")
	}
	b.Run("sdk", func(b *testing.B) {
		bs := newBenchServer(b, cachedListBody(1))
		defer bs.srv.Close()
		c := bs.sdkClient(b)
		defer c.CloseIdleConnections()
		isos := c.Isos(benchService, benchEnv)
		ctx := context.Background()
		before := bs.conns.Load()
		b.ReportAllocs()
		b.ResetTimer()
		runParallel64(b, func() error {
			_, err := isos.Get(ctx, bs.getID)
			return err
		})
		b.StopTimer()
		report(b, bs, before)
	})
	for _, bl := range []struct {
		name string
		hc   func() *http.Client
	}{{"baseline", naiveHTTPClient}, {"baseline-tuned", tunedHTTPClient}} {
		b.Run(bl.name, func(b *testing.B) {
			bs := newBenchServer(b, cachedListBody(1))
			defer bs.srv.Close()
			hc := bl.hc()
			defer hc.CloseIdleConnections()
			url, ctx := bs.getURL(), context.Background()
			before := bs.conns.Load()
			b.ReportAllocs()
			b.ResetTimer()
			runParallel64(b, func() error {
				var out plainObject
				return baselineGet(ctx, hc, url, &out)
			})
			b.StopTimer()
			report(b, bs, before)
		})
	}
}

// sdkDecodeList is the SDK's list decoding (as IsoService.List does it)
// without the HTTP around it.
func sdkDecodeList(body io.Reader, out *[]Iso) error {
	var env envelope
	if err := decodeEnvelope(body, &env, listInto(out, isoFromWire)); err != nil {
		return err
	}
	return env.failIfErrors()
}

// BenchmarkDecode decodes 10,000 ISOs from memory: the tolerant streaming
// decoder against json.Decoder into the plain struct.
func BenchmarkDecode(b *testing.B) {
	const n = 10000
	body := cachedListBody(n)
	b.Run("n=10000/sdk", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for range b.N {
			out := []Iso{}
			if err := sdkDecodeList(bytes.NewReader(body), &out); err != nil {
				b.Fatal(err)
			}
			if len(out) != n {
				b.Fatalf("decoded %d", len(out))
			}
		}
	})
	b.Run("n=10000/baseline", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for range b.N {
			var out plainList
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil {
				b.Fatal(err)
			}
			if len(out.Data) != n {
				b.Fatalf("decoded %d", len(out.Data))
			}
		}
	})
}

// heapSampler records the highest heap-in-use (live and not yet swept
// objects) seen while it runs, sampling runtime/metrics, which does not
// stop the world.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func heapObjects(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s := []metrics.Sample{{Name: heapMetric}}
	h.peak = heapObjects(s)
	go func() {
		defer close(h.done)
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			if v := heapObjects(s); v > h.peak {
				h.peak = v
			}
			select {
			case <-h.stop:
				if v := heapObjects(s); v > h.peak {
					h.peak = v
				}
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

// measurePeak runs call with the heap collected beforehand and returns how
// far heap-in-use rose above where it started, in bytes. The result is kept
// alive until the end of the measurement.
func measurePeak(call func() any) uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: heapMetric}}
	start := heapObjects(s)
	h := startHeapSampler()
	res := call()
	peak := h.Stop()
	runtime.KeepAlive(res)
	if peak < start {
		return 0
	}
	return peak - start
}

// BenchmarkListMemory lists 100,000 ISOs (about 60 MB of JSON) and reports
// the peak heap growth during the call ("peak-heap-MB", the mean over ops;
// "max-peak-heap-MB", the largest). The payload itself lives on the heap
// before the call and is not counted.
func BenchmarkListMemory(b *testing.B) {
	const n = 100000
	body := cachedListBody(n)
	run := func(b *testing.B, call func() any) {
		var sum, max uint64
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			p := measurePeak(call)
			sum += p
			if p > max {
				max = p
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(sum)/float64(b.N)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(max)/(1<<20), "max-peak-heap-MB")
	}
	b.Run("n=100000/sdk", func(b *testing.B) {
		bs := newBenchServer(b, body)
		defer bs.srv.Close()
		c := bs.sdkClient(b)
		defer c.CloseIdleConnections()
		isos := c.Isos(benchService, benchEnv)
		run(b, func() any {
			res, err := isos.List(context.Background(), nil)
			if err != nil || len(res.Data) != n {
				b.Fatalf("list: %v", err)
			}
			return res
		})
	})
	b.Run("n=100000/baseline", func(b *testing.B) {
		bs := newBenchServer(b, body)
		defer bs.srv.Close()
		hc := naiveHTTPClient()
		defer hc.CloseIdleConnections()
		url := bs.listURL()
		run(b, func() any {
			var out plainList
			if err := baselineGet(context.Background(), hc, url, &out); err != nil || len(out.Data) != n {
				b.Fatalf("list: %v", err)
			}
			return &out
		})
	})
}

// Task waiting. A task finishes `after` its start; a waiter polls on a
// schedule and notices the first time it polls at or after that moment.

// waitCase is one task length of the issue.
var waitCases = []time.Duration{200 * time.Millisecond, 2 * time.Second, 30 * time.Second}

// fixedPollInterval is what every existing CloudMC client does.
const fixedPollInterval = time.Second

// simulateSDKWait is the SDK's schedule on a fake clock: Wait sleeps pollMin,
// polls, then sleeps nextPoll of the previous interval, up to pollMax.
func simulateSDKWait(after, pollMin, pollMax time.Duration) (noticed time.Duration, polls int) {
	var now time.Duration
	interval := pollMin
	for {
		now += interval
		polls++
		if now >= after {
			return now, polls
		}
		interval = nextPoll(interval, pollMax)
	}
}

// simulateFixedWait is a poller that sleeps a fixed interval between polls.
func simulateFixedWait(after, every time.Duration) (noticed time.Duration, polls int) {
	var now time.Duration
	for {
		now += every
		polls++
		if now >= after {
			return now, polls
		}
	}
}

func waitName(d time.Duration) string {
	return "task=" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func reportWait(b *testing.B, after, noticed time.Duration, polls float64) {
	b.ReportMetric(noticed.Seconds(), "noticed-s")
	b.ReportMetric((noticed - after).Seconds(), "lag-s")
	b.ReportMetric(polls, "polls")
}

// BenchmarkWaitSchedule computes on a fake clock when each waiter notices a
// task finishing after 0.2 s, 2 s and 30 s, and how many polls it made.
// Only the metrics matter; ns/op is the cost of the simulation.
func BenchmarkWaitSchedule(b *testing.B) {
	for _, after := range waitCases {
		b.Run(waitName(after)+"/sdk", func(b *testing.B) {
			var noticed time.Duration
			var polls int
			for range b.N {
				noticed, polls = simulateSDKWait(after, DefaultPollMin, DefaultPollMax)
			}
			reportWait(b, after, noticed, float64(polls))
		})
		b.Run(waitName(after)+"/baseline", func(b *testing.B) {
			var noticed time.Duration
			var polls int
			for range b.N {
				noticed, polls = simulateFixedWait(after, fixedPollInterval)
			}
			reportWait(b, after, noticed, float64(polls))
		})
	}
}

// waitScale divides every duration of the real-time wait benchmark, so the
// 30 s task takes 1.5 s.
const waitScale = 20

// taskServer answers GET /tasks/{id} with PENDING until `after` has passed
// since the task was started (reset), then SUCCESS; it counts the polls.
type taskServer struct {
	srv   *httptest.Server
	after time.Duration
	mu    sync.Mutex
	start time.Time
	polls int
}

const benchTaskID = "7a1c2f9e-6d2b-4b1e-9f3a-5c8d0e4b2a10"

func newTaskServer(after time.Duration) *taskServer {
	ts := &taskServer{after: after}
	pending := []byte(`{"data":{"id":"` + benchTaskID + `","status":"PENDING","created":"2021-04-20T20:58:59.952881-04:00"}}`)
	success := []byte(`{"data":{"id":"` + benchTaskID + `","status":"SUCCESS","created":"2021-04-20T20:58:59.952881-04:00","result":{"url":"https://example.test/iso"}}}`)
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.polls++
		done := time.Since(ts.start) >= ts.after
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if done {
			_, _ = w.Write(success)
		} else {
			_, _ = w.Write(pending)
		}
	}))
	return ts
}

// begin starts the task now and returns the start time.
func (ts *taskServer) begin() time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.start, ts.polls = time.Now(), 0
	return ts.start
}

func (ts *taskServer) pollCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.polls
}

// fixedWait is the existing clients' loop: sleep a fixed interval, GET the
// task, stop when it is no longer pending.
func fixedWait(ctx context.Context, hc *http.Client, url string, every time.Duration) error {
	for {
		if err := sleep(ctx, every); err != nil {
			return err
		}
		var t struct {
			Data struct {
				Status string `json:"status"`
			} `json:"data"`
		}
		if err := baselineGet(ctx, hc, url, &t); err != nil {
			return err
		}
		if !strings.EqualFold(t.Data.Status, "PENDING") {
			return nil
		}
	}
}

// BenchmarkWaitScaled runs the real TaskService.Wait against a task server
// with every duration divided by waitScale (poll interval, backoff cap and
// task length), and reports the figures scaled back up: when the waiter
// noticed and how many polls it made. It proves the real code follows the
// schedule that BenchmarkWaitSchedule computes.
func BenchmarkWaitScaled(b *testing.B) {
	scaled := func(d time.Duration) time.Duration { return d / waitScale }
	run := func(b *testing.B, after time.Duration, wait func(ctx context.Context, ts *taskServer) error) {
		ts := newTaskServer(scaled(after))
		defer ts.srv.Close()
		var noticed time.Duration
		var polls int
		for range b.N {
			start := ts.begin()
			if err := wait(context.Background(), ts); err != nil {
				b.Fatal(err)
			}
			noticed += time.Since(start)
			polls += ts.pollCount()
		}
		reportWait(b, after, noticed*waitScale/time.Duration(b.N), float64(polls)/float64(b.N))
	}
	for _, after := range waitCases {
		b.Run(waitName(after)+"/sdk", func(b *testing.B) {
			var c *Client
			run(b, after, func(ctx context.Context, ts *taskServer) error {
				if c == nil {
					var err error
					c, err = NewClient(ts.srv.URL, benchKey, WithPollInterval(scaled(DefaultPollMin), scaled(DefaultPollMax)))
					if err != nil {
						return err
					}
				}
				_, err := c.Tasks().Wait(ctx, &Task{ID: benchTaskID, Status: TaskPending})
				return err
			})
			if c != nil {
				c.CloseIdleConnections()
			}
		})
		b.Run(waitName(after)+"/baseline", func(b *testing.B) {
			hc := naiveHTTPClient()
			defer hc.CloseIdleConnections()
			run(b, after, func(ctx context.Context, ts *taskServer) error {
				return fixedWait(ctx, hc, ts.srv.URL+"/tasks/"+benchTaskID, scaled(fixedPollInterval))
			})
		})
	}
}

// Guard rails: counts, not timers.

// allocSlack is how many more allocations per call than the hand-written
// baseline a List or Get may make. The target is 10; the SDK makes
// about 20 (Get) to 30 (List of 1) more today, for reasons the profiles give
// (BENCHMARKS.md): about 10 are http.Client.Timeout's per-request deadline
// context and timer (the SDK's default client has a 60 s Timeout, the
// naive baseline none), about 5 per envelope key are json.Decoder's Token
// API (the key string, its boxing, and the SyntaxError it builds and drops
// to find the end of a literal), which is what lets lists stream. This
// guard stops the gap from growing; closing it needs an envelope decoder
// that does not use Token (see BENCHMARKS.md).
const allocSlack = 30

// TestListAllocsGuard checks that listing 100 ISOs allocates at most
// allocSlack more times per call than the hand-written baseline. Both sides
// count the in-process server's allocations, which are the same for both.
func TestListAllocsGuard(t *testing.T) {
	const n, slack = 100, allocSlack
	bs := newBenchServer(t, cachedListBody(n))
	defer bs.srv.Close()
	c := bs.sdkClient(t)
	defer c.CloseIdleConnections()
	hc := naiveHTTPClient()
	defer hc.CloseIdleConnections()
	url := bs.listURL()

	sdk := testing.AllocsPerRun(200, func() { sdkList(t, c, n) })
	base := testing.AllocsPerRun(200, func() { baseList(t, hc, url, n) })
	t.Logf("list of %d: sdk %.1f allocs/call, baseline %.1f", n, sdk, base)
	if sdk > base+slack {
		t.Errorf("list of %d allocates %.1f times per call, more than the baseline's %.1f + %d", n, sdk, base, slack)
	}
}

// TestGetAllocsGuard is TestListAllocsGuard for Get.
func TestGetAllocsGuard(t *testing.T) {
	const slack = allocSlack
	bs := newBenchServer(t, cachedListBody(1))
	defer bs.srv.Close()
	c := bs.sdkClient(t)
	defer c.CloseIdleConnections()
	hc := naiveHTTPClient()
	defer hc.CloseIdleConnections()
	isos, url, ctx := c.Isos(benchService, benchEnv), bs.getURL(), context.Background()

	sdk := testing.AllocsPerRun(200, func() {
		if _, err := isos.Get(ctx, bs.getID); err != nil {
			t.Fatal(err)
		}
	})
	base := testing.AllocsPerRun(200, func() {
		var out plainObject
		if err := baselineGet(ctx, hc, url, &out); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("get: sdk %.1f allocs/call, baseline %.1f", sdk, base)
	if sdk > base+slack {
		t.Errorf("get allocates %.1f times per call, more than the baseline's %.1f + %d", sdk, base, slack)
	}
}

// TestConcurrentGetConnections checks that 64 goroutines sharing a default
// client open at most 64 connections, where the stock transport churns.
func TestConcurrentGetConnections(t *testing.T) {
	const perGoroutine = 50
	bs := newBenchServer(t, cachedListBody(1))
	defer bs.srv.Close()
	c := bs.sdkClient(t)
	defer c.CloseIdleConnections()
	isos, ctx := c.Isos(benchService, benchEnv), context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, getParallelism)
	for range getParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perGoroutine {
				if _, err := isos.Get(ctx, bs.getID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	opened := bs.conns.Load()
	t.Logf("%d goroutines x %d gets opened %d connections", getParallelism, perGoroutine, opened)
	if opened > getParallelism {
		t.Errorf("%d goroutines opened %d connections, want at most %d", getParallelism, opened, getParallelism)
	}
}

// TestWaitScheduleGuard checks the default poll schedule against the
// issue's targets on a fake clock: a 0.2 s task noticed within 0.35 s of
// its start, a 30 s task in at most 15 polls.
func TestWaitScheduleGuard(t *testing.T) {
	if noticed, polls := simulateSDKWait(200*time.Millisecond, DefaultPollMin, DefaultPollMax); noticed > 350*time.Millisecond {
		t.Errorf("a 0.2 s task is noticed after %s (%d polls), want within 0.35 s", noticed, polls)
	}
	if noticed, polls := simulateSDKWait(30*time.Second, DefaultPollMin, DefaultPollMax); polls > 15 {
		t.Errorf("a 30 s task takes %d polls (noticed after %s), want at most 15", polls, noticed)
	}
	for _, after := range waitCases {
		sn, sp := simulateSDKWait(after, DefaultPollMin, DefaultPollMax)
		fn, fp := simulateFixedWait(after, fixedPollInterval)
		t.Logf("task of %s: sdk notices at %s in %d polls; a 1 s poller at %s in %d polls", after, sn, sp, fn, fp)
	}
}
