// Command cloudmc-fake runs the cloudmctest fake CloudMC server as a program,
// so that shell scripts, CI pipelines and programs written in any language
// can be tested against CloudMC without a real deployment.
//
// It prints the base URL and key to use on start, as CLOUDMC_*=value lines
// (or writes them to a file with --env-file), logs every request it serves
// to stderr and stops cleanly on SIGINT or SIGTERM. Run
// "cloudmc-fake --help" for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
