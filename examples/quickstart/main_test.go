package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cloudmc-go/cloudmc/cloudmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartAgainstFake(t *testing.T) {
	var out bytes.Buffer
	err := run(nil, func(string) string { return "" }, &out)
	require.NoError(t, err, out.String())
	text := out.String()
	for _, want := range []string{
		"built-in fake CloudMC",
		"0b3fea04-b1ed-48cf-921d-96795dfe9a81  ubuntu  50.0 MiB",
		"created \"2017-12-21 4:41:33 PM Z\", which is 2017-12-21T16:41:33Z",
		"Step 3. Attach", "Step 4. Detach", "task ", ": SUCCESS",
		"/downloads/", "errors.Is(err, cloudmc.ErrNotFound) is true; status 404",
		"Done: every call",
	} {
		assert.Contains(t, text, want)
	}
	assert.Equal(t, 6, strings.Count(text, "\nStep "))
}

func TestQuickstartNeedsFullConfig(t *testing.T) {
	env := map[string]string{"CLOUDMC_URL": "https://cloudmc.example.test/api/v2"}
	var out bytes.Buffer
	err := run(nil, func(k string) string { return env[k] }, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not: export it too")
}

func TestQuickstartWriteNeedsIDs(t *testing.T) {
	env := map[string]string{"CLOUDMC_URL": "https://cloudmc.example.test/api/v2", "CLOUDMC_API_KEY": "k",
		"CLOUDMC_SERVICE": "s", "CLOUDMC_ENVIRONMENT": "e"}
	var out bytes.Buffer
	err := run([]string{"-write"}, func(k string) string { return env[k] }, &out)
	require.EqualError(t, err, "-write needs -iso and -instance")
}

func TestQuickstartReadOnlyAgainstServer(t *testing.T) {
	fake := cloudmctest.NewServer()
	defer fake.Close()
	env := map[string]string{"CLOUDMC_URL": fake.URL, "CLOUDMC_API_KEY": fake.APIKey,
		"CLOUDMC_SERVICE": cloudmctest.DefaultService, "CLOUDMC_ENVIRONMENT": cloudmctest.DefaultEnvironment}
	var out bytes.Buffer
	err := run(nil, func(k string) string { return env[k] }, &out)
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), "Read-only run finished")
	assert.NotContains(t, out.String(), fake.APIKey)
	for _, r := range fake.Requests() {
		assert.Equal(t, "GET", r.Method, "read-only means no %s %s", r.Method, r.Path)
	}
	assert.Len(t, fake.Requests(), 2)
}
