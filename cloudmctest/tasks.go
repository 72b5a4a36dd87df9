package cloudmctest

import (
	"net/http"
	"time"
)

const (
	statusPending = "PENDING"
	statusSuccess = "SUCCESS"
	statusFailed  = "FAILED"
)

// operation is a state change behind a task. Both funcs run with s.mu held.
type operation struct {
	// check enforces the rules; nil means none. It runs when the operation is
	// requested and again when the task finishes, since state may have moved.
	check func() *failure
	// apply changes the state and returns the task result.
	apply func() any
}

type task struct {
	id        string
	created   string
	flat      bool
	fail      bool
	pollsLeft int
	op        operation
	status    string
	result    any
	errors    []apiError
}

// opAnswer is the answer to an operation request.
type opAnswer struct {
	TaskID     string     `json:"taskId,omitempty"`
	TaskStatus string     `json:"taskStatus,omitempty"`
	Data       any        `json:"data,omitempty"`
	Errors     []apiError `json:"errors,omitempty"`
}

type nestedTask struct {
	ID      string     `json:"id"`
	Status  string     `json:"status"`
	Created string     `json:"created"`
	Result  any        `json:"result,omitempty"`
	Errors  []apiError `json:"errors,omitempty"`
}

type flatTask struct {
	TaskID     string     `json:"taskId"`
	TaskStatus string     `json:"taskStatus"`
	Result     any        `json:"result,omitempty"`
	Errors     []apiError `json:"errors,omitempty"`
}

// run checks op and answers per the current TaskBehavior. The caller holds s.mu.
func (s *Server) run(op operation) response {
	if op.check != nil {
		if f := op.check(); f != nil {
			return f.response()
		}
	}
	b := s.behavior
	if b.Synchronous {
		if b.Fail {
			return fail(http.StatusBadRequest, "OPERATION_FAILED", "the operation failed (cloudmctest TaskBehavior.Fail)", nil).response()
		}
		return ok(opAnswer{Data: op.apply()})
	}
	t := &task{
		id: newUUID(),
		// An offset other than Z, like the live example, so clients parse offsets.
		created:   time.Now().In(time.FixedZone("EDT", -4*60*60)).Format("2006-01-02T15:04:05.000000-07:00"),
		flat:      b.FlatShape,
		fail:      b.Fail,
		pollsLeft: b.Polls,
		op:        op,
		status:    statusPending,
	}
	s.tasks[t.id] = t
	if t.pollsLeft > 0 {
		return ok(opAnswer{TaskID: t.id, TaskStatus: statusPending})
	}
	s.finish(t)
	if t.status == statusSuccess {
		return ok(opAnswer{TaskID: t.id, TaskStatus: t.status, Data: t.result})
	}
	return ok(opAnswer{TaskID: t.id, TaskStatus: t.status, Errors: t.errors})
}

// finish ends t. The caller holds s.mu.
func (s *Server) finish(t *task) {
	defer func() { t.op = operation{} }() // drop the closures; they are never needed again
	failWith := func(e apiError) {
		t.status = statusFailed
		t.result = map[string]string{"message": e.Message}
		t.errors = []apiError{e}
	}
	if t.fail {
		failWith(apiError{Code: "TASK_FAILED", Message: "the task failed (cloudmctest TaskBehavior.Fail)"})
		return
	}
	if t.op.check != nil {
		if f := t.op.check(); f != nil {
			failWith(f.err)
			return
		}
	}
	t.result = t.op.apply()
	t.status = statusSuccess
}

func (s *Server) getTask(id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, found := s.tasks[id]
	if !found {
		return notFoundEntity("task", id).response()
	}
	if t.status == statusPending {
		if t.pollsLeft > 0 {
			t.pollsLeft--
		} else {
			s.finish(t)
		}
	}
	if t.flat {
		return ok(flatTask{TaskID: t.id, TaskStatus: t.status, Result: t.result, Errors: t.errors})
	}
	return ok(map[string]nestedTask{"data": {ID: t.id, Status: t.status, Created: t.created, Result: t.result, Errors: t.errors}})
}
