package main

// End-to-end tests: both programs are built with "go build", the fake runs
// as a subprocess, and the CLI is driven the way a shell script would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		http.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binaries builds cloudmc-iso and cloudmc-fake once per test run.
func binaries(t *testing.T) (cli, fake string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds binaries")
	}
	if runtime.GOOS == "windows" {
		t.Skip("end-to-end tests use POSIX signals")
	}
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("go not on PATH: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "cloudmc-e2e-"); err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command(goBin, "build", "-o", binDir+string(filepath.Separator),
			"github.com/cloudmc-go/cloudmc/cmd/cloudmc-iso", "github.com/cloudmc-go/cloudmc/cmd/cloudmc-fake")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, "cloudmc-iso"), filepath.Join(binDir, "cloudmc-fake")
}

// fakeProc is a cloudmc-fake subprocess.
type fakeProc struct {
	env     map[string]string
	envFile string
	cmd     *exec.Cmd
	stderr  *syncBuffer
	done    chan struct{}
}

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

// startFakeProc starts cloudmc-fake with args, reads its settings from the
// env file and stops it (SIGTERM, then SIGKILL) when the test ends.
func startFakeProc(t *testing.T, args ...string) *fakeProc {
	t.Helper()
	_, fakeBin := binaries(t)
	envFile := filepath.Join(t.TempDir(), "fake.env")
	p := &fakeProc{envFile: envFile, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(fakeBin, append([]string{"--env-file", envFile}, args...)...)
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.After(15 * time.Second)
	for {
		if b, err := os.ReadFile(envFile); err == nil && len(b) > 0 {
			p.env = map[string]string{}
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				k, v, _ := strings.Cut(sc.Text(), "=")
				p.env[k] = v
			}
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("cloudmc-fake exited early: %s", p.stderr.String())
		case <-deadline:
			t.Fatalf("cloudmc-fake wrote no env file: %s", p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sh runs the cloudmc-iso binary with exactly the given environment.
func sh(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	cliBin, _ := binaries(t)
	cmd := exec.Command(cliBin, args...)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	r := result{stdout: out.String(), stderr: errOut.String(), code: code}
	if key := env[envAPIKey]; key != "" {
		assert.NotContains(t, r.stdout, key, "the key leaked to stdout")
		assert.NotContains(t, r.stderr, key, "the key leaked to stderr")
	}
	return r
}

// instanceState reads an instance from the fake's own API.
func instanceState(t *testing.T, p *fakeProc, id string) cloudmctest.Instance {
	t.Helper()
	u := fmt.Sprintf("%s/services/%s/%s/instances/%s", p.env[envURL], p.env[envService], p.env[envEnvironment], id)
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("MC-Api-Key", p.env[envAPIKey])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Data cloudmctest.Instance `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Data
}

func TestE2E(t *testing.T) {
	t.Parallel()
	const key = "e2e-key-never-printed-3f9a"
	p := startFakeProc(t, "--api-key", key)
	env := p.env
	require.Equal(t, key, env[envAPIKey])

	t.Run("list", func(t *testing.T) {
		r := sh(t, env, "list")
		requireCode(t, exitOK, r)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 3)
		assert.Regexp(t, `^ID +NAME +SIZE +READY +BOOTABLE +EXTRACTABLE +ZONE +CREATED$`, lines[0])
		assert.Regexp(t, `^`+isoID+` +tools +10 MiB +yes +no +yes +zone1 `, lines[2])

		r = sh(t, env, "list", "-o", "json")
		requireCode(t, exitOK, r)
		list := decode[listJSON](t, r.stdout)
		require.Len(t, list.Data, 2)
		assert.Equal(t, bootIsoID, list.Data[0].ID)
		assert.Equal(t, 2, list.Metadata.RecordCount)
	})

	t.Run("get", func(t *testing.T) {
		r := sh(t, env, "get", isoID)
		requireCode(t, exitOK, r)
		assert.Regexp(t, `(?m)^Name: +tools$`, r.stdout)
		r = sh(t, env, "get", isoID, "-o", "json")
		requireCode(t, exitOK, r)
		var iso map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &iso))
		assert.Equal(t, "tools", iso["name"])
		assert.Equal(t, float64(10485760), iso["size"])
		assert.Equal(t, true, iso["extractable"])
	})

	t.Run("attach wait, detach, from instance, task wait", func(t *testing.T) {
		r := sh(t, env, "attach", isoID, instanceID, "--wait")
		requireCode(t, exitOK, r)
		assert.Equal(t, fmt.Sprintf("Attached ISO %s to instance %s.\n", isoID, instanceID), r.stdout)
		assert.Empty(t, r.stderr, "no progress line when stderr is not a terminal")
		assert.Equal(t, isoID, instanceState(t, p, instanceID).IsoID)

		r = sh(t, env, "detach", instanceID, "--wait", "-o", "json")
		requireCode(t, exitOK, r)
		task := decode[taskJSON](t, r.stdout)
		assert.Equal(t, "SUCCESS", task.Status)
		assert.Empty(t, instanceState(t, p, instanceID).IsoID)

		r = sh(t, env, "attach", isoID, instanceID, "--from-instance", "-o", "json")
		requireCode(t, exitOK, r)
		task = decode[taskJSON](t, r.stdout)
		assert.Equal(t, "PENDING", task.Status)

		r = sh(t, env, "task", "get", task.ID, "-o", "json")
		requireCode(t, exitOK, r)
		assert.Equal(t, task.ID, decode[taskJSON](t, r.stdout).ID)

		r = sh(t, env, "task", "wait", task.ID)
		requireCode(t, exitOK, r)
		assert.Regexp(t, `(?m)^Status: +SUCCESS$`, r.stdout)
		assert.Equal(t, isoID, instanceState(t, p, instanceID).IsoID)

		r = sh(t, env, "detach", instanceID)
		requireCode(t, exitOK, r)
		assert.Contains(t, r.stdout, "Wait for it with: cloudmc-iso task wait ")
		fields := strings.Fields(r.stdout)
		r = sh(t, env, "task", "wait", fields[len(fields)-1], "-o", "json")
		requireCode(t, exitOK, r)
		assert.Empty(t, instanceState(t, p, instanceID).IsoID)
	})

	t.Run("download-url", func(t *testing.T) {
		r := sh(t, env, "download-url", isoID)
		requireCode(t, exitOK, r)
		u := strings.TrimSpace(r.stdout)
		resp, err := http.Get(u)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), isoID)

		r = sh(t, env, "download-url", isoID, "-o", "json")
		requireCode(t, exitOK, r)
		assert.Equal(t, u, decode[downloadDoc](t, r.stdout).URL)

		r = sh(t, env, "download-url", bootIsoID)
		requireCode(t, exitAPI, r)
		assert.Contains(t, r.stderr, "ISO_NOT_EXTRACTABLE")
	})

	t.Run("import and delete", func(t *testing.T) {
		r := sh(t, env, "import", "--name", "e2e", "--url", "http://mirror.example.com/e2e.iso", "--extractable", "--wait", "-o", "json")
		requireCode(t, exitOK, r)
		var task struct {
			Status string `json:"status"`
			Result struct {
				ID          string `json:"id"`
				Extractable bool   `json:"extractable"`
			} `json:"result"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &task))
		assert.Equal(t, "SUCCESS", task.Status)
		assert.True(t, task.Result.Extractable)
		id := task.Result.ID

		r = sh(t, env, "get", id, "-o", "json")
		requireCode(t, exitOK, r)
		assert.Equal(t, "e2e", decode[map[string]any](t, r.stdout)["name"])

		r = sh(t, env, "delete", id, "--wait")
		requireCode(t, exitOK, r)
		assert.Equal(t, "Deleted ISO "+id+".\n", r.stdout)
		r = sh(t, env, "get", id)
		requireCode(t, exitNotFound, r)
		r = sh(t, env, "delete", id)
		requireCode(t, exitNotFound, r)
	})

	t.Run("bad input", func(t *testing.T) {
		r := sh(t, nil, "list")
		requireCode(t, exitUsage, r)
		assert.Contains(t, r.stderr, "CLOUDMC_URL is not set: pass --url or export CLOUDMC_URL")

		noKey := map[string]string{envURL: env[envURL], envService: env[envService], envEnvironment: env[envEnvironment]}
		r = sh(t, noKey, "list")
		requireCode(t, exitUsage, r)
		assert.Contains(t, r.stderr, "CLOUDMC_API_KEY is not set")

		r = sh(t, env, "get", "not-a-uuid")
		requireCode(t, exitUsage, r)
		assert.Contains(t, r.stderr, "is not a UUID")
		r = sh(t, env, "attach", isoID, "web-1")
		requireCode(t, exitUsage, r)

		r = sh(t, env, "get", missingID)
		requireCode(t, exitNotFound, r)
		r = sh(t, env, "attach", missingID, instanceID, "--wait")
		requireCode(t, exitNotFound, r)
		r = sh(t, env, "task", "wait", missingID)
		requireCode(t, exitNotFound, r)

		r = sh(t, env, "frobnicate")
		requireCode(t, exitUsage, r)
		r = sh(t, env, "list", "-o", "yaml")
		requireCode(t, exitUsage, r)

		wrongKey := map[string]string{}
		for k, v := range env {
			wrongKey[k] = v
		}
		wrongKey[envAPIKey] = "not-the-key"
		r = sh(t, wrongKey, "list")
		requireCode(t, exitUnauthorized, r)
		assert.NotContains(t, r.stderr, "not-the-key")

		r = sh(t, env, "--api-key", key, "list")
		requireCode(t, exitOK, r)
		assert.Contains(t, r.stderr, "warning: --api-key")
	})

	t.Run("help", func(t *testing.T) {
		r := sh(t, nil, "--help")
		requireCode(t, exitOK, r)
		assert.Equal(t, globalHelp, r.stdout)
		r = sh(t, nil, "task", "wait", "--help")
		requireCode(t, exitOK, r)
		assert.Equal(t, taskWaitHelp, r.stdout)
	})

	// The fake logged what it served, never the key.
	log := p.stderr.String()
	assert.Regexp(t, `POST /api/v2/services/compute-on/test_area/isos/`+isoID+`\?operation=attach 200`, log)
	assert.Regexp(t, `GET /api/v2/services/compute-on/test_area/isos/`+missingID+` 404`, log)
	assert.NotContains(t, log, key)
}

func TestE2EFailingTask(t *testing.T) {
	t.Parallel()
	p := startFakeProc(t, "--fail-tasks")
	r := sh(t, p.env, "attach", isoID, instanceID, "--wait", "-o", "json")
	requireCode(t, exitTaskFailed, r)
	task := decode[taskJSON](t, r.stdout)
	assert.Equal(t, "FAILED", task.Status)
	assert.Contains(t, r.stderr, "failed")
	assert.Empty(t, instanceState(t, p, instanceID).IsoID, "a failed task leaves the state alone")

	r = sh(t, p.env, "download-url", isoID)
	requireCode(t, exitTaskFailed, r)
	r = sh(t, p.env, "delete", bootIsoID, "--wait")
	requireCode(t, exitTaskFailed, r)
	r = sh(t, p.env, "get", bootIsoID)
	requireCode(t, exitOK, r)
}

func TestE2ETimeout(t *testing.T) {
	t.Parallel()
	p := startFakeProc(t, "--task-polls", "1000")
	start := time.Now()
	r := sh(t, p.env, "attach", isoID, instanceID, "--wait", "--timeout", "1s")
	requireCode(t, exitTimeout, r)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, r.stderr, "cloudmc-iso task wait ", "the task started: how to resume")

	r = sh(t, p.env, "download-url", isoID, "--timeout", "200ms")
	requireCode(t, exitTimeout, r)
	assert.Empty(t, r.stdout)

	r = sh(t, p.env, "detach", instanceID, "--timeout", "200ms", "-o", "json")
	requireCode(t, exitAPI, r) // nothing attached: 400 at once, no waiting
}

func TestE2EUnreachable(t *testing.T) {
	t.Parallel()
	// A port that was free a moment ago: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{envURL: "http://" + addr + "/api/v2", envAPIKey: testKey, envService: "s", envEnvironment: "e"}
	r := sh(t, env, "get", isoID, "--timeout", "20s")
	requireCode(t, exitAPI, r)
	assert.Contains(t, r.stderr, "reachable")
}

func TestE2EFakeSeedAndSignal(t *testing.T) {
	t.Parallel()
	_, fakeBin := binaries(t)
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	require.NoError(t, os.WriteFile(seed, []byte(`{
	  "isos": [{"id": "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39", "name": "seeded", "size": 2048, "ready": true, "extractable": true}],
	  "instances": [{"id": "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58", "name": "vm-1", "state": "Running"}]
	}`), 0o600))
	p := startFakeProc(t, "--seed", seed, "--sync")
	r := sh(t, p.env, "list", "-o", "json")
	requireCode(t, exitOK, r)
	list := decode[listJSON](t, r.stdout)
	require.Len(t, list.Data, 1)
	assert.Equal(t, "seeded", list.Data[0].Name)

	r = sh(t, p.env, "attach", "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39", "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58")
	requireCode(t, exitOK, r)
	assert.Contains(t, r.stdout, "Attached ISO", "--sync: done without --wait")
	assert.Equal(t, "6f0c3a52-1d4e-4b8a-9c7f-2e5d8b1a0c39", instanceState(t, p, "3b9e7d21-5c8f-4a16-b0d2-7e4f9a6c1b58").IsoID)

	// SIGINT stops it cleanly: exit 0, env file gone.
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("cloudmc-fake did not stop on SIGINT")
	}
	assert.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	assert.Contains(t, p.stderr.String(), "cloudmc-fake: stopped")
	_, err := os.Stat(p.envFile)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the env file is removed on exit")

	// Without --env-file the settings go to stdout, ready for eval.
	cmd := exec.Command(fakeBin, "-q")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	sc := bufio.NewScanner(stdout)
	var lines []string
	for len(lines) < 4 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Len(t, lines, 4)
	assert.Regexp(t, `^CLOUDMC_URL=http://127\.0\.0\.1:\d+/api/v2$`, lines[0])
	assert.Equal(t, "CLOUDMC_API_KEY="+cloudmctest.DefaultAPIKey, lines[1])
	assert.Equal(t, "CLOUDMC_SERVICE=compute-on", lines[2])
	assert.Equal(t, "CLOUDMC_ENVIRONMENT=test_area", lines[3])
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "exit status 0 on SIGTERM")
	case <-time.After(5 * time.Second):
		t.Fatal("cloudmc-fake did not stop on SIGTERM")
	}
}
