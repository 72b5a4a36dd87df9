package cloudmc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is the SDK version sent in the User-Agent.
const Version = "0.1.0"

// Defaults used when no option says otherwise.
const (
	DefaultTimeout          = 60 * time.Second // per HTTP request, when no http.Client is given
	DefaultMaxResponseBytes = 256 << 20        // 256 MiB: a list of several 100,000 ISOs
	DefaultPollMin          = 100 * time.Millisecond
	DefaultPollMax          = 5 * time.Second
	DefaultWaitTimeout      = 35 * time.Minute // tasks live about 30 minutes on the server
)

// DefaultRetryPolicy is used when WithRetry is not given: three retries,
// waits from 250ms doubling to at most 10s.
var DefaultRetryPolicy = RetryPolicy{MaxRetries: 3, MinBackoff: 250 * time.Millisecond, MaxBackoff: 10 * time.Second}

// headerAPIKey is the auth header; HTTP header names are case-insensitive.
const (
	headerAPIKey          = "MC-Api-Key"
	headerAPIKeyCanonical = "Mc-Api-Key" // what http.Header.Set would store
)

// Client talks to one CloudMC deployment. It is safe for concurrent use;
// create one and share it.
type Client struct {
	base        *url.URL
	basePath    string        // unescaped path prefix, no trailing slash
	baseRawPath string        // escaped path prefix, no trailing slash
	key         func() string // a func, so no fmt verb can print the key
	hc          *http.Client
	userAgent   string
	logger      *slog.Logger
	retry       RetryPolicy
	pollMin     time.Duration
	pollMax     time.Duration
	waitTimeout time.Duration
	orgID       string
	maxBody     int64
}

// config collects options before the Client is built.
type config struct {
	hc          *http.Client
	product     string
	logger      *slog.Logger
	retry       RetryPolicy
	pollMin     time.Duration
	pollMax     time.Duration
	waitTimeout time.Duration
	orgID       string
	insecure    bool
	maxBody     int64
}

// Option configures a Client.
type Option func(*config) error

// WithHTTPClient sends requests through a copy of hc; hc itself is never
// modified. Its Transport and Timeout are used as they are.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return invalidArg("WithHTTPClient: nil *http.Client")
		}
		cp := *hc
		c.hc = &cp
		return nil
	}
}

// WithUserAgent puts product before the SDK's own User-Agent:
// "product cloudmc-go/<version>".
func WithUserAgent(product string) Option {
	return func(c *config) error {
		product = strings.TrimSpace(product)
		if product == "" || !printableASCII(product) {
			return invalidArg("WithUserAgent: product must be non-empty printable ASCII")
		}
		c.product = product
		return nil
	}
}

// WithLogger logs each request at debug level (method, path, status,
// attempt, duration). Headers and keys are never logged. nil keeps the
// client silent.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithRetry replaces DefaultRetryPolicy. RetryPolicy{} turns retries off.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) error {
		if err := p.validate(); err != nil {
			return err
		}
		c.retry = p
		return nil
	}
}

// WithPollInterval sets how TaskService.Wait polls: first after min, then
// backing off to max.
func WithPollInterval(min, max time.Duration) Option {
	return func(c *config) error {
		if min <= 0 || max < min {
			return invalidArg("WithPollInterval: need 0 < min <= max, got %s and %s", min, max)
		}
		c.pollMin, c.pollMax = min, max
		return nil
	}
}

// WithWaitTimeout bounds TaskService.Wait when the context has no earlier
// deadline (default DefaultWaitTimeout). Zero removes the bound.
func WithWaitTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalidArg("WithWaitTimeout: negative duration %s", d)
		}
		c.waitTimeout = d
		return nil
	}
}

// WithOrganization adds org_id=<orgID> to every request, so calls act in
// that sub-organisation.
func WithOrganization(orgID string) Option {
	return func(c *config) error {
		if strings.TrimSpace(orgID) == "" || !printable(orgID) {
			return invalidArg("WithOrganization: organisation id must be non-empty and printable")
		}
		c.orgID = orgID
		return nil
	}
}

// WithInsecureHTTP allows a plain http:// base URL to a host that is not
// loopback. The key then crosses the network in clear text.
func WithInsecureHTTP() Option {
	return func(c *config) error {
		c.insecure = true
		return nil
	}
}

// WithMaxResponseBytes bounds how much of a response body is read (default
// DefaultMaxResponseBytes). A larger body fails with ErrResponseTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return invalidArg("WithMaxResponseBytes: need a positive size, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// NewClient returns a client for the deployment at baseURL (for example
// "https://cloudmc.example.com/api/v2"), authenticating with apiKey.
func NewClient(baseURL, apiKey string, opts ...Option) (*Client, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, invalidArg("API key is empty")
	}
	if !printableASCII(apiKey) {
		// Never quote the key: it is a secret even when malformed.
		return nil, invalidArg("API key holds characters that cannot go in an HTTP header")
	}
	cfg := config{
		retry:       DefaultRetryPolicy,
		pollMin:     DefaultPollMin,
		pollMax:     DefaultPollMax,
		waitTimeout: DefaultWaitTimeout,
		maxBody:     DefaultMaxResponseBytes,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	base, err := parseBaseURL(baseURL, cfg.insecure)
	if err != nil {
		return nil, err
	}
	// The unescaped prefix comes from the escaped one, so the two agree even
	// when the path ends in %2F: a RawPath that disagrees with Path makes
	// net/url drop the escaping of every segment.
	rawPrefix := strings.TrimRight(base.EscapedPath(), "/")
	prefix, err := url.PathUnescape(rawPrefix)
	if err != nil {
		return nil, invalidArg("base URL path does not unescape")
	}
	c := &Client{
		base:        base,
		basePath:    prefix,
		baseRawPath: rawPrefix,
		key:         func() string { return apiKey },
		logger:      cfg.logger,
		retry:       cfg.retry,
		pollMin:     cfg.pollMin,
		pollMax:     cfg.pollMax,
		waitTimeout: cfg.waitTimeout,
		orgID:       cfg.orgID,
		maxBody:     cfg.maxBody,
		userAgent:   "cloudmc-go/" + Version,
	}
	if cfg.product != "" {
		c.userAgent = cfg.product + " " + c.userAgent
	}
	hc := cfg.hc
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout, Transport: defaultTransport()}
	}
	hc.CheckRedirect = c.checkRedirect(hc.CheckRedirect)
	c.hc = hc
	return c, nil
}

// DefaultMaxConnsPerHost caps the connections the default transport opens
// to the CloudMC host; more concurrent calls wait for a free connection.
const DefaultMaxConnsPerHost = 64

// defaultTransport is http.DefaultTransport with an idle pool as large as
// its connection cap, so many goroutines sharing one client reuse
// connections (the stock 2 idle per host make a busy client open a new
// connection for most calls). The cap also stops the transport's dial race
// from opening more connections than there are concurrent calls.
func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * DefaultMaxConnsPerHost
	t.MaxIdleConnsPerHost = DefaultMaxConnsPerHost
	t.MaxConnsPerHost = DefaultMaxConnsPerHost
	return t
}

func parseBaseURL(raw string, insecure bool) (*url.URL, error) {
	// Errors never repeat raw, nor url.Parse's words that quote pieces of
	// it: it may hold a password, or be the key when the arguments were
	// swapped.
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, invalidArg("base URL does not parse as a URL")
	}
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, invalidArg("base URL is not absolute (want https://host/api/v2)")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !insecure && !isLoopback(u.Hostname()) {
			return nil, invalidArg("base URL uses plain http to %s, which is not loopback: use https, or WithInsecureHTTP to send the key in clear text", u.Hostname())
		}
	default:
		return nil, invalidArg("base URL scheme %q is not http or https", u.Scheme)
	}
	if u.User != nil {
		return nil, invalidArg("base URL must not hold credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, invalidArg("base URL must not have a query or fragment")
	}
	u.ForceQuery = false // a bare trailing "?" means nothing
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, invalidArg("base URL port is not between 1 and 65535")
		}
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedirect follows redirects only within the base URL's origin, so
// the key (which net/http copies onto redirected requests) never reaches
// another host nor goes from https to http, and only when the method stays
// the same.
func (c *Client) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(c.base, req.URL) {
			return http.ErrUseLastResponse
		}
		// 301, 302 and 303 turn a POST or DELETE into a GET: the operation
		// would silently not happen.
		if req.Method != via[0].Method {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

func sameOrigin(base, u *url.URL) bool {
	return strings.EqualFold(base.Scheme, u.Scheme) &&
		strings.EqualFold(base.Hostname(), u.Hostname()) &&
		portOf(base) == portOf(u)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// CloseIdleConnections closes the idle connections of the client's transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// String describes the client without its key.
func (c *Client) String() string {
	return fmt.Sprintf("cloudmc.Client{base: %s}", c.base.Redacted())
}

// GoString is String, so %#v does not print the key either.
func (c *Client) GoString() string { return c.String() }

// Isos returns the ISO calls of one environment.
func (c *Client) Isos(serviceCode, environmentName string) *IsoService {
	return &IsoService{c: c, env: envOf(serviceCode, environmentName)}
}

// Instances returns the instance calls of one environment.
func (c *Client) Instances(serviceCode, environmentName string) *InstanceService {
	return &InstanceService{c: c, env: envOf(serviceCode, environmentName)}
}

// Tasks returns the task calls.
func (c *Client) Tasks() *TaskService { return &TaskService{c: c} }

// env is a validated service code and environment; err is reported by the
// first call, before anything is sent.
type env struct {
	service, name string
	err           error
}

func envOf(service, name string) env {
	e := env{service: service, name: name}
	if err := checkSegment("service code", service); err != nil {
		e.err = err
	} else if err := checkSegment("environment name", name); err != nil {
		e.err = err
	}
	return e
}

// checkSegment refuses what could not stay one path segment once escaped.
func checkSegment(what, s string) error {
	switch {
	case s == "":
		return invalidArg("%s is empty", what)
	case s == "." || s == "..":
		return invalidArg("%s %q is not allowed", what, s)
	case !printable(s):
		return invalidArg("%s %s holds control characters", what, sample([]byte(s)))
	case len(s) > 256:
		return invalidArg("%s is longer than 256 bytes", what)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
