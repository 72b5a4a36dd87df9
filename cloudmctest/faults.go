package cloudmctest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is one scripted misbehaviour of the server, for ScriptFaults. The
// zero Fault handles the request normally, so a script can let some
// requests through: []Fault{{}, {Status: 404}} answers the second one 404.
type Fault struct {
	// Delay waits before doing anything else (it ends early when the client
	// goes away). Alone, the request is then handled normally.
	Delay time.Duration
	// Status answers with this status and Body instead of handling the
	// request. A 3xx with Location makes a redirect.
	Status      int
	Body        string
	ContentType string            // default application/json when Body is set
	Header      map[string]string // extra headers, such as Retry-After
	Location    string            // Location header; Status defaults to 302
	// Hangup closes the connection after the request was read, before any
	// byte of an answer.
	Hangup bool
	// Truncate sends Status (default 200) with a Content-Length longer than
	// Body, sends Body, then closes the connection.
	Truncate bool
	// Endless sends Status (default 200) and a JSON list that never ends,
	// until the client stops reading.
	Endless bool
}

// Repeat returns n copies of f, for a script such as "503 five times".
func Repeat(f Fault, n int) []Fault {
	out := make([]Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// faultTable holds the scripts, by method and path.
type faultTable struct {
	mu      sync.Mutex
	scripts []*faultScript
}

type faultScript struct {
	method, path string // path relative to the prefix; a trailing * matches a prefix
	queue        []Fault
}

func (fs *faultScript) matches(method, path string) bool {
	if fs.method != "" && !strings.EqualFold(fs.method, method) {
		return false
	}
	if p, ok := strings.CutSuffix(fs.path, "*"); ok {
		return strings.HasPrefix(path, p)
	}
	return path == fs.path
}

// ScriptFaults queues faults for requests whose method and path match: each
// matching request takes the next fault; once the queue is empty they are
// handled normally again. path is relative to the path prefix, such as
// "/services/compute-on/test_area/isos"; a trailing "*" matches every path
// that starts with the rest ("/tasks/*"). An empty method matches any.
// Scripts for the same method and path append to one queue.
func (s *Server) ScriptFaults(method, path string, faults ...Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for _, fs := range s.faults.scripts {
		if fs.method == method && fs.path == path {
			fs.queue = append(fs.queue, faults...)
			return
		}
	}
	s.faults.scripts = append(s.faults.scripts, &faultScript{method: method, path: path, queue: append([]Fault(nil), faults...)})
}

// ClearFaults drops every scripted fault not yet used.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.scripts = nil
}

// nextFault takes the fault for this request, if one is scripted.
func (s *Server) nextFault(r *http.Request) (Fault, bool) {
	path := strings.TrimPrefix(r.URL.EscapedPath(), s.cfg.prefix)
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for _, fs := range s.faults.scripts {
		if len(fs.queue) > 0 && fs.matches(r.Method, path) {
			f := fs.queue[0]
			fs.queue = fs.queue[1:]
			return f, true
		}
	}
	return Fault{}, false
}

// applyFault plays f; it reports whether the request has been answered.
func applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client went away: drop the connection rather than let
			// net/http answer an empty 200 that could still reach it.
			t.Stop()
			hijackAndClose(w, nil)
			return true
		}
	}
	status := f.Status
	if status == 0 && (f.Truncate || f.Endless) {
		status = http.StatusOK
	}
	if status == 0 && f.Location != "" {
		status = http.StatusFound
	}
	switch {
	case f.Hangup:
		hijackAndClose(w, nil)
		return true
	case f.Truncate:
		raw := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			status, http.StatusText(status), len(f.Body)+100, f.Body)
		hijackAndClose(w, []byte(raw))
		return true
	case f.Endless:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		writeEndless(w, r)
		return true
	case status != 0:
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		if f.Location != "" {
			w.Header().Set("Location", f.Location)
		}
		if f.Body != "" {
			ct := f.ContentType
			if ct == "" {
				ct = "application/json"
			}
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return true
	}
	return false // a delay alone: handle normally
}

func hijackAndClose(w http.ResponseWriter, raw []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("cloudmctest: the connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if raw != nil {
		_, _ = buf.Write(raw)
		_ = buf.Flush()
	}
	_ = conn.Close()
}

func writeEndless(w http.ResponseWriter, r *http.Request) {
	item := []byte(`{"id":"00000000-0000-4000-8000-000000000000","name":"endless","size":1},`)
	chunk := append([]byte(`{"data":[`), item...)
	fl, _ := w.(http.Flusher)
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if len(chunk) < 32<<10 {
			chunk = chunk[:0]
			for len(chunk) < 32<<10 {
				chunk = append(chunk, item...)
			}
		}
	}
}
