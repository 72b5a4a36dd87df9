// Command quickstart walks through the CloudMC ISO API with cloudmc-go.
//
// With no CLOUDMC_URL set it starts the built-in fake CloudMC in-process and
// runs every call against it: list, get, attach, detach and download URL.
//
// Against a real deployment, set CLOUDMC_URL, CLOUDMC_API_KEY,
// CLOUDMC_SERVICE and CLOUDMC_ENVIRONMENT. It then only reads (list and
// get) unless -write is given, with -iso and -instance naming what to attach.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/cloudmc-go/cloudmc"
	"github.com/cloudmc-go/cloudmc/cloudmctest"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

type settings struct {
	url, key, service, env string
	write                  bool
	isoID, instanceID      string
	fake                   bool
}

func run(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(out)
	write := fs.Bool("write", false, "against a real server: also attach, detach and generate a download URL")
	iso := fs.String("iso", "", "with -write: a non-bootable, extractable ISO id to attach")
	instance := fs.String("instance", "", "with -write: an instance id to attach the ISO to")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: go run ./examples/quickstart [-write -iso ID -instance ID] [-timeout 2m]")
		fmt.Fprintln(out, "\nWith no CLOUDMC_URL set, runs against an in-process fake CloudMC.")
		fmt.Fprintln(out, "Otherwise set CLOUDMC_URL, CLOUDMC_API_KEY, CLOUDMC_SERVICE and CLOUDMC_ENVIRONMENT.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := settings{write: *write, isoID: *iso, instanceID: *instance}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var opts []cloudmc.Option
	if getenv("CLOUDMC_URL") == "" {
		fake := cloudmctest.NewServer()
		defer fake.Close()
		s = settings{url: fake.URL, key: fake.APIKey, service: cloudmctest.DefaultService,
			env: cloudmctest.DefaultEnvironment, write: true, fake: true,
			isoID: cloudmctest.SeedAttachableIsoID, instanceID: cloudmctest.SeedInstanceID}
		fmt.Fprintf(out, "No CLOUDMC_URL set, so this runs against the built-in fake CloudMC at %s.\n", fake.URL)
		fmt.Fprintln(out, "(Set CLOUDMC_URL, CLOUDMC_API_KEY, CLOUDMC_SERVICE and CLOUDMC_ENVIRONMENT to use a real server.)")
		// The fake's tasks finish after one poll; poll it briskly.
		opts = append(opts, cloudmc.WithPollInterval(20*time.Millisecond, 200*time.Millisecond))
	} else {
		s.url, s.key = getenv("CLOUDMC_URL"), getenv("CLOUDMC_API_KEY")
		s.service, s.env = getenv("CLOUDMC_SERVICE"), getenv("CLOUDMC_ENVIRONMENT")
		for name, v := range map[string]string{"CLOUDMC_API_KEY": s.key, "CLOUDMC_SERVICE": s.service, "CLOUDMC_ENVIRONMENT": s.env} {
			if v == "" {
				return fmt.Errorf("CLOUDMC_URL is set but %s is not: export it too", name)
			}
		}
		if s.write && (s.isoID == "" || s.instanceID == "") {
			return errors.New("-write needs -iso and -instance")
		}
		fmt.Fprintf(out, "Using CloudMC at %s (service %s, environment %s).\n", s.url, s.service, s.env)
	}
	client, err := cloudmc.NewClient(s.url, s.key, append(opts, cloudmc.WithUserAgent("quickstart"))...)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	return tour(ctx, client, s, out)
}

func tour(ctx context.Context, client *cloudmc.Client, s settings, out io.Writer) error {
	isos := client.Isos(s.service, s.env)

	step(out, 1, "List the ISOs of the environment")
	list, err := isos.List(ctx, nil)
	if err != nil {
		return fmt.Errorf("listing ISOs: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   ID\tNAME\tSIZE\tBOOTABLE\tEXTRACTABLE\tREADY")
	for _, iso := range list.Data {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%t\t%t\t%t\n", iso.ID, iso.Name, humanSize(iso.Size), iso.Bootable, iso.Extractable, iso.Ready)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "   %d ISO(s); the server counts %d.\n", len(list.Data), list.Metadata.RecordCount)
	if len(list.Data) == 0 {
		fmt.Fprintln(out, "   Nothing to look at further. Done.")
		return nil
	}

	getID := list.Data[0].ID
	step(out, 2, "Get one ISO by id")
	got, err := isos.Get(ctx, getID)
	if err != nil {
		return fmt.Errorf("getting ISO %s: %w", getID, err)
	}
	iso := got.Data
	fmt.Fprintf(out, "   %s (%s): %s, %d-bit, %s, zone %q\n", iso.Name, iso.ID, iso.OSTypeName, iso.ArchitectureWidth, humanSize(iso.Size), iso.ZoneName)
	if t, err := iso.CreatedTime(); err == nil {
		fmt.Fprintf(out, "   created %q, which is %s\n", iso.Created, t.UTC().Format(time.RFC3339))
	}

	if !s.write {
		fmt.Fprintln(out, "\nRead-only run finished. Pass -write -iso ID -instance ID to attach, detach and get a download URL.")
		return nil
	}

	step(out, 3, fmt.Sprintf("Attach ISO %s to instance %s (only a non-bootable ISO can be attached)", s.isoID, s.instanceID))
	task, err := isos.Attach(ctx, s.isoID, s.instanceID)
	if err != nil {
		return fmt.Errorf("attaching: %w", err)
	}
	fmt.Fprintf(out, "   the server started task %s (%s); waiting for it...\n", taskName(task), task.Status)
	if task, err = client.Tasks().Wait(ctx, task); err != nil {
		return fmt.Errorf("attaching: %w", err)
	}
	fmt.Fprintf(out, "   task %s: %s\n", taskName(task), task.Status)

	step(out, 4, fmt.Sprintf("Detach the ISO from instance %s", s.instanceID))
	task, err = client.Instances(s.service, s.env).DetachIso(ctx, s.instanceID)
	if err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	if task, err = client.Tasks().Wait(ctx, task); err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	fmt.Fprintf(out, "   task %s: %s\n", taskName(task), task.Status)

	step(out, 5, fmt.Sprintf("Get a download URL for ISO %s", s.isoID))
	url, err := isos.DownloadURL(ctx, s.isoID)
	if err != nil {
		return fmt.Errorf("download URL: %w", err)
	}
	fmt.Fprintf(out, "   %s\n", url)

	step(out, 6, "Errors are typed: ask for an ISO that does not exist")
	_, err = isos.Get(ctx, "00000000-0000-4000-8000-000000000000")
	switch {
	case errors.Is(err, cloudmc.ErrNotFound):
		var apiErr *cloudmc.APIError
		errors.As(err, &apiErr)
		fmt.Fprintf(out, "   errors.Is(err, cloudmc.ErrNotFound) is true; status %d, message %q\n", apiErr.StatusCode, apiErr.Errors[0].Message)
	case err == nil:
		fmt.Fprintln(out, "   unexpectedly found it")
	default:
		return fmt.Errorf("unexpected error: %w", err)
	}
	fmt.Fprintln(out, "\nDone: every call of the ISO API ran over real HTTP.")
	return nil
}

func step(out io.Writer, n int, what string) {
	fmt.Fprintf(out, "\nStep %d. %s\n", n, what)
}

func taskName(t *cloudmc.Task) string {
	if t.ID == "" {
		return "(synchronous)"
	}
	return t.ID
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
