package cloudmc

// Fuzz targets for every decoder and for the request builder. Run one with
//
//	go test -run '^$' -fuzz '^FuzzListDecode$' -fuzztime 30s .
//
// or all of them, briefly, with scripts/fuzz. Without -fuzz, go test runs the
// seeds below and the corpus in testdata/fuzz/<FuzzName> as ordinary tests.
//
// Everything here is in-process: answers come from fuzzTransport, an
// http.RoundTripper that hands back a canned response, so no target opens a
// socket or leaves a goroutine behind (TestMain runs goleak).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fuzzTransport answers every request with one canned response and
// remembers the last request it saw.
type fuzzTransport struct {
	status int
	header http.Header
	body   []byte

	calls   int
	lastURL string
	lastKey string
}

func (ft *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	ft.calls++
	ft.lastURL = r.URL.String()
	ft.lastKey = r.Header.Get(headerAPIKey)
	h := ft.header
	if h == nil {
		h = http.Header{"Content-Type": {"application/json"}}
	}
	return &http.Response{
		Status:        strconv.Itoa(ft.status) + " " + http.StatusText(ft.status),
		StatusCode:    ft.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h.Clone(),
		Body:          io.NopCloser(bytes.NewReader(ft.body)),
		ContentLength: int64(len(ft.body)),
		Request:       r,
	}, nil
}

// fuzzClient is a client whose every request is answered by ft, once: no
// retries, so one input is one exchange.
func fuzzClient(t *testing.T, ft *fuzzTransport, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{WithHTTPClient(&http.Client{Transport: ft}), WithRetry(RetryPolicy{})}, opts...)
	c, err := NewClient(mockBase, testKey, all...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// maxErrorText bounds Error() of any error the client returns for a server's
// answer, whatever the answer held. The request path in these targets is
// short, so nearly all of it is the server's share.
const maxErrorText = 2 << 10

// checkErrorText holds an error string to what a log line can take: bounded,
// valid UTF-8, one line without control or format characters, and no key.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	s := err.Error()
	if strings.Contains(s, testKey) {
		t.Fatalf("the API key is in the error text: %q", s)
	}
	if len(s) > maxErrorText {
		t.Fatalf("error text is %d bytes, over %d: %.300q...", len(s), maxErrorText, s)
	}
	if !utf8.ValidString(s) {
		t.Fatalf("error text is not valid UTF-8: %q", s)
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			t.Fatalf("error text holds %U: %q", r, s)
		}
	}
}

// jsonSame reports whether a and b hold the same JSON value (numbers
// compared as written); two empty inputs are the same.
func jsonSame(a, b []byte) bool {
	if len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	va, erra := decodeAnyNumber(a)
	vb, errb := decodeAnyNumber(b)
	return erra == nil && errb == nil && reflect.DeepEqual(va, vb)
}

func decodeAnyNumber(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// ---------------------------------------------------------------------------
// Seeds shared by the decoder targets: the quirks of wire.md.

const fuzzSeedIso = `{"id": "0b3fea04-b1ed-48cf-921d-96795dfe9a81", "name": "ubuntu", "description": "Example ISO",
 "architectureWidth": 64, "size": 52428800, "ready": true, "bootable": true, "availablePublicly": false,
 "extractable": false, "osTypeId": "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b", "osTypeName": "Other (64-bit)",
 "zoneId": "ea901007-056b-4c50-bb3a-2dd635fce2ab", "zoneName": "zone1", "created": "2017-12-21 4:41:33 PM Z",
 "availableInZones": ["ea901007-056b-4c50-bb3a-2dd635fce2ab"]}`

var fuzzIsoSeeds = []string{
	fuzzSeedIso,
	`{"id": "a", "architectureWidth": "64", "size": "52428800"}`,
	`{"id": "a", "size": 9007199254740993, "architectureWidth": 64.0}`,
	`{"id": "a", "size": "9223372036854775807"}`,
	`{"id": "a", "size": 9223372036854775808}`,
	`{"id": "a", "size": -9223372036854775808}`,
	`{"id": "a", "size": 5.24288e7, "architectureWidth": "6.4e1"}`,
	`{"id": "a", "size": " 42 ", "architectureWidth": ""}`,
	`{"id": "a", "size": 1e400}`,
	`{"id": "a", "size": "0x10"}`,
	`{"id": null, "name": null, "size": null, "architectureWidth": null, "availableInZones": null, "ready": null}`,
	`{"id": "a", "availableInZones": []}`,
	`{"id": "a", "name": "Ünïcødé ✓ 日本語 🚀", "description": "\u00e9\ud83d\ude80\u2028\u0000"}`,
	`{"id": "a", "name": "<script>alert(1)</script> & \"quotes\""}`,
	`{"id": "a", "name": "\xff\xfe invalid utf-8"}`,
	`{"id": "a", "created": "2016-10-24 2:40:29 PM EDT", "zoneId": "", "zoneName": ""}`,
	`{"id": "a", "newField": [1, 2, {"deep": true}], "ID": "b", "Name": "case"}`,
	`{"id": "a", "id": "b"}`,
	`{}`,
	`null`,
	`[]`,
	`""`,
	``,
	`<html><body>502 Bad Gateway</body></html>`,
}

// fuzzListSeeds are list answers: envelopes around ISO objects.
func fuzzListSeeds() []string {
	return []string{
		`{"data": [` + fuzzSeedIso + `], "metadata": {"recordCount": 1}}`,
		`{"metadata": {"recordCount": "5", "pageSize": 50, "pageCurrent": "1", "sortField": "name", "sortOrder": "ASC", "x": {}},
		  "data": [{"id": "1", "size": "9007199254740993", "architectureWidth": "64"}, {"id": "2", "size": 9223372036854775807}]}`,
		`{"data": [], "metadata": {"recordCount": 7}}`,
		`{"data": null}`,
		`{"data": []}`,
		`{"data": [{"id": "1"}], "metadata": null}`,
		`{"data": [{"id": "1"}], "metadata": {"recordCount": "many"}}`,
		`{"data": [{"id": "1"}], "metadata": [1]}`,
		`{"data": [{"id": "1", "availableInZones": ["z1", "z2"]}, {"id": "2", "availableInZones": ["z3"]}, {"id": "3"}]}`,
		`{"data": [{"id": "1"}], "data": [{"id": "2"}]}`,
		`{"data": [{"id": "1"}], "errors": [{"code": 2012, "message": "no"}]}`,
		`{"data": [{"id": "1"}], "errors": []}`,
		`{"data": [{"name": "no id"}]}`,
		`{"data": [null]}`,
		`{"data": {"id": "1"}}`,
		`{"data": "x"}`,
		`{"metadata": {"recordCount": 0}}`,
		`{"data": [{"id": "1"}]`,
		`{"data": [{"id": "1"},]}`,
		`{"data": [{"id": "1"}]} trailing`,
		`{"Data": [{"id": "1"}]}`,
		`[]`,
		`null`,
		``,
		`<html><body><h1>502 Bad Gateway</h1></body></html>`,
	}
}

// fuzzTaskSeeds are task and operation answers of both shapes.
var fuzzTaskSeeds = []string{
	`{"taskId": "7a1c2f9e-6d2b-4b1e-9f3a-5c8d0e4b2a10", "taskStatus": "PENDING"}`,
	`{"taskId": "t1", "taskStatus": "SUCCESS", "data": {"url": "https://dl.example.test/x.iso"}}`,
	`{"taskId": "t1", "taskStatus": "success", "result": {"url": "u"}}`,
	`{"taskId": "t1", "taskStatus": "FAILED", "result": {"message": "boom\nline two"}, "errors": [{"code": 1, "message": "m"}]}`,
	`{"taskId": "t1", "taskStatus": "failed"}`,
	`{"taskId": "t1", "taskStatus": "Running", "created": "2021-04-20T20:58:59.952881-04:00"}`,
	`{"taskId": "t1", "taskStatus": " pending "}`,
	`{"taskId": "t1", "taskStatus": "PENDING", "errors": [{"errorCode": "FOO_ERROR", "message": "x"}]}`,
	`{"taskId": 12345, "taskStatus": "PENDING"}`,
	`{"taskId": null, "taskStatus": "FAILED"}`,
	`{"taskId": {}, "taskStatus": "SUCCESS"}`,
	`{"data": {"id": "t1", "status": "PENDING", "created": "2021-04-20T20:58:59.952881-04:00", "result": {}}}`,
	`{"data": {"id": "t1", "status": "SUCCESS", "result": {"url": "https://dl.example.test/x.iso"}}}`,
	`{"data": {"id": "t1", "status": "FAILED", "result": {"message": "quota"}, "errors": [{"code": "Q", "message": "quota"}]}}`,
	`{"data": {"id": "t1", "status": "FAILED"}, "errors": {"code": 9, "message": "odd"}}`,
	`{"data": {"status": "weird-ünï"}}`,
	`{"data": {"id": 5, "status": 7, "created": 1}}`,
	`{"data": {"id": "t1"}}`,
	`{"data": null, "taskStatus": "SUCCESS"}`,
	`{"data": {"id": "1"}}`,
	`{"errors": [{"code": 2012, "message": "Instance is stopped", "context": {"id": "x"}}]}`,
	`{"data": null}`,
	`{}`,
	``,
	`null`,
	`<html>nope</html>`,
}

// fuzzErrorSeeds are error bodies: both forms, odd ones, proxies' HTML.
var fuzzErrorSeeds = []string{
	`{"errors": [{"code": 2012, "message": "Instance is stopped", "context": {"id": "x", "currentState": "Stopped"}}]}`,
	`{"errors": [{"errorCode": "FOO_ERROR", "message": "foo"}]}`,
	`{"errors": [{"code": "FORBIDDEN"}]}`,
	`{"errors": [{"code": 1, "message": "a"}, {"code": 2, "message": "b"}, {"code": 3}, {"code": 4}, {"code": 5}]}`,
	`{"errors": [{"code": 1, "message": "a", "context": "text"}]}`,
	`{"errors": {"code": 9, "message": "odd"}}`,
	`{"errors": "just text"}`,
	`{"errors": ["a", 1, true, null, [], {}]}`,
	`{"errors": [{"code": 1.5e300, "message": 42, "context": {"n": 1e308, "deep": {"a": [1, null]}}}]}`,
	`{"errors": [{"code": "C", "message": "line one\nline two\r\n\u001b[31mred\u001b[0m \u202egnp.exe"}]}`,
	`{"errors": [{"code": "\u0000", "message": "\ud800"}]}`,
	`{"errors": []}`,
	`{"errors": null, "message": "internal"}`,
	`{"message": 500}`,
	`{"message": "` + strings.Repeat("long message ", 400) + `"}`,
	`{"errors": [`,
	`<html><body><h1>502 Bad Gateway</h1></body></html>`,
	"nope\n",
	"\x00\x01\x02\xff",
	``,
}

// ---------------------------------------------------------------------------

// FuzzIsoUnmarshal: any bytes unmarshal into an Iso without panicking; what
// unmarshals marshals and unmarshals back to the same Iso, and agrees with
// the list path's isoWire and with plain encoding/json wherever plain
// encoding/json can read the input at all.
func FuzzIsoUnmarshal(f *testing.F) {
	for _, s := range fuzzIsoSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var iso Iso
		err := json.Unmarshal(data, &iso)

		// Plain decoding (no tolerance) succeeding means the input has no
		// quirk: the tolerant decoder must then read the very same values.
		type plainIso Iso
		var plain plainIso
		if json.Unmarshal(data, &plain) == nil {
			if err != nil {
				t.Fatalf("plain encoding/json reads %q but Iso does not: %v", data, err)
			}
			if !reflect.DeepEqual(Iso(plain), iso) {
				t.Fatalf("Iso differs from plain decoding:\n%#v\n%#v", iso, Iso(plain))
			}
		}
		if err != nil {
			checkErrorText(t, err)
			return
		}

		var w isoWire
		if werr := json.Unmarshal(data, &w); werr != nil {
			t.Fatalf("Iso decodes but isoWire does not: %v", werr)
		}
		if !reflect.DeepEqual(w.iso(), iso) {
			t.Fatalf("isoWire and Iso disagree:\n%#v\n%#v", w.iso(), iso)
		}

		b, err := json.Marshal(iso)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var back Iso
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if !reflect.DeepEqual(iso, back) {
			t.Fatalf("round trip changed the ISO:\n%#v\n%#v\nvia %s", iso, back, b)
		}
		if b2, _ := json.Marshal(back); !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b, b2)
		}
		if back.Created != "" {
			_, _ = back.CreatedTime()
		}
	})
}

// FuzzListDecode feeds a body through IsoService.List (decodeEnvelope,
// listInto(isoFromWire), metadata, errors in 2xx) as a 200 answer. Nothing
// panics; an error is a *DecodeError or an *APIError with bounded text;
// a list that decodes re-encodes as {"data": [...], "metadata": {...}} to
// the same ListResponse, and matches plain json.Unmarshal of its "data".
func FuzzListDecode(f *testing.F) {
	for _, s := range fuzzListSeeds() {
		f.Add([]byte(s))
	}
	for _, s := range fuzzIsoSeeds {
		f.Add([]byte(`{"data": [` + s + `]}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := fuzzList(t, body)
		if err != nil {
			checkErrorText(t, err)
			var de *DecodeError
			var ae *APIError
			if !errors.As(err, &de) && !errors.As(err, &ae) {
				t.Fatalf("error %T is neither *DecodeError nor *APIError: %v", err, err)
			}
			return
		}
		if out.Data == nil {
			t.Fatal("Data is nil, want an empty list")
		}
		for i, iso := range out.Data {
			if iso.ID == "" {
				t.Fatalf("item %d has no id", i)
			}
		}

		// Differential: plain encoding/json on the one "data" value.
		if raw, n := topLevelValue(body, "data"); n == 1 {
			var want []Iso
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("List decodes but json.Unmarshal of data fails: %v", err)
			}
			if len(want) != len(out.Data) || (len(want) > 0 && !reflect.DeepEqual(want, out.Data)) {
				t.Fatalf("List and json.Unmarshal disagree:\n%#v\n%#v", out.Data, want)
			}
		}

		re, err := json.Marshal(struct {
			Data     []Iso    `json:"data"`
			Metadata Metadata `json:"metadata"`
		}{out.Data, out.Metadata})
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := fuzzList(t, re)
		if err != nil {
			t.Fatalf("re-encoded list does not decode: %v\n%s", err, re)
		}
		if !reflect.DeepEqual(out, back) {
			t.Fatalf("round trip changed the list:\n%#v\n%#v\nvia %s", out, back, re)
		}
	})
}

func fuzzList(t *testing.T, body []byte) (*ListResponse[Iso], error) {
	t.Helper()
	ft := &fuzzTransport{status: http.StatusOK, body: body}
	c := fuzzClient(t, ft)
	out, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	if ft.calls != 1 {
		t.Fatalf("%d requests, want 1", ft.calls)
	}
	return out, err
}

// topLevelValue returns the value of key in the top-level JSON object of
// body, matched exactly (as decodeEnvelope does), and how often key occurs.
func topLevelValue(body []byte, key string) (json.RawMessage, int) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0
	}
	var val json.RawMessage
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0
		}
		if tok == key {
			val, n = raw, n+1
		}
	}
	return val, n
}

// FuzzTaskDecode gives arbitrary bodies, with status 200, 202 or 204, to the
// operation decoder (through IsoService.Delete) and to TaskService.Get. No
// input panics. A task that decodes has a known or upper-cased status, a
// Done() that matches it, a Result that is absent or a value, and comes back
// the same when re-encoded in either shape; a FAILED task is a *TaskError
// holding it. Errors are bounded text without the key.
func FuzzTaskDecode(f *testing.F) {
	for i, s := range fuzzTaskSeeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		status := []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent}[int(sel)%3]

		// The operation decoder.
		task, err := fuzzOperation(t, status, body)
		if status == http.StatusNoContent {
			if err != nil || task == nil || task.Status != TaskSuccess || task.Result != nil || task.ID != "" {
				t.Fatalf("204 gives %#v, %v; want a finished synchronous task", task, err)
			}
		}
		if task = checkTaskResult(t, task, err); task != nil {
			// Re-encode as an operation answer and decode again.
			wire := map[string]any{}
			if task.ID != "" {
				wire["taskId"] = task.ID
			}
			if task.ID != "" || task.Status != TaskSuccess {
				wire["taskStatus"] = string(task.Status) // a synchronous failure says so
			}
			if task.Created != "" {
				wire["created"] = task.Created
			}
			if task.Result != nil {
				wire["data"] = task.Result
			}
			if len(task.Errors) > 0 {
				wire["errors"] = errorsWire(task.Errors)
			}
			re, _ := json.Marshal(wire)
			back, err := fuzzOperation(t, http.StatusOK, re)
			back = checkTaskResult(t, back, err)
			sameTask(t, task, back, re)
		}

		// The task GET decoder.
		ft := &fuzzTransport{status: status, body: body}
		task, err = fuzzClient(t, ft).Tasks().Get(context.Background(), taskID)
		if err != nil {
			if task != nil {
				t.Fatalf("Get returned a task and an error: %v", err)
			}
			checkErrorText(t, err)
			var de *DecodeError
			var ae *APIError
			if !errors.As(err, &de) && !errors.As(err, &ae) {
				t.Fatalf("Get error %T is neither *DecodeError nor *APIError: %v", err, err)
			}
			return
		}
		checkTask(t, task)
		if task.ID == "" {
			t.Fatal("a task read by Get has no id")
		}
		if task.Done() {
			// Wait on a finished task answers at once, without a request.
			got, werr := fuzzClient(t, &fuzzTransport{status: 500}).Tasks().Wait(context.Background(), task)
			checkTaskResult(t, got, werr)
		}
		nested, _ := json.Marshal(map[string]any{"data": map[string]any{
			"id": task.ID, "status": string(task.Status), "created": task.Created,
			"result": task.Result, "errors": errorsWire(task.Errors),
		}})
		flat, _ := json.Marshal(map[string]any{
			"taskId": task.ID, "taskStatus": string(task.Status), "created": task.Created,
			"result": task.Result, "errors": errorsWire(task.Errors),
		})
		for _, re := range [][]byte{nested, flat} {
			back, err := fuzzClient(t, &fuzzTransport{status: http.StatusOK, body: re}).Tasks().Get(context.Background(), taskID)
			if err != nil {
				t.Fatalf("re-encoded task does not decode: %v\n%s", err, re)
			}
			sameTask(t, task, back, re)
		}
	})
}

func fuzzOperation(t *testing.T, status int, body []byte) (*Task, error) {
	t.Helper()
	ft := &fuzzTransport{status: status, body: body}
	task, err := fuzzClient(t, ft).Isos("compute-on", "test_area").Delete(context.Background(), isoID)
	if ft.calls != 1 {
		t.Fatalf("%d requests, want 1", ft.calls)
	}
	if err != nil && task != nil {
		t.Fatalf("Delete returned a task and an error: %v", err)
	}
	return task, err
}

// checkTaskResult checks what an operation or Wait returned and gives back
// the task (the one inside a *TaskError too), or nil after a plain error.
func checkTaskResult(t *testing.T, task *Task, err error) *Task {
	t.Helper()
	if err == nil {
		if task == nil {
			t.Fatal("no task and no error")
		}
		checkTask(t, task)
		if task.Status == TaskFailed {
			t.Fatal("a FAILED task came back without a *TaskError")
		}
		return task
	}
	checkErrorText(t, err)
	var te *TaskError
	if errors.As(err, &te) {
		if !errors.Is(err, ErrTaskFailed) || te.Task == nil || te.Task.Status != TaskFailed {
			t.Fatalf("*TaskError without its failed task: %#v", te)
		}
		if !reflect.DeepEqual(te.Errors, te.Task.Errors) {
			t.Fatalf("TaskError.Errors %v differ from the task's %v", te.Errors, te.Task.Errors)
		}
		checkTask(t, te.Task)
		return te.Task
	}
	var de *DecodeError
	var ae *APIError
	if !errors.As(err, &de) && !errors.As(err, &ae) {
		t.Fatalf("error %T is neither *TaskError, *DecodeError nor *APIError: %v", err, err)
	}
	return nil
}

func checkTask(t *testing.T, task *Task) {
	t.Helper()
	switch st := task.Status; st {
	case TaskPending, TaskSuccess, TaskFailed:
	default:
		s := string(st)
		if s == "" || s != strings.ToUpper(s) || s != strings.TrimSpace(s) || normalizeStatus(s) != st {
			t.Fatalf("status %q is neither known nor a normalised word", s)
		}
	}
	if task.Done() != (task.Status == TaskSuccess || task.Status == TaskFailed) {
		t.Fatalf("Done() is %v for status %q", task.Done(), task.Status)
	}
	if task.Result != nil && !hasValue(task.Result) {
		t.Fatalf("Result %q is kept but holds no value", task.Result)
	}
	if task.Result != nil && !json.Valid(task.Result) {
		t.Fatalf("Result %q is not JSON", task.Result)
	}
	if task.Status == TaskFailed {
		checkErrorText(t, &TaskError{Task: task, Errors: task.Errors})
	}
	var anything any
	if task.Result != nil && task.DecodeResult(&anything) != nil {
		t.Fatal("DecodeResult fails on a JSON result")
	}
}

func sameTask(t *testing.T, a, b *Task, via []byte) {
	t.Helper()
	if b == nil || a.ID != b.ID || a.Status != b.Status || a.Created != b.Created ||
		!jsonSame(a.Result, b.Result) || !sameDetails(a.Errors, b.Errors) {
		t.Fatalf("round trip changed the task:\n%#v\n%#v\nvia %s", a, b, via)
	}
}

// errorsWire is the reference form of details, for re-encoding.
func errorsWire(ds []ErrorDetail) []map[string]any {
	out := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		m := map[string]any{"code": d.Code, "message": d.Message}
		if d.Context != nil {
			m["context"] = d.Context
		}
		out = append(out, m)
	}
	return out
}

// sameDetails compares details, an empty list or context being no list or
// context.
func sameDetails(a, b []ErrorDetail) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Code != b[i].Code || a[i].Message != b[i].Message {
			return false
		}
		if (len(a[i].Context) > 0 || len(b[i].Context) > 0) && !reflect.DeepEqual(a[i].Context, b[i].Context) {
			return false
		}
	}
	return true
}

// FuzzErrorBody gives arbitrary error bodies, statuses and headers to the
// client (as the answer to IsoService.Get), and the bytes directly to
// parseErrors and errorsFromBody. Nothing panics; the *APIError holds the
// status, the bounded raw body and the parsed details; Error() of APIError,
// TaskError and DecodeError stays short, printable and free of the key; the
// details survive a re-encoding.
func FuzzErrorBody(f *testing.F) {
	for i, s := range fuzzErrorSeeds {
		f.Add(uint8(i), []byte(s), "application/json", "")
	}
	f.Add(uint8(0), []byte(`<html>`), "text/html; charset=\xff"+strings.Repeat("x", 3000), "req-1")
	f.Add(uint8(10), []byte(`{"data": {"id": 1}}`), "application/json", "req\x00id")
	f.Fuzz(func(t *testing.T, sel uint8, body []byte, contentType, reqID string) {
		statuses := []int{400, 401, 403, 404, 405, 409, 418, 429, 500, 502, 503, 504, 200, 599}
		status := statuses[int(sel)%len(statuses)]
		h := http.Header{}
		if validHeaderValue(contentType) {
			h.Set("Content-Type", contentType)
		}
		if validHeaderValue(reqID) {
			h.Set("X-Request-Id", reqID)
		}

		// parseErrors is given JSON values only (decoders hand it the
		// "errors" value); on anything else it must merely not panic.
		details := parseErrors(body)
		fromBody := errorsFromBody(body)
		for _, ds := range [][]ErrorDetail{details, fromBody} {
			for _, d := range ds {
				_ = d.String()
			}
			re, _ := json.Marshal(errorsWire(ds))
			if back := parseErrors(re); len(ds) > 0 && json.Valid(body) && !sameDetails(ds, back) {
				t.Fatalf("details change when re-encoded:\n%#v\n%#v\nvia %s", ds, back, re)
			}
		}
		checkErrorText(t, &APIError{StatusCode: status, Method: "GET", Path: "/api/v2/x", Errors: details, Body: body})
		checkErrorText(t, &APIError{StatusCode: status, Method: "GET", Path: "/api/v2/x", Errors: fromBody, Body: body})
		checkErrorText(t, &TaskError{Task: &Task{ID: taskID, Status: TaskFailed, Result: body}, Errors: details})
		checkErrorText(t, &TaskError{Task: &Task{ID: taskID, Status: TaskFailed, Result: body}})

		ft := &fuzzTransport{status: status, header: h, body: body}
		got, err := fuzzClient(t, ft).Isos("compute-on", "test_area").Get(context.Background(), isoID)
		if err == nil {
			if status/100 != 2 || got == nil {
				t.Fatalf("status %d gives no error", status)
			}
			return
		}
		checkErrorText(t, err)
		var ae *APIError
		if status/100 == 2 {
			var de *DecodeError
			if !errors.As(err, &de) && !errors.As(err, &ae) {
				t.Fatalf("error %T is neither *DecodeError nor *APIError: %v", err, err)
			}
			return
		}
		if !errors.As(err, &ae) {
			t.Fatalf("status %d gives %T, want *APIError: %v", status, err, err)
		}
		if ae.StatusCode != status || ae.Method != http.MethodGet || !strings.HasPrefix(ae.Path, "/api/v2/services/") {
			t.Fatalf("APIError fields: %d %s %s", ae.StatusCode, ae.Method, ae.Path)
		}
		want := body
		if len(want) > maxErrorBody {
			want = want[:maxErrorBody]
		}
		if !bytes.Equal(ae.Body, want) {
			t.Fatalf("Body is %d bytes, want the first %d of the answer", len(ae.Body), len(want))
		}
		if len(body) > 0 && body[0] != '<' {
			if !reflect.DeepEqual(ae.Errors, errorsFromBody(want)) {
				t.Fatalf("Errors %#v, want %#v", ae.Errors, errorsFromBody(want))
			}
		}
		if errors.Is(err, ErrNotFound) != (status == 404) ||
			errors.Is(err, ErrUnauthorized) != (status == 401 || status == 403) ||
			errors.Is(err, ErrRateLimited) != (status == 429) {
			t.Fatalf("sentinels wrong for %d", status)
		}
		if ae.RequestID != "" && ae.RequestID != reqID {
			t.Fatalf("RequestID %q, sent %q", ae.RequestID, reqID)
		}
	})
}

// validHeaderValue reports whether net/http would carry v as a header
// value: no control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return v != ""
}

// FuzzCreatedTime: parseCreated never panics; a time it reads formats as
// RFC 3339 and reads back as the same instant, and RFC 3339 input is read as
// time.Parse reads it.
func FuzzCreatedTime(f *testing.F) {
	for _, s := range []string{
		"2017-12-21 4:41:33 PM Z",
		"2016-10-24 2:40:29 PM EDT",
		"2016-10-24 02:40:29 PM edt",
		"2016-10-24 14:40:29 UTC",
		"2016-10-24 2:40:29 PM -0400",
		"2016-10-24 2:40:29 PM +05:30",
		"2016-10-24 2:40:29 PM +14",
		"2016-10-24 2:40:29 PM XYZ",
		"2021-04-20T20:58:59.952881-04:00",
		"2021-04-20T20:58:59Z",
		"2021-04-20T20:58:59.123456789123+00:00",
		"0000-01-01 12:00:00 AM -0100",
		"9999-12-31 11:59:59 PM +1400",
		"9999-12-31T23:59:59-23:59",
		"  2017-12-21 4:41:33 PM Z  ",
		"",
		" ",
		"yesterday",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseCreated(s)
		if rt, rerr := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); rerr == nil {
			if err != nil || !tm.Equal(rt) {
				t.Fatalf("%q: RFC 3339 reads as %v, parseCreated gives %v, %v", s, rt, tm, err)
			}
		}
		if err != nil {
			checkErrorText(t, err)
			return
		}
		if viaIso, err := (Iso{Created: s}).CreatedTime(); err != nil || !viaIso.Equal(tm) {
			t.Fatalf("Iso.CreatedTime disagrees with parseCreated on %q", s)
		}
		back, err := parseCreated(tm.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q reads as %v; formatted %q reads as %v, %v", s, tm, tm.Format(time.RFC3339Nano), back, err)
		}
	})
}

// FuzzRequestBuilder builds the URLs of every call from arbitrary service
// codes, environment names, ids, organisation ids and sort fields, through
// the client's own validation and Client.url. Whatever validation lets
// through stays exactly the intended path segments under the base path:
// each escaped, none "." or "..", each unescaping to its input; org_id and
// sort_by read back from the query; the key is never in the URL. One real
// request (TaskService.Get) checks that the transport sees that same URL.
func FuzzRequestBuilder(f *testing.F) {
	f.Add("compute-on", "test_area", isoID, "", "name")
	f.Add("compute-on", "test_area", taskID, "6f0b7a52-0a6c-4e2a-9a55-1f0c1d0f7a11", "")
	f.Add("a/b", "c?d#e", "..", "org&x=1", "name&sort_order=DESC")
	f.Add(".", "..", ".", "..", ".")
	f.Add("...", "%2e%2E", "%2F", "%", "%zz")
	f.Add("ünï cødé", "日本語", "🚀", "org id with spaces+plus", "näme")
	f.Add("a\x00b", "x\ny", "\xff", "\t", "\x7f")
	f.Add(" ", "  ", " id ", " org ", " ")
	f.Add(strings.Repeat("s", 257), "e", strings.Repeat("i", 256), strings.Repeat("o", 2000), strings.Repeat("n", 129))
	f.Add(";", ",", "@:", "=&+$", "[]")
	f.Add("A", "B", strings.ToUpper(isoID), "{"+isoID+"}", "urn:uuid:"+isoID)
	f.Add("x", "y", "0B3FEA04B1ED48CF921D96795DFE9A81", "org", "Name")
	f.Fuzz(func(t *testing.T, service, envName, id, orgID, sortBy string) {
		ft := &fuzzTransport{status: http.StatusOK, body: []byte(`{"data": {"id": "t", "status": "SUCCESS"}}`)}
		c, err := NewClient(mockBase, testKey, WithHTTPClient(&http.Client{Transport: ft}), WithRetry(RetryPolicy{}),
			WithOrganization(orgID))
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("WithOrganization(%q) fails without ErrInvalidArgument: %v", orgID, err)
			}
			if strings.TrimSpace(orgID) != "" && printable(orgID) {
				t.Fatalf("WithOrganization(%q) refused: %v", orgID, err)
			}
			checkErrorText(t, err)
			orgID = ""
			c = fuzzClient(t, ft)
		}

		// Task ids are any one segment.
		if err := checkSegment("task id", id); err == nil {
			fuzzCheckURL(t, c, []string{"tasks", id}, orgID, "")
			if _, err := c.Tasks().Get(context.Background(), id); err != nil {
				t.Fatalf("Tasks().Get(%q): %v", id, err)
			}
			if want := c.url(&request{segs: []string{"tasks", id}}).String(); ft.lastURL != want {
				t.Fatalf("the transport saw %q, want %q", ft.lastURL, want)
			}
			if ft.lastKey != testKey {
				t.Fatal("the request lacks the key header")
			}
		} else {
			checkErrorText(t, err)
			if _, gerr := c.Tasks().Get(context.Background(), id); !errors.Is(gerr, ErrInvalidArgument) {
				t.Fatalf("Tasks().Get(%q) = %v, want ErrInvalidArgument", id, gerr)
			}
		}

		isos := c.Isos(service, envName)
		if isos.env.err != nil {
			if !errors.Is(isos.env.err, ErrInvalidArgument) {
				t.Fatalf("env error without ErrInvalidArgument: %v", isos.env.err)
			}
			if checkSegment("s", service) == nil && checkSegment("e", envName) == nil {
				t.Fatalf("envOf refused %q %q that checkSegment accepts", service, envName)
			}
			checkErrorText(t, isos.env.err)
			calls := ft.calls
			if _, err := isos.List(context.Background(), nil); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("List with a bad environment: %v", err)
			}
			if ft.calls != calls {
				t.Fatal("a request was sent for a bad environment")
			}
			return
		}

		q, qerr := (&ListOptions{SortBy: sortBy, Page: 2}).query()
		if qerr != nil {
			if !errors.Is(qerr, ErrInvalidArgument) {
				t.Fatalf("ListOptions error without ErrInvalidArgument: %v", qerr)
			}
			checkErrorText(t, qerr)
			q = nil
			sortBy = ""
		}
		fuzzCheckURL(t, c, isos.segs(), orgID, sortBy)
		if qerr == nil {
			u := c.url(&request{segs: isos.segs(), query: q})
			vals, _ := url.ParseQuery(u.RawQuery)
			if vals.Get("sort_by") != sortBy || vals.Get("page_number") != "2" {
				t.Fatalf("query %q lost sort_by %q", u.RawQuery, sortBy)
			}
		}

		if err := checkUUID("ISO id", id); err == nil {
			if len(id) != 36 || strings.ContainsAny(id, "/?#%. ") {
				t.Fatalf("checkUUID accepts %q", id)
			}
			fuzzCheckURL(t, c, isos.segs(id), orgID, "")
			fuzzCheckURL(t, c, c.Instances(service, envName).segs(id), orgID, "")
		} else {
			checkErrorText(t, err)
			calls := ft.calls
			if _, err := isos.Get(context.Background(), id); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Get(%q) = %v, want ErrInvalidArgument", id, err)
			}
			if _, err := c.Instances(service, envName).DetachIso(context.Background(), id); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("DetachIso(%q) = %v, want ErrInvalidArgument", id, err)
			}
			if ft.calls != calls {
				t.Fatal("a request was sent for a bad id")
			}
		}
	})
}

// fuzzCheckURL builds the URL of segs (with sort_by when not empty) and
// checks it against the base URL, segment by segment.
func fuzzCheckURL(t *testing.T, c *Client, segs []string, orgID, sortBy string) *url.URL {
	t.Helper()
	var q url.Values
	if sortBy != "" {
		q = url.Values{"sort_by": {sortBy}}
	}
	u := c.url(&request{method: http.MethodGet, segs: segs, query: q})
	full := u.String()
	if strings.Contains(full, testKey) {
		t.Fatalf("the key is in the URL %q", full)
	}
	base, _ := url.Parse(mockBase)
	if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil || u.Fragment != "" {
		t.Fatalf("URL %q left the base's origin", full)
	}
	checkPath(t, u, strings.TrimRight(base.EscapedPath(), "/"), segs)

	// What a server reads back from the request line.
	parsed, err := url.ParseRequestURI(u.RequestURI())
	if err != nil {
		t.Fatalf("request URI %q does not parse: %v", u.RequestURI(), err)
	}
	if parsed.EscapedPath() != u.EscapedPath() || parsed.Path != u.Path {
		t.Fatalf("request URI %q reads back as %q", u.RequestURI(), parsed.Path)
	}
	vals, err := url.ParseQuery(parsed.RawQuery)
	if err != nil {
		t.Fatalf("query %q does not parse: %v", parsed.RawQuery, err)
	}
	if got := vals.Get("org_id"); got != orgID || (orgID == "") != !vals.Has("org_id") {
		t.Fatalf("org_id %q reads back as %q from %q", orgID, got, parsed.RawQuery)
	}
	if got := vals.Get("sort_by"); got != sortBy {
		t.Fatalf("sort_by %q reads back as %q", sortBy, got)
	}
	return u
}

// checkPath checks that u's escaped path is prefix followed by exactly segs,
// each escaped into one segment that is neither "." nor "..".
func checkPath(t *testing.T, u *url.URL, prefix string, segs []string) {
	t.Helper()
	esc := u.EscapedPath()
	if u.RawPath != "" && esc != u.RawPath {
		t.Fatalf("RawPath %q does not match Path %q (EscapedPath gives %q)", u.RawPath, u.Path, esc)
	}
	if !strings.HasPrefix(esc, prefix+"/") {
		t.Fatalf("path %q is not under the base path %q", esc, prefix)
	}
	parts := strings.Split(esc[len(prefix)+1:], "/")
	if len(parts) != len(segs) {
		t.Fatalf("path %q has %d segments under the base, want %d (%q)", esc, len(parts), len(segs), segs)
	}
	for i, p := range parts {
		if p == "" || p == "." || p == ".." {
			t.Fatalf("segment %d of %q is %q", i, esc, p)
		}
		un, err := url.PathUnescape(p)
		if err != nil || un != segs[i] {
			t.Fatalf("segment %q unescapes to %q (%v), want %q", p, un, err, segs[i])
		}
	}
}

// FuzzNewClient: NewClient never panics, fails only with ErrInvalidArgument,
// and never puts the key in an error or in the client's printed forms. A
// client it builds joins paths under the base path without dropping the
// prefix or doubling a slash.
func FuzzNewClient(f *testing.F) {
	for _, base := range []string{
		mockBase, mockBase + "/", "https://cloudmc.example.test", "https://cloudmc.example.test/",
		"http://127.0.0.1:8080/v1", "http://localhost/api/v1//", "http://[::1]:9000/",
		"http://cloudmc.example.test/api/v2", "ftp://cloudmc.example.test/", "cloudmc.example.test/api/v2",
		"https://u:p@cloudmc.example.test/", "https://cloudmc.example.test/api/v2?x=1", "https://h/a%2Fb/",
		"https://h/a%2F", "https://h/%2e%2e/", "https://h/a b/ü", "https://h:99999/", "https://h/%zz",
		"https://user:hunter2%zz@h/", "https://user:hunter2@h:x/", "user:hunter2@h/api", " https://h/api ", "", "/api/v2", "https://h/api#frag",
	} {
		f.Add(base, testKey)
	}
	f.Add(testKey, mockBase) // arguments swapped
	f.Add(mockBase, "")
	f.Add(mockBase, "key\r\nX-Evil: 1")
	f.Add(mockBase, "ключ")
	f.Fuzz(func(t *testing.T, base, key string) {
		c, err := NewClient(base, key)
		// Nothing printed may depend on a valid key: the same base with
		// another key must print and fail the very same way.
		const otherKey = "another-key"
		other, otherErr := NewClient(base, otherKey)
		if strings.TrimSpace(key) != "" && printableASCII(key) {
			if (err == nil) != (otherErr == nil) || (err != nil && err.Error() != otherErr.Error()) {
				t.Fatalf("the outcome depends on the key: %v / %v", err, otherErr)
			}
		}
		if err != nil {
			if c != nil {
				t.Fatal("a client and an error")
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("NewClient error without ErrInvalidArgument: %v", err)
			}
			// The key never shows, nor does a secret in the base URL (the
			// key, arguments swapped; a password): the seeds carry markers.
			s := err.Error()
			if len(key) >= 8 && strings.Contains(s, key) && !strings.Contains(base, key) {
				t.Fatalf("error holds the key: %q", s)
			}
			for _, secret := range []string{"5c1f0e3a", "hunter2"} {
				if strings.Contains(base, secret) && strings.Contains(s, secret) {
					t.Fatalf("error repeats a secret of the base URL: %q", s)
				}
			}
			return
		}
		defer c.CloseIdleConnections()
		printed := fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c)
		if want := fmt.Sprintf("%v %+v %#v %s %q", other, other, other, other, other); printed != want {
			t.Fatalf("the client prints its key: %q", printed)
		}
		if len(key) >= 8 && strings.Contains(printed, key) && !strings.Contains(base, key) {
			t.Fatalf("the client prints its key: %q", printed)
		}
		// The prefix as the user wrote it, trailing slashes aside.
		prefix := strings.TrimRight(c.base.EscapedPath(), "/")
		segs := []string{"services", "compute-on", "test_area", "isos", "..", "a/b"}
		checkPath(t, c.url(&request{segs: segs}), prefix, segs)
	})
}

// FuzzRetryAfter: parseRetryAfter never panics and never asks for a
// negative wait; whole seconds are capped at a day.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC).Unix()
	for _, v := range []string{
		"0", "1", "120", " 5 ", "-1", "86401", "9223372036854775807", "99999999999999999999", "1.5", "+3",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Thu, 03 Dec 2026 16:00:30 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT", "", "soon",
	} {
		f.Add(v, now)
	}
	f.Fuzz(func(t *testing.T, v string, unix int64) {
		d, ok := parseRetryAfter(v, time.Unix(unix, 0))
		if d < 0 {
			t.Fatalf("%q gives a negative wait %v", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("%q is unreadable but gives %v", v, d)
		}
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && ok && d > 24*time.Hour {
			t.Fatalf("%q gives %v, over a day", v, d)
		}
	})
}

// Regression tests for what the fuzz targets found.

// Server text (error codes and messages, a task's id and message, a
// Content-Type) went into Error() whole: unbounded, with line breaks and
// terminal escapes.
func TestServerTextInErrorsIsBoundedAndPrintable(t *testing.T) {
	long := strings.Repeat("long message ", 1000)
	body := `{"errors": [{"code": "` + strings.Repeat("C", 500) + `", "message": "` + long + `"},
		{"code": "X", "message": "one\r\nX-Injected: 1\u001b[31m\u202e\u0000"}]}`
	ft := &fuzzTransport{status: 400, body: []byte(body)}
	_, err := fuzzClient(t, ft).Isos("compute-on", "test_area").Get(context.Background(), isoID)
	var ae *APIError
	if !errors.As(err, &ae) || len(ae.Errors) != 2 || ae.Errors[0].Message != long {
		t.Fatalf("want an *APIError keeping the full details, got %v", err)
	}
	checkErrorText(t, err)
	s := err.Error()
	for _, want := range []string{"[CCCC", "long message long message", "...", `[X] one\r\nX-Injected: 1\x1b[31m\u202e\x00`} {
		if !strings.Contains(s, want) {
			t.Errorf("Error() lacks %q: %q", want, s)
		}
	}
	if got := (ErrorDetail{Code: "2012", Message: "Instance is stopped ✓ 日本"}).String(); got != "[2012] Instance is stopped ✓ 日本" {
		t.Errorf("plain text is changed: %q", got)
	}

	task, err := fuzzOperation(t, 202, []byte(`{"taskId": "t\n`+strings.Repeat("i", 3000)+`", "taskStatus": "FAILED",
		"result": {"message": "`+long+`\u001b[2J"}}`))
	if task != nil || !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("want a *TaskError, got %v", err)
	}
	checkErrorText(t, err)

	ft = &fuzzTransport{status: 200, header: http.Header{"Content-Type": {"text/html; x=\xff" + strings.Repeat("x", 3000)}},
		body: []byte("<html>")}
	_, err = fuzzClient(t, ft).Isos("compute-on", "test_area").List(context.Background(), nil)
	if !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("want a *DecodeError, got %v", err)
	}
	checkErrorText(t, err)
}

// NewClient echoed the raw base URL: the key itself when the arguments
// were swapped, and a password in a URL that did not parse.
func TestNewClientErrorsDoNotRepeatTheBaseURL(t *testing.T) {
	for _, tt := range []struct{ base, key, secret string }{
		{testKey, mockBase, testKey},
		{"https://user:hunter2%zz@cloudmc.example.test/", testKey, "hunter2"},
		{"user:hunter2@cloudmc.example.test/api/v2", testKey, "hunter2"},
		{"https://admin:hunter2/x@cloudmc.example.test/", testKey, "hunter2"}, // url.Parse: invalid port ":hunter2"
	} {
		_, err := NewClient(tt.base, tt.key)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("NewClient(%q): %v", tt.base, err)
		}
		if strings.Contains(err.Error(), tt.secret) {
			t.Errorf("error repeats %q: %v", tt.secret, err)
		}
	}
}

// A base path ending in %2F made RawPath disagree with Path, and net/url
// then dropped the escaping of every segment: ".." and "a/b" went out raw.
func TestBasePathEndingInEscapedSlashKeepsSegmentsEscaped(t *testing.T) {
	for _, base := range []string{"https://cloudmc.example.test/api%2F", "https://cloudmc.example.test/api%2f/", "https://cloudmc.example.test/%2F%2F"} {
		c, err := NewClient(base, testKey)
		if err != nil {
			t.Fatal(err)
		}
		segs := []string{"tasks", "..", "a/b"}
		checkPath(t, c.url(&request{segs: segs}), strings.TrimRight(c.base.EscapedPath(), "/"), segs)
	}
}
