package cloudmctest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmc-go/cloudmc"
	"github.com/cloudmc-go/cloudmc/cloudmctest"
)

// TestAttachMine is the README's "Testing with cloudmctest" example, kept
// here so the README cannot drift from what compiles and passes.
func TestAttachMine(t *testing.T) {
	fake := cloudmctest.NewServer(cloudmctest.WithTaskBehavior(cloudmctest.TaskBehavior{Polls: 2}))
	defer fake.Close()
	const mine = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b" // ids must be UUIDs
	fake.AddIso(cloudmctest.Iso{ID: mine, Name: "mine", Ready: true, Extractable: true})

	// Plain http is fine: the fake listens on loopback.
	client, err := cloudmc.NewClient(fake.URL, fake.APIKey,
		cloudmc.WithPollInterval(5*time.Millisecond, 50*time.Millisecond)) // quick polls in tests
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	// Give waits a deadline, so a task that never ends fails the test quickly.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	isos := client.Isos(cloudmctest.DefaultService, cloudmctest.DefaultEnvironment)
	task, err := isos.Attach(ctx, mine, cloudmctest.SeedInstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Tasks().Wait(ctx, task); err != nil {
		t.Fatal(err)
	}
	if in, _ := fake.Instance(cloudmctest.SeedInstanceID); in.IsoID != mine { // the fake's state
		t.Errorf("instance holds %q", in.IsoID)
	}
	for _, r := range fake.Requests() { // what it received, key redacted
		t.Log(r.Method, r.Path, r.Query.Get("operation"))
	}
	if n := len(fake.Requests()); n != 4 {
		t.Errorf("the fake saw %d requests, want attach and three task polls", n)
	}
}
