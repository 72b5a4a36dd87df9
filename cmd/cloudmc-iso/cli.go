package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cloudmc-go/cloudmc"
)

// Exit statuses. They are part of the command's interface: keep them in
// step with the help text and the README.
const (
	exitOK           = 0
	exitUsage        = 2 // bad flags or arguments, missing configuration, ids that are not UUIDs
	exitAPI          = 3 // the server refused the request, or could not be reached
	exitNotFound     = 4 // 404: no such ISO, instance, task (or service/environment)
	exitTaskFailed   = 5 // a task ended FAILED
	exitTimeout      = 6 // --timeout ran out
	exitUnauthorized = 7 // 401/403: the key was refused
	exitInterrupted  = 130
)

const defaultTimeout = 30 * time.Minute

// Environment variables read for configuration.
const (
	envURL         = "CLOUDMC_URL"
	envAPIKey      = "CLOUDMC_API_KEY"
	envService     = "CLOUDMC_SERVICE"
	envEnvironment = "CLOUDMC_ENVIRONMENT"
	envOrg         = "CLOUDMC_ORG"
)

// globals are the flags accepted before and after any command name.
type globals struct {
	url         string
	service     string
	environment string
	org         string
	apiKey      string
	apiKeyFlag  bool // the key came from --api-key
	apiKeyFile  string
	output      string
	timeout     time.Duration
	insecure    bool
}

// register adds the global flags to fs. The current values are the
// defaults, so parsing a command's flags keeps what the global flags set.
// skipURL leaves --url to the command (import uses it for the ISO's URL).
func (g *globals) register(fs *flag.FlagSet, skipURL bool) {
	if !skipURL {
		fs.StringVar(&g.url, "url", g.url, "")
	}
	fs.StringVar(&g.service, "service", g.service, "")
	fs.StringVar(&g.environment, "environment", g.environment, "")
	fs.StringVar(&g.org, "org", g.org, "")
	fs.Func("api-key", "", func(s string) error {
		g.apiKey, g.apiKeyFlag = s, true
		return nil
	})
	fs.StringVar(&g.apiKeyFile, "api-key-file", g.apiKeyFile, "")
	fs.StringVar(&g.output, "o", g.output, "")
	fs.StringVar(&g.output, "output", g.output, "")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "")
	fs.BoolVar(&g.insecure, "insecure-http", g.insecure, "")
}

// app is one run of the command.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	tty            bool // stderr is a terminal: show progress while waiting
	progressEvery  time.Duration

	g      globals
	cmd    *command
	client *cloudmc.Client
	// taskID is the task being waited for, so a timeout can say how to resume.
	taskID string
}

// usageError is a mistake in the command line or configuration: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is main without the process: it parses args, runs the command and
// returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, getenv, stdout, stderr)
}

// runContext is run with a context that ends on SIGINT/SIGTERM.
func runContext(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a := &app{
		stdout:        stdout,
		stderr:        stderr,
		getenv:        getenv,
		tty:           isTerminal(stderr),
		progressEvery: 200 * time.Millisecond,
		g:             globals{output: "table", timeout: defaultTimeout},
	}
	return a.main(ctx, args)
}

func (a *app) main(ctx context.Context, args []string) int {
	fs := newFlagSet("cloudmc-iso")
	a.g.register(fs, false)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, globalHelp)
			return exitOK
		}
		return a.usage(nil, err.Error())
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(a.stderr, globalHelp)
		fmt.Fprintln(a.stderr, "\ncloudmc-iso: missing command (see the list above)")
		return exitUsage
	}
	name := rest[0]
	rest = rest[1:]
	switch name {
	case "help":
		return a.help(rest)
	case "version":
		fmt.Fprintf(a.stdout, "cloudmc-iso %s\n", cloudmc.Version)
		return exitOK
	case "task":
		if len(rest) == 0 {
			fmt.Fprint(a.stderr, taskHelp)
			fmt.Fprintln(a.stderr, "\ncloudmc-iso task: missing subcommand: get or wait")
			return exitUsage
		}
		if rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help" || rest[0] == "help" {
			fmt.Fprint(a.stdout, taskHelp)
			return exitOK
		}
		name = "task " + rest[0]
		rest = rest[1:]
	}
	cmd := lookup(name)
	if cmd == nil {
		msg := fmt.Sprintf("unknown command %q", name)
		if s := suggest(name); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return a.usage(nil, msg)
	}
	a.cmd = cmd
	return a.runCommand(ctx, cmd, rest)
}

func (a *app) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stdout, globalHelp)
		return exitOK
	}
	name := strings.Join(args, " ")
	if name == "task" {
		fmt.Fprint(a.stdout, taskHelp)
		return exitOK
	}
	cmd := lookup(name)
	if cmd == nil {
		return a.usage(nil, fmt.Sprintf("no help for unknown command %q", name))
	}
	fmt.Fprint(a.stdout, cmd.help)
	return exitOK
}

func (a *app) runCommand(ctx context.Context, cmd *command, args []string) int {
	fs := newFlagSet("cloudmc-iso " + cmd.name)
	a.g.register(fs, cmd.ownsURL)
	var f cmdFlags
	if cmd.flags != nil {
		cmd.flags(fs, &f)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, cmd.help)
			return exitOK
		}
		return a.usage(cmd, err.Error())
	}
	if len(pos) != len(cmd.args) {
		return a.usage(cmd, argCountMessage(cmd, pos))
	}
	if err := a.configure(cmd); err != nil {
		return a.fail(err)
	}
	defer a.client.CloseIdleConnections()
	if a.g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.g.timeout)
		defer cancel()
	}
	if err := cmd.run(ctx, a, &f, pos); err != nil {
		return a.fail(err)
	}
	return exitOK
}

func argCountMessage(cmd *command, pos []string) string {
	switch {
	case len(cmd.args) == 0:
		return fmt.Sprintf("%s takes no arguments, got %q", cmd.name, pos[0])
	case len(pos) < len(cmd.args):
		return fmt.Sprintf("%s needs %s; missing %s", cmd.name, strings.Join(cmd.args, " and "),
			strings.Join(cmd.args[len(pos):], " and "))
	}
	return fmt.Sprintf("%s takes %d argument(s) (%s), got %d: unexpected %q", cmd.name,
		len(cmd.args), strings.Join(cmd.args, " "), len(pos), pos[len(cmd.args)])
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // help and errors are printed by the caller
	fs.Usage = func() {}
	return fs
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments, so "get ID -o json" works; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// configure checks the output format and builds the client from flags and
// the environment (flags win).
func (a *app) configure(cmd *command) error {
	g := &a.g
	if g.output != "table" && g.output != "json" {
		return usagef("-o %q is not an output format: use -o table (the default) or -o json", g.output)
	}
	if g.timeout < 0 {
		return usagef("--timeout %s is negative: give a duration such as 30s or 10m, or 0 for no limit", g.timeout)
	}
	fromEnv := func(v *string, name string) {
		if *v == "" {
			*v = strings.TrimSpace(a.getenv(name))
		}
	}
	fromEnv(&g.url, envURL)
	fromEnv(&g.service, envService)
	fromEnv(&g.environment, envEnvironment)
	fromEnv(&g.org, envOrg)

	if g.url == "" && cmd.ownsURL {
		return usagef("%s is not set: export %s, or give --url before the command name (in %s, --url is the ISO's URL)", envURL, envURL, cmd.name)
	}
	if g.url == "" {
		return usagef("%s is not set: pass --url or export %s (the API base URL, e.g. https://cloudmc.example.com/api/v2)", envURL, envURL)
	}
	key, err := a.apiKey()
	if err != nil {
		return err
	}
	if cmd.needsEnv {
		if g.service == "" {
			return usagef("%s is not set: pass --service or export %s (the service connection code, e.g. compute-on)", envService, envService)
		}
		if g.environment == "" {
			return usagef("%s is not set: pass --environment or export %s (the environment name, e.g. test_area)", envEnvironment, envEnvironment)
		}
	}
	opts := []cloudmc.Option{
		cloudmc.WithUserAgent("cloudmc-iso"),
		cloudmc.WithWaitTimeout(0), // --timeout bounds the whole command instead
	}
	if g.org != "" {
		opts = append(opts, cloudmc.WithOrganization(g.org))
	}
	if g.insecure {
		opts = append(opts, cloudmc.WithInsecureHTTP())
	}
	c, err := cloudmc.NewClient(g.url, key, opts...)
	if err != nil {
		if strings.HasPrefix(strings.ToLower(g.url), "http://") && !g.insecure {
			return usagef("the API URL uses plain http to a host that is not loopback: use https, or pass --insecure-http to send the key in clear text to %s", g.url)
		}
		return usagef("%s", tidy(err))
	}
	a.client = c
	return nil
}

// apiKey finds the key: --api-key-file, --api-key, then CLOUDMC_API_KEY.
// It never puts the key in a message.
func (a *app) apiKey() (string, error) {
	g := &a.g
	if g.apiKeyFlag && g.apiKeyFile != "" {
		return "", usagef("--api-key and --api-key-file exclude each other: keep --api-key-file")
	}
	if g.apiKeyFlag {
		fmt.Fprintf(a.stderr, "cloudmc-iso: warning: --api-key leaves the key in your shell history and the process list; prefer %s or --api-key-file\n", envAPIKey)
	}
	var key string
	switch {
	case g.apiKeyFile != "":
		b, err := os.ReadFile(g.apiKeyFile)
		if err != nil {
			return "", usagef("cannot read --api-key-file: %v", err)
		}
		key = strings.TrimSpace(string(b))
		if key == "" {
			return "", usagef("--api-key-file %s is empty: put the API key in it", g.apiKeyFile)
		}
	case g.apiKeyFlag:
		key = strings.TrimSpace(g.apiKey)
		if key == "" {
			return "", usagef("--api-key is empty: export %s or pass --api-key-file instead", envAPIKey)
		}
	default:
		key = strings.TrimSpace(a.getenv(envAPIKey))
		if key == "" {
			return "", usagef("%s is not set: export %s or pass --api-key-file FILE (the key of your CloudMC user, from its API credentials page)", envAPIKey, envAPIKey)
		}
	}
	return key, nil
}

// usage reports a command-line mistake and returns exitUsage.
func (a *app) usage(cmd *command, msg string) int {
	prefix, helpCmd := "cloudmc-iso", "cloudmc-iso --help"
	if cmd != nil {
		prefix = "cloudmc-iso " + cmd.name
		helpCmd = "cloudmc-iso " + cmd.name + " --help"
	}
	fmt.Fprintf(a.stderr, "%s: %s\nRun '%s' for usage.\n", prefix, msg, helpCmd)
	return exitUsage
}

// exitCode maps an error to the documented exit statuses.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, cloudmc.ErrInvalidArgument):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	case errors.Is(err, cloudmc.ErrTaskFailed):
		return exitTaskFailed
	case errors.Is(err, cloudmc.ErrNotFound):
		return exitNotFound
	case errors.Is(err, cloudmc.ErrUnauthorized):
		return exitUnauthorized
	}
	return exitAPI
}

// fail prints what went wrong and what to do about it, and returns the exit
// status for err.
func (a *app) fail(err error) int {
	code := exitCode(err)
	name := "cloudmc-iso"
	if a.cmd != nil {
		name += " " + a.cmd.name
	}
	fmt.Fprintf(a.stderr, "%s: %s\n", name, tidy(err))
	if hint := a.hint(code, err); hint != "" {
		fmt.Fprintln(a.stderr, hint)
	}
	return code
}

func (a *app) hint(code int, err error) string {
	resume := ""
	if a.taskID != "" {
		resume = fmt.Sprintf(" Task %s goes on running on the server; wait for it with: cloudmc-iso task wait %s", a.taskID, a.taskID)
	}
	switch code {
	case exitUsage:
		var ue *usageError
		if errors.As(err, &ue) && a.cmd == nil {
			return ""
		}
		if a.cmd != nil {
			return fmt.Sprintf("Run 'cloudmc-iso %s --help' for usage.", a.cmd.name)
		}
	case exitInterrupted:
		return "Interrupted." + resume
	case exitTimeout:
		return fmt.Sprintf("Gave up after --timeout %s.%s", a.g.timeout, resume)
	case exitTaskFailed:
		return "The operation did not take place."
	case exitNotFound:
		if a.cmd != nil && strings.HasPrefix(a.cmd.name, "task") {
			return "Check the task id; the server keeps tasks for about 30 minutes."
		}
		return fmt.Sprintf("Check the ids ('cloudmc-iso list' shows the ISOs) and the service and environment (%s/%s).",
			a.g.service, a.g.environment)
	case exitUnauthorized:
		return fmt.Sprintf("The server refused the API key: check %s (or --api-key-file) and, if set, --org.", envAPIKey)
	case exitAPI:
		var apiErr *cloudmc.APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.StatusCode >= 500:
			return "The server failed; try again later."
		case errors.As(err, &apiErr), errors.Is(err, cloudmc.ErrInvalidResponse):
			return ""
		}
		return fmt.Sprintf("Check that %s is the right URL and that the server is reachable.", a.g.url)
	}
	return ""
}

// tidy drops the SDK's "cloudmc: " prefixes, which read as noise after the
// command's own name.
func tidy(err error) string {
	return strings.ReplaceAll(err.Error(), "cloudmc: ", "")
}

// isTerminal reports whether w is a terminal (a character device), without
// an x/term dependency.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
