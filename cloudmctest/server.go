package cloudmctest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
)

const (
	// DefaultAPIKey is the key a Server accepts unless WithAPIKey says otherwise.
	// It is made up and grants nothing anywhere.
	DefaultAPIKey = "cloudmctest-made-up-key"
	// DefaultPathPrefix is where the API is mounted unless WithPathPrefix says otherwise.
	DefaultPathPrefix = "/api/v2"
	// DefaultService is the service connection code a Server answers for by default.
	DefaultService = "compute-on"
	// DefaultEnvironment is the environment name a Server answers for by default.
	DefaultEnvironment = "test_area"

	// SeedIsoID is the id of the seed page's example ISO (bootable, not extractable).
	SeedIsoID = "0b3fea04-b1ed-48cf-921d-96795dfe9a81"
	// SeedAttachableIsoID is the id of the seeded non-bootable, extractable ISO "tools",
	// so that attach, detach and download flows work without setup.
	SeedAttachableIsoID = "5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47"
	// SeedInstanceID is the id of the seeded running instance "web-1" (from the seed page).
	SeedInstanceID = "c043e651-8b3f-4941-b47f-5ecb77f3423b"
	// SeedStoppedInstanceID is the id of the seeded stopped instance "web-2".
	SeedStoppedInstanceID = "9a1d2c3b-4e5f-4a6b-8c7d-0e1f2a3b4c5d"

	// SeedZoneID is the fake's only zone; imports without a zoneId land in it.
	SeedZoneID = "ea901007-056b-4c50-bb3a-2dd635fce2ab"
	// SeedZoneName is the name of SeedZoneID.
	SeedZoneName = "zone1"
	// SeedOSTypeID is the OS type of the seed ISO.
	SeedOSTypeID = "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b"
	// SeedOSTypeName is the name of SeedOSTypeID.
	SeedOSTypeName = "Other (64-bit)"

	// CreatedLayout is the time layout of an ISO's created field, as CloudMC sends it.
	CreatedLayout = "2006-01-02 3:04:05 PM Z"
)

// maxBodyBytes bounds what the fake reads from a request body.
const maxBodyBytes = 1 << 20

// Iso is the wire form of an ISO.
type Iso struct {
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

func (i Iso) clone() Iso {
	i.AvailableInZones = slices.Clone(i.AvailableInZones)
	return i
}

// SeedIso returns a fresh copy of the seed page's example ISO.
func SeedIso() Iso {
	return Iso{
		ID:                SeedIsoID,
		Name:              "ubuntu",
		Description:       "Example ISO",
		ArchitectureWidth: 64,
		Size:              52428800,
		Ready:             true,
		Bootable:          true,
		AvailablePublicly: false,
		Extractable:       false,
		OSTypeID:          SeedOSTypeID,
		OSTypeName:        SeedOSTypeName,
		ZoneID:            SeedZoneID,
		ZoneName:          SeedZoneName,
		Created:           "2017-12-21 4:41:33 PM Z",
		AvailableInZones:  []string{SeedZoneID},
	}
}

func seedAttachableIso() Iso {
	return Iso{
		ID:                SeedAttachableIsoID,
		Name:              "tools",
		Description:       "Guest tools",
		ArchitectureWidth: 64,
		Size:              10485760,
		Ready:             true,
		Bootable:          false,
		Extractable:       true,
		OSTypeID:          SeedOSTypeID,
		OSTypeName:        SeedOSTypeName,
		ZoneID:            SeedZoneID,
		ZoneName:          SeedZoneName,
		Created:           "2018-03-02 9:15:00 AM Z",
		AvailableInZones:  []string{SeedZoneID},
	}
}

// Instance is the wire form of an instance, reduced to what the ISO calls touch.
type Instance struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
	IsoID string `json:"isoId,omitempty"`
}

// TaskBehavior controls how operations (import, delete, attach, detach,
// generateDownloadUrl) answer and how their tasks progress.
type TaskBehavior struct {
	// Polls is how many GET /tasks/{id} calls answer PENDING before the task
	// finishes. 0 (also in a literal such as TaskBehavior{Fail: true}) makes
	// operations answer with the finished task at once; a server started
	// without WithTaskBehavior uses 1.
	Polls int
	// Fail makes tasks end FAILED, leaving state unchanged. The final task
	// keeps a result object and an errors list.
	Fail bool
	// Synchronous makes operations answer {"data": result} with no taskId.
	Synchronous bool
	// FlatShape makes GET /tasks/{id} answer the reference's flat shape
	// {"taskId","taskStatus","result"} instead of {"data":{"id","status","created","result"}}.
	FlatShape bool
}

// Request is a request the Server received, with the API key redacted.
type Request struct {
	Method string
	// Path is r.URL.Path (unescaped).
	Path string
	// RawPath is the path as escaped on the wire (r.URL.EscapedPath()), always set.
	RawPath string
	Query   url.Values
	// Header holds the received headers with every MC-Api-Key value replaced by "REDACTED".
	Header http.Header
	// KeyOK reports whether the MC-Api-Key header matched the server's key.
	KeyOK bool
	// Body is what was read of the body, at most 1 MiB.
	Body []byte
}

func (r Request) clone() Request {
	r.Query = cloneValues(r.Query)
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

type config struct {
	apiKey      string
	prefix      string
	service     string
	environment string
	seed        bool
	tls         bool
	behavior    TaskBehavior
}

// Option configures a Server.
type Option func(*config)

// WithAPIKey sets the key the Server accepts in MC-Api-Key.
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey = key }
}

// WithPathPrefix mounts the API under prefix; "" (or "/") mounts it at the root.
// A missing leading slash is added and a trailing one dropped.
func WithPathPrefix(prefix string) Option {
	return func(c *config) {
		prefix = strings.TrimRight(prefix, "/")
		if prefix != "" && !strings.HasPrefix(prefix, "/") {
			prefix = "/" + prefix
		}
		c.prefix = prefix
	}
}

// WithEnvironment sets the one service code and environment the Server serves;
// paths naming any other answer 404.
func WithEnvironment(service, env string) Option {
	return func(c *config) { c.service, c.environment = service, env }
}

// WithoutSeed starts the Server with no ISOs and no instances.
func WithoutSeed() Option {
	return func(c *config) { c.seed = false }
}

// WithTLS serves https using httptest.NewTLSServer; use Server.Client to trust its certificate.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// WithTaskBehavior sets the initial TaskBehavior (the default is Polls: 1).
func WithTaskBehavior(b TaskBehavior) Option {
	return func(c *config) { c.behavior = b }
}

// Server is an in-process fake CloudMC server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give an SDK client: scheme://127.0.0.1:port plus the
	// path prefix, without a trailing slash.
	URL string
	// APIKey is the key the Server accepts.
	APIKey string

	ts  *httptest.Server
	cfg config

	mu          sync.Mutex
	isos        map[string]Iso
	isoOrder    []string
	instances   map[string]Instance
	instOrder   []string
	tasks       map[string]*task
	behavior    TaskBehavior
	requests    []Request
	interceptor func(http.ResponseWriter, *http.Request) bool
	faults      faultTable
}

// NewServer starts a fake server. Unless WithoutSeed is given it holds SeedIso(),
// the attachable ISO SeedAttachableIsoID, and the instances SeedInstanceID
// ("web-1", Running) and SeedStoppedInstanceID ("web-2", Stopped). Call Close when done.
func NewServer(opts ...Option) *Server {
	cfg := config{
		apiKey:      DefaultAPIKey,
		prefix:      DefaultPathPrefix,
		service:     DefaultService,
		environment: DefaultEnvironment,
		seed:        true,
		behavior:    TaskBehavior{Polls: 1},
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		APIKey:    cfg.apiKey,
		cfg:       cfg,
		isos:      map[string]Iso{},
		instances: map[string]Instance{},
		tasks:     map[string]*task{},
		behavior:  cfg.behavior,
	}
	if cfg.seed {
		s.AddIso(SeedIso())
		s.AddIso(seedAttachableIso())
		s.AddInstance(Instance{ID: SeedInstanceID, Name: "web-1", State: "Running"})
		s.AddInstance(Instance{ID: SeedStoppedInstanceID, Name: "web-2", State: "Stopped"})
	}
	h := http.HandlerFunc(s.serveHTTP)
	if cfg.tls {
		s.ts = httptest.NewTLSServer(h)
	} else {
		s.ts = httptest.NewServer(h)
	}
	s.URL = s.ts.URL + cfg.prefix
	return s
}

// Close shuts the server down, blocking until outstanding requests finish.
func (s *Server) Close() { s.ts.Close() }

// Client returns an *http.Client set up for the server (it trusts the certificate under WithTLS).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// AddIso inserts iso, or replaces the ISO with the same ID in place.
func (s *Server) AddIso(iso Iso) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putIso(iso)
}

func (s *Server) putIso(iso Iso) {
	if _, ok := s.isos[iso.ID]; !ok {
		s.isoOrder = append(s.isoOrder, iso.ID)
	}
	s.isos[iso.ID] = iso.clone()
}

func (s *Server) deleteIso(id string) {
	delete(s.isos, id)
	s.isoOrder = slices.DeleteFunc(s.isoOrder, func(x string) bool { return x == id })
}

// Iso returns a copy of the ISO with the given id.
func (s *Server) Iso(id string) (Iso, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iso, ok := s.isos[id]
	return iso.clone(), ok
}

// Isos returns copies of all ISOs in insertion order.
func (s *Server) Isos() []Iso {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isoList()
}

func (s *Server) isoList() []Iso {
	out := make([]Iso, 0, len(s.isoOrder))
	for _, id := range s.isoOrder {
		out = append(out, s.isos[id].clone())
	}
	return out
}

// AddInstance inserts in, or replaces the instance with the same ID.
func (s *Server) AddInstance(in Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.instances[in.ID]; !ok {
		s.instOrder = append(s.instOrder, in.ID)
	}
	s.instances[in.ID] = in
}

// Instance returns the instance with the given id.
func (s *Server) Instance(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	return in, ok
}

// SetTaskBehavior changes how operations requested from now on behave;
// tasks already started keep the behaviour they started with.
func (s *Server) SetTaskBehavior(b TaskBehavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behavior = b
}

// Requests returns copies of every request received since the start or the
// last ResetRequests, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.clone()
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// SetInterceptor installs f to run on every request after it is recorded and
// before normal handling; if f returns true it has answered the request. The
// request body can be read again by f. nil removes the interceptor. Use it to
// inject faults such as 503s or HTML error pages.
func (s *Server) SetInterceptor(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interceptor = f
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
