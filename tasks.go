package cloudmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// TaskStatus is the state of a server-side task.
type TaskStatus string

// The task states. Any other word a server sends is kept, upper-cased, and
// is never success: words that mean the task is over (CANCELLED, ERROR,
// ABORTED...) end it as a failure, the rest count as not finished.
const (
	TaskPending TaskStatus = "PENDING"
	TaskSuccess TaskStatus = "SUCCESS"
	TaskFailed  TaskStatus = "FAILED"
)

// normalizeStatus compares status words without regard to case.
func normalizeStatus(s string) TaskStatus {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, string(TaskSuccess)):
		return TaskSuccess
	case strings.EqualFold(s, string(TaskFailed)):
		return TaskFailed
	case strings.EqualFold(s, string(TaskPending)), s == "":
		return TaskPending
	}
	return TaskStatus(strings.ToUpper(s))
}

// Task is a server-side task started by an operation.
type Task struct {
	ID      string // empty for an operation the server finished synchronously
	Status  TaskStatus
	Created string          // as the server sent it
	Result  json.RawMessage // the task's result (or a synchronous answer's data)
	Errors  []ErrorDetail   // errors a failed task carried
}

// Done reports whether the task has finished, successfully or not.
func (t *Task) Done() bool {
	return t != nil && (t.Status == TaskSuccess || t.Status == TaskFailed || endedWithoutSuccess(t.Status))
}

// endedWithoutSuccess names the status words servers use, besides FAILED,
// for a task that is over and did not succeed. Waiting on longer would
// only poll until the task expires.
func endedWithoutSuccess(s TaskStatus) bool {
	switch s {
	case "CANCELLED", "CANCELED", "ERROR", "FAILURE", "ABORTED", "TIMEOUT", "TIMED_OUT", "EXPIRED", "REJECTED":
		return true
	}
	return false
}

// DecodeResult decodes the task's result into v (an *Iso decodes tolerantly).
func (t *Task) DecodeResult(v any) error {
	if t == nil || !hasValue(t.Result) {
		return fmt.Errorf("%w: task has no result", ErrInvalidResponse)
	}
	if err := json.Unmarshal(t.Result, v); err != nil {
		return fmt.Errorf("%w: task result: %v", ErrInvalidResponse, err)
	}
	return nil
}

// failure returns the *TaskError of a failed task, or nil.
func (t *Task) failure() error {
	if t.Status == TaskFailed || endedWithoutSuccess(t.Status) {
		return &TaskError{Task: t, Errors: t.Errors}
	}
	return nil
}

// TaskService reads and waits for tasks.
type TaskService struct{ c *Client }

// taskWire is the nested task shape, {"data": {...}}.
type taskWire struct {
	ID      json.RawMessage `json:"id"`
	Status  json.RawMessage `json:"status"`
	Created json.RawMessage `json:"created"`
	Result  json.RawMessage `json:"result"`
	Errors  json.RawMessage `json:"errors"`
}

// Get reads a task. It accepts both the nested shape
// {"data": {"id", "status", "result"}} and the flat {"taskId", "taskStatus",
// "result"}.
func (s *TaskService) Get(ctx context.Context, id string) (*Task, error) {
	if err := checkSegment("task id", id); err != nil {
		return nil, err
	}
	var t *Task
	err := s.c.do(ctx, &request{method: http.MethodGet, segs: []string{"tasks", id}},
		func(_ *http.Response, body io.Reader) error {
			var data json.RawMessage
			var env envelope
			err := decodeEnvelope(body, &env, func(dec *json.Decoder) error {
				data = nil // a repeated "data" key: the last one wins
				return dec.Decode(&data)
			})
			if err != nil {
				return err
			}
			var w taskWire
			if len(data) > 0 && data[0] == '{' {
				if err := json.Unmarshal(data, &w); err != nil {
					return fmt.Errorf("data: %w", err)
				}
			}
			switch {
			case hasValue(w.Status):
				t = &Task{ID: scalarText(w.ID), Status: normalizeStatus(scalarText(w.Status)),
					Created: scalarText(w.Created), Result: w.Result, Errors: parseErrors(w.Errors)}
				if len(t.Errors) == 0 {
					t.Errors = parseErrors(env.errors)
				}
			case env.taskStatus != "":
				// The flat shape; some servers put the result in "data".
				t = &Task{ID: env.taskID, Status: normalizeStatus(env.taskStatus),
					Created: env.created, Result: env.result, Errors: parseErrors(env.errors)}
				if !hasValue(t.Result) {
					t.Result = data
				}
			default:
				if err := env.failIfErrors(); err != nil {
					return err
				}
				return errors.New("the answer holds no task status")
			}
			if len(t.Errors) > 0 && t.failure() == nil {
				// Errors in a 2xx answer are a failure, unless they are
				// the failed task's own.
				return &APIError{Errors: t.Errors}
			}
			if t.ID == "" {
				t.ID = id
			}
			if !hasValue(t.Result) {
				t.Result = nil
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Wait polls the task until it finishes. It returns the task when it
// succeeds; a task that fails gives an error matching ErrTaskFailed (a
// *TaskError holding the task). When ctx ends first, the error matches
// ctx's error and names the task id, so the caller can wait again later.
// Polling starts at the client's minimum interval and backs off to its
// maximum (see WithPollInterval); no goroutine is started.
func (s *TaskService) Wait(ctx context.Context, t *Task) (*Task, error) {
	if ctx == nil {
		return nil, invalidArg("nil context")
	}
	if t == nil {
		return nil, invalidArg("nil task")
	}
	if t.Done() {
		return doneTask(t)
	}
	if t.ID == "" {
		return nil, invalidArg("task has no id and has not finished")
	}
	if s.c.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.c.waitTimeout)
		defer cancel()
	}
	interval := s.c.pollMin
	for {
		if err := sleep(ctx, interval); err != nil {
			return nil, fmt.Errorf("cloudmc: waiting for task %s: %w", printableText(t.ID, 100), err)
		}
		cur, err := s.Get(ctx, t.ID)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, fmt.Errorf("cloudmc: waiting for task %s: %w", printableText(t.ID, 100), ctxErr)
			}
			return nil, fmt.Errorf("cloudmc: waiting for task %s: %w", printableText(t.ID, 100), err)
		}
		if cur.Done() {
			t, err := doneTask(cur)
			return t, s.c.scrub(err)
		}
		interval = nextPoll(interval, s.c.pollMax)
	}
}

// doneTask is Wait's answer for a finished task: the task, or only the
// *TaskError that holds it.
func doneTask(t *Task) (*Task, error) {
	if err := t.failure(); err != nil {
		return nil, err
	}
	return t, nil
}

// nextPoll grows the interval by half up to max: quick to notice a task
// that ends soon (0.2 s is seen by 0.25 s, 2 s by 2.08 s), and still few
// polls for a long one (14 for 30 s with the defaults). Doubling would save
// one poll there but see a 2 s task only at 3.1 s.
func nextPoll(d, max time.Duration) time.Duration {
	next := d + d/2
	if next > max || next <= d {
		return max
	}
	return next
}

// decodeOperation reads the answer to an operation (import, delete, attach,
// detach, generateDownloadUrl) into a task.
func decodeOperation(t **Task) decodeFunc {
	return func(resp *http.Response, body io.Reader) error {
		if resp.StatusCode == http.StatusNoContent {
			*t = &Task{Status: TaskSuccess}
			return nil
		}
		var data json.RawMessage
		var env envelope
		if err := decodeEnvelope(body, &env, func(dec *json.Decoder) error { return dec.Decode(&data) }); err != nil {
			return err
		}
		task := &Task{ID: env.taskID, Created: env.created}
		if env.taskID == "" {
			// A synchronous answer: its data is the result.
			switch normalizeStatus(env.taskStatus) {
			case TaskFailed:
				task.Status, task.Errors, task.Result = TaskFailed, parseErrors(env.errors), data
				if !hasValue(task.Result) {
					task.Result = env.result
				}
				*t = task
				return task.failure()
			case TaskSuccess:
			default:
				if env.taskStatus != "" {
					return fmt.Errorf("task status %s without a taskId to follow it by", sample([]byte(env.taskStatus)))
				}
			}
			if err := env.failIfErrors(); err != nil {
				return err
			}
			task.Status = TaskSuccess
			task.Result = data
		} else {
			task.Status = normalizeStatus(env.taskStatus)
			task.Errors = parseErrors(env.errors)
			task.Result = data
			if !hasValue(task.Result) {
				task.Result = env.result
			}
			if task.failure() == nil {
				if err := env.failIfErrors(); err != nil {
					return err
				}
			}
		}
		if !hasValue(task.Result) {
			task.Result = nil
		}
		*t = task
		return task.failure()
	}
}

// operation sends an operation and returns the task it started.
func (c *Client) operation(ctx context.Context, r *request) (*Task, error) {
	var t *Task
	if err := c.do(ctx, r, decodeOperation(&t)); err != nil {
		return nil, err
	}
	return t, nil
}
