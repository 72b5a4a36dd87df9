package cloudmctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const envPath = "/services/" + DefaultService + "/" + DefaultEnvironment

// reply is a decoded answer; raw keeps the body for checks on what it must not hold.
type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// send calls the fake with key as MC-Api-Key ("" sends none); path is relative to s.URL.
func send(t *testing.T, s *Server, key, method, path, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("MC-Api-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &r.body), "body: %s", raw)
	}
	return r
}

func call(t *testing.T, s *Server, method, path, body string) reply {
	t.Helper()
	return send(t, s, s.APIKey, method, path, body)
}

// decodeData re-decodes the "data" member into v.
func decodeData(t *testing.T, r reply, v any) {
	t.Helper()
	var env struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(r.raw), &env))
	require.NoError(t, json.Unmarshal(env.Data, v), "data: %s", env.Data)
}

// firstError asserts the error envelope and returns its first entry.
func firstError(t *testing.T, r reply, status int) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.raw)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	errs, ok := r.body["errors"].([]any)
	require.True(t, ok, "no errors list in %s", r.raw)
	require.NotEmpty(t, errs)
	e := errs[0].(map[string]any)
	require.Contains(t, e, "code")
	require.NotEmpty(t, e["message"])
	return e
}

func taskID(t *testing.T, r reply) string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.raw)
	id, _ := r.body["taskId"].(string)
	require.NotEmpty(t, id, "no taskId in %s", r.raw)
	return id
}

// taskData polls the task once (nested shape) and returns data.
func taskData(t *testing.T, s *Server, id string) map[string]any {
	t.Helper()
	r := call(t, s, "GET", "/tasks/"+id, "")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.raw)
	d, ok := r.body["data"].(map[string]any)
	require.True(t, ok, "no data in %s", r.raw)
	return d
}

func TestSeedListAndGet(t *testing.T) {
	s := newServer(t)
	assert.True(t, strings.HasPrefix(s.URL, "http://127.0.0.1:"))
	assert.True(t, strings.HasSuffix(s.URL, DefaultPathPrefix))
	assert.Equal(t, DefaultAPIKey, s.APIKey)

	r := call(t, s, "GET", envPath+"/isos", "")
	require.Equal(t, http.StatusOK, r.status)
	var isos []Iso
	decodeData(t, r, &isos)
	require.Len(t, isos, 2)
	assert.Equal(t, SeedIso(), isos[0])
	assert.Equal(t, SeedAttachableIsoID, isos[1].ID)
	assert.False(t, isos[1].Bootable)
	assert.True(t, isos[1].Extractable)
	assert.Equal(t, map[string]any{"recordCount": 2.0}, r.body["metadata"])

	// The seed page's JSON, field for field.
	const seedJSON = `{"id":"0b3fea04-b1ed-48cf-921d-96795dfe9a81","name":"ubuntu","description":"Example ISO",
		"architectureWidth":64,"size":52428800,"ready":true,"bootable":true,"availablePublicly":false,
		"extractable":false,"osTypeId":"d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b","osTypeName":"Other (64-bit)",
		"zoneId":"ea901007-056b-4c50-bb3a-2dd635fce2ab","zoneName":"zone1","created":"2017-12-21 4:41:33 PM Z",
		"availableInZones":["ea901007-056b-4c50-bb3a-2dd635fce2ab"]}`
	r = call(t, s, "GET", envPath+"/isos/"+SeedIsoID, "")
	require.Equal(t, http.StatusOK, r.status)
	got, err := json.Marshal(r.body["data"])
	require.NoError(t, err)
	assert.JSONEq(t, seedJSON, string(got))

	in, ok := s.Instance(SeedInstanceID)
	require.True(t, ok)
	assert.Equal(t, Instance{ID: SeedInstanceID, Name: "web-1", State: "Running"}, in)
	in, ok = s.Instance(SeedStoppedInstanceID)
	require.True(t, ok)
	assert.Equal(t, "Stopped", in.State)

	r = call(t, s, "GET", envPath+"/instances/"+SeedInstanceID, "")
	require.Equal(t, http.StatusOK, r.status)
	r = call(t, s, "GET", envPath+"/instances", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, r.body["data"], 2)
}

func TestSeedIsoIsFresh(t *testing.T) {
	a := SeedIso()
	a.AvailableInZones[0] = "changed"
	assert.Equal(t, SeedZoneID, SeedIso().AvailableInZones[0])

	s := newServer(t)
	iso, ok := s.Iso(SeedIsoID)
	require.True(t, ok)
	iso.AvailableInZones[0] = "changed"
	again, _ := s.Iso(SeedIsoID)
	assert.Equal(t, SeedZoneID, again.AvailableInZones[0])
}

func TestAuth(t *testing.T) {
	s := newServer(t)
	const wrong = "not-the-key-1234"
	for _, key := range []string{"", wrong} {
		t.Run("key="+key, func(t *testing.T) {
			r := send(t, s, key, "GET", envPath+"/isos", "")
			e := firstError(t, r, http.StatusUnauthorized)
			assert.Equal(t, "UNAUTHORIZED", e["code"])
			assert.NotContains(t, r.raw, wrong)
			assert.NotContains(t, r.raw, s.APIKey)
		})
	}
	// Auth comes before routing, so a bad key learns nothing about paths.
	r := send(t, s, wrong, "GET", "/nowhere", "")
	firstError(t, r, http.StatusUnauthorized)

	reqs := s.Requests()
	require.Len(t, reqs, 3)
	for _, rq := range reqs {
		assert.False(t, rq.KeyOK)
	}
	assert.Empty(t, reqs[0].Header.Values("MC-Api-Key"))
	assert.Equal(t, []string{"REDACTED"}, reqs[1].Header.Values("MC-Api-Key"))
}

func TestRequestsRecordAndRedact(t *testing.T) {
	s := newServer(t, WithAPIKey("my-very-own-key"))
	assert.Equal(t, "my-very-own-key", s.APIKey)
	body := `{"instanceId":"` + SeedInstanceID + `"}`
	call(t, s, "POST", envPath+"/isos/"+SeedAttachableIsoID+"?operation=attach&org_id=org-7", body)
	call(t, s, "GET", "/services/compute-on/test%20area/isos", "")

	reqs := s.Requests()
	require.Len(t, reqs, 2)
	rq := reqs[0]
	assert.Equal(t, "POST", rq.Method)
	assert.Equal(t, DefaultPathPrefix+envPath+"/isos/"+SeedAttachableIsoID, rq.Path)
	assert.Equal(t, "attach", rq.Query.Get("operation"))
	assert.Equal(t, "org-7", rq.Query.Get("org_id"))
	assert.True(t, rq.KeyOK)
	assert.Equal(t, body, string(rq.Body))
	assert.Equal(t, "REDACTED", rq.Header.Get("MC-Api-Key"))
	assert.Equal(t, "/api/v2/services/compute-on/test area/isos", reqs[1].Path)
	assert.Equal(t, "/api/v2/services/compute-on/test%20area/isos", reqs[1].RawPath)
	for _, rq := range reqs {
		assert.NotContains(t, fmt.Sprintf("%+v", rq), "my-very-own-key")
	}

	// Copies: changing them leaves the record alone.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("MC-Api-Key", "x")
	reqs[0].Query.Set("operation", "x")
	again := s.Requests()[0]
	assert.Equal(t, body, string(again.Body))
	assert.Equal(t, "REDACTED", again.Header.Get("MC-Api-Key"))
	assert.Equal(t, "attach", again.Query.Get("operation"))

	s.ResetRequests()
	assert.Empty(t, s.Requests())
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	s := newServer(t)
	r := call(t, s, "GET", envPath+"/isos/11111111-2222-4333-8444-555555555555", "")
	e := firstError(t, r, http.StatusNotFound)
	assert.Equal(t, 2001.0, e["code"])
	assert.Equal(t, map[string]any{"id": "11111111-2222-4333-8444-555555555555"}, e["context"])

	for _, p := range []string{
		"/services/other-svc/" + DefaultEnvironment + "/isos",
		"/services/" + DefaultService + "/other_env/isos",
		envPath + "/templates",
		envPath + "/isos/",          // trailing slash
		"/" + envPath + "/isos",     // doubled slash
		"/tasks/no-such-task",       // unknown task
		envPath + "/instances/nope", // unknown instance
		"",
		"/",
	} {
		t.Run(p, func(t *testing.T) {
			firstError(t, call(t, s, "GET", p, ""), http.StatusNotFound)
		})
	}
	// Outside the prefix.
	req, err := http.NewRequest("GET", strings.TrimSuffix(s.URL, DefaultPathPrefix)+envPath+"/isos", nil)
	require.NoError(t, err)
	req.Header.Set("MC-Api-Key", s.APIKey)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	for _, c := range []struct{ method, path, allow string }{
		{"PUT", envPath + "/isos", "GET, POST"},
		{"PATCH", envPath + "/isos/" + SeedIsoID, "GET, POST, DELETE"},
		{"DELETE", "/tasks/x", "GET"},
		{"DELETE", envPath + "/instances/" + SeedInstanceID, "GET, POST"},
	} {
		r := call(t, s, c.method, c.path, "")
		firstError(t, r, http.StatusMethodNotAllowed)
		assert.Equal(t, c.allow, r.header.Get("Allow"))
	}
}

func TestRuleViolations(t *testing.T) {
	const unknown = "11111111-2222-4333-8444-555555555555"
	isoOp := func(id, op string) string { return envPath + "/isos/" + id + "?operation=" + op }
	instOp := func(id, op string) string { return envPath + "/instances/" + id + "?operation=" + op }
	attachBody := `{"instanceId":"` + SeedInstanceID + `"}`
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     any
	}{
		{"attach bootable", "POST", isoOp(SeedIsoID, "attach"), attachBody, 400, "ISO_BOOTABLE"},
		{"attach unknown iso", "POST", isoOp(unknown, "attach"), attachBody, 404, 2001.0},
		{"attach unknown instance", "POST", isoOp(SeedAttachableIsoID, "attach"), `{"instanceId":"` + unknown + `"}`, 404, 2001.0},
		{"attach to instance holding an iso", "POST", isoOp(SeedAttachableIsoID, "attach"), `{"instanceId":"busy"}`, 400, "INSTANCE_HAS_ISO"},
		{"attach malformed json", "POST", isoOp(SeedAttachableIsoID, "attach"), `{"instanceId":`, 400, "INVALID_JSON"},
		{"attach wrong type", "POST", isoOp(SeedAttachableIsoID, "attach"), `{"instanceId":7}`, 400, "INVALID_JSON"},
		{"attach no body", "POST", isoOp(SeedAttachableIsoID, "attach"), ``, 400, "INVALID_JSON"},
		{"attach missing instanceId", "POST", isoOp(SeedAttachableIsoID, "attach"), `{}`, 400, "INVALID_PARAMETER"},
		{"attach not ready", "POST", isoOp("not-ready", "attach"), attachBody, 400, "ISO_NOT_READY"},
		{"attachIso bootable", "POST", instOp(SeedInstanceID, "attachIso"), `{"isoId":"` + SeedIsoID + `"}`, 400, "ISO_BOOTABLE"},
		{"attachIso unknown instance", "POST", instOp(unknown, "attachIso"), `{"isoId":"` + SeedAttachableIsoID + `"}`, 404, 2001.0},
		{"attachIso unknown iso", "POST", instOp(SeedInstanceID, "attachIso"), `{"isoId":"` + unknown + `"}`, 404, 2001.0},
		{"attachIso missing isoId", "POST", instOp(SeedInstanceID, "attachIso"), `{"instanceId":"x"}`, 400, "INVALID_PARAMETER"},
		{"attachIso busy", "POST", instOp("busy", "attachIso"), `{"isoId":"` + SeedAttachableIsoID + `"}`, 400, "INSTANCE_HAS_ISO"},
		{"detach nothing attached", "POST", instOp(SeedInstanceID, "detachIso"), ``, 400, "NO_ISO_ATTACHED"},
		{"detach unknown instance", "POST", instOp(unknown, "detachIso"), ``, 404, 2001.0},
		{"download not extractable", "POST", isoOp(SeedIsoID, "generateDownloadUrl"), ``, 400, "ISO_NOT_EXTRACTABLE"},
		{"download unknown", "POST", isoOp(unknown, "generateDownloadUrl"), ``, 404, 2001.0},
		{"unknown iso operation", "POST", isoOp(SeedAttachableIsoID, "explode"), ``, 400, "INVALID_OPERATION"},
		{"missing iso operation", "POST", envPath + "/isos/" + SeedAttachableIsoID, ``, 400, "INVALID_OPERATION"},
		{"instance op on iso side", "POST", isoOp(SeedAttachableIsoID, "detachIso"), ``, 400, "INVALID_OPERATION"},
		{"unknown instance operation", "POST", instOp(SeedInstanceID, "reboot"), ``, 400, "INVALID_OPERATION"},
		{"delete unknown", "DELETE", envPath + "/isos/" + unknown, ``, 404, 2001.0},
		{"delete attached", "DELETE", envPath + "/isos/" + SeedAttachableIsoID, ``, 400, "ISO_ATTACHED"},
		{"import no name", "POST", envPath + "/isos", `{"url":"http://x.example/a.iso"}`, 400, "INVALID_PARAMETER"},
		{"import no url", "POST", envPath + "/isos", `{"name":"a"}`, 400, "INVALID_PARAMETER"},
		{"import ftp url", "POST", envPath + "/isos", `{"name":"a","url":"ftp://x.example/a.iso"}`, 400, "INVALID_PARAMETER"},
		{"import file url", "POST", envPath + "/isos", `{"name":"a","url":"file:///etc/a.iso"}`, 400, "INVALID_PARAMETER"},
		{"import relative url", "POST", envPath + "/isos", `{"name":"a","url":"/a.iso"}`, 400, "INVALID_PARAMETER"},
		{"import bootable without os type", "POST", envPath + "/isos", `{"name":"a","url":"http://x.example/a.iso","bootable":true}`, 400, "INVALID_PARAMETER"},
		{"import unknown zone", "POST", envPath + "/isos", `{"name":"a","url":"http://x.example/a.iso","zoneId":"elsewhere"}`, 400, "INVALID_PARAMETER"},
		{"import malformed", "POST", envPath + "/isos", `name=a`, 400, "INVALID_JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t)
			notReady := seedAttachableIso()
			notReady.ID, notReady.Ready = "not-ready", false
			s.AddIso(notReady)
			s.AddInstance(Instance{ID: "busy", Name: "busy", State: "Running", IsoID: SeedAttachableIsoID})
			isosBefore := s.Isos()

			e := firstError(t, call(t, s, c.method, c.path, c.body), c.status)
			assert.Equal(t, c.code, e["code"])

			// Nothing changed and no task was started.
			assert.Equal(t, isosBefore, s.Isos())
			in, _ := s.Instance(SeedInstanceID)
			assert.Empty(t, in.IsoID)
			s.mu.Lock()
			assert.Empty(t, s.tasks)
			s.mu.Unlock()
		})
	}
}

func attachPath(isoID string) string {
	return envPath + "/isos/" + isoID + "?operation=attach"
}

func TestTaskLifecycle(t *testing.T) {
	for _, polls := range []int{0, 1, 3} {
		t.Run(fmt.Sprint("polls=", polls), func(t *testing.T) {
			s := newServer(t)
			if polls != 1 {
				s.SetTaskBehavior(TaskBehavior{Polls: polls})
			}
			r := call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`)
			id := taskID(t, r)
			if polls == 0 {
				assert.Equal(t, "SUCCESS", r.body["taskStatus"])
				data := r.body["data"].(map[string]any)
				assert.Equal(t, SeedAttachableIsoID, data["isoId"])
				in, _ := s.Instance(SeedInstanceID)
				assert.Equal(t, SeedAttachableIsoID, in.IsoID)
			} else {
				assert.Equal(t, "PENDING", r.body["taskStatus"])
				assert.NotContains(t, r.body, "data")
			}
			for range polls {
				d := taskData(t, s, id)
				assert.Equal(t, "PENDING", d["status"])
				assert.NotContains(t, d, "result")
				in, _ := s.Instance(SeedInstanceID)
				assert.Empty(t, in.IsoID, "state changed before the task finished")
			}
			for range 2 { // the final state is stable
				d := taskData(t, s, id)
				assert.Equal(t, "SUCCESS", d["status"])
				assert.Equal(t, id, d["id"])
				created, err := time.Parse(time.RFC3339Nano, d["created"].(string))
				require.NoError(t, err)
				assert.WithinDuration(t, time.Now(), created, time.Minute)
				assert.Equal(t, map[string]any{"id": SeedInstanceID, "name": "web-1", "state": "Running",
					"isoId": SeedAttachableIsoID}, d["result"])
			}
			in, _ := s.Instance(SeedInstanceID)
			assert.Equal(t, SeedAttachableIsoID, in.IsoID)
		})
	}
}

func TestTaskBehaviorAppliesToLaterTasks(t *testing.T) {
	s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 2}))
	first := taskID(t, call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`))
	s.SetTaskBehavior(TaskBehavior{Polls: 0, FlatShape: true})
	assert.Equal(t, "PENDING", taskData(t, s, first)["status"])
	assert.Equal(t, "PENDING", taskData(t, s, first)["status"])
	assert.Equal(t, "SUCCESS", taskData(t, s, first)["status"])
}

func TestTaskFailure(t *testing.T) {
	t.Run("nested", func(t *testing.T) {
		s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 1, Fail: true}))
		id := taskID(t, call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`))
		assert.Equal(t, "PENDING", taskData(t, s, id)["status"])
		d := taskData(t, s, id)
		assert.Equal(t, "FAILED", d["status"])
		assert.NotEmpty(t, d["result"].(map[string]any)["message"])
		errs := d["errors"].([]any)
		require.Len(t, errs, 1)
		assert.Equal(t, "TASK_FAILED", errs[0].(map[string]any)["code"])
		in, _ := s.Instance(SeedInstanceID)
		assert.Empty(t, in.IsoID)
	})
	t.Run("flat", func(t *testing.T) {
		s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 1, Fail: true, FlatShape: true}))
		id := taskID(t, call(t, s, "DELETE", envPath+"/isos/"+SeedIsoID, ""))
		call(t, s, "GET", "/tasks/"+id, "")
		r := call(t, s, "GET", "/tasks/"+id, "")
		assert.Equal(t, "FAILED", r.body["taskStatus"])
		assert.Equal(t, id, r.body["taskId"])
		assert.Contains(t, r.body, "result")
		assert.Len(t, r.body["errors"], 1)
		_, ok := s.Iso(SeedIsoID)
		assert.True(t, ok)
	})
	t.Run("at once", func(t *testing.T) {
		s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 0, Fail: true}))
		r := call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`)
		id := taskID(t, r)
		assert.Equal(t, "FAILED", r.body["taskStatus"])
		assert.Len(t, r.body["errors"], 1)
		assert.Equal(t, "FAILED", taskData(t, s, id)["status"])
	})
	t.Run("rule broken while pending", func(t *testing.T) {
		s := newServer(t)
		a := taskID(t, call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`))
		b := taskID(t, call(t, s, "POST", envPath+"/instances/"+SeedInstanceID+"?operation=attachIso",
			`{"isoId":"`+SeedAttachableIsoID+`"}`))
		taskData(t, s, a)
		assert.Equal(t, "SUCCESS", taskData(t, s, a)["status"])
		taskData(t, s, b)
		d := taskData(t, s, b)
		assert.Equal(t, "FAILED", d["status"])
		assert.Equal(t, "INSTANCE_HAS_ISO", d["errors"].([]any)[0].(map[string]any)["code"])
	})
}

func TestSynchronous(t *testing.T) {
	s := newServer(t, WithTaskBehavior(TaskBehavior{Synchronous: true}))
	r := call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, r.body, "taskId")
	assert.NotContains(t, r.body, "taskStatus")
	var in Instance
	decodeData(t, r, &in)
	assert.Equal(t, SeedAttachableIsoID, in.IsoID)
	now, _ := s.Instance(SeedInstanceID)
	assert.Equal(t, in, now)

	s.SetTaskBehavior(TaskBehavior{Synchronous: true, Fail: true})
	r = call(t, s, "POST", envPath+"/instances/"+SeedInstanceID+"?operation=detachIso", "")
	firstError(t, r, http.StatusBadRequest)
	now, _ = s.Instance(SeedInstanceID)
	assert.Equal(t, SeedAttachableIsoID, now.IsoID)
}

func TestFlatShape(t *testing.T) {
	s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 1, FlatShape: true}))
	id := taskID(t, call(t, s, "POST", envPath+"/isos/"+SeedAttachableIsoID+"?operation=generateDownloadUrl", ""))
	r := call(t, s, "GET", "/tasks/"+id, "")
	assert.Equal(t, map[string]any{"taskId": id, "taskStatus": "PENDING"}, r.body)
	r = call(t, s, "GET", "/tasks/"+id, "")
	assert.Equal(t, id, r.body["taskId"])
	assert.Equal(t, "SUCCESS", r.body["taskStatus"])
	assert.NotContains(t, r.body, "data")
	u := r.body["result"].(map[string]any)["url"].(string)
	assert.Equal(t, strings.TrimSuffix(s.URL, DefaultPathPrefix)+"/downloads/"+SeedAttachableIsoID+"/tools.iso", u)
}

func TestDownloadURL(t *testing.T) {
	s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 0}))
	iso := seedAttachableIso()
	iso.ID, iso.Name = "with-space", "my tools"
	s.AddIso(iso)
	r := call(t, s, "POST", envPath+"/isos/with-space?operation=generateDownloadUrl", "")
	u := r.body["data"].(map[string]any)["url"].(string)
	assert.True(t, strings.HasSuffix(u, "/downloads/with-space/my%20tools.iso"), u)

	// The link works without the key, like a pre-signed URL.
	resp, err := s.Client().Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "with-space")

	resp, err = s.Client().Get(strings.TrimSuffix(s.URL, DefaultPathPrefix) + "/downloads/" + SeedIsoID + "/ubuntu.iso")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestImportAndDelete(t *testing.T) {
	s := newServer(t)
	r := call(t, s, "POST", envPath+"/isos", `{"name":"alpine","description":"small","url":"https://dl.example/alpine.iso",
		"bootable":true,"osTypeId":"`+SeedOSTypeID+`","extractable":true}`)
	id := taskID(t, r)
	assert.Len(t, s.Isos(), 2, "added before the task finished")
	taskData(t, s, id)
	d := taskData(t, s, id)
	require.Equal(t, "SUCCESS", d["status"])
	res := d["result"].(map[string]any)
	isoID := res["id"].(string)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, isoID)

	isos := s.Isos()
	require.Len(t, isos, 3)
	got := isos[2]
	assert.Equal(t, isoID, got.ID)
	assert.Equal(t, "alpine", got.Name)
	assert.Equal(t, "small", got.Description)
	assert.True(t, got.Bootable)
	assert.True(t, got.Extractable)
	assert.Equal(t, SeedOSTypeName, got.OSTypeName)
	assert.Equal(t, SeedZoneID, got.ZoneID)
	created, err := time.Parse(CreatedLayout, got.Created)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), created, time.Minute)

	// The default: not bootable, no zone, plain http.
	s.SetTaskBehavior(TaskBehavior{Synchronous: true})
	r = call(t, s, "POST", envPath+"/isos", `{"name":"plain","url":"http://dl.example/p.iso","zoneId":"`+SeedZoneID+`"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Len(t, s.Isos(), 4)

	s.SetTaskBehavior(TaskBehavior{Polls: 1})
	id = taskID(t, call(t, s, "DELETE", envPath+"/isos/"+isoID, ""))
	taskData(t, s, id)
	_, ok := s.Iso(isoID)
	assert.True(t, ok, "removed before the task finished")
	d = taskData(t, s, id)
	assert.Equal(t, "SUCCESS", d["status"])
	_, ok = s.Iso(isoID)
	assert.False(t, ok)
	firstError(t, call(t, s, "GET", envPath+"/isos/"+isoID, ""), http.StatusNotFound)

	// A failing import adds nothing.
	s.SetTaskBehavior(TaskBehavior{Polls: 0, Fail: true})
	call(t, s, "POST", envPath+"/isos", `{"name":"never","url":"http://dl.example/n.iso"}`)
	assert.Len(t, s.Isos(), 3)
}

func TestAttachDetachFromInstanceSide(t *testing.T) {
	s := newServer(t, WithTaskBehavior(TaskBehavior{Polls: 0}))
	p := envPath + "/instances/" + SeedStoppedInstanceID
	r := call(t, s, "POST", p+"?operation=attachIso", `{"isoId":"`+SeedAttachableIsoID+`"}`)
	assert.Equal(t, "SUCCESS", r.body["taskStatus"])
	in, _ := s.Instance(SeedStoppedInstanceID)
	assert.Equal(t, SeedAttachableIsoID, in.IsoID)

	r = call(t, s, "POST", p+"?operation=detachIso", "")
	assert.Equal(t, "SUCCESS", r.body["taskStatus"])
	assert.Equal(t, map[string]any{"id": SeedStoppedInstanceID, "name": "web-2", "state": "Stopped"}, r.body["data"])
	in, _ = s.Instance(SeedStoppedInstanceID)
	assert.Empty(t, in.IsoID)
}

func TestPagingAndSorting(t *testing.T) {
	s := newServer(t, WithoutSeed())
	for i, name := range []string{"delta", "alpha", "echo", "charlie", "bravo"} {
		s.AddIso(Iso{ID: fmt.Sprint("iso-", i), Name: name, Size: int64(100 - i*10),
			Created: fmt.Sprintf("2020-01-0%d 1%d:00:00 PM Z", 5-i, i%3)})
	}
	names := func(r reply) []string {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, r.raw)
		var isos []Iso
		decodeData(t, r, &isos)
		out := []string{}
		for _, i := range isos {
			out = append(out, i.Name)
		}
		return out
	}
	list := func(q string) reply { return call(t, s, "GET", envPath+"/isos?"+q, "") }

	assert.Equal(t, []string{"delta", "alpha", "echo", "charlie", "bravo"}, names(list("")))
	assert.Equal(t, []string{"alpha", "bravo", "charlie", "delta", "echo"}, names(list("sort_by=name")))
	assert.Equal(t, []string{"echo", "delta", "charlie", "bravo", "alpha"}, names(list("sort_by=name&sort_order=desc")))
	assert.Equal(t, []string{"bravo", "charlie", "echo", "alpha", "delta"}, names(list("sort_by=size&sort_order=ASC")))
	assert.Equal(t, []string{"bravo", "charlie", "echo", "alpha", "delta"}, names(list("sort_by=created")))

	r := list("sort_by=name&sort_order=DESC&page_size=2&page_number=2")
	assert.Equal(t, []string{"charlie", "bravo"}, names(r))
	assert.Equal(t, map[string]any{"recordCount": 5.0, "pageSize": 2.0, "pageCurrent": 2.0,
		"sortField": "name", "sortOrder": "DESC"}, r.body["metadata"])
	assert.Equal(t, []string{"echo"}, names(list("sort_by=name&page_size=2&page_number=3&org_id=o1")))

	r = list("page_size=2&page_number=9")
	assert.Equal(t, "[]", string(mustJSON(t, r.body["data"])), "an empty page is [] not null")
	assert.Equal(t, 5.0, r.body["metadata"].(map[string]any)["recordCount"])
	assert.Empty(t, names(list("page_size=3&page_number=9223372036854775807")))
	assert.Equal(t, []string{"delta", "alpha", "echo", "charlie", "bravo"}, names(list("page_number=1")))

	for _, q := range []string{"page_size=0", "page_size=-1", "page_size=abc", "page_size=", "page_number=0",
		"page_number=x", "sort_order=sideways", "sort_by=nosuchfield"} {
		t.Run(q, func(t *testing.T) {
			e := firstError(t, list(q), http.StatusBadRequest)
			assert.Equal(t, "INVALID_PARAMETER", e["code"])
		})
	}

	empty := newServer(t, WithoutSeed())
	r = call(t, empty, "GET", envPath+"/isos", "")
	assert.Equal(t, `{"data":[],"metadata":{"recordCount":0}}`, r.raw)
	_, ok := empty.Instance(SeedInstanceID)
	assert.False(t, ok)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestAddIsoReplacesInPlace(t *testing.T) {
	s := newServer(t)
	iso := SeedIso()
	iso.Name = "renamed"
	s.AddIso(iso)
	isos := s.Isos()
	require.Len(t, isos, 2)
	assert.Equal(t, "renamed", isos[0].Name)
}

func TestInterceptor(t *testing.T) {
	s := newServer(t)
	s.SetInterceptor(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		body, _ := io.ReadAll(r.Body) // the body is still readable here
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "<html>busy %d</html>", len(body))
		return true
	})
	body := `{"instanceId":"` + SeedInstanceID + `"}`
	r := call(t, s, "POST", attachPath(SeedAttachableIsoID), body)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, fmt.Sprintf("<html>busy %d</html>", len(body)), r.raw)
	in, _ := s.Instance(SeedInstanceID)
	assert.Empty(t, in.IsoID)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", envPath+"/isos", "").status)
	assert.Len(t, s.Requests(), 2, "intercepted requests are recorded too")

	s.SetInterceptor(nil)
	r = call(t, s, "POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+SeedInstanceID+`"}`)
	taskID(t, r)
}

func TestOptions(t *testing.T) {
	t.Run("tls", func(t *testing.T) {
		s := newServer(t, WithTLS())
		assert.True(t, strings.HasPrefix(s.URL, "https://127.0.0.1:"), s.URL)
		assert.Equal(t, http.StatusOK, call(t, s, "GET", envPath+"/isos", "").status)
		s.SetTaskBehavior(TaskBehavior{Polls: 0})
		r := call(t, s, "POST", envPath+"/isos/"+SeedAttachableIsoID+"?operation=generateDownloadUrl", "")
		assert.True(t, strings.HasPrefix(r.body["data"].(map[string]any)["url"].(string), "https://"))
	})
	t.Run("root prefix", func(t *testing.T) {
		s := newServer(t, WithPathPrefix(""))
		u, err := url.Parse(s.URL)
		require.NoError(t, err)
		assert.Empty(t, u.Path)
		assert.Equal(t, http.StatusOK, call(t, s, "GET", envPath+"/isos", "").status)
		taskID(t, call(t, s, "DELETE", envPath+"/isos/"+SeedIsoID, ""))
		assert.Equal(t, "/services/compute-on/test_area/isos", s.Requests()[0].Path)
	})
	t.Run("prefix normalised", func(t *testing.T) {
		s := newServer(t, WithPathPrefix("v1/"))
		assert.True(t, strings.HasSuffix(s.URL, "/v1"), s.URL)
		assert.Equal(t, http.StatusOK, call(t, s, "GET", envPath+"/isos", "").status)
	})
	t.Run("environment", func(t *testing.T) {
		s := newServer(t, WithEnvironment("my svc", "prod/eu"))
		r := call(t, s, "GET", "/services/my%20svc/prod%2Feu/isos", "")
		assert.Equal(t, http.StatusOK, r.status, r.raw)
		firstError(t, call(t, s, "GET", envPath+"/isos", ""), http.StatusNotFound)
		firstError(t, call(t, s, "GET", "/services/my%20svc/prod/eu/isos", ""), http.StatusNotFound)
	})
	t.Run("body limit", func(t *testing.T) {
		s := newServer(t)
		big := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`
		r := call(t, s, "POST", envPath+"/isos", big)
		firstError(t, r, http.StatusRequestEntityTooLarge)
		assert.Len(t, s.Requests()[0].Body, maxBodyBytes)
	})
}

func TestConcurrentUse(t *testing.T) {
	s := newServer(t)
	const workers = 64
	for i := range workers {
		s.AddInstance(Instance{ID: fmt.Sprint("vm-", i), Name: fmt.Sprint("vm-", i), State: "Running"})
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(s, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	for i := range workers {
		in, ok := s.Instance(fmt.Sprint("vm-", i))
		require.True(t, ok)
		assert.Equal(t, i%2 == 0, in.IsoID == SeedAttachableIsoID, "vm-%d: %+v", i, in)
	}
	assert.GreaterOrEqual(t, len(s.Requests()), workers*4)
}

// worker attaches the tools ISO to its own instance, polls the task to the
// end, and detaches it again on odd workers, while reading shared state.
func worker(s *Server, i int) error {
	c := s.Client()
	do := func(method, path, body string) (map[string]any, error) {
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("MC-Api-Key", s.APIKey)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out, nil
	}
	wait := func(out map[string]any) error {
		id, _ := out["taskId"].(string)
		for range 5 {
			t, err := do("GET", "/tasks/"+id, "")
			if err != nil {
				return err
			}
			if st := t["data"].(map[string]any)["status"]; st == "SUCCESS" {
				return nil
			}
		}
		return fmt.Errorf("task %s never finished", id)
	}
	vm := fmt.Sprint("vm-", i)
	if _, err := do("GET", envPath+"/isos?sort_by=name&page_size=1", ""); err != nil {
		return err
	}
	out, err := do("POST", attachPath(SeedAttachableIsoID), `{"instanceId":"`+vm+`"}`)
	if err != nil {
		return err
	}
	if err := wait(out); err != nil {
		return err
	}
	_ = s.Isos()
	_, _ = s.Iso(SeedIsoID)
	_ = s.Requests()
	if i%2 == 1 {
		out, err := do("POST", envPath+"/instances/"+vm+"?operation=detachIso", "")
		if err != nil {
			return err
		}
		return wait(out)
	}
	return nil
}
