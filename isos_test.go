package cloudmc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const isosURL = mockBase + "/services/compute-on/test_area/isos"

func seedIso() Iso {
	return Iso{
		ID:                "0b3fea04-b1ed-48cf-921d-96795dfe9a81",
		Name:              "ubuntu",
		Description:       "Example ISO",
		ArchitectureWidth: 64,
		Size:              52428800,
		Ready:             true,
		Bootable:          true,
		AvailablePublicly: false,
		Extractable:       false,
		OSTypeID:          "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b",
		OSTypeName:        "Other (64-bit)",
		ZoneID:            "ea901007-056b-4c50-bb3a-2dd635fce2ab",
		ZoneName:          "zone1",
		Created:           "2017-12-21 4:41:33 PM Z",
		AvailableInZones:  []string{"ea901007-056b-4c50-bb3a-2dd635fce2ab"},
	}
}

func TestListDecodesSeedFixture(t *testing.T) {
	c, mt := newMock(t)
	var got *http.Request
	mt.RegisterResponder(http.MethodGet, isosURL, func(r *http.Request) (*http.Response, error) {
		got = r
		return httpmock.NewBytesResponse(200, readFixture(t, "seed_list.json")), nil
	})

	list, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, list.Data, 1)
	assert.Equal(t, seedIso(), list.Data[0])
	assert.Equal(t, 1, list.Metadata.RecordCount)

	require.NotNil(t, got)
	assert.Equal(t, testKey, got.Header.Get("MC-Api-Key"))
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "cloudmc-go/"+Version, got.Header.Get("User-Agent"))
	assert.Empty(t, got.Header.Get("Content-Type"), "a GET has no body")
	assert.Empty(t, got.URL.RawQuery)
}

func TestGetDecodesSeedFixture(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID,
		httpmock.NewBytesResponder(200, readFixture(t, "seed_get.json")))

	got, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
	require.NoError(t, err)
	assert.Equal(t, seedIso(), got.Data)
	created, err := got.Data.CreatedTime()
	require.NoError(t, err)
	assert.Equal(t, time.Date(2017, 12, 21, 16, 41, 33, 0, time.UTC), created)
}

func TestListToleratesWireQuirks(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, isosURL, httpmock.NewBytesResponder(200, readFixture(t, "quirks_list.json")))

	list, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, list.Data, 5)
	assert.Equal(t, Metadata{RecordCount: 5, PageSize: 50, PageCurrent: 1, SortField: "name", SortOrder: "ASC"}, list.Metadata)

	big := list.Data[0]
	assert.Equal(t, 64, big.ArchitectureWidth, `"64" as a string`)
	assert.Equal(t, int64(9007199254740993), big.Size, "above 2^53, exactly")
	assert.Nil(t, big.AvailableInZones)
	assert.Empty(t, big.ZoneID)
	created, err := big.CreatedTime()
	require.NoError(t, err)
	assert.Equal(t, time.Date(2016, 10, 24, 18, 40, 29, 0, time.UTC), created.UTC(), "EDT is UTC-4")

	uni := list.Data[1]
	assert.Equal(t, "Ünïcødé ✓ 日本語", uni.Name)
	assert.Equal(t, "emoji 🚀 é", uni.Description)
	assert.Equal(t, int64(9223372036854775807), uni.Size)

	nulls := list.Data[2]
	assert.Equal(t, 0, nulls.ArchitectureWidth)
	assert.Equal(t, int64(0), nulls.Size)
	assert.Empty(t, nulls.Description)

	assert.Equal(t, int64(52428800), list.Data[3].Size, "5.24288e7")
	assert.Equal(t, 64, list.Data[3].ArchitectureWidth)
	assert.Equal(t, int64(42), list.Data[4].Size)
	assert.Equal(t, 0, list.Data[4].ArchitectureWidth)
}

func TestListEnvelopeVariants(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantLen   int
		wantCount int
		wantErr   error
		errText   string
	}{
		{name: "null data", body: `{"data": null, "metadata": {"recordCount": 0}}`, wantLen: 0},
		{name: "empty list", body: `{"data": []}`, wantLen: 0},
		{name: "no metadata counts items", body: `{"data": [{"id":"` + isoID + `"}]}`, wantLen: 1, wantCount: 1},
		{name: "recordCount disagrees, data wins", body: `{"data": [{"id":"` + isoID + `"}], "metadata": {"recordCount": 7}}`, wantLen: 1, wantCount: 7},
		{name: "odd metadata ignored", body: `{"data": [{"id":"` + isoID + `"}], "metadata": "x"}`, wantLen: 1},
		{name: "data is an object", body: `{"data": {"id": "x"}}`, wantErr: ErrInvalidResponse, errText: "expected a list"},
		{name: "no data at all", body: `{"metadata": {"recordCount": 1}}`, wantErr: ErrInvalidResponse, errText: `no "data"`},
		{name: "item without id", body: `{"data": [{"name": "x"}]}`, wantErr: ErrInvalidResponse, errText: "item 0"},
		{name: "wrong type", body: `{"data": [{"id": "` + isoID + `", "name": 5}]}`, wantErr: ErrInvalidResponse, errText: "item 0"},
		{name: "size not a number", body: `{"data": [{"id": "` + isoID + `", "size": "big"}]}`, wantErr: ErrInvalidResponse, errText: "not a whole number"},
		{name: "size overflows", body: `{"data": [{"id": "` + isoID + `", "size": 1e30}]}`, wantErr: ErrInvalidResponse, errText: "out of range"},
		{name: "truncated json", body: `{"data": [{"id": "`, wantErr: ErrInvalidResponse},
		{name: "top-level list", body: `[1,2]`, wantErr: ErrInvalidResponse, errText: "expected a JSON object"},
		{name: "empty body", body: ``, wantErr: ErrInvalidResponse, errText: "empty body"},
		{name: "errors in a 200", body: `{"data": [], "errors": [{"code": 2012, "message": "boom"}]}`, errText: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := newMock(t)
			mt.RegisterResponder(http.MethodGet, isosURL, httpmock.NewStringResponder(200, tt.body))
			list, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
			if tt.errText == "" && tt.wantErr == nil {
				require.NoError(t, err)
				assert.Len(t, list.Data, tt.wantLen)
				assert.NotNil(t, list.Data, "an empty list is not nil")
				if tt.wantCount != 0 {
					assert.Equal(t, tt.wantCount, list.Metadata.RecordCount)
				}
				return
			}
			require.Error(t, err)
			assert.Nil(t, list)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Contains(t, err.Error(), tt.errText)
			assert.Contains(t, err.Error(), "GET /api/v2/services/compute-on/test_area/isos", "names the call")
			assert.Equal(t, 1, mt.GetTotalCallCount(), "a bad body is not retried")
		})
	}
}

func TestErrorsIn200IsAPIError(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID,
		httpmock.NewStringResponder(200, `{"errors": [{"errorCode": "FOO_ERROR", "message": "no"}]}`))
	_, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 200, apiErr.StatusCode)
	assert.Equal(t, []ErrorDetail{{Code: "FOO_ERROR", Message: "no"}}, apiErr.Errors)
	assert.Equal(t, http.MethodGet, apiErr.Method)
}

func TestListOptionsBecomeQuery(t *testing.T) {
	c, mt := newMock(t, WithOrganization("org 42/&x"))
	var q url.Values
	mt.RegisterResponder(http.MethodGet, isosURL, func(r *http.Request) (*http.Response, error) {
		q = r.URL.Query()
		return httpmock.NewStringResponse(200, `{"data": []}`), nil
	})
	_, err := c.Isos("compute-on", "test_area").List(context.Background(),
		&ListOptions{Page: 2, PageSize: 25, SortBy: "name", SortOrder: "desc"})
	require.NoError(t, err)
	assert.Equal(t, url.Values{
		"page_number": {"2"}, "page_size": {"25"}, "sort_by": {"name"}, "sort_order": {"DESC"},
		"org_id": {"org 42/&x"},
	}, q)
}

func TestAttachRequestShape(t *testing.T) {
	c, mt := newMock(t, WithUserAgent("mytool/1.2"))
	var req *http.Request
	var body []byte
	mt.RegisterResponder(http.MethodPost, isosURL+"/"+isoID, func(r *http.Request) (*http.Response, error) {
		req = r
		body, _ = io.ReadAll(r.Body)
		return httpmock.NewStringResponse(200, `{"taskId": "`+taskID+`", "taskStatus": "PENDING"}`), nil
	})

	task, err := c.Isos("compute-on", "test_area").Attach(context.Background(), isoID, instanceID)
	require.NoError(t, err)
	assert.Equal(t, &Task{ID: taskID, Status: TaskPending}, task)
	assert.False(t, task.Done())

	require.NotNil(t, req)
	assert.Equal(t, "operation=attach", req.URL.RawQuery)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, testKey, req.Header.Get("MC-Api-Key"))
	assert.Equal(t, "mytool/1.2 cloudmc-go/"+Version, req.Header.Get("User-Agent"))
	assert.JSONEq(t, `{"instanceId": "`+instanceID+`"}`, string(body))
}

func TestGenerateDownloadURLAndDownloadURL(t *testing.T) {
	c, mt := newMock(t)
	var body []byte
	mt.RegisterResponderWithQuery(http.MethodPost, isosURL+"/"+isoID, "operation=generateDownloadUrl",
		func(r *http.Request) (*http.Response, error) {
			body, _ = io.ReadAll(r.Body)
			return httpmock.NewStringResponse(200, `{"taskId": "`+taskID+`", "taskStatus": "pending"}`), nil
		})
	mt.RegisterResponder(http.MethodGet, mockBase+"/tasks/"+taskID, httpmock.ResponderFromMultipleResponses([]*http.Response{
		httpmock.NewStringResponse(200, `{"data": {"id": "`+taskID+`", "status": "PENDING"}}`),
		httpmock.NewStringResponse(200, `{"data": {"id": "`+taskID+`", "status": "Success", "result": {"url": "https://dl.example.test/ubuntu.iso"}}}`),
	}))

	url, err := c.Isos("compute-on", "test_area").DownloadURL(context.Background(), isoID)
	require.NoError(t, err)
	assert.Equal(t, "https://dl.example.test/ubuntu.iso", url)
	assert.Empty(t, body, "generateDownloadUrl takes no body")
	assert.Equal(t, 3, mt.GetTotalCallCount())
}

func TestDownloadURLWithoutURLIsAnError(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodPost, isosURL+"/"+isoID,
		httpmock.NewStringResponder(200, `{"taskId": "`+taskID+`", "taskStatus": "SUCCESS", "data": {"other": 1}}`))
	_, err := c.Isos("compute-on", "test_area").DownloadURL(context.Background(), isoID)
	assert.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "no url")
}

func TestImportBody(t *testing.T) {
	c, mt := newMock(t)
	var bodies []string
	mt.RegisterResponder(http.MethodPost, isosURL, func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		return httpmock.NewStringResponse(200, `{"taskId": "`+taskID+`", "taskStatus": "PENDING"}`), nil
	})
	isos := c.Isos("compute-on", "test_area")
	_, err := isos.Import(context.Background(), ImportIsoRequest{
		Name: "tools", Description: "d", URL: "http://mirror.example.test/tools.iso",
		ZoneID: "ea901007-056b-4c50-bb3a-2dd635fce2ab",
	})
	require.NoError(t, err)
	_, err = isos.Import(context.Background(), ImportIsoRequest{
		Name: "boot", URL: "https://mirror.example.test/boot.iso", Bootable: Bool(true),
		OSTypeID: "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b", Extractable: Bool(false),
	})
	require.NoError(t, err)
	require.Len(t, bodies, 2)
	assert.JSONEq(t, `{"name":"tools","description":"d","url":"http://mirror.example.test/tools.iso",
		"zoneId":"ea901007-056b-4c50-bb3a-2dd635fce2ab","bootable":false}`, bodies[0], "extractable only when set")
	assert.JSONEq(t, `{"name":"boot","description":"","url":"https://mirror.example.test/boot.iso",
		"bootable":true,"osTypeId":"d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b","extractable":false}`, bodies[1])
}

func TestImportResultDecodesIso(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodPost, isosURL, httpmock.NewStringResponder(200,
		`{"taskId": "`+taskID+`", "taskStatus": "SUCCESS", "data": {"id": "`+isoID+`", "name": "n", "size": "123", "architectureWidth": "64"}}`))
	task, err := c.Isos("compute-on", "test_area").Import(context.Background(),
		ImportIsoRequest{Name: "n", URL: "http://mirror.example.test/n.iso"})
	require.NoError(t, err)
	require.True(t, task.Done())
	var iso Iso
	require.NoError(t, task.DecodeResult(&iso))
	assert.Equal(t, Iso{ID: isoID, Name: "n", Size: 123, ArchitectureWidth: 64}, iso)
}

func TestDeleteSendsDelete(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodDelete, isosURL+"/"+isoID, httpmock.NewStringResponder(204, ``))
	task, err := c.Isos("compute-on", "test_area").Delete(context.Background(), isoID)
	require.NoError(t, err)
	assert.Equal(t, &Task{Status: TaskSuccess}, task, "a 204 is a finished task")
}

func TestBadInputSendsNothing(t *testing.T) {
	c, mt := newMock(t)
	ctx := context.Background()
	good := c.Isos("compute-on", "test_area")
	inst := c.Instances("compute-on", "test_area")
	calls := map[string]func() error{
		"get non-uuid":            func() error { _, err := good.Get(ctx, "ubuntu"); return err },
		"get empty":               func() error { _, err := good.Get(ctx, ""); return err },
		"get dotdot":              func() error { _, err := good.Get(ctx, "../../tasks/x"); return err },
		"get braces uuid":         func() error { _, err := good.Get(ctx, "{"+isoID+"}"); return err },
		"get undashed uuid":       func() error { _, err := good.Get(ctx, "0b3fea04b1ed48cf921d96795dfe9a81"); return err },
		"attach bad instance":     func() error { _, err := good.Attach(ctx, isoID, "nope"); return err },
		"attach bad iso":          func() error { _, err := good.Attach(ctx, "nope", instanceID); return err },
		"download bad id":         func() error { _, err := good.DownloadURL(ctx, "x"); return err },
		"delete bad id":           func() error { _, err := good.Delete(ctx, isoID+"/.."); return err },
		"empty service":           func() error { _, err := c.Isos("", "test_area").List(ctx, nil); return err },
		"empty env":               func() error { _, err := c.Isos("compute-on", "").Get(ctx, isoID); return err },
		"dotdot env":              func() error { _, err := c.Isos("compute-on", "..").List(ctx, nil); return err },
		"control char service":    func() error { _, err := c.Isos("a\nb", "e").List(ctx, nil); return err },
		"instance attach bad iso": func() error { _, err := inst.AttachIso(ctx, instanceID, "x"); return err },
		"instance detach bad id":  func() error { _, err := inst.DetachIso(ctx, "x"); return err },
		"instances empty env":     func() error { _, err := c.Instances("s", "").DetachIso(ctx, instanceID); return err },
		"negative page":           func() error { _, err := good.List(ctx, &ListOptions{Page: -1}); return err },
		"bad sort order":          func() error { _, err := good.List(ctx, &ListOptions{SortOrder: "sideways"}); return err },
		"import no name":          func() error { _, err := good.Import(ctx, ImportIsoRequest{URL: "http://x.test/a.iso"}); return err },
		"import ftp": func() error {
			_, err := good.Import(ctx, ImportIsoRequest{Name: "a", URL: "ftp://x.test/a.iso"})
			return err
		},
		"import relative url": func() error { _, err := good.Import(ctx, ImportIsoRequest{Name: "a", URL: "/a.iso"}); return err },
		"import bad zone": func() error {
			_, err := good.Import(ctx, ImportIsoRequest{Name: "a", URL: "http://x.test/a", ZoneID: "z"})
			return err
		},
		"import bootable no os": func() error {
			_, err := good.Import(ctx, ImportIsoRequest{Name: "a", URL: "http://x.test/a", Bootable: Bool(true)})
			return err
		},
		"task get empty":  func() error { _, err := c.Tasks().Get(ctx, ""); return err },
		"task get dotdot": func() error { _, err := c.Tasks().Get(ctx, ".."); return err },
		"wait nil":        func() error { _, err := c.Tasks().Wait(ctx, nil); return err },
		"wait no id":      func() error { _, err := c.Tasks().Wait(ctx, &Task{Status: TaskPending}); return err },
		//lint:ignore SA1012 a nil context is the bad input under test
		"nil context": func() error { _, err := good.List(nil, nil); return err }, //nolint:staticcheck
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount(), "nothing may be sent for bad input")
}

func TestNotFoundIsAnError(t *testing.T) {
	c, mt := newMock(t)
	mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID, func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(404, `{"errors":[{"code":2001,"message":"ISO not found","context":{"id":"`+isoID+`"}}]}`)
		resp.Header.Set("X-Request-Id", "req-123")
		return resp, nil
	})
	got, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
	assert.Nil(t, got)
	require.ErrorIs(t, err, ErrNotFound)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 404, apiErr.StatusCode)
	assert.Equal(t, "/api/v2/services/compute-on/test_area/isos/"+isoID, apiErr.Path)
	assert.Equal(t, "req-123", apiErr.RequestID)
	assert.Equal(t, []ErrorDetail{{Code: "2001", Message: "ISO not found", Context: map[string]any{"id": isoID}}}, apiErr.Errors)
	assert.Contains(t, err.Error(), "404 Not Found: [2001] ISO not found")
	assert.Equal(t, 1, mt.GetTotalCallCount(), "404 is not retried")
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	c, mux, _ := setup(t)
	var rawPath string
	mux.HandleFunc("/services/", func(w http.ResponseWriter, r *http.Request) {
		rawPath = r.URL.EscapedPath()
		writeJSON(w, 200, `{"data": []}`)
	})
	_, err := c.Isos("comp/ute?on", "test area%2F..").List(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, "/services/comp%2Fute%3Fon/test%20area%252F../isos", rawPath)

	_, err = c.Isos("...", "x").List(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, "/services/%2E%2E%2E/x/isos", rawPath, "dots-only segments cannot climb")
}

func TestIsoJSONRoundTrip(t *testing.T) {
	in := seedIso()
	b, err := json.Marshal(in)
	require.NoError(t, err)
	var out Iso
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
	assert.JSONEq(t, string(readFixture(t, "seed_get.json")), `{"data":`+string(b)+`}`, "Iso marshals to the wire form")
}

func TestContextDoneReturnsContextError(t *testing.T) {
	c, mux, _ := setup(t)
	release := make(chan struct{})
	mux.HandleFunc("/services/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Isos("compute-on", "test_area").List(ctx, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

func TestDuplicateDataKeyLastWins(t *testing.T) {
	c, mt := newMock(t)
	other := "11111111-1111-4111-8111-111111111111"
	mt.RegisterResponder(http.MethodGet, isosURL, httpmock.NewStringResponder(200,
		`{"data": [{"id": "`+isoID+`"}], "data": [{"id": "`+other+`"}]}`))
	list, err := c.Isos("compute-on", "test_area").List(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, list.Data, 1)
	assert.Equal(t, other, list.Data[0].ID)

	mt.RegisterResponder(http.MethodGet, isosURL+"/"+isoID, httpmock.NewStringResponder(200,
		`{"data": {"id": "`+isoID+`", "name": "a"}, "data": {"id": "`+other+`"}}`))
	got, err := c.Isos("compute-on", "test_area").Get(context.Background(), isoID)
	require.NoError(t, err)
	assert.Equal(t, Iso{ID: other}, got.Data, "not a merge of the two")
}
