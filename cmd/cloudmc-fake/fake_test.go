package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmc-go/cloudmc"
	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/cloudmc-go/cloudmc/internal/readme"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	env     map[string]string
	envFile string
	stdout  *syncBuffer
	stderr  *syncBuffer
	stop    func() int // stops the fake and returns its exit status
}

// start runs the fake in-process with an --env-file and waits until it is ready.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), "fake.env")
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{envFile: envFile, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"--env-file", envFile}, args...), r.stdout, r.stderr) }()
	var once sync.Once
	code := -1
	r.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Error("the fake did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { r.stop() })

	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(envFile); err == nil && len(b) > 0 {
			r.env = parseEnv(t, string(b))
			return r
		}
		select {
		case c := <-done:
			t.Fatalf("the fake exited with %d: %s", c, r.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake did not write its env file")
		}
	}
}

func parseEnv(t *testing.T, s string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		require.True(t, ok, "bad line %q", sc.Text())
		env[k] = v
	}
	return env
}

func (r *running) client(t *testing.T) *cloudmc.Client {
	t.Helper()
	c, err := cloudmc.NewClient(r.env["CLOUDMC_URL"], r.env["CLOUDMC_API_KEY"], cloudmc.WithPollInterval(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func (r *running) isos(t *testing.T) *cloudmc.IsoService {
	return r.client(t).Isos(r.env["CLOUDMC_SERVICE"], r.env["CLOUDMC_ENVIRONMENT"])
}

func TestStartServeStop(t *testing.T) {
	t.Parallel()
	const key = "fake-key-not-for-logs-91c2"
	r := start(t, "--api-key", key)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/api/v2$`, r.env["CLOUDMC_URL"])
	assert.Equal(t, key, r.env["CLOUDMC_API_KEY"])
	assert.Equal(t, "compute-on", r.env["CLOUDMC_SERVICE"])
	assert.Equal(t, "test_area", r.env["CLOUDMC_ENVIRONMENT"])
	assert.Empty(t, r.stdout.String(), "with --env-file nothing goes to stdout")

	ctx := context.Background()
	isos := r.isos(t)
	list, err := isos.List(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, list.Data, 2)

	// A full flow through the forwarding: attach, then a download URL that
	// points back at the address the client used.
	task, err := isos.Attach(ctx, cloudmctest.SeedAttachableIsoID, cloudmctest.SeedInstanceID)
	require.NoError(t, err)
	_, err = r.client(t).Tasks().Wait(ctx, task)
	require.NoError(t, err)
	u, err := isos.DownloadURL(ctx, cloudmctest.SeedAttachableIsoID)
	require.NoError(t, err)
	base := strings.TrimSuffix(r.env["CLOUDMC_URL"], "/api/v2")
	assert.True(t, strings.HasPrefix(u, base+"/downloads/"), u)
	resp, err := http.Get(u)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "cloudmctest fake ISO")

	// The key in a query string is redacted from the log too.
	resp, err = http.Get(r.env["CLOUDMC_URL"] + "/tasks/nope?key=" + key)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	require.Equal(t, exitOK, r.stop())
	log := r.stderr.String()
	assert.Contains(t, log, "serving "+r.env["CLOUDMC_URL"])
	assert.Regexp(t, `GET /api/v2/services/compute-on/test_area/isos 200 \S+`, log)
	assert.Regexp(t, `POST /api/v2/services/compute-on/test_area/isos/\S+\?operation=attach 200`, log)
	assert.Contains(t, log, "/tasks/nope?key=REDACTED 401")
	assert.NotContains(t, log, key)
	assert.True(t, strings.HasSuffix(log, "cloudmc-fake: stopped\n"), log)
	_, err = os.Stat(r.envFile)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the env file is removed on exit")
}

func TestPrintsSettingsWithoutEnvFile(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-q", "--prefix", "v1", "--service", "svc", "--environment", "env"}, stdout, stderr)
	}()
	require.Eventually(t, func() bool { return strings.Count(stdout.String(), "\n") == 4 }, 10*time.Second, 5*time.Millisecond)
	env := parseEnv(t, stdout.String())
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/v1$`, env["CLOUDMC_URL"])
	assert.Equal(t, cloudmctest.DefaultAPIKey, env["CLOUDMC_API_KEY"])

	c, err := cloudmc.NewClient(env["CLOUDMC_URL"], env["CLOUDMC_API_KEY"])
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.Isos("svc", "env").List(context.Background(), nil)
	require.NoError(t, err)
	_, err = c.Isos("compute-on", "test_area").List(context.Background(), nil)
	assert.ErrorIs(t, err, cloudmc.ErrNotFound)

	cancel()
	assert.Equal(t, exitOK, <-done)
	assert.NotContains(t, stderr.String(), " GET ", "-q silences the request log")
}

func TestTaskSwitches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	failing := start(t, "--fail-tasks", "-q")
	_, err := failing.isos(t).DownloadURL(ctx, cloudmctest.SeedAttachableIsoID)
	assert.ErrorIs(t, err, cloudmc.ErrTaskFailed)

	slow := start(t, "--task-polls", "3", "--flat-tasks", "-q")
	c := slow.client(t)
	task, err := slow.isos(t).Delete(ctx, cloudmctest.SeedIsoID)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		got, err := c.Tasks().Get(ctx, task.ID)
		require.NoError(t, err)
		assert.Equal(t, cloudmc.TaskPending, got.Status, "poll %d", i)
	}
	got, err := c.Tasks().Get(ctx, task.ID)
	require.NoError(t, err)
	assert.Equal(t, cloudmc.TaskSuccess, got.Status)

	sync := start(t, "--sync", "-q")
	task, err = sync.isos(t).Delete(ctx, cloudmctest.SeedIsoID)
	require.NoError(t, err)
	assert.Equal(t, cloudmc.TaskSuccess, task.Status)
	assert.Empty(t, task.ID)

	instant := start(t, "--task-polls", "0", "-q")
	task, err = instant.isos(t).Delete(ctx, cloudmctest.SeedIsoID)
	require.NoError(t, err)
	assert.Equal(t, cloudmc.TaskSuccess, task.Status)
	assert.NotEmpty(t, task.ID)
}

func TestSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	require.NoError(t, os.WriteFile(seed, []byte(`{
	  "isos": [
	    {"id": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39", "name": "mine", "size": "1048576", "ready": true, "extractable": true, "futureField": 1},
	    {"id": "7a1d4b63-2e5f-4c9b-8d80-3f6e9c2b1d4a", "name": "other", "zoneId": "11111111-2222-4333-8444-555555555555", "zoneName": "z2", "created": "2020-01-02 3:04:05 PM Z"}
	  ],
	  "instances": [
	    {"id": "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58", "name": "vm", "isoId": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39"}
	  ]
	}`), 0o600))
	fake := start(t, "--seed", seed, "-q")
	list, err := fake.isos(t).List(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, list.Data, 2, "the seed file replaces the built-in seed")
	mine := list.Data[0]
	assert.Equal(t, "mine", mine.Name)
	assert.Equal(t, int64(1048576), mine.Size, "a size sent as a string, as some deployments do")
	assert.Equal(t, cloudmctest.SeedZoneID, mine.ZoneID, "the fake's zone by default")
	_, err = mine.CreatedTime()
	assert.NoError(t, err, "created defaults to now")
	assert.Equal(t, "z2", list.Data[1].ZoneName)

	// The instance starts with its ISO attached: detaching works.
	task, err := fake.client(t).Instances("compute-on", "test_area").DetachIso(context.Background(), "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58")
	require.NoError(t, err)
	_, err = fake.client(t).Tasks().Wait(context.Background(), task)
	require.NoError(t, err)

	empty := start(t, "--no-seed", "-q")
	list, err = empty.isos(t).List(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, list.Data)
}

func TestBadSeeds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]struct{ content, want string }{
		"not json":      {`{`, "not a JSON object"},
		"unknown key":   {`{"iso": []}`, `unknown key "iso"`},
		"missing id":    {`{"isos": [{"name": "a"}]}`, `isos[0]: "id" is missing`},
		"bad id":        {`{"isos": [{"id": "a"}]}`, `isos[0]: id "a" is not a UUID`},
		"duplicate":     {`{"isos": [{"id": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39"}, {"id": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39"}]}`, "appears twice"},
		"dangling iso":  {`{"instances": [{"id": "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58", "isoId": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39"}]}`, "is not an ISO of the file"},
		"bad instances": {`{"instances": {}}`, "seed file"},
	}
	for name, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
		r := runOnce(t, "--seed", path)
		assert.Equal(t, exitStart, r.code, name)
		assert.Contains(t, r.stderr, tt.want, name)
	}
	r := runOnce(t, "--seed", filepath.Join(dir, "missing.json"))
	assert.Equal(t, exitStart, r.code)
	assert.Contains(t, r.stderr, "reading --seed file")
}

type result struct {
	code           int
	stdout, stderr string
}

// runOnce runs the fake with args that make it exit at once.
func runOnce(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // should it start after all, it stops straight away
	var out, errOut syncBuffer
	code := run(ctx, args, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	r := runOnce(t, "--help")
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, helpText, r.stdout)

	tests := map[string]struct {
		args []string
		want string
	}{
		"unknown flag":     {[]string{"--frob"}, "flag provided but not defined"},
		"argument":         {[]string{"serve"}, `unexpected argument "serve"`},
		"negative polls":   {[]string{"--task-polls", "-1"}, "--task-polls must be 0 or more"},
		"empty key":        {[]string{"--api-key", ""}, "--api-key must be non-empty"},
		"seed and no-seed": {[]string{"--seed", "x", "--no-seed"}, "exclude each other"},
		"all interfaces":   {[]string{"--addr", ":0"}, "listens on every interface"},
		"not loopback":     {[]string{"--addr", "0.0.0.0:0"}, "is not a loopback address"},
		"bad addr":         {[]string{"--addr", "nope"}, "want HOST:PORT"},
	}
	for name, tt := range tests {
		r := runOnce(t, tt.args...)
		assert.Equal(t, exitUsage, r.code, name)
		assert.Contains(t, r.stderr, tt.want, name)
		assert.Contains(t, r.stderr, "--help", name)
	}
}

func TestAddressInUse(t *testing.T) {
	t.Parallel()
	fake := start(t, "-q")
	addr := strings.TrimPrefix(strings.TrimSuffix(fake.env["CLOUDMC_URL"], "/api/v2"), "http://")
	r := runOnce(t, "--addr", addr)
	assert.Equal(t, exitStart, r.code)
	assert.Contains(t, r.stderr, "cannot listen on "+addr)
}

func TestFixedAddress(t *testing.T) {
	t.Parallel()
	// Find a free port, then ask for it.
	probe := start(t, "-q")
	addr := strings.TrimPrefix(strings.TrimSuffix(probe.env["CLOUDMC_URL"], "/api/v2"), "http://")
	require.Equal(t, exitOK, probe.stop())
	fake := start(t, "-q", "--addr", addr)
	assert.Equal(t, "http://"+addr+"/api/v2", fake.env["CLOUDMC_URL"])
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:80/api/v2": "http://127.0.0.1:80/api/v2",
		"plain-key_1":                "plain-key_1",
		"with space":                 "'with space'",
		"it's":                       `'it'\''s'`,
		"$HOME":                      "'$HOME'",
		"":                           "''",
	} {
		assert.Equal(t, want, shellQuote(in), in)
	}
}

// TestReadmeMatches keeps the README's section and --help in step with the
// flags.
func TestReadmeMatches(t *testing.T) {
	t.Parallel()
	sec, err := readme.Section(filepath.Join("..", "..", "README.md"), "## Scripting and integration tests")
	require.NoError(t, err)
	k := strings.Index(sec, "### cloudmc-fake")
	require.GreaterOrEqual(t, k, 0)

	known := map[string]bool{"help": true}
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) { known[f.Name] = true })
	flagRE := regexp.MustCompile("(?:^|[\\s`(])--?([a-z][a-z-]*)")
	var lines []string
	for _, line := range strings.Split(sec, "\n") {
		if strings.Contains(line, "cloudmc-fake ") {
			lines = append(lines, line)
		}
	}
	lines = append(lines, strings.Split(sec[k:], "\n")...)
	for _, line := range lines {
		for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
			assert.True(t, known[m[1]], "README names -%s, which cloudmc-fake lacks: %s", m[1], line)
		}
	}
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		assert.Regexp(t, `(?m)^  (?:-[a-z], )?`+name+`[ ,]`, helpText, "--help misses a flag")
	})

	// The README's session starts the fake the way --help shows.
	for _, line := range []string{
		"rm -f fake.env",
		"cloudmc-fake --env-file fake.env 2>fake.log &",
		"while [ ! -s fake.env ]; do sleep 0.1; done",
		"set -a; . ./fake.env; set +a",
	} {
		assert.Contains(t, sec, line)
		assert.Contains(t, helpText, line)
	}
}
