package cloudmc_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/cloudmc-go/cloudmc"
	"github.com/cloudmc-go/cloudmc/cloudmctest"
)

// newExampleClient starts the fake CloudMC and a client for it. Real code
// calls cloudmc.NewClient with its deployment's URL and key.
func newExampleClient() (*cloudmc.Client, func()) {
	fake := cloudmctest.NewServer()
	client, err := cloudmc.NewClient(fake.URL, fake.APIKey,
		cloudmc.WithPollInterval(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		panic(err)
	}
	return client, func() {
		client.CloseIdleConnections()
		fake.Close()
	}
}

func ExampleNewClient() {
	client, err := cloudmc.NewClient("https://cloudmc.example.com/api/v2", "your-api-key",
		cloudmc.WithUserAgent("mytool/1.0"),
		cloudmc.WithRetry(cloudmc.RetryPolicy{MaxRetries: 5, MinBackoff: time.Second, MaxBackoff: 30 * time.Second}),
		cloudmc.WithOrganization("sub-org-id"),
	)
	fmt.Println(client != nil, err)

	// Plain http to a remote host would expose the key: refused unless asked for.
	_, err = cloudmc.NewClient("http://cloudmc.example.com/api/v2", "your-api-key")
	fmt.Println(errors.Is(err, cloudmc.ErrInvalidArgument))
	// Output:
	// true <nil>
	// true
}

func ExampleIsoService_List() {
	client, stop := newExampleClient()
	defer stop()

	list, err := client.Isos("compute-on", "test_area").List(context.Background(),
		&cloudmc.ListOptions{SortBy: "name", SortOrder: "ASC"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, iso := range list.Data {
		fmt.Printf("%s %s bootable=%t\n", iso.ID, iso.Name, iso.Bootable)
	}
	fmt.Println("count:", list.Metadata.RecordCount)
	// Output:
	// 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 tools bootable=false
	// 0b3fea04-b1ed-48cf-921d-96795dfe9a81 ubuntu bootable=true
	// count: 2
}

func ExampleIsoService_Get() {
	client, stop := newExampleClient()
	defer stop()

	got, err := client.Isos("compute-on", "test_area").Get(context.Background(), "0b3fea04-b1ed-48cf-921d-96795dfe9a81")
	if err != nil {
		fmt.Println(err)
		return
	}
	iso := got.Data
	created, _ := iso.CreatedTime()
	fmt.Println(iso.Name, iso.OSTypeName, iso.Size, iso.ArchitectureWidth)
	fmt.Println(created.Format(time.RFC3339))
	// Output:
	// ubuntu Other (64-bit) 52428800 64
	// 2017-12-21T16:41:33Z
}

func ExampleIsoService_Attach() {
	client, stop := newExampleClient()
	defer stop()
	ctx := context.Background()

	task, err := client.Isos("compute-on", "test_area").Attach(ctx,
		"5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47", "c043e651-8b3f-4941-b47f-5ecb77f3423b")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("started:", task.Status)
	done, err := client.Tasks().Wait(ctx, task)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("finished:", done.Status)
	// Output:
	// started: PENDING
	// finished: SUCCESS
}

func ExampleIsoService_DownloadURL() {
	client, stop := newExampleClient()
	defer stop()

	link, err := client.Isos("compute-on", "test_area").DownloadURL(context.Background(), "5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47")
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(link)
	fmt.Println(u.Path)
	// Output:
	// /downloads/5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47/tools.iso
}

func ExampleTaskService_Wait() {
	client, stop := newExampleClient()
	defer stop()
	ctx := context.Background()

	// The seed's ISO is bootable: the server refuses to attach it.
	_, err := client.Isos("compute-on", "test_area").Attach(ctx,
		"0b3fea04-b1ed-48cf-921d-96795dfe9a81", "c043e651-8b3f-4941-b47f-5ecb77f3423b")
	var apiErr *cloudmc.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Errors[0].Code)
	}

	// A wait bounded by a context that ends first names the task to resume.
	task, _ := client.Isos("compute-on", "test_area").Attach(ctx,
		"5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47", "c043e651-8b3f-4941-b47f-5ecb77f3423b")
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err = client.Tasks().Wait(short, task)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	done, err := client.Tasks().Wait(ctx, task)
	fmt.Println(done.Status, err)
	// Output:
	// 400 ISO_BOOTABLE
	// true
	// SUCCESS <nil>
}

func ExampleAPIError() {
	client, stop := newExampleClient()
	defer stop()

	_, err := client.Isos("compute-on", "test_area").Get(context.Background(), "00000000-0000-4000-8000-000000000000")
	fmt.Println(errors.Is(err, cloudmc.ErrNotFound))
	var apiErr *cloudmc.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Errors[0].Code, apiErr.Errors[0].Message)
	}
	// Output:
	// true
	// 404 2001 ISO not found
}
