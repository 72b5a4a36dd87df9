package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmc-go/cloudmc"
	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/google/uuid"
)

// Exit codes.
const (
	exitOK    = 0
	exitStart = 1 // the server could not start (address in use, bad seed file...)
	exitUsage = 2
)

const helpText = `cloudmc-fake runs a fake CloudMC ISO API, for scripts and integration tests.

Usage:
  cloudmc-fake [flags]

It listens on a free loopback port unless --addr says otherwise, then prints
the settings that cloudmc-iso and the SDK read, as CLOUDMC_*=value lines on
stdout (or writes them to --env-file). It logs each request it serves to
stderr (time, method, path, status, duration; never the key) and stops
cleanly, exit status 0, on SIGINT (Ctrl-C) or SIGTERM.

Unless --seed or --no-seed is given the fake starts with:
  ISO       0b3fea04-b1ed-48cf-921d-96795dfe9a81  ubuntu  bootable, not extractable
  ISO       5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47  tools   attachable, extractable
  instance  c043e651-8b3f-4941-b47f-5ecb77f3423b  web-1   Running
  instance  9a1d2c3b-4e5f-4a6b-8c7d-0e1f2a3b4c5d  web-2   Stopped
State lives in memory and is lost when the fake stops.

Flags:
  --addr HOST:PORT    address to listen on (default 127.0.0.1:0: a free loopback port)
  --allow-remote      allow an --addr that is not loopback, such as 0.0.0.0:8080;
                      the fake has no real security, so expose it only on
                      networks you trust
  --env-file FILE     write the CLOUDMC_* lines to FILE instead of stdout, once the
                      fake is listening (atomically: a script can wait for the file);
                      the file is removed when the fake stops
  --api-key KEY       the key the fake accepts (default cloudmctest-made-up-key;
                      it is made up and grants nothing anywhere)
  --prefix PATH       path prefix of the API (default /api/v2)
  --service CODE      service connection code it serves (default compute-on)
  --environment NAME  environment name it serves (default test_area)
  --seed FILE         start with the ISOs and instances in FILE (format below)
                      instead of the built-in ones
  --no-seed           start with no ISOs and no instances
  --task-polls N      how many polls of GET /tasks/{id} answer PENDING before a task
                      finishes (default 1); 0 makes operations finish at once
  --fail-tasks        make every task end FAILED, leaving the state unchanged
  --sync              answer operations synchronously ({"data": ...}, no task)
  --flat-tasks        answer GET /tasks/{id} in the reference's flat shape
                      {"taskId", "taskStatus", "result"}
  -q, --quiet         do not log requests
  -h, --help          show this help

Output on start (stdout, or the --env-file):
  CLOUDMC_URL=http://127.0.0.1:40193/api/v2
  CLOUDMC_API_KEY=cloudmctest-made-up-key
  CLOUDMC_SERVICE=compute-on
  CLOUDMC_ENVIRONMENT=test_area

Seed file (--seed): ISOs in the wire form of the API, ids must be UUIDs:
  {
    "isos": [
      {"id": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39", "name": "tools", "size": 1048576,
       "ready": true, "bootable": false, "extractable": true}
    ],
    "instances": [
      {"id": "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58", "name": "web-1", "state": "Running"}
    ]
  }
  An instance may name an ISO of the file in "isoId" to start with it attached.
  Omitted ISO fields keep their zero value, except "created" (now) and the
  zone (the fake's only zone, ea901007-056b-4c50-bb3a-2dd635fce2ab "zone1").

Examples:
  # Start in the background, wait until it is ready, load the settings:
  rm -f fake.env
  cloudmc-fake --env-file fake.env 2>fake.log &
  while [ ! -s fake.env ]; do sleep 0.1; done
  set -a; . ./fake.env; set +a
  cloudmc-iso list
  kill %1

  # Tasks that stay PENDING for 5 polls; tasks that fail:
  cloudmc-fake --task-polls 5
  cloudmc-fake --fail-tasks

  # Your own ISOs and instances, on a fixed port:
  cloudmc-fake --seed testdata/cloudmc-seed.json --addr 127.0.0.1:8089

Exit status:
  0  stopped by SIGINT or SIGTERM
  1  could not start (address in use, unreadable seed file)
  2  usage error (unknown flag, bad value)
`

type options struct {
	addr        string
	allowRemote bool
	envFile     string
	apiKey      string
	prefix      string
	service     string
	environment string
	seed        string
	noSeed      bool
	taskPolls   int
	failTasks   bool
	sync        bool
	flatTasks   bool
	quiet       bool
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("cloudmc-fake", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "")
	fs.StringVar(&o.envFile, "env-file", "", "")
	fs.StringVar(&o.apiKey, "api-key", cloudmctest.DefaultAPIKey, "")
	fs.StringVar(&o.prefix, "prefix", cloudmctest.DefaultPathPrefix, "")
	fs.StringVar(&o.service, "service", cloudmctest.DefaultService, "")
	fs.StringVar(&o.environment, "environment", cloudmctest.DefaultEnvironment, "")
	fs.StringVar(&o.seed, "seed", "", "")
	fs.BoolVar(&o.noSeed, "no-seed", false, "")
	fs.IntVar(&o.taskPolls, "task-polls", 1, "")
	fs.BoolVar(&o.failTasks, "fail-tasks", false, "")
	fs.BoolVar(&o.sync, "sync", false, "")
	fs.BoolVar(&o.flatTasks, "flat-tasks", false, "")
	fs.BoolVar(&o.quiet, "quiet", false, "")
	fs.BoolVar(&o.quiet, "q", false, "")
	return fs
}

// run runs the fake until ctx ends and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpText)
			return exitOK
		}
		return usageError(stderr, "%v", err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "unexpected argument %q: cloudmc-fake takes flags only", fs.Arg(0))
	}
	if err := o.check(); err != nil {
		return usageError(stderr, "%v", err)
	}

	srvOpts := []cloudmctest.Option{
		cloudmctest.WithAPIKey(o.apiKey),
		cloudmctest.WithPathPrefix(o.prefix),
		cloudmctest.WithEnvironment(o.service, o.environment),
		cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{
			Polls: o.taskPolls, Fail: o.failTasks, Synchronous: o.sync, FlatShape: o.flatTasks,
		}),
	}
	var seed *seedFile
	if o.seed != "" {
		var err error
		if seed, err = loadSeed(o.seed); err != nil {
			fmt.Fprintf(stderr, "cloudmc-fake: %v\n", err)
			return exitStart
		}
	}
	if o.noSeed || seed != nil {
		srvOpts = append(srvOpts, cloudmctest.WithoutSeed())
	}

	ln, err := listen(o.addr, o.allowRemote)
	if errors.Is(err, errAddr) {
		return usageError(stderr, "%v", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "cloudmc-fake: %v\n", err)
		return exitStart
	}

	// The cloudmctest server listens on its own loopback port; this
	// program serves the address the user asked for and forwards to it,
	// logging each request on the way.
	fake := cloudmctest.NewServer(srvOpts...)
	defer fake.Close()
	if seed != nil {
		for _, iso := range seed.Isos {
			fake.AddIso(iso)
		}
		for _, in := range seed.Instances {
			fake.AddInstance(in)
		}
	}

	var logger *log.Logger
	if !o.quiet {
		logger = log.New(stderr, "cloudmc-fake: ", log.Ltime|log.Lmicroseconds)
	}
	srv := &http.Server{
		Handler:           newHandler(fake, o.apiKey, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	base := baseURL(ln.Addr(), fake.URL)
	settings := envLines(base, o)
	if o.envFile != "" {
		if err := writeFileAtomic(o.envFile, settings); err != nil {
			fmt.Fprintf(stderr, "cloudmc-fake: writing --env-file: %v\n", err)
			_ = srv.Close()
			<-serveErr
			return exitStart
		}
		defer os.Remove(o.envFile)
	} else {
		_, _ = io.WriteString(stdout, settings)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		fmt.Fprintf(stderr, "cloudmc-fake: warning: listening on %s, reachable from other hosts; the fake has no real security\n", ln.Addr())
	}
	fmt.Fprintf(stderr, "cloudmc-fake: serving %s (service %s, environment %s); stop with Ctrl-C or SIGTERM\n",
		base, o.service, o.environment)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		fmt.Fprintf(stderr, "cloudmc-fake: server failed: %v\n", err)
		return exitStart
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	<-serveErr
	fmt.Fprintln(stderr, "cloudmc-fake: stopped")
	return exitOK
}

func usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "cloudmc-fake: "+format+"\n", args...)
	fmt.Fprintln(stderr, "Run 'cloudmc-fake --help' for usage.")
	return exitUsage
}

func (o *options) check() error {
	switch {
	case o.apiKey == "" || !printableASCII(o.apiKey):
		return errors.New("--api-key must be non-empty printable ASCII (it goes in an HTTP header)")
	case o.taskPolls < 0:
		return fmt.Errorf("--task-polls must be 0 or more, got %d", o.taskPolls)
	case o.service == "" || o.environment == "":
		return errors.New("--service and --environment must not be empty")
	case o.seed != "" && o.noSeed:
		return errors.New("--seed and --no-seed exclude each other: --seed already replaces the built-in seed")
	case o.sync && o.flatTasks:
		return errors.New("--sync and --flat-tasks exclude each other: synchronous operations start no tasks")
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// errAddr marks a bad --addr: a usage error.
var errAddr = errors.New("bad --addr")

type addrError struct{ msg string }

func (e *addrError) Error() string        { return e.msg }
func (e *addrError) Is(target error) bool { return target == errAddr }

// listen listens on addr and refuses anything but loopback unless allowed.
// An IP address is checked before listening; a host name is checked on the
// address actually bound.
func listen(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &addrError{fmt.Sprintf("--addr %q: %v (want HOST:PORT, e.g. 127.0.0.1:8089; port 0 picks a free one)", addr, err)}
	}
	refuse := func(what string) error {
		return &addrError{fmt.Sprintf("--addr %q %s: use 127.0.0.1:PORT, or pass --allow-remote to listen on other interfaces", addr, what)}
	}
	if !allowRemote {
		if host == "" {
			return nil, refuse("listens on every interface")
		}
		if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
			return nil, refuse("is not a loopback address")
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && !allowRemote {
		ln.Close()
		return nil, refuse("is not a loopback address")
	}
	return ln, nil
}

// baseURL is the URL clients use: the bound address plus the API prefix of
// the fake. An unspecified address (0.0.0.0) is reached through loopback.
func baseURL(addr net.Addr, fakeURL string) string {
	host, port := "127.0.0.1", ""
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
		if !tcp.IP.IsUnspecified() {
			host = tcp.IP.String()
		}
	}
	prefix := ""
	if u, err := url.Parse(fakeURL); err == nil {
		prefix = u.Path
	}
	return "http://" + net.JoinHostPort(host, port) + prefix
}

func envLines(base string, o options) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"CLOUDMC_URL", base},
		{"CLOUDMC_API_KEY", o.apiKey},
		{"CLOUDMC_SERVICE", o.service},
		{"CLOUDMC_ENVIRONMENT", o.environment},
	} {
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(shellQuote(kv[1]))
		b.WriteByte('\n')
	}
	return b.String()
}

// shellQuote leaves plain values alone, so the lines also suit tools that
// read KEY=value without a shell, and single-quotes the rest.
func shellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+,=", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place, so a reader never sees a partial file.
func writeFileAtomic(path, data string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".cloudmc-fake-*.env")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// newHandler forwards every request to the in-process fake and logs it.
func newHandler(fake *cloudmctest.Server, key string, logger *log.Logger) http.Handler {
	u, _ := url.Parse(fake.URL) // the fake builds a valid URL
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// Keep the host the client used: the fake builds download URLs from it.
			r.Out.Host = r.In.Host
		},
		Transport: fake.Client().Transport,
		ErrorLog:  log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, `{"errors":[{"code":"FAKE_UNAVAILABLE","message":"cloudmc-fake is stopping"}]}`)
		},
	}
	if logger == nil {
		return proxy
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		line := fmt.Sprintf("%s %s %d %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond))
		logger.Print(redactKey(line, key))
	})
}

// redactKey keeps the key out of the log even if a client puts it in a URL.
func redactKey(s, key string) string {
	if key == "" {
		return s
	}
	s = strings.ReplaceAll(s, key, "REDACTED")
	if esc := url.QueryEscape(key); esc != key {
		s = strings.ReplaceAll(s, esc, "REDACTED")
	}
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// seedFile is the --seed format.
type seedFile struct {
	Isos      []cloudmctest.Iso
	Instances []cloudmctest.Instance
}

// seedWire reads ISOs the way the SDK does, so the file may hold what a
// real deployment sent (sizes as strings, unknown fields).
type seedWire struct {
	Isos      []cloudmc.Iso          `json:"isos"`
	Instances []cloudmctest.Instance `json:"instances"`
}

func loadSeed(path string) (*seedFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --seed file: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("seed file %s is not a JSON object: %v", path, err)
	}
	for k := range top {
		if k != "isos" && k != "instances" {
			return nil, fmt.Errorf("seed file %s: unknown key %q (want \"isos\" and \"instances\")", path, k)
		}
	}
	var w seedWire
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("seed file %s: %v", path, err)
	}
	s := seedFile{Instances: w.Instances}
	for _, i := range w.Isos {
		s.Isos = append(s.Isos, cloudmctest.Iso(i))
	}
	isoIDs := map[string]bool{}
	now := time.Now().UTC().Format(cloudmctest.CreatedLayout)
	for i := range s.Isos {
		iso := &s.Isos[i]
		if err := checkID(iso.ID); err != nil {
			return nil, fmt.Errorf("seed file %s: isos[%d]: %v", path, i, err)
		}
		if isoIDs[iso.ID] {
			return nil, fmt.Errorf("seed file %s: isos[%d]: id %s appears twice", path, i, iso.ID)
		}
		isoIDs[iso.ID] = true
		if iso.Created == "" {
			iso.Created = now
		}
		if iso.ZoneID == "" && iso.ZoneName == "" && len(iso.AvailableInZones) == 0 {
			iso.ZoneID, iso.ZoneName = cloudmctest.SeedZoneID, cloudmctest.SeedZoneName
			iso.AvailableInZones = []string{cloudmctest.SeedZoneID}
		}
	}
	instIDs := map[string]bool{}
	for i := range s.Instances {
		in := &s.Instances[i]
		if err := checkID(in.ID); err != nil {
			return nil, fmt.Errorf("seed file %s: instances[%d]: %v", path, i, err)
		}
		if instIDs[in.ID] {
			return nil, fmt.Errorf("seed file %s: instances[%d]: id %s appears twice", path, i, in.ID)
		}
		instIDs[in.ID] = true
		if in.IsoID != "" && !isoIDs[in.IsoID] {
			return nil, fmt.Errorf("seed file %s: instances[%d]: isoId %s is not an ISO of the file", path, i, in.IsoID)
		}
		if in.State == "" {
			in.State = "Running"
		}
	}
	return &s, nil
}

func checkID(id string) error {
	if id == "" {
		return errors.New(`"id" is missing`)
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return fmt.Errorf("id %q is not a UUID (clients only accept UUID ids)", id)
	}
	return nil
}
