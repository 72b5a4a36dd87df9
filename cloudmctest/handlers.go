package cloudmctest

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const apiKeyHeader = "MC-Api-Key"

// codeNotFound is the reference's numeric code for an unknown entity.
const codeNotFound = 2001

// response is what a handler decided; it is written after s.mu is released.
type response struct {
	status int
	body   any    // marshalled as JSON
	raw    []byte // sent as is instead of body when set
	allow  string // Allow header for 405
}

type apiError struct {
	Code    any            `json:"code"`
	Message string         `json:"message"`
	Context map[string]any `json:"context,omitempty"`
}

type errorBody struct {
	Errors []apiError `json:"errors"`
}

// failure is a rule violation: answered at once, or the reason a task fails.
type failure struct {
	status int
	err    apiError
}

func fail(status int, code any, msg string, ctx map[string]any) *failure {
	return &failure{status: status, err: apiError{Code: code, Message: msg, Context: ctx}}
}

func (f *failure) response() response {
	return response{status: f.status, body: errorBody{Errors: []apiError{f.err}}}
}

func ok(body any) response { return response{status: http.StatusOK, body: body} }

func badParam(field, msg string) *failure {
	return fail(http.StatusBadRequest, "INVALID_PARAMETER", msg, map[string]any{"field": field})
}

func notFoundEntity(kind, id string) *failure {
	return fail(http.StatusNotFound, codeNotFound, kind+" not found", map[string]any{"id": id})
}

func notFoundPath(r *http.Request) response {
	return fail(http.StatusNotFound, "NOT_FOUND", "no such endpoint", map[string]any{"path": r.URL.Path}).response()
}

func methodNotAllowed(methods ...string) response {
	resp := fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed", nil).response()
	resp.allow = strings.Join(methods, ", ")
	return resp
}

func writeResponse(w http.ResponseWriter, resp response) {
	if resp.allow != "" {
		w.Header().Set("Allow", resp.allow)
	}
	if resp.raw != nil {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.raw)
		return
	}
	b, err := json.Marshal(resp.body)
	if err != nil {
		resp.status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"code":"INTERNAL","message":"cloudmctest could not encode its answer"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_, _ = w.Write(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	r.Body = io.NopCloser(bytes.NewReader(body)) // lets an interceptor read it again

	keyOK := s.keyOK(r)
	rec := Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		RawPath: r.URL.EscapedPath(),
		Query:   r.URL.Query(),
		Header:  redact(r.Header),
		KeyOK:   keyOK,
		Body:    body,
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	intercept := s.interceptor
	s.mu.Unlock()

	if f, ok := s.nextFault(r); ok && applyFault(w, r, f) {
		return
	}
	if intercept != nil && intercept(w, r) {
		return
	}
	writeResponse(w, s.route(r, body, readErr, keyOK))
}

func (s *Server) keyOK(r *http.Request) bool {
	vs := r.Header.Values(apiKeyHeader)
	return len(vs) == 1 && subtle.ConstantTimeCompare([]byte(vs[0]), []byte(s.cfg.apiKey)) == 1
}

// redact copies h with every key value replaced, so recorded requests can be
// printed by tests without leaking the key.
func redact(h http.Header) http.Header {
	h = h.Clone()
	if vs := h.Values(apiKeyHeader); len(vs) > 0 {
		red := make([]string, len(vs))
		for i := range red {
			red[i] = "REDACTED"
		}
		h[http.CanonicalHeaderKey(apiKeyHeader)] = red
	}
	return h
}

// splitPath splits an escaped path into unescaped segments. Empty segments
// (a doubled or trailing slash) make it fail, so SDK path-joining bugs show up as 404s.
func splitPath(escaped string) ([]string, bool) {
	if !strings.HasPrefix(escaped, "/") || escaped == "/" {
		return nil, false
	}
	parts := strings.Split(escaped[1:], "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil || u == "" {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

func (s *Server) route(r *http.Request, body []byte, readErr error, keyOK bool) response {
	if readErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "request body exceeds 1 MiB", nil).response()
		}
		return fail(http.StatusBadRequest, "BAD_REQUEST", "could not read the request body", nil).response()
	}
	escaped := r.URL.EscapedPath()

	// Download URLs stand for pre-signed links on another host: no key needed, no prefix.
	if segs, ok := splitPath(escaped); ok && len(segs) == 3 && segs[0] == "downloads" {
		return s.download(r, segs[1])
	}

	if !keyOK {
		return fail(http.StatusUnauthorized, "UNAUTHORIZED", "missing or invalid MC-Api-Key header", nil).response()
	}

	if p := s.cfg.prefix; p != "" {
		if !strings.HasPrefix(escaped, p+"/") {
			return notFoundPath(r)
		}
		escaped = escaped[len(p):]
	}
	segs, ok := splitPath(escaped)
	if !ok {
		return notFoundPath(r)
	}
	switch {
	case len(segs) == 2 && segs[0] == "tasks":
		if r.Method != http.MethodGet {
			return methodNotAllowed(http.MethodGet)
		}
		return s.getTask(segs[1])
	case len(segs) >= 4 && segs[0] == "services":
		if segs[1] != s.cfg.service || segs[2] != s.cfg.environment {
			return fail(http.StatusNotFound, "NOT_FOUND", "unknown service connection or environment",
				map[string]any{"serviceCode": segs[1], "environmentName": segs[2]}).response()
		}
		return s.routeEnvironment(r, body, segs[3:])
	}
	return notFoundPath(r)
}

func (s *Server) routeEnvironment(r *http.Request, body []byte, segs []string) response {
	const get, post, del = http.MethodGet, http.MethodPost, http.MethodDelete
	switch {
	case len(segs) == 1 && segs[0] == "isos":
		switch r.Method {
		case get:
			return s.listIsos(r.URL.Query())
		case post:
			return s.importIso(body)
		}
		return methodNotAllowed(get, post)
	case len(segs) == 2 && segs[0] == "isos":
		switch r.Method {
		case get:
			return s.getIso(segs[1])
		case del:
			return s.deleteIsoOp(segs[1])
		case post:
			return s.isoOperation(r, body, segs[1])
		}
		return methodNotAllowed(get, post, del)
	case len(segs) == 1 && segs[0] == "instances":
		if r.Method != get {
			return methodNotAllowed(get)
		}
		return s.listInstances()
	case len(segs) == 2 && segs[0] == "instances":
		switch r.Method {
		case get:
			return s.getInstance(segs[1])
		case post:
			return s.instanceOperation(r, body, segs[1])
		}
		return methodNotAllowed(get, post)
	}
	return notFoundPath(r)
}

// baseURL is the scheme and host the client used, so download URLs point back here.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (s *Server) download(r *http.Request, id string) response {
	if r.Method != http.MethodGet {
		return methodNotAllowed(http.MethodGet)
	}
	s.mu.Lock()
	iso, found := s.isos[id]
	s.mu.Unlock()
	if !found || !iso.Extractable {
		return notFoundEntity("ISO", id).response()
	}
	return response{status: http.StatusOK, raw: []byte("cloudmctest fake ISO " + id + "\n")}
}

type listQuery struct {
	paged          bool
	page, pageSize int
	sortBy         string
	sortCmp        func(a, b Iso) int
	desc           bool
}

func byString(f func(Iso) string) func(a, b Iso) int {
	return func(a, b Iso) int { return strings.Compare(f(a), f(b)) }
}

func byBool(f func(Iso) bool) func(a, b Iso) int {
	return func(a, b Iso) int {
		x, y := f(a), f(b)
		switch {
		case x == y:
			return 0
		case y:
			return -1
		}
		return 1
	}
}

// compareCreated orders by time when both parse, by text otherwise.
func compareCreated(a, b Iso) int {
	ta, errA := time.Parse(CreatedLayout, a.Created)
	tb, errB := time.Parse(CreatedLayout, b.Created)
	if errA == nil && errB == nil {
		return ta.Compare(tb)
	}
	return strings.Compare(a.Created, b.Created)
}

// isoSortKeys maps lower-cased json field names to orderings.
var isoSortKeys = map[string]func(a, b Iso) int{
	"id":                byString(func(i Iso) string { return i.ID }),
	"name":              byString(func(i Iso) string { return i.Name }),
	"description":       byString(func(i Iso) string { return i.Description }),
	"ostypeid":          byString(func(i Iso) string { return i.OSTypeID }),
	"ostypename":        byString(func(i Iso) string { return i.OSTypeName }),
	"zoneid":            byString(func(i Iso) string { return i.ZoneID }),
	"zonename":          byString(func(i Iso) string { return i.ZoneName }),
	"created":           compareCreated,
	"size":              func(a, b Iso) int { return cmp.Compare(a.Size, b.Size) },
	"architecturewidth": func(a, b Iso) int { return cmp.Compare(a.ArchitectureWidth, b.ArchitectureWidth) },
	"ready":             byBool(func(i Iso) bool { return i.Ready }),
	"bootable":          byBool(func(i Iso) bool { return i.Bootable }),
	"extractable":       byBool(func(i Iso) bool { return i.Extractable }),
	"availablepublicly": byBool(func(i Iso) bool { return i.AvailablePublicly }),
}

// defaultPageSize applies when page_number comes without page_size.
const defaultPageSize = 50

func parseListQuery(q url.Values) (listQuery, *failure) {
	lq := listQuery{page: 1, pageSize: defaultPageSize}
	positive := func(name string, dst *int) *failure {
		if !q.Has(name) {
			return nil
		}
		n, err := strconv.Atoi(q.Get(name))
		if err != nil || n < 1 {
			return badParam(name, name+" must be a whole number of at least 1")
		}
		*dst = n
		lq.paged = true
		return nil
	}
	if f := positive("page_number", &lq.page); f != nil {
		return lq, f
	}
	if f := positive("page_size", &lq.pageSize); f != nil {
		return lq, f
	}
	if q.Has("sort_by") {
		lq.sortBy = q.Get("sort_by")
		lq.sortCmp = isoSortKeys[strings.ToLower(lq.sortBy)]
		if lq.sortCmp == nil {
			return lq, badParam("sort_by", "sort_by names no sortable field")
		}
	}
	if q.Has("sort_order") {
		switch strings.ToUpper(q.Get("sort_order")) {
		case "ASC":
		case "DESC":
			lq.desc = true
		default:
			return lq, badParam("sort_order", "sort_order must be ASC or DESC")
		}
	}
	return lq, nil
}

type listBody struct {
	Data     any            `json:"data"`
	Metadata map[string]any `json:"metadata"`
}

func (s *Server) listIsos(q url.Values) response {
	lq, f := parseListQuery(q)
	if f != nil {
		return f.response()
	}
	s.mu.Lock()
	isos := s.isoList()
	s.mu.Unlock()

	meta := map[string]any{"recordCount": len(isos)}
	if lq.sortCmp != nil {
		c := lq.sortCmp
		if lq.desc {
			c = func(a, b Iso) int { return lq.sortCmp(b, a) }
		}
		slices.SortStableFunc(isos, c)
		meta["sortField"] = lq.sortBy
		meta["sortOrder"] = map[bool]string{false: "ASC", true: "DESC"}[lq.desc]
	}
	if lq.paged {
		start := len(isos)
		if lq.page-1 <= len(isos)/lq.pageSize { // guards the product against overflow
			start = min((lq.page-1)*lq.pageSize, len(isos))
		}
		isos = isos[start : start+min(lq.pageSize, len(isos)-start)]
		meta["pageSize"] = lq.pageSize
		meta["pageCurrent"] = lq.page
	}
	return ok(listBody{Data: isos, Metadata: meta})
}

func (s *Server) getIso(id string) response {
	iso, found := s.Iso(id)
	if !found {
		return notFoundEntity("ISO", id).response()
	}
	return ok(map[string]any{"data": iso})
}

func (s *Server) listInstances() response {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.instOrder))
	for _, id := range s.instOrder {
		out = append(out, s.instances[id])
	}
	return ok(listBody{Data: out, Metadata: map[string]any{"recordCount": len(out)}})
}

func (s *Server) getInstance(id string) response {
	in, found := s.Instance(id)
	if !found {
		return notFoundEntity("instance", id).response()
	}
	return ok(map[string]any{"data": in})
}

func decodeBody(body []byte, v any) *failure {
	if len(bytes.TrimSpace(body)) == 0 {
		return fail(http.StatusBadRequest, "INVALID_JSON", "a JSON request body is required", nil)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(http.StatusBadRequest, "INVALID_JSON", "the request body is not valid JSON for this call", nil)
	}
	return nil
}

type importRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	URL         string `json:"url"`
	ZoneID      string `json:"zoneId"`
	Bootable    bool   `json:"bootable"`
	OSTypeID    string `json:"osTypeId"`
	Extractable bool   `json:"extractable"`
}

func (s *Server) importIso(body []byte) response {
	var req importRequest
	if f := decodeBody(body, &req); f != nil {
		return f.response()
	}
	if strings.TrimSpace(req.Name) == "" {
		return badParam("name", "name is required").response()
	}
	if req.URL == "" {
		return badParam("url", "url is required").response()
	}
	if u, err := url.Parse(req.URL); err != nil || u.Host == "" ||
		(!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return badParam("url", "url must be an http or https URL").response()
	}
	if req.ZoneID != "" && req.ZoneID != SeedZoneID {
		return badParam("zoneId", "unknown zone").response()
	}
	if req.Bootable && req.OSTypeID == "" {
		return badParam("osTypeId", "osTypeId is required when bootable is true").response()
	}
	iso := Iso{
		ID:                newUUID(),
		Name:              req.Name,
		Description:       req.Description,
		ArchitectureWidth: 64,
		Ready:             true,
		Bootable:          req.Bootable,
		Extractable:       req.Extractable,
		OSTypeID:          req.OSTypeID,
		ZoneID:            SeedZoneID,
		ZoneName:          SeedZoneName,
		Created:           time.Now().UTC().Format(CreatedLayout),
		AvailableInZones:  []string{SeedZoneID},
	}
	if iso.OSTypeID == SeedOSTypeID {
		iso.OSTypeName = SeedOSTypeName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run(operation{apply: func() any {
		s.putIso(iso)
		return iso.clone()
	}})
}

func (s *Server) deleteIsoOp(id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	check := func() *failure {
		if _, found := s.isos[id]; !found {
			return notFoundEntity("ISO", id)
		}
		for _, in := range s.instances {
			if in.IsoID == id {
				return fail(http.StatusBadRequest, "ISO_ATTACHED", "the ISO is attached to an instance",
					map[string]any{"id": id, "instanceId": in.ID})
			}
		}
		return nil
	}
	return s.run(operation{check: check, apply: func() any {
		iso := s.isos[id]
		s.deleteIso(id)
		return iso.clone()
	}})
}

// attachRules holds for both attach calls; the caller holds s.mu.
func (s *Server) attachRules(isoID, instanceID string) *failure {
	iso, found := s.isos[isoID]
	if !found {
		return notFoundEntity("ISO", isoID)
	}
	in, found := s.instances[instanceID]
	if !found {
		return notFoundEntity("instance", instanceID)
	}
	if iso.Bootable {
		return fail(http.StatusBadRequest, "ISO_BOOTABLE", "only a non-bootable ISO can be attached",
			map[string]any{"id": isoID})
	}
	if !iso.Ready {
		return fail(http.StatusBadRequest, "ISO_NOT_READY", "the ISO is not ready", map[string]any{"id": isoID})
	}
	if in.IsoID != "" {
		return fail(http.StatusBadRequest, "INSTANCE_HAS_ISO", "the instance already has an ISO attached",
			map[string]any{"id": instanceID, "isoId": in.IsoID})
	}
	return nil
}

func (s *Server) attach(isoID, instanceID string) response {
	return s.run(operation{
		check: func() *failure { return s.attachRules(isoID, instanceID) },
		apply: func() any {
			in := s.instances[instanceID]
			in.IsoID = isoID
			s.instances[instanceID] = in
			return in
		},
	})
}

func badOperation(op string) response {
	return fail(http.StatusBadRequest, "INVALID_OPERATION", "unknown or missing operation",
		map[string]any{"operation": op}).response()
}

func (s *Server) isoOperation(r *http.Request, body []byte, id string) response {
	op := r.URL.Query().Get("operation")
	if op != "attach" && op != "generateDownloadUrl" {
		return badOperation(op)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.isos[id]; !found {
		return notFoundEntity("ISO", id).response()
	}
	if op == "attach" {
		var req struct {
			InstanceID string `json:"instanceId"`
		}
		if f := decodeBody(body, &req); f != nil {
			return f.response()
		}
		if req.InstanceID == "" {
			return badParam("instanceId", "instanceId is required").response()
		}
		return s.attach(id, req.InstanceID)
	}

	base := baseURL(r)
	return s.run(operation{
		check: func() *failure {
			iso, found := s.isos[id]
			if !found {
				return notFoundEntity("ISO", id)
			}
			if !iso.Extractable {
				return fail(http.StatusBadRequest, "ISO_NOT_EXTRACTABLE",
					"a download URL can only be generated for an extractable ISO", map[string]any{"id": id})
			}
			return nil
		},
		apply: func() any {
			name := s.isos[id].Name
			return map[string]string{"url": base + "/downloads/" + url.PathEscape(id) + "/" + url.PathEscape(name+".iso")}
		},
	})
}

func (s *Server) instanceOperation(r *http.Request, body []byte, id string) response {
	op := r.URL.Query().Get("operation")
	if op != "attachIso" && op != "detachIso" {
		return badOperation(op)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.instances[id]; !found {
		return notFoundEntity("instance", id).response()
	}
	if op == "attachIso" {
		var req struct {
			IsoID string `json:"isoId"`
		}
		if f := decodeBody(body, &req); f != nil {
			return f.response()
		}
		if req.IsoID == "" {
			return badParam("isoId", "isoId is required").response()
		}
		return s.attach(req.IsoID, id)
	}
	return s.run(operation{
		check: func() *failure {
			in, found := s.instances[id]
			if !found {
				return notFoundEntity("instance", id)
			}
			if in.IsoID == "" {
				return fail(http.StatusBadRequest, "NO_ISO_ATTACHED", "the instance has no ISO attached",
					map[string]any{"id": id})
			}
			return nil
		},
		apply: func() any {
			in := s.instances[id]
			in.IsoID = ""
			s.instances[id] = in
			return in
		},
	})
}
