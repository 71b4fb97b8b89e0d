// Command agora runs and operates agora nodes: `agora serve` runs a node,
// `agora migrate` prepares a store. See ../../shared/design/api.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a bad command line: exit status 2.
var errUsage = errors.New("usage")

const usage = `agora: a server for Polis-style deliberation at scale

Usage:
  agora serve   [flags]   run a node (see agora serve -h)
  agora migrate [flags]   apply the store's migrations and exit
  agora loadgen [flags]   load a node with virtual users and check its counters (see agora loadgen -h)
  agora analyze DIR [--json FILE]   run the math offline on a Polis export folder
  agora import polis DIR --server URL       upload a Polis export folder (admin token: AGORA_ADMIN_TOKEN)
  agora export polis CID DIR --server URL   write a conversation's Polis export files into DIR
  agora gen --server URL [flags]            create a synthetic conversation (see agora gen -h)

Every flag can also be set with AGORA_<FLAG> in the environment
(e.g. --http-addr is AGORA_HTTP_ADDR).
`

// run executes one command line and returns the process's exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = runMigrate(ctx, args[1:], stdout, stderr)
	case "loadgen":
		err = runLoadgen(ctx, args[1:], stdout, stderr)
	case "analyze":
		err = runAnalyze(args[1:], stdout, stderr)
	case "import":
		err = runImport(ctx, args[1:], stdout, stderr)
	case "export":
		err = runExport(ctx, args[1:], stdout, stderr)
	case "gen":
		err = runGen(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "agora: unknown command %q (try agora --help)\n", args[0])
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "agora %s: %v\n", args[0], strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	default:
		fmt.Fprintf(stderr, "agora %s: %v\n", args[0], err)
		return 1
	}
}

// parseFlags parses args, then fills every flag not given on the command
// line from AGORA_<FLAG> in the environment.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseQuietly(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, e)
			}
		}
	})
	return err
}

// parseQuietly is fs.Parse(args) with a bad flag as one errUsage line
// (main prints it), instead of the flag package's message followed by every
// flag; -h prints the flags to fs's output.
func parseQuietly(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		name := fs.Name()
		if !strings.HasPrefix(name, "agora ") {
			name = "agora " + name
		}
		fmt.Fprintf(out, "usage of %s:\n", name)
		fs.PrintDefaults()
		return err
	case err != nil:
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// envAliases name the variables whose names api.md fixes differently from
// the AGORA_<FLAG> rule.
var envAliases = map[string]string{"postgres": "AGORA_POSTGRES_URL"}

// envName returns the environment variable that sets a flag.
func envName(flag string) string {
	if env, ok := envAliases[flag]; ok {
		return env
	}
	return "AGORA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
