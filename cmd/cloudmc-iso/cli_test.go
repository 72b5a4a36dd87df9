package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudmc-go/cloudmc"
	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/cloudmc-go/cloudmc/internal/readme"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is distinctive so a leak anywhere in the output is caught.
const testKey = "k3y-that-must-never-be-printed-7d1f"

const (
	isoID      = cloudmctest.SeedAttachableIsoID
	bootIsoID  = cloudmctest.SeedIsoID
	instanceID = cloudmctest.SeedInstanceID
	missingID  = "00000000-0000-4000-8000-000000000000"
)

type result struct {
	stdout, stderr string
	code           int
}

func newFake(t *testing.T, opts ...cloudmctest.Option) *cloudmctest.Server {
	t.Helper()
	s := cloudmctest.NewServer(append([]cloudmctest.Option{cloudmctest.WithAPIKey(testKey)}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// fakeEnv is the environment a user of s would export.
func fakeEnv(s *cloudmctest.Server) map[string]string {
	return map[string]string{
		envURL:         s.URL,
		envAPIKey:      s.APIKey,
		envService:     cloudmctest.DefaultService,
		envEnvironment: cloudmctest.DefaultEnvironment,
	}
}

// cli runs the command in-process and checks that the key never shows.
func cli(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, func(k string) string { return env[k] }, &out, &errOut)
	r := result{stdout: out.String(), stderr: errOut.String(), code: code}
	assert.NotContains(t, r.stdout, testKey, "the key leaked to stdout")
	assert.NotContains(t, r.stderr, testKey, "the key leaked to stderr")
	return r
}

func requireCode(t *testing.T, want int, r result) {
	t.Helper()
	require.Equal(t, want, r.code, "exit status\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	require.NoError(t, dec.Decode(&v), "stdout is not one JSON document: %s", s)
	require.False(t, dec.More(), "stdout holds more than one JSON document: %s", s)
	return v
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-o", "json", "--help"}} {
		r := cli(t, nil, args...)
		requireCode(t, exitOK, r)
		assert.Equal(t, globalHelp, r.stdout, "%v", args)
		assert.Empty(t, r.stderr)
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		for _, args := range [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
		} {
			r := cli(t, nil, args...)
			requireCode(t, exitOK, r)
			assert.Equal(t, c.help, r.stdout, "%v", args)
			assert.Contains(t, r.stdout, "Usage: cloudmc-iso "+c.name)
			assert.Contains(t, r.stdout, "Examples:")
		}
	}
	for _, args := range [][]string{{"task", "--help"}, {"help", "task"}} {
		r := cli(t, nil, args...)
		requireCode(t, exitOK, r)
		assert.Equal(t, taskHelp, r.stdout)
	}
	// Help needs no configuration at all, even with other flags around.
	r := cli(t, nil, "attach", "--wait", "--help")
	requireCode(t, exitOK, r)
}

// TestHelpMentionsEveryFlag keeps the hand-written help in step with the flags.
func TestHelpMentionsEveryFlag(t *testing.T) {
	t.Parallel()
	var g globals
	fs := newFlagSet("global")
	g.register(fs, false)
	fs.VisitAll(func(f *flag.Flag) {
		assert.Contains(t, globalHelp, flagName(f.Name), "global help misses a flag")
	})
	for _, c := range commands {
		if c.flags == nil {
			continue
		}
		fs := newFlagSet(c.name)
		c.flags(fs, &cmdFlags{})
		fs.VisitAll(func(f *flag.Flag) {
			assert.Contains(t, c.help, flagName(f.Name)+" ", "help of %s misses a flag", c.name)
		})
	}
	for _, code := range []int{exitOK, exitUsage, exitAPI, exitNotFound, exitTaskFailed, exitTimeout, exitUnauthorized, exitInterrupted} {
		assert.Regexp(t, fmt.Sprintf(`(?m)^  %d +\S`, code), globalHelp, "exit status %d is not documented", code)
	}
}

func flagName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no command", nil, []string{"missing command"}},
		{"unknown command", []string{"lst"}, []string{`unknown command "lst"`, `did you mean "list"?`}},
		{"unknown flag", []string{"list", "--frob"}, []string{"flag provided but not defined: -frob", "cloudmc-iso list --help"}},
		{"task without sub", []string{"task"}, []string{"missing subcommand"}},
		{"unknown task sub", []string{"task", "list"}, []string{`unknown command "task list"`}},
		{"missing id", []string{"get"}, []string{"get needs ISO_ID; missing ISO_ID"}},
		{"missing instance", []string{"attach", isoID}, []string{"missing INSTANCE_ID"}},
		{"extra argument", []string{"get", isoID, "more"}, []string{`unexpected "more"`}},
		{"list takes none", []string{"list", "x"}, []string{"list takes no arguments"}},
		{"bad output", []string{"list", "-o", "yaml"}, []string{`-o "yaml" is not an output format`}},
		{"bad timeout", []string{"list", "--timeout", "soon"}, []string{"invalid value"}},
		{"negative timeout", []string{"list", "--timeout", "-1s"}, []string{"negative"}},
		{"bad iso id", []string{"get", "not-a-uuid"}, []string{`ISO id "not-a-uuid" is not a UUID`, "cloudmc-iso get --help"}},
		{"bad instance id", []string{"attach", isoID, "web-1"}, []string{`instance id "web-1" is not a UUID`}},
		{"bad detach id", []string{"detach", "x"}, []string{"not a UUID"}},
		{"bad delete id", []string{"delete", "x"}, []string{"not a UUID"}},
		{"bad download id", []string{"download-url", "x"}, []string{"not a UUID"}},
		{"import without name", []string{"import", "--url", "http://example.com/a.iso"}, []string{"import needs --name"}},
		{"import without url", []string{"import", "--name", "a"}, []string{"import needs --url"}},
		{"import bad url", []string{"import", "--name", "a", "--url", "ftp://example.com/a.iso"}, []string{"not an http(s) URL"}},
		{"import bootable without os", []string{"import", "--name", "a", "--url", "http://example.com/a.iso", "--bootable"}, []string{"needs OSTypeID"}},
		{"bad sort order", []string{"list", "--sort-order", "up"}, []string{"--sort-order"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ResetRequests()
			r := cli(t, env, tt.args...)
			requireCode(t, exitUsage, r)
			for _, w := range tt.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.Empty(t, r.stdout)
		})
	}
}

func TestMissingConfiguration(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tests := []struct {
		drop string
		args []string
		want string
	}{
		{envURL, []string{"list"}, "CLOUDMC_URL is not set: pass --url or export CLOUDMC_URL"},
		{envAPIKey, []string{"list"}, "CLOUDMC_API_KEY is not set: export CLOUDMC_API_KEY or pass --api-key-file"},
		{envService, []string{"list"}, "CLOUDMC_SERVICE is not set: pass --service or export CLOUDMC_SERVICE"},
		{envEnvironment, []string{"get", isoID}, "CLOUDMC_ENVIRONMENT is not set: pass --environment or export CLOUDMC_ENVIRONMENT"},
		{envURL, []string{"task", "get", missingID}, "CLOUDMC_URL is not set"},
		{envURL, []string{"import", "--name", "a", "--url", "http://example.com/a.iso"}, "give --url before the command name (in import, --url is the ISO's URL)"},
	}
	for _, tt := range tests {
		env := fakeEnv(s)
		delete(env, tt.drop)
		r := cli(t, env, tt.args...)
		requireCode(t, exitUsage, r)
		assert.Contains(t, r.stderr, tt.want)
	}
	// The task commands need no service or environment.
	env := fakeEnv(s)
	delete(env, envService)
	delete(env, envEnvironment)
	r := cli(t, env, "task", "get", missingID)
	requireCode(t, exitNotFound, r)
	assert.Empty(t, s.Requests()[0].Query.Get("org_id"))
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := map[string]string{envURL: "https://wrong.example.com", envAPIKey: testKey, envService: "nope", envEnvironment: "nope"}
	r := cli(t, env, "--url", s.URL, "--service", cloudmctest.DefaultService, "list", "--environment", cloudmctest.DefaultEnvironment)
	requireCode(t, exitOK, r)
	assert.Contains(t, r.stdout, "tools")
}

func TestAPIKeySources(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)
	delete(env, envAPIKey)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	r := cli(t, env, "--api-key-file", keyFile, "list")
	requireCode(t, exitOK, r)
	assert.Empty(t, r.stderr)

	r = cli(t, env, "list", "--api-key", testKey)
	requireCode(t, exitOK, r)
	assert.Contains(t, r.stderr, "warning: --api-key leaves the key in your shell history")

	r = cli(t, env, "list", "--api-key", testKey, "--api-key-file", keyFile)
	requireCode(t, exitUsage, r)
	assert.Contains(t, r.stderr, "exclude each other")

	r = cli(t, env, "list", "--api-key-file", empty)
	requireCode(t, exitUsage, r)
	assert.Contains(t, r.stderr, "is empty")

	r = cli(t, env, "list", "--api-key-file", filepath.Join(dir, "missing"))
	requireCode(t, exitUsage, r)
	assert.Contains(t, r.stderr, "cannot read --api-key-file")

	// A wrong key: exit 7, and neither key is printed.
	env[envAPIKey] = "wrong-" + testKey
	r = cli(t, env, "list")
	requireCode(t, exitUnauthorized, r)
	assert.Contains(t, r.stderr, "401")
	assert.Contains(t, r.stderr, "refused the API key")
}

func TestInsecureHTTPNeeded(t *testing.T) {
	t.Parallel()
	env := map[string]string{envURL: "http://cloudmc.example.com/api/v2", envAPIKey: testKey, envService: "s", envEnvironment: "e"}
	r := cli(t, env, "list")
	requireCode(t, exitUsage, r)
	assert.Contains(t, r.stderr, "--insecure-http")
}

func TestList(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)

	r := cli(t, env, "list")
	requireCode(t, exitOK, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^ID +NAME +SIZE +READY +BOOTABLE +EXTRACTABLE +ZONE +CREATED$`, lines[0])
	assert.Regexp(t, `^`+bootIsoID+` +ubuntu +50 MiB +yes +yes +no +zone1 +2017-12-21 4:41:33 PM Z$`, lines[1])
	assert.Regexp(t, `^`+isoID+` +tools +10 MiB +yes +no +yes +zone1 `, lines[2])
	// Columns line up.
	assert.Equal(t, strings.Index(lines[0], "NAME"), strings.Index(lines[1], "ubuntu"))

	r = cli(t, env, "list", "-o", "json")
	requireCode(t, exitOK, r)
	doc := decode[map[string]json.RawMessage](t, r.stdout)
	assert.ElementsMatch(t, []string{"data", "metadata"}, keys(doc))
	list := decode[listJSON](t, r.stdout)
	require.Len(t, list.Data, 2)
	assert.Equal(t, 2, list.Metadata.RecordCount)
	assert.Equal(t, isoID, list.Data[1].ID)
	assert.Equal(t, int64(10485760), list.Data[1].Size)
	var first map[string]any
	require.NoError(t, json.Unmarshal(mustField(t, doc, "data")[0], &first))
	assert.ElementsMatch(t, []string{"id", "name", "description", "architectureWidth", "size", "ready", "bootable",
		"availablePublicly", "extractable", "osTypeId", "osTypeName", "zoneId", "zoneName", "created", "availableInZones"}, keys(first))

	s.ResetRequests()
	r = cli(t, env, "--output", "json", "list", "--page", "1", "--page-size", "1", "--sort-by", "name", "--sort-order", "desc")
	requireCode(t, exitOK, r)
	list = decode[listJSON](t, r.stdout)
	require.Len(t, list.Data, 1)
	assert.Equal(t, "ubuntu", list.Data[0].Name)
	q := s.Requests()[0].Query
	assert.Equal(t, "1", q.Get("page_size"))
	assert.Equal(t, "DESC", q.Get("sort_order"))

	// An empty environment: a header alone, or an empty array.
	empty := newFake(t, cloudmctest.WithoutSeed())
	r = cli(t, fakeEnv(empty), "list", "-o", "json")
	requireCode(t, exitOK, r)
	assert.Contains(t, r.stdout, `"data": []`)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustField(t *testing.T, doc map[string]json.RawMessage, k string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	require.NoError(t, json.Unmarshal(doc[k], &out))
	return out
}

func TestGet(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)

	r := cli(t, env, "get", isoID)
	requireCode(t, exitOK, r)
	assert.Regexp(t, `(?m)^ID: +`+isoID+`$`, r.stdout)
	assert.Regexp(t, `(?m)^Name: +tools$`, r.stdout)
	assert.Regexp(t, `(?m)^Size: +10 MiB \(10485760 bytes\)$`, r.stdout)
	assert.Regexp(t, `(?m)^Extractable: +yes$`, r.stdout)

	// Flags after the argument, and before the command.
	for _, args := range [][]string{{"get", isoID, "-o", "json"}, {"-o", "json", "get", isoID}, {"get", "-o=json", "--", isoID}} {
		r = cli(t, env, args...)
		requireCode(t, exitOK, r)
		iso := decode[cloudmc.Iso](t, r.stdout)
		assert.Equal(t, "tools", iso.Name, "%v", args)
		assert.Equal(t, []string{cloudmctest.SeedZoneID}, iso.AvailableInZones)
	}

	r = cli(t, env, "get", missingID)
	requireCode(t, exitNotFound, r)
	assert.Contains(t, r.stderr, "404")
	assert.Contains(t, r.stderr, "cloudmc-iso list")
	assert.Empty(t, r.stdout)

	// A wrong environment is a 404 too, and the hint names it.
	env["CLOUDMC_ENVIRONMENT"] = "prod"
	r = cli(t, env, "get", isoID)
	requireCode(t, exitNotFound, r)
	assert.Contains(t, r.stderr, "compute-on/prod")
}

func TestAttachDetach(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)

	r := cli(t, env, "attach", isoID, instanceID, "--wait")
	requireCode(t, exitOK, r)
	assert.Equal(t, fmt.Sprintf("Attached ISO %s to instance %s.\n", isoID, instanceID), r.stdout)
	assert.Empty(t, r.stderr, "no progress when stderr is not a terminal")
	in, _ := s.Instance(instanceID)
	assert.Equal(t, isoID, in.IsoID)

	// Attached already: the server refuses (400): an API error.
	r = cli(t, env, "attach", isoID, instanceID, "--wait")
	requireCode(t, exitAPI, r)
	assert.Contains(t, r.stderr, "400")

	r = cli(t, env, "detach", instanceID, "--wait", "-o", "json")
	requireCode(t, exitOK, r)
	task := decode[taskJSON](t, r.stdout)
	assert.Equal(t, "SUCCESS", task.Status)
	assert.NotEmpty(t, task.ID)
	in, _ = s.Instance(instanceID)
	assert.Empty(t, in.IsoID)

	// From the instance's side, without waiting: the task is pending.
	s.ResetRequests()
	r = cli(t, env, "attach", "--from-instance", isoID, instanceID)
	requireCode(t, exitOK, r)
	assert.Regexp(t, `^Started attaching ISO `+isoID+` to instance `+instanceID+`: task \S+ is PENDING.\nWait for it with: cloudmc-iso task wait \S+\n$`, r.stdout)
	req := s.Requests()[0]
	assert.Equal(t, "attachIso", req.Query.Get("operation"))
	assert.Contains(t, req.Path, "/instances/"+instanceID)

	taskID := strings.Fields(r.stdout)[len(strings.Fields(r.stdout))-1]
	r = cli(t, env, "task", "wait", taskID, "-o", "json")
	requireCode(t, exitOK, r)
	task = decode[taskJSON](t, r.stdout)
	assert.Equal(t, taskID, task.ID)
	assert.Equal(t, "SUCCESS", task.Status)
	in, _ = s.Instance(instanceID)
	assert.Equal(t, isoID, in.IsoID)

	// A bootable ISO cannot be attached; a missing instance is a 404.
	r = cli(t, env, "attach", bootIsoID, cloudmctest.SeedStoppedInstanceID)
	requireCode(t, exitAPI, r)
	r = cli(t, env, "attach", isoID, missingID)
	requireCode(t, exitNotFound, r)

	r = cli(t, env, "detach", instanceID)
	requireCode(t, exitOK, r)
	assert.Contains(t, r.stdout, "Started detaching the ISO from instance "+instanceID)
}

func TestSynchronousOperations(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Synchronous: true}))
	env := fakeEnv(s)
	// Done at once: the success sentence even without --wait.
	r := cli(t, env, "attach", isoID, instanceID)
	requireCode(t, exitOK, r)
	assert.Equal(t, fmt.Sprintf("Attached ISO %s to instance %s.\n", isoID, instanceID), r.stdout)
	r = cli(t, env, "detach", instanceID, "-o", "json")
	requireCode(t, exitOK, r)
	task := decode[taskJSON](t, r.stdout)
	assert.Equal(t, "", task.ID)
	assert.Equal(t, "SUCCESS", task.Status)
}

func TestDownloadURL(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 1, FlatShape: true}))
	env := fakeEnv(s)

	r := cli(t, env, "download-url", isoID)
	requireCode(t, exitOK, r)
	u := strings.TrimSpace(r.stdout)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/downloads/`+isoID+`/tools\.iso$`, u)
	assert.Equal(t, u+"\n", r.stdout, "the URL alone, for $(...)")
	resp, err := http.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	r = cli(t, env, "download-url", isoID, "-o", "json")
	requireCode(t, exitOK, r)
	doc := decode[downloadDoc](t, r.stdout)
	assert.Equal(t, isoID, doc.IsoID)
	assert.Equal(t, u, doc.URL)
	assert.NotEmpty(t, doc.TaskID)

	r = cli(t, env, "download-url", bootIsoID)
	requireCode(t, exitAPI, r)
	assert.Contains(t, r.stderr, "extractable")
	r = cli(t, env, "download-url", missingID)
	requireCode(t, exitNotFound, r)
}

func TestImportDelete(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)

	r := cli(t, env, "import", "--name", "tools-2", "--url", "http://mirror.example.com/tools.iso",
		"--description", "more tools", "--zone", cloudmctest.SeedZoneID, "--extractable", "--wait", "-o", "json")
	requireCode(t, exitOK, r)
	task := decode[taskJSON](t, r.stdout)
	assert.Equal(t, "SUCCESS", task.Status)
	var iso cloudmc.Iso
	require.NoError(t, json.Unmarshal(task.Result, &iso))
	assert.Equal(t, "tools-2", iso.Name)
	got, ok := s.Iso(iso.ID)
	require.True(t, ok)
	assert.True(t, got.Extractable)
	assert.Equal(t, "more tools", got.Description)

	// --extractable is sent only when given.
	s.ResetRequests()
	r = cli(t, env, "import", "--name", "boot", "--url", "http://mirror.example.com/boot.iso",
		"--bootable", "--os-type", cloudmctest.SeedOSTypeID, "--wait")
	requireCode(t, exitOK, r)
	assert.Regexp(t, `^Imported ISO "boot":\nID: +\S+\nName: +boot\n`, r.stdout)
	body := string(s.Requests()[0].Body)
	assert.NotContains(t, body, "extractable")
	assert.Contains(t, body, `"bootable":true`)

	s.ResetRequests()
	r = cli(t, env, "import", "--name", "x", "--url", "http://mirror.example.com/x.iso", "--extractable=false")
	requireCode(t, exitOK, r)
	assert.Contains(t, string(s.Requests()[0].Body), `"extractable":false`)
	assert.Contains(t, r.stdout, `Started importing ISO "x": task`)

	// The global --url still works before the command name.
	r = cli(t, map[string]string{envAPIKey: testKey, envService: cloudmctest.DefaultService, envEnvironment: cloudmctest.DefaultEnvironment},
		"--url", s.URL, "import", "--name", "y", "--url", "http://mirror.example.com/y.iso")
	requireCode(t, exitOK, r)

	r = cli(t, env, "delete", iso.ID, "--wait")
	requireCode(t, exitOK, r)
	assert.Equal(t, "Deleted ISO "+iso.ID+".\n", r.stdout)
	_, ok = s.Iso(iso.ID)
	assert.False(t, ok)
	r = cli(t, env, "delete", iso.ID)
	requireCode(t, exitNotFound, r)
	r = cli(t, env, "get", iso.ID)
	requireCode(t, exitNotFound, r)
}

func TestTasks(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 3}))
	env := fakeEnv(s)

	r := cli(t, env, "delete", bootIsoID, "-o", "json")
	requireCode(t, exitOK, r)
	task := decode[taskJSON](t, r.stdout)
	assert.Equal(t, "PENDING", task.Status)

	r = cli(t, env, "task", "get", task.ID)
	requireCode(t, exitOK, r)
	assert.Regexp(t, `(?m)^ID: +`+task.ID+`\nStatus: +PENDING\nCreated: +\S+\nResult: +-$`, r.stdout)

	r = cli(t, env, "task", "get", task.ID, "-o", "json")
	requireCode(t, exitOK, r)
	doc := decode[map[string]json.RawMessage](t, r.stdout)
	assert.ElementsMatch(t, []string{"id", "status", "created", "result"}, keys(doc))

	r = cli(t, env, "task", "wait", task.ID)
	requireCode(t, exitOK, r)
	assert.Regexp(t, `(?m)^Status: +SUCCESS$`, r.stdout)
	_, ok := s.Iso(bootIsoID)
	assert.False(t, ok)

	r = cli(t, env, "task", "wait", missingID)
	requireCode(t, exitNotFound, r)
	assert.Contains(t, r.stderr, "30 minutes")
}

func TestFailedTask(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 1, Fail: true}))
	env := fakeEnv(s)

	r := cli(t, env, "attach", isoID, instanceID, "--wait", "-o", "json")
	requireCode(t, exitTaskFailed, r)
	task := decode[taskJSON](t, r.stdout)
	assert.Equal(t, "FAILED", task.Status)
	require.NotEmpty(t, task.Errors)
	assert.Equal(t, "TASK_FAILED", task.Errors[0].Code)
	assert.Contains(t, r.stderr, "failed: [TASK_FAILED]")
	in, _ := s.Instance(instanceID)
	assert.Empty(t, in.IsoID)

	r = cli(t, env, "download-url", isoID)
	requireCode(t, exitTaskFailed, r)
	assert.Empty(t, r.stdout)

	// Without --wait the command succeeds; task get shows FAILED with exit 0, task wait exits 5.
	r = cli(t, env, "delete", isoID, "-o", "json")
	requireCode(t, exitOK, r)
	id := decode[taskJSON](t, r.stdout).ID
	r = cli(t, env, "task", "wait", id)
	requireCode(t, exitTaskFailed, r)
	r = cli(t, env, "task", "get", id)
	requireCode(t, exitOK, r)
	assert.Regexp(t, `(?m)^Status: +FAILED$`, r.stdout)
	assert.Regexp(t, `(?m)^Error: +\[TASK_FAILED\] `, r.stdout)

	// A task that fails at once (no polls) fails the command without --wait.
	s.SetTaskBehavior(cloudmctest.TaskBehavior{Polls: 0, Fail: true})
	r = cli(t, env, "delete", isoID)
	requireCode(t, exitTaskFailed, r)
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 1000}))
	env := fakeEnv(s)

	start := time.Now()
	r := cli(t, env, "attach", isoID, instanceID, "--wait", "--timeout", "500ms")
	requireCode(t, exitTimeout, r)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Regexp(t, `Task \S+ goes on running on the server; wait for it with: cloudmc-iso task wait \S+`, r.stderr)
	assert.Contains(t, r.stderr, "--timeout 500ms")
	assert.Empty(t, r.stdout)

	r = cli(t, env, "--timeout", "200ms", "download-url", isoID, "-o", "json")
	requireCode(t, exitTimeout, r)
	assert.Empty(t, r.stdout)
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)
	s.SetInterceptor(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<html>oops</html>"))
			return true
		}
		return false
	})
	r := cli(t, env, "attach", isoID, instanceID)
	requireCode(t, exitAPI, r)
	assert.Contains(t, r.stderr, "500")
	assert.Contains(t, r.stderr, "try again later")
}

func TestOrganization(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	env := fakeEnv(s)
	env[envOrg] = "org-from-env"
	r := cli(t, env, "list")
	requireCode(t, exitOK, r)
	r = cli(t, env, "list", "--org", "org-from-flag")
	requireCode(t, exitOK, r)
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "org-from-env", reqs[0].Query.Get("org_id"))
	assert.Equal(t, "org-from-flag", reqs[1].Query.Get("org_id"))
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := cli(t, nil, "version")
	requireCode(t, exitOK, r)
	assert.Equal(t, "cloudmc-iso "+cloudmc.Version+"\n", r.stdout)
}

// TestProgress drives the progress line as on a terminal.
func TestProgress(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 2}))
	env := fakeEnv(s)
	var out, errOut bytes.Buffer
	a := &app{
		stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] },
		tty: true, progressEvery: 5 * time.Millisecond,
		g: globals{output: "table", timeout: defaultTimeout},
	}
	code := a.main(context.Background(), []string{"attach", isoID, instanceID, "--wait"})
	require.Equal(t, exitOK, code, errOut.String())
	progress := errOut.String()
	assert.Regexp(t, `^\r[|/\\-] attach: waiting for task \S+ \(0s\)`, progress)
	assert.True(t, strings.HasSuffix(progress, "\r"), "the line is erased: %q", progress)
	assert.NotContains(t, progress, "\n")
	assert.Equal(t, fmt.Sprintf("Attached ISO %s to instance %s.\n", isoID, instanceID), out.String())
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	s := newFake(t, cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 1000}))
	env := fakeEnv(s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Interrupt once the task has started, as Ctrl-C during --wait would.
		for len(s.Requests()) < 2 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	var out, errOut bytes.Buffer
	code := runContext(ctx, []string{"attach", isoID, instanceID, "--wait"}, func(k string) string { return env[k] }, &out, &errOut)
	assert.Equal(t, exitInterrupted, code)
	assert.Contains(t, errOut.String(), "Interrupted. Task")
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{usagef("x"), exitUsage},
		{fmt.Errorf("wrapped: %w", cloudmc.ErrInvalidArgument), exitUsage},
		{&cloudmc.APIError{StatusCode: 404}, exitNotFound},
		{&cloudmc.APIError{StatusCode: 401}, exitUnauthorized},
		{&cloudmc.APIError{StatusCode: 403}, exitUnauthorized},
		{&cloudmc.APIError{StatusCode: 400}, exitAPI},
		{&cloudmc.APIError{StatusCode: 503}, exitAPI},
		{&cloudmc.TaskError{Task: &cloudmc.Task{ID: "t"}}, exitTaskFailed},
		{fmt.Errorf("waiting for task t: %w", context.DeadlineExceeded), exitTimeout},
		{fmt.Errorf("waiting for task t: %w", context.Canceled), exitInterrupted},
		{errors.New("dial tcp: connection refused"), exitAPI},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, exitCode(tt.err), "%v", tt.err)
	}
}

func TestHumanSizeAndCells(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 52428800: "50 MiB",
		5 << 30: "5 GiB", 1<<62 + 1<<61: "6 EiB",
	} {
		assert.Equal(t, want, humanSize(n), "%d", n)
	}
	assert.Equal(t, "a?b?c", cell("a\tb\x1bc"))
	assert.Equal(t, "-", cell(""))
	assert.Equal(t, "Ünïcødé ISO", cell("Ünïcødé ISO"))
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"lst": "list", "ls": "list", "dl": "", "downlod-url": "download-url",
		"rm": "delete", "atach": "attach", "tsk": "task", "xyzzy": ""} {
		assert.Equal(t, want, suggest(in), in)
	}
}

// readmeSection returns the README's "Scripting and integration tests"
// section, split at its cloudmc-fake subsection.
func readmeSection(t *testing.T) (cli, fake string) {
	t.Helper()
	sec, err := readme.Section(filepath.Join("..", "..", "README.md"), "## Scripting and integration tests")
	require.NoError(t, err)
	k := strings.Index(sec, "### cloudmc-fake")
	require.GreaterOrEqual(t, k, 0)
	return sec[:k], sec[k:]
}

// TestReadmeMatches keeps the README's section in step with the command.
func TestReadmeMatches(t *testing.T) {
	t.Parallel()
	sec, _ := readmeSection(t)

	known := map[string]bool{"help": true}
	var g globals
	fs := newFlagSet("global")
	g.register(fs, false)
	fs.VisitAll(func(f *flag.Flag) { known[f.Name] = true })
	for _, c := range commands {
		if c.flags != nil {
			fs := newFlagSet(c.name)
			c.flags(fs, &cmdFlags{})
			fs.VisitAll(func(f *flag.Flag) { known[f.Name] = true })
		}
	}
	flagRE := regexp.MustCompile("(?:^|[\\s`(])--([a-z][a-z-]*)")
	for _, line := range strings.Split(sec, "\n") {
		if strings.Contains(line, "cloudmc-fake") {
			continue
		}
		for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
			assert.True(t, known[m[1]], "README names --%s, which cloudmc-iso lacks: %s", m[1], line)
		}
	}

	cmdRE := regexp.MustCompile(`cloudmc-iso ([a-z][a-z-]*)`)
	for _, m := range cmdRE.FindAllStringSubmatch(sec, -1) {
		name := m[1]
		assert.True(t, lookup(name) != nil || name == "task" || name == "help" || name == "version",
			"README runs unknown command %q", name)
	}

	statuses := map[int]string{0: "success", 2: "usage error", 3: "API or network error", 4: "not found",
		5: "FAILED", 6: "timeout", 7: "unauthorized", 130: "interrupted"}
	for code, word := range statuses {
		assert.Regexp(t, fmt.Sprintf("(?m)^\\| %d \\| .*%s", code, regexp.QuoteMeta(word)), sec, "README exit status %d", code)
		assert.Regexp(t, fmt.Sprintf("(?m)^  %d +.*%s", code, regexp.QuoteMeta(word)), globalHelp, "help exit status %d", code)
	}

	// The session's commands are the ones --help shows.
	for _, line := range []string{
		"cloudmc-iso attach 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 c043e651-8b3f-4941-b47f-5ecb77f3423b --wait",
		"cloudmc-iso download-url 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 -o json | jq -r .url",
		"cloudmc-iso list",
	} {
		assert.Contains(t, sec, line)
		assert.Contains(t, globalHelp, line)
	}
}
