// Command runtests runs tests many times over several workers, each run in a
// process of its own, keeps the logs of the failing runs only, and prints a
// summary of failures and mean times: the tool to hunt a flaky test.
//
//	go run ./course/runtests -run TestOneSplit3B -n 50 -parallel 4
//	LOG_LEVEL=debug go run ./course/runtests -run 'Persist.*2C' -n 20
//
// Logs of failing runs are kept in dist/runtests/TEST-RUN.log; read them
// with `go run ./course/logview`. See doc/grading.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
	"github.com/tinykv-lab/tinykv/course/internal/grading"
	"github.com/tinykv-lab/tinykv/course/internal/tty"
	"github.com/tinykv-lab/tinykv/course/internal/weights"
)

type flags struct {
	run      string
	n        int
	parallel int
	timeout  time.Duration
	tags     string
	race     bool
	logDir   string
	pkg      string
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("runtests", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.run, "run", "", "tests to run: a `regexp` matched against test names (required)")
	fs.IntVar(&f.n, "n", 10, "runs of every test")
	fs.IntVar(&f.parallel, "parallel", runtime.NumCPU(), "runs at once (more than the cores makes timing-sensitive tests fail)")
	fs.DurationVar(&f.timeout, "timeout", 0, "per-run timeout (default: the stage's, from course/weights.json)")
	fs.StringVar(&f.tags, "tags", "", "build tags (grading: the hidden tier, where present)")
	fs.BoolVar(&f.race, "race", false, "build with the race detector")
	fs.StringVar(&f.logDir, "logs", "", "keep failing runs' logs in `dir` (default: dist/runtests)")
	fs.StringVar(&f.pkg, "pkg", "", "only tests of this package `dir` (./raft)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./course/runtests -run REGEXP [-n N] [-parallel W] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case f.run == "" && fs.NArg() == 1:
		f.run = "^" + fs.Arg(0) + "$"
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case f.run == "":
		return nil, fmt.Errorf("name the tests with -run REGEXP (or give one test name)")
	}
	if f.n < 1 || f.parallel < 1 || f.timeout < 0 {
		return nil, fmt.Errorf("-n and -parallel must be at least 1, -timeout not negative")
	}
	return f, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "runtests:", err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runTests(ctx, f, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "runtests:", err)
		return 2
	}
	summarize(stdout, rep)
	for _, t := range rep.Tests {
		if t.Passed < len(t.Runs) {
			return 1
		}
	}
	return 0
}

func runTests(ctx context.Context, f *flags, stdout io.Writer) (*grading.Report, error) {
	filter, err := regexp.Compile(f.run)
	if err != nil {
		return nil, fmt.Errorf("-run: %w", err)
	}
	root, module, err := gotest.ModuleRoot(".")
	if err != nil {
		return nil, err
	}
	opts := grading.Options{Root: root, Module: module, Runs: f.n, Parallel: f.parallel, Timeout: f.timeout, Race: f.race, Filter: filter}
	if f.tags != "" {
		opts.Tags = strings.Split(f.tags, ",")
	}
	hidden := strings.Contains(","+f.tags+",", ","+gotest.GradingTag+",")
	all, err := gotest.Discover(root, module, gotest.Scope{Hidden: hidden, AnyStage: true})
	if err != nil {
		return nil, err
	}
	for _, t := range all {
		if filter.MatchString(t.Name) && (f.pkg == "" || filepath.Clean(t.Pattern()) == filepath.Clean(f.pkg)) {
			opts.Tests = append(opts.Tests, t)
		}
	}
	if len(opts.Tests) == 0 {
		return nil, fmt.Errorf("no test function matches %q", f.run)
	}
	if opts.Weights, err = weights.Load(filepath.Join(root, weights.DefaultPath)); err != nil {
		opts.Weights = &weights.File{}
	}
	opts.LogDir = f.logDir
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(root, "dist", "runtests")
	}
	opts.Progress = grading.NewProgress(stdout, tty.Interactive(stdout), f.n)
	fmt.Fprintf(stdout, "%d tests x %d runs, %d at a time; failing logs go to %s\n", len(opts.Tests), f.n, f.parallel, opts.LogDir)
	return grading.Grade(ctx, opts)
}

// summarize prints a row per test and the failing runs with their logs; the
// last line counts runs.
func summarize(w io.Writer, rep *grading.Report) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tPACKAGE\tRUNS\tPASSED\tFAILED\tMEAN\tMAX")
	passed, failed := 0, 0
	for _, t := range rep.Tests {
		var max time.Duration
		for _, r := range t.Runs {
			if r.Elapsed > max {
				max = r.Elapsed
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%v\t%v\n", t.Name, t.Dir, len(t.Runs), t.Passed, len(t.Runs)-t.Passed,
			t.Mean().Round(10*time.Millisecond), max.Round(10*time.Millisecond))
		passed += t.Passed
		failed += len(t.Runs) - t.Passed
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintln(w, "\nfailing runs:")
	}
	for _, t := range rep.Tests {
		for _, r := range t.Runs {
			if r.Status == gotest.Pass {
				continue
			}
			fmt.Fprintf(w, "  %s run %d: %s: %s\n", t.Name, r.N, r.Reason, r.Message)
			if r.Log != "" {
				fmt.Fprintf(w, "    log: %s\n", r.Log)
			}
		}
	}
	fmt.Fprintf(w, "\nruns: %d passed, %d failed\n", passed, failed)
}
