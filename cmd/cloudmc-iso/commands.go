package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudmc-go/cloudmc"
)

// command is one subcommand.
type command struct {
	name     string   // "attach", "task wait"
	args     []string // names of the positional arguments
	help     string
	needsEnv bool // needs --service and --environment
	ownsURL  bool // --url is the command's own flag, not the API URL
	flags    func(fs *flag.FlagSet, f *cmdFlags)
	run      func(ctx context.Context, a *app, f *cmdFlags, args []string) error
}

// cmdFlags holds every command's own flags; each command registers the ones
// it takes.
type cmdFlags struct {
	wait         bool
	fromInstance bool

	page, pageSize    int
	sortBy, sortOrder string

	name, url, description, zone, osType string
	bootable                             bool
	extractable                          optBool
}

// optBool is a boolean flag that remembers whether it was given, for
// fields the SDK sends only when set.
type optBool struct{ set, v bool }

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	b.set, b.v = true, v
	return nil
}

func (b *optBool) IsBoolFlag() bool { return true }

func (b *optBool) ptr() *bool {
	if !b.set {
		return nil
	}
	return cloudmc.Bool(b.v)
}

func waitFlag(fs *flag.FlagSet, f *cmdFlags) {
	fs.BoolVar(&f.wait, "wait", false, "")
}

var commands = []*command{
	{
		name: "list", help: listHelp, needsEnv: true,
		flags: func(fs *flag.FlagSet, f *cmdFlags) {
			fs.IntVar(&f.page, "page", 0, "")
			fs.IntVar(&f.pageSize, "page-size", 0, "")
			fs.StringVar(&f.sortBy, "sort-by", "", "")
			fs.StringVar(&f.sortOrder, "sort-order", "", "")
		},
		run: runList,
	},
	{name: "get", args: []string{"ISO_ID"}, help: getHelp, needsEnv: true, run: runGet},
	{
		name: "attach", args: []string{"ISO_ID", "INSTANCE_ID"}, help: attachHelp, needsEnv: true,
		flags: func(fs *flag.FlagSet, f *cmdFlags) {
			waitFlag(fs, f)
			fs.BoolVar(&f.fromInstance, "from-instance", false, "")
		},
		run: runAttach,
	},
	{name: "detach", args: []string{"INSTANCE_ID"}, help: detachHelp, needsEnv: true, flags: waitFlag, run: runDetach},
	{name: "download-url", args: []string{"ISO_ID"}, help: downloadURLHelp, needsEnv: true, run: runDownloadURL},
	{
		name: "import", help: importHelp, needsEnv: true, ownsURL: true,
		flags: func(fs *flag.FlagSet, f *cmdFlags) {
			waitFlag(fs, f)
			fs.StringVar(&f.name, "name", "", "")
			fs.StringVar(&f.url, "url", "", "")
			fs.StringVar(&f.description, "description", "", "")
			fs.StringVar(&f.zone, "zone", "", "")
			fs.StringVar(&f.osType, "os-type", "", "")
			fs.BoolVar(&f.bootable, "bootable", false, "")
			fs.Var(&f.extractable, "extractable", "")
		},
		run: runImport,
	},
	{name: "delete", args: []string{"ISO_ID"}, help: deleteHelp, needsEnv: true, flags: waitFlag, run: runDelete},
	{name: "task get", args: []string{"TASK_ID"}, help: taskGetHelp, run: runTaskGet},
	{name: "task wait", args: []string{"TASK_ID"}, help: taskWaitHelp, run: runTaskWait},
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// suggest returns a command name close to a mistyped one.
func suggest(name string) string {
	aliases := map[string]string{
		"ls": "list", "show": "get", "describe": "get", "rm": "delete", "remove": "delete",
		"download": "download-url", "url": "download-url", "create": "import", "wait": "task wait",
	}
	if s, ok := aliases[name]; ok {
		return s
	}
	if editDistance(name, "task") <= 2 {
		return "task"
	}
	best, bestDist := "", 3 // suggest only names within two edits
	for _, c := range commands {
		if strings.HasPrefix(c.name, name) {
			return c.name
		}
		if d := editDistance(name, c.name); d < bestDist {
			best, bestDist = c.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (a *app) isos() *cloudmc.IsoService { return a.client.Isos(a.g.service, a.g.environment) }

func runList(ctx context.Context, a *app, f *cmdFlags, _ []string) error {
	if f.page < 0 || f.pageSize < 0 {
		return usagef("--page and --page-size must be positive")
	}
	if o := strings.ToUpper(f.sortOrder); o != "" && o != "ASC" && o != "DESC" {
		return usagef("--sort-order %q: use asc or desc", f.sortOrder)
	}
	var opts *cloudmc.ListOptions
	if f.page != 0 || f.pageSize != 0 || f.sortBy != "" || f.sortOrder != "" {
		opts = &cloudmc.ListOptions{Page: f.page, PageSize: f.pageSize, SortBy: f.sortBy, SortOrder: strings.ToUpper(f.sortOrder)}
	}
	list, err := a.isos().List(ctx, opts)
	if err != nil {
		return err
	}
	if a.g.output == "json" {
		return a.printJSON(listDoc(list))
	}
	return a.printIsoTable(list.Data)
}

func runGet(ctx context.Context, a *app, _ *cmdFlags, args []string) error {
	resp, err := a.isos().Get(ctx, args[0])
	if err != nil {
		return err
	}
	if a.g.output == "json" {
		return a.printJSON(isoDoc(resp.Data))
	}
	return a.printIsoDetails(resp.Data)
}

func runAttach(ctx context.Context, a *app, f *cmdFlags, args []string) error {
	isoID, instanceID := args[0], args[1]
	var t *cloudmc.Task
	var err error
	if f.fromInstance {
		t, err = a.client.Instances(a.g.service, a.g.environment).AttachIso(ctx, instanceID, isoID)
	} else {
		t, err = a.isos().Attach(ctx, isoID, instanceID)
	}
	return a.finishOperation(ctx, f.wait, t, err,
		fmt.Sprintf("attaching ISO %s to instance %s", isoID, instanceID),
		func(*cloudmc.Task) error {
			return a.printf("Attached ISO %s to instance %s.\n", isoID, instanceID)
		})
}

func runDetach(ctx context.Context, a *app, f *cmdFlags, args []string) error {
	instanceID := args[0]
	t, err := a.client.Instances(a.g.service, a.g.environment).DetachIso(ctx, instanceID)
	return a.finishOperation(ctx, f.wait, t, err,
		fmt.Sprintf("detaching the ISO from instance %s", instanceID),
		func(*cloudmc.Task) error {
			return a.printf("Detached the ISO from instance %s.\n", instanceID)
		})
}

func runDelete(ctx context.Context, a *app, f *cmdFlags, args []string) error {
	isoID := args[0]
	t, err := a.isos().Delete(ctx, isoID)
	return a.finishOperation(ctx, f.wait, t, err,
		fmt.Sprintf("deleting ISO %s", isoID),
		func(*cloudmc.Task) error { return a.printf("Deleted ISO %s.\n", isoID) })
}

func runImport(ctx context.Context, a *app, f *cmdFlags, _ []string) error {
	switch {
	case f.name == "" && f.url == "":
		return usagef("import needs --name and --url (the http(s) URL the server downloads the ISO from)")
	case f.name == "":
		return usagef("import needs --name: the name of the new ISO")
	case f.url == "":
		return usagef("import needs --url: the http(s) URL the server downloads the ISO from")
	}
	req := cloudmc.ImportIsoRequest{
		Name:        f.name,
		Description: f.description,
		URL:         f.url,
		ZoneID:      f.zone,
		OSTypeID:    f.osType,
		Extractable: f.extractable.ptr(),
	}
	if f.bootable {
		req.Bootable = cloudmc.Bool(true)
	}
	t, err := a.isos().Import(ctx, req)
	return a.finishOperation(ctx, f.wait, t, err,
		fmt.Sprintf("importing ISO %q", f.name),
		func(t *cloudmc.Task) error {
			var iso cloudmc.Iso
			if t.DecodeResult(&iso) != nil || iso.ID == "" {
				if err := a.printf("Imported ISO %q.\n", f.name); err != nil {
					return err
				}
				return a.printTaskDetails(t)
			}
			if err := a.printf("Imported ISO %q:\n", f.name); err != nil {
				return err
			}
			return a.printIsoDetails(iso)
		})
}

func runDownloadURL(ctx context.Context, a *app, _ *cmdFlags, args []string) error {
	isoID := args[0]
	t, err := a.isos().GenerateDownloadURL(ctx, isoID)
	if err != nil {
		return err
	}
	if t, err = a.wait(ctx, t); err != nil {
		return err
	}
	var r struct {
		URL string `json:"url"`
	}
	if err := t.DecodeResult(&r); err != nil || strings.TrimSpace(r.URL) == "" {
		return fmt.Errorf("task %s finished without a download URL in its result (%s)", t.ID, compactResult(t.Result))
	}
	if a.g.output == "json" {
		return a.printJSON(downloadDoc{IsoID: isoID, URL: r.URL, TaskID: t.ID})
	}
	return a.printf("%s\n", r.URL)
}

func runTaskGet(ctx context.Context, a *app, _ *cmdFlags, args []string) error {
	t, err := a.client.Tasks().Get(ctx, args[0])
	if err != nil {
		return err
	}
	return a.printTask(t)
}

func runTaskWait(ctx context.Context, a *app, _ *cmdFlags, args []string) error {
	a.taskID = args[0]
	t, err := a.client.Tasks().Get(ctx, args[0])
	if err != nil {
		return err
	}
	done, err := a.wait(ctx, t)
	if err != nil {
		return err
	}
	return a.printTask(done)
}

// finishOperation reports an operation's task: it waits when asked, prints
// the finished task (json) or success (table) or the pending task and how to
// follow it.
func (a *app) finishOperation(ctx context.Context, wait bool, t *cloudmc.Task, err error, what string, success func(*cloudmc.Task) error) error {
	if err == nil && wait {
		t, err = a.wait(ctx, t)
	}
	if err != nil {
		return err
	}
	if a.g.output == "json" {
		return a.printJSON(taskDoc(t))
	}
	if t.Status == cloudmc.TaskSuccess {
		return success(t)
	}
	return a.printf("Started %s: task %s is %s.\nWait for it with: cloudmc-iso task wait %s\n", what, t.ID, t.Status, t.ID)
}

// wait waits for t, showing progress on a terminal. A failed task is
// printed (in json mode) before its error is returned, so scripts see its
// result and errors.
func (a *app) wait(ctx context.Context, t *cloudmc.Task) (*cloudmc.Task, error) {
	if t.ID != "" {
		a.taskID = t.ID
	}
	stop := a.progress(t.ID)
	done, err := a.client.Tasks().Wait(ctx, t)
	stop()
	var te *cloudmc.TaskError
	if err != nil && a.g.output == "json" && errors.As(err, &te) && te.Task != nil {
		_ = a.printJSON(taskDoc(te.Task))
	}
	return done, err
}

// progress shows, on a terminal only, a short line on stderr that says
// which task is awaited and for how long; the returned func erases it.
func (a *app) progress(taskID string) (stop func()) {
	if !a.tty || taskID == "" {
		return func() {}
	}
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	width := 0
	draw := func(line string) {
		pad := ""
		if n := width - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(a.stderr, "\r%s%s", line, pad)
		width = len(line)
	}
	frames := `|/-\`
	go func() {
		defer wg.Done()
		tick := time.NewTicker(a.progressEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			draw(fmt.Sprintf("%c %s: waiting for task %s (%s)", frames[i%len(frames)], a.cmd.name, taskID,
				time.Since(start).Truncate(time.Second)))
			select {
			case <-quit:
				draw("")
				fmt.Fprint(a.stderr, "\r")
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
	}
}
