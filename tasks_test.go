package cloudmc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const taskURL = mockBase + "/tasks/" + taskID

func TestTaskGetShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Task
	}{
		{"nested", `{"data": {"id": "` + taskID + `", "status": "SUCCESS", "created": "2021-04-20T20:58:59.952881-04:00", "result": {"url": "u"}}}`,
			&Task{ID: taskID, Status: TaskSuccess, Created: "2021-04-20T20:58:59.952881-04:00", Result: json.RawMessage(`{"url": "u"}`)}},
		{"flat", `{"taskId": "` + taskID + `", "taskStatus": "SUCCESS", "result": {"url": "u"}}`,
			&Task{ID: taskID, Status: TaskSuccess, Result: json.RawMessage(`{"url": "u"}`)}},
		{"lower case", `{"data": {"id": "` + taskID + `", "status": "pending"}}`, &Task{ID: taskID, Status: TaskPending}},
		{"mixed case failed", `{"taskId": "` + taskID + `", "taskStatus": "Failed", "result": {"message": "disk full"}, "errors": [{"code": "E1", "message": "disk full"}]}`,
			&Task{ID: taskID, Status: TaskFailed, Result: json.RawMessage(`{"message": "disk full"}`), Errors: []ErrorDetail{{Code: "E1", Message: "disk full"}}}},
		{"nested failed with errors", `{"data": {"id": "` + taskID + `", "status": "FAILED", "errors": [{"errorCode": "X"}]}}`,
			&Task{ID: taskID, Status: TaskFailed, Errors: []ErrorDetail{{Code: "X"}}}},
		{"unknown status", `{"data": {"id": "` + taskID + `", "status": "running"}}`, &Task{ID: taskID, Status: "RUNNING"}},
		{"missing id uses asked id", `{"data": {"status": "SUCCESS", "result": null}}`, &Task{ID: taskID, Status: TaskSuccess}},
		{"numeric id", `{"taskId": 42, "taskStatus": "PENDING"}`, &Task{ID: "42", Status: TaskPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t)
			mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, tt.body))
			got, err := c.Tasks().Get(context.Background(), taskID)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUnknownStatusIsNotSuccess(t *testing.T) {
	for _, s := range []string{"RUNNING", "success?", "SUCCEEDED", "OK", "DONE", "in_progress", "3"} {
		task := &Task{Status: normalizeStatus(s)}
		assert.False(t, task.Done(), s)
		assert.NotEqual(t, TaskSuccess, task.Status, s)
		assert.NoError(t, task.failure(), s)
	}
	for _, s := range []string{"cancelled", "Canceled", "ERROR", "aborted", "TIMED_OUT"} {
		task := &Task{ID: taskID, Status: normalizeStatus(s)}
		assert.True(t, task.Done(), "%s is over", s)
		assert.ErrorIs(t, task.failure(), ErrTaskFailed, s)
	}
	assert.Equal(t, TaskSuccess, normalizeStatus(" success "))
}

func TestWaitEndsOnCancelledTask(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, `{"data": {"id": "`+taskID+`", "status": "CANCELLED"}}`))
	_, err := c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskPending})
	var te *TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, TaskStatus("CANCELLED"), te.Task.Status)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestTaskGetMoreShapes(t *testing.T) {
	c, mt := newMock(t)
	get := func(body string) (*Task, error) {
		mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, body))
		return c.Tasks().Get(context.Background(), taskID)
	}
	task, err := get(`{"taskId": "` + taskID + `", "taskStatus": "SUCCESS", "data": {"url": "u"}}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"url": "u"}`, string(task.Result), "flat shape with the result in data")

	task, err = get(`{"taskId": "` + taskID + `", "taskStatus": "SUCCESS", "data": null, "result": {"url": "u"}}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"url": "u"}`, string(task.Result))

	_, err = get(`{"data": {"id": "` + taskID + `", "status": "SUCCESS"}, "errors": [{"code": 1, "message": "half done"}]}`)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr, "errors in a 2xx are a failure")
	assert.Equal(t, "half done", apiErr.Errors[0].Message)
}

func TestTaskGetBadAnswers(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, `{"data": {"id": "x"}}`))
	_, err := c.Tasks().Get(context.Background(), taskID)
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "no task status")

	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, `{"data": "done"}`))
	_, err = c.Tasks().Get(context.Background(), taskID)
	assert.ErrorIs(t, err, ErrInvalidResponse)
}

func TestOperationAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    *Task
		wantErr error
	}{
		{"pending task", 200, `{"taskId": "` + taskID + `", "taskStatus": "PENDING"}`, &Task{ID: taskID, Status: TaskPending}, nil},
		{"task without status is pending", 202, `{"taskId": "` + taskID + `"}`, &Task{ID: taskID, Status: TaskPending}, nil},
		{"already done with data", 200, `{"taskId": "` + taskID + `", "taskStatus": "success", "data": {"id": "i"}}`,
			&Task{ID: taskID, Status: TaskSuccess, Result: json.RawMessage(`{"id": "i"}`)}, nil},
		{"synchronous data", 200, `{"data": {"id": "i"}}`, &Task{Status: TaskSuccess, Result: json.RawMessage(`{"id": "i"}`)}, nil},
		{"synchronous no data", 200, `{}`, &Task{Status: TaskSuccess}, nil},
		{"empty 200", 200, ``, &Task{Status: TaskSuccess}, nil},
		{"204", 204, ``, &Task{Status: TaskSuccess}, nil},
		{"already failed", 200, `{"taskId": "` + taskID + `", "taskStatus": "FAILED", "errors": [{"code": 1, "message": "nope"}]}`, nil, ErrTaskFailed},
		{"errors without task", 200, `{"errors": [{"code": 1, "message": "nope"}]}`, nil, &APIError{}},
		{"html 200", 200, `<html>oops</html>`, nil, ErrInvalidResponse},
		{"synchronous failure", 200, `{"taskStatus": "failed", "errors": [{"code": 1}]}`, nil, ErrTaskFailed},
		{"synchronous success status", 200, `{"taskStatus": "SUCCESS", "data": 1}`, &Task{Status: TaskSuccess, Result: json.RawMessage(`1`)}, nil},
		{"pending without a task id", 200, `{"taskStatus": "PENDING"}`, nil, ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t)
			mt.RegisterResponder(http.MethodPost, mockBase+"/services/compute-on/test_area/instances/"+instanceID,
				httpmock.NewStringResponder(tt.status, tt.body))
			got, err := c.Instances("compute-on", "test_area").DetachIso(context.Background(), instanceID)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			assert.Nil(t, got)
			if ae, ok := tt.wantErr.(*APIError); ok {
				assert.ErrorAs(t, err, &ae)
			} else {
				assert.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestInstanceCallsRequestShape(t *testing.T) {
	c, mt := newMock(t)
	var bodies []string
	mt.RegisterResponderWithQuery(http.MethodPost, mockBase+"/services/compute-on/test_area/instances/"+instanceID, "operation=attachIso",
		func(r *http.Request) (*http.Response, error) {
			var b map[string]string
			require.NoError(t, json.NewDecoder(r.Body).Decode(&b))
			bodies = append(bodies, b["isoId"])
			return httpmock.NewStringResponse(200, `{"taskId": "`+taskID+`", "taskStatus": "PENDING"}`), nil
		})
	mt.RegisterResponderWithQuery(http.MethodPost, mockBase+"/services/compute-on/test_area/instances/"+instanceID, "operation=detachIso",
		func(r *http.Request) (*http.Response, error) {
			assert.Empty(t, r.Header.Get("Content-Type"), "detach has no body")
			return httpmock.NewStringResponse(200, `{"taskId": "`+taskID+`", "taskStatus": "PENDING"}`), nil
		})
	inst := c.Instances("compute-on", "test_area")
	_, err := inst.AttachIso(context.Background(), instanceID, isoID)
	require.NoError(t, err)
	_, err = inst.DetachIso(context.Background(), instanceID)
	require.NoError(t, err)
	assert.Equal(t, []string{isoID}, bodies)
	assert.Equal(t, 2, mt.GetTotalCallCount())
}

func TestWaitPendingThenSuccess(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		httpmock.NewStringResponse(200, `{"data": {"id": "`+taskID+`", "status": "PENDING"}}`),
		httpmock.NewStringResponse(200, `{"data": {"id": "`+taskID+`", "status": "IN_PROGRESS"}}`),
		httpmock.NewStringResponse(200, `{"data": {"id": "`+taskID+`", "status": "SUCCESS", "result": {"ok": true}}}`),
	}))
	done, err := c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskPending})
	require.NoError(t, err)
	assert.Equal(t, TaskSuccess, done.Status)
	assert.JSONEq(t, `{"ok": true}`, string(done.Result))
	assert.Equal(t, 3, mt.GetTotalCallCount())
}

func TestWaitFailedTaskKeepsResult(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200,
		`{"taskId": "`+taskID+`", "taskStatus": "FAILED", "result": {"message": "instance is stopped"}, "errors": [{"code": 2012, "message": "bad state", "context": {"currentState": "Stopped"}}]}`))
	done, err := c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskPending})
	assert.Nil(t, done)
	require.ErrorIs(t, err, ErrTaskFailed)
	var te *TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, taskID, te.Task.ID)
	assert.JSONEq(t, `{"message": "instance is stopped"}`, string(te.Task.Result))
	assert.Equal(t, []ErrorDetail{{Code: "2012", Message: "bad state", Context: map[string]any{"currentState": "Stopped"}}}, te.Errors)
	assert.Contains(t, err.Error(), taskID)
	assert.Contains(t, err.Error(), "bad state")
}

func TestWaitOnFinishedTaskSendsNothing(t *testing.T) {
	c, mt := newMock(t)
	ok := &Task{Status: TaskSuccess}
	got, err := c.Tasks().Wait(context.Background(), ok)
	require.NoError(t, err)
	assert.Same(t, ok, got)
	_, err = c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskFailed})
	assert.ErrorIs(t, err, ErrTaskFailed)
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestWaitContextEndsNamesTask(t *testing.T) {
	c, mt := newMock(t, WithPollInterval(time.Millisecond, time.Millisecond))
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, `{"data": {"id": "`+taskID+`", "status": "PENDING"}}`))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Tasks().Wait(ctx, &Task{ID: taskID, Status: TaskPending})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), taskID)
	assert.Less(t, time.Since(start), 2*time.Second, "returns promptly")
	assert.Greater(t, mt.GetTotalCallCount(), 1)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = c.Tasks().Wait(ctx, &Task{ID: taskID, Status: TaskPending})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), taskID)
}

func TestWaitTimeoutOption(t *testing.T) {
	c, mt := newMock(t, WithWaitTimeout(20*time.Millisecond))
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.NewStringResponder(200, `{"data": {"id": "`+taskID+`", "status": "PENDING"}}`))
	_, err := c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskPending})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), taskID)
}

func TestWaitTaskVanishes(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		httpmock.NewStringResponse(200, `{"data": {"id": "`+taskID+`", "status": "PENDING"}}`),
		httpmock.NewStringResponse(404, `{"errors": [{"code": 404, "message": "task not found"}]}`),
	}))
	_, err := c.Tasks().Wait(context.Background(), &Task{ID: taskID, Status: TaskPending})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "waiting for task "+taskID)
	assert.Equal(t, 2, mt.GetTotalCallCount())
}

func TestPollBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, 5*time.Second
	d := min
	var at, total time.Duration
	polls := 0
	noticed := func(finish time.Duration) time.Duration {
		d, at = min, 0
		for {
			at += d
			if at >= finish {
				return at
			}
			d = nextPoll(d, max)
		}
	}
	assert.LessOrEqual(t, noticed(200*time.Millisecond), 350*time.Millisecond, "a 0.2 s task is seen by 0.35 s")
	d, total = min, 0
	for total < 30*time.Second {
		total += d
		polls++
		d = nextPoll(d, max)
	}
	assert.LessOrEqual(t, polls, 15, "a 30 s task takes at most 15 polls")
	assert.Equal(t, max, nextPoll(max, max))
	assert.Equal(t, max, nextPoll(time.Duration(1<<62), max), "no overflow")
}

func TestDecodeResultWithoutResult(t *testing.T) {
	var v map[string]any
	assert.ErrorIs(t, (&Task{Status: TaskSuccess}).DecodeResult(&v), ErrInvalidResponse)
	assert.ErrorIs(t, (*Task)(nil).DecodeResult(&v), ErrInvalidResponse)
	err := (&Task{Result: json.RawMessage(`[1]`)}).DecodeResult(&v)
	assert.True(t, errors.Is(err, ErrInvalidResponse))
}
