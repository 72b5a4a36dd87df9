// Command cloudmc-iso manages the ISOs of a CloudMC environment from the
// command line: list, get, attach, detach, download URLs, import, delete, and
// tasks. It is built on the github.com/cloudmc-go/cloudmc SDK and meant for
// people and for scripts (-o json, documented exit codes). Run
// "cloudmc-iso --help" for usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
