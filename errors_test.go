package cloudmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantIs      error
		wantErrors  []ErrorDetail
		wantText    []string
	}{
		{"reference form", 400, "application/json",
			`{"errors": [{"code": 2012, "message": "Instance is stopped", "context": {"id": "x", "currentState": "Stopped"}}]}`,
			nil, []ErrorDetail{{Code: "2012", Message: "Instance is stopped", Context: map[string]any{"id": "x", "currentState": "Stopped"}}},
			[]string{"400 Bad Request", "[2012] Instance is stopped"}},
		{"errorCode form", 400, "application/json",
			`{"errors": [{"errorCode": "FOO_ERROR", "message": "foo"}]}`,
			nil, []ErrorDetail{{Code: "FOO_ERROR", Message: "foo"}}, []string{"[FOO_ERROR] foo"}},
		{"string code, no message", 403, "application/json",
			`{"errors": [{"code": "FORBIDDEN"}]}`,
			ErrUnauthorized, []ErrorDetail{{Code: "FORBIDDEN"}}, []string{"403 Forbidden", "[FORBIDDEN]"}},
		{"several errors", 400, "application/json",
			`{"errors": [{"code": 1, "message": "a"}, {"code": 2, "message": "b"}]}`,
			nil, []ErrorDetail{{Code: "1", Message: "a"}, {Code: "2", Message: "b"}}, []string{"[1] a; [2] b"}},
		{"context not an object", 400, "application/json",
			`{"errors": [{"code": 1, "message": "a", "context": "text"}]}`,
			nil, []ErrorDetail{{Code: "1", Message: "a"}}, nil},
		{"errors is an object", 400, "application/json",
			`{"errors": {"code": 9, "message": "odd"}}`,
			nil, []ErrorDetail{{Code: "9", Message: "odd"}}, []string{"[9] odd"}},
		{"lone message", 500, "application/json", `{"message": "internal"}`,
			nil, []ErrorDetail{{Message: "internal"}}, []string{"500 Internal Server Error: internal"}},
		{"html from a proxy", 502, "text/html", `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			nil, nil, []string{"502 Bad Gateway", "body:", "<html>"}},
		{"empty", 503, "", ``, nil, nil, []string{"503 Service Unavailable (empty body)"}},
		{"plain text", 401, "text/plain", "nope\n", ErrUnauthorized, nil, []string{"401 Unauthorized", `"nope"`}},
		{"invalid json", 400, "application/json", `{"errors": [`, nil, nil, []string{"400 Bad Request", "body:"}},
		{"rate limited", 429, "application/json", `{"errors": [{"code": "RATE"}]}`, ErrRateLimited, []ErrorDetail{{Code: "RATE"}}, nil},
		{"not found", 404, "application/json", `{"errors": []}`, ErrNotFound, nil, []string{"404 Not Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t, WithRetry(RetryPolicy{}))
			mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID, func(r *http.Request) (*http.Response, error) {
				resp := httpmock.NewStringResponse(tt.status, tt.body)
				if tt.contentType != "" {
					resp.Header.Set("Content-Type", tt.contentType)
				}
				return resp, nil
			})
			_, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, tt.wantErrors, apiErr.Errors)
			assert.Equal(t, tt.body, string(apiErr.Body))
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			for _, s := range tt.wantText {
				assert.Contains(t, err.Error(), s)
			}
			assert.NotContains(t, err.Error(), "invalid character", "no bare JSON syntax message")
			assertNoKey(t, err.Error())
		})
	}
}

func TestSentinelMapping(t *testing.T) {
	for status, want := range map[int][]error{
		401: {ErrUnauthorized}, 403: {ErrUnauthorized}, 404: {ErrNotFound}, 429: {ErrRateLimited},
		400: nil, 500: nil,
	} {
		e := &APIError{StatusCode: status}
		for _, s := range []error{ErrUnauthorized, ErrNotFound, ErrRateLimited, ErrTaskFailed, ErrInvalidArgument} {
			wanted := false
			for _, w := range want {
				wanted = wanted || w == s
			}
			assert.Equal(t, wanted, errors.Is(e, s), "%d vs %v", status, s)
		}
	}
	te := &TaskError{Task: &Task{ID: taskID, Status: TaskFailed}}
	assert.ErrorIs(t, te, ErrTaskFailed)
	assert.NotErrorIs(t, te, ErrNotFound)
	assert.ErrorIs(t, &DecodeError{Err: errors.New("x")}, ErrInvalidResponse)
}

func TestErrorBodyIsBounded(t *testing.T) {
	c, mt := newMock(t, WithRetry(RetryPolicy{}))
	huge := strings.Repeat("x", 1<<20)
	mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID, httpmock.NewStringResponder(500, huge))
	_, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.LessOrEqual(t, len(apiErr.Body), 16<<10)
	assert.Less(t, len(err.Error()), 600, "the message stays readable")
}

func TestResponseLimit(t *testing.T) {
	c, mt := newMock(t, WithMaxResponseBytes(1024))
	big := `{"data": [` + strings.Repeat(`{"id": "`+isoID+`"},`, 100) + `{"id": "` + isoID + `"}]}`
	mt.RegisterResponder(http.MethodGet, isosURL, httpmock.NewStringResponder(200, big))
	_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.ErrorIs(t, err, ErrResponseTooLarge)
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "an oversized answer is not retried")

	// Exactly at the limit is fine.
	exact := `{"data": []}`
	c, mt = newMock(t, WithMaxResponseBytes(int64(len(exact))))
	mt.RegisterResponder(http.MethodGet, isosURL, httpmock.NewStringResponder(200, exact))
	_, err = c.Isos("compute-on", "test_area").List(context.Background(), nil)
	assert.NoError(t, err)
}

func TestDecodeErrorQuotesShortSample(t *testing.T) {
	c, mt := newMock(t)
	body := "<!DOCTYPE html><html>" + strings.Repeat("<p>maintenance</p>", 200)
	mt.RegisterResponder(http.MethodGet, isosURL, func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(200, body)
		resp.Header.Set("Content-Type", "text/html")
		return resp, nil
	})
	_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 200, de.StatusCode)
	assert.Equal(t, "text/html", de.ContentType)
	assert.Contains(t, err.Error(), "GET /api/v2/services/compute-on/test_area/isos")
	assert.Contains(t, err.Error(), "<!DOCTYPE html>")
	assert.Less(t, len(err.Error()), 400)
}

func TestAPIErrorLogValue(t *testing.T) {
	var logs logBuffer
	e := &APIError{StatusCode: 404, Method: "GET", Path: "/p", Errors: []ErrorDetail{{Code: "2001", Message: "gone"}}, RequestID: "r1"}
	logs.logger().Info("failed", "err", e)
	out := logs.String()
	for _, s := range []string{"err.status=404", "err.method=GET", "err.path=/p", "err.code=2001", "err.request_id=r1"} {
		assert.Contains(t, out, s)
	}
	var _ slog.LogValuer = e
}

func TestKeyEchoedByServerIsRedacted(t *testing.T) {
	echo := `{"errors": [{"code": "BAD", "message": "header MC-Api-Key: ` + testKey + ` refused"}], "seen": "` + testKey + `"}`
	cutAtLimit := strings.Repeat("x", maxErrorBody-10) + testKey // the bounded copy ends inside the key
	for name, body := range map[string]string{"echo": echo, "cut": cutAtLimit} {
		t.Run(name, func(t *testing.T) {
			c, mt := newMock(t, WithRetry(RetryPolicy{}))
			mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID, func(r *http.Request) (*http.Response, error) {
				resp := httpmock.NewStringResponse(400, body)
				resp.Header.Set("X-Request-Id", testKey)
				return resp, nil
			})
			_, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assertNoKey(t, err.Error(), string(apiErr.Body), apiErr.RequestID, fmt.Sprint(apiErr.Errors))
			assert.NotContains(t, string(apiErr.Body), testKey[:12])
			assert.Contains(t, string(apiErr.Body), "[redacted]")
		})
	}
	// A 2xx that cannot be decoded quotes its start: redacted too.
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, isosURL, httpmock.NewStringResponder(200, "key="+testKey+" <html>"))
	_, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.ErrorIs(t, err, ErrInvalidResponse)
	assertNoKey(t, err.Error())
}

func TestSampleKeepsTextAfterBadBytes(t *testing.T) {
	s := sample(append([]byte{0x1f, 0x8b, 0x08}, []byte(strings.Repeat("abc", 100))...))
	assert.Contains(t, s, `\x1f\x8b\babcabc`)
	assert.True(t, strings.HasSuffix(s, `..."`) || strings.HasSuffix(s, "..."))
}

func TestKeyEchoedIn2xxErrorsAndTasksIsRedacted(t *testing.T) {
	var logs logBuffer
	c, mt := newMock(t, WithLogger(logs.logger()))
	echo := `{"errors": [{"errorCode": "` + testKey + `", "message": "bad key ` + testKey + `", "context": {"key": "` + testKey + `", "deep": [{"k": "` + testKey + `"}]}}]}`
	mt.RegisterResponder(http.MethodPost, isosURL+"/"+isoID, httpmock.NewStringResponder(200, echo))
	_, err := c.Isos("compute-on", "test_area").Attach(context.Background(), isoID, instanceID)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assertNoKey(t, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", apiErr.Errors), logs.String())

	mt.RegisterResponder(http.MethodGet, mockBase+"/tasks/"+taskID, httpmock.NewStringResponder(200,
		`{"data": {"id": "`+taskID+`", "status": "FAILED", "result": {"message": "`+testKey+`"}, "errors": [{"message": "`+testKey+`"}]}}`))
	_, err = c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskPending})
	var te *TaskError
	require.ErrorAs(t, err, &te)
	assertNoKey(t, err.Error(), fmt.Sprintf("%+v", err), string(te.Task.Result), fmt.Sprint(te.Errors), logs.String())
}

func TestErrorsWinOverUnusableData(t *testing.T) {
	tests := []struct {
		name, url, body string
		list            bool
	}{
		{"get null data", isosURL + "/" + isoID, `{"data": null, "errors": [{"code": 1, "message": "nope"}]}`, false},
		{"get list data, errors first", isosURL + "/" + isoID, `{"errors": [{"code": 1, "message": "nope"}], "data": []}`, false},
		{"list object data", isosURL, `{"data": {"id": "x", "errors": []}, "errors": [{"code": 1, "message": "nope"}]}`, true},
		{"list bad item", isosURL, `{"data": [{"id": 5}, {"id": "` + isoID + `"}], "errors": [{"code": 1, "message": "nope"}]}`, true},
		{"list item without id", isosURL, `{"data": [{"name": "x"}], "metadata": {}, "errors": [{"code": 1, "message": "nope"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t)
			mt.RegisterResponder(http.MethodGet, tt.url, httpmock.NewStringResponder(200, tt.body))
			var err error
			if tt.list {
				_, err = c.Isos("compute-on", "test_area").List(context.Background(), nil)
			} else {
				_, err = c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
			}
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 200, apiErr.StatusCode)
			assert.Equal(t, []ErrorDetail{{Code: "1", Message: "nope"}}, apiErr.Errors)
		})
	}
	// Without errors, unusable data is still a decode error.
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID, httpmock.NewStringResponder(200, `{"data": null}`))
	_, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
	assert.ErrorIs(t, err, ErrInvalidResponse)
}
