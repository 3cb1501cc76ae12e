// Command grade runs the graded tests of one or more course stages, each test
// in a go test process of its own, and prints a table and a score.
//
//	go run ./course/grade -stage 2B
//	go run ./course/grade -stage 2A -runs 5 -parallel 2
//	go run ./course/grade -stage 4B -tags grading -json result.json -junit result.xml
//
// The last line is `score: P/T points (N passed, M failed)`; the exit status
// is 0 when every test passed, 1 when one did not, 2 on bad usage.
// See doc/grading.md.
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
	"strings"
	"syscall"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
	"github.com/tinykv-lab/tinykv/course/internal/grading"
	"github.com/tinykv-lab/tinykv/course/internal/stage"
	"github.com/tinykv-lab/tinykv/course/internal/tty"
	"github.com/tinykv-lab/tinykv/course/internal/weights"
)

type flags struct {
	stages   string
	runs     int
	parallel int
	timeout  time.Duration
	tags     string
	run      string
	race     bool
	jsonOut  string
	junitOut string
	classOut string
	weights  string
	logDir   string
	list     bool
	quiet    bool
	memory   int64
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("grade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.stages, "stage", "", "stages to grade, comma-separated: "+stage.Names())
	fs.IntVar(&f.runs, "runs", 1, "run every test `N` times; a test that passes some runs and fails others is flaky")
	fs.IntVar(&f.parallel, "parallel", 1, "run `W` tests at once (cluster tests are timing-sensitive: keep W at most the number of cores)")
	fs.DurationVar(&f.timeout, "timeout", 0, "per-test timeout for every test (default: from the weights file, per stage)")
	fs.StringVar(&f.tags, "tags", "", "build tags; `grading` adds the hidden test tier")
	fs.StringVar(&f.run, "run", "", "only tests whose name matches this `regexp`")
	fs.BoolVar(&f.race, "race", false, "build the tests with the race detector")
	fs.StringVar(&f.jsonOut, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&f.junitOut, "junit", "", "write the results as JUnit XML to `file`")
	fs.StringVar(&f.classOut, "classroom", "", "write the results in GitHub Classroom's autograding format to `file`")
	fs.StringVar(&f.weights, "weights", "", "weights `file` (default: course/weights.json in the module)")
	fs.StringVar(&f.logDir, "logs", "", "keep the logs of failing runs in `dir` (default: dist/grade/STAGES)")
	fs.BoolVar(&f.list, "list", false, "list the tests of the stages with their points and timeouts, run nothing")
	fs.BoolVar(&f.quiet, "q", false, "no progress lines, only the table and the score")
	fs.Int64Var(&f.memory, "memory", gotest.DefaultMemoryLimit>>20, "kill a test run that uses more than `MiB` of memory (it fails with reason memory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./course/grade -stage STAGE [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case f.stages == "":
		return nil, fmt.Errorf("-stage is required (one of %s)", stage.Names())
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case f.runs < 1 || f.parallel < 1:
		return nil, fmt.Errorf("-runs and -parallel must be at least 1")
	case f.timeout < 0:
		return nil, fmt.Errorf("-timeout must not be negative")
	case f.memory < 1:
		return nil, fmt.Errorf("-memory must be at least 1 MiB")
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
			fmt.Fprintln(stderr, "grade:", err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, opts, err := grade(ctx, f, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "grade:", err)
		return 2
	}
	if rep == nil {
		return 0
	}
	if err := writeResults(f, rep, opts.Tags); err != nil {
		fmt.Fprintln(stderr, "grade:", err)
		return 2
	}
	grading.WriteTable(stdout, rep, grading.TableOptions{Color: tty.Interactive(stdout), Tags: opts.Tags, Race: f.race, TailSize: 15})
	if rep.Failed > 0 {
		return 1
	}
	return 0
}

// grade finds the tests and runs them; a nil report means -list.
func grade(ctx context.Context, f *flags, stdout io.Writer) (*grading.Report, *grading.Options, error) {
	stages, err := stage.Expand(f.stages)
	if err != nil {
		return nil, nil, err
	}
	root, module, err := gotest.ModuleRoot(".")
	if err != nil {
		return nil, nil, err
	}
	opts := &grading.Options{Root: root, Module: module, Runs: f.runs, Parallel: f.parallel, Timeout: f.timeout, Race: f.race, MemoryLimit: f.memory << 20}
	if f.tags != "" {
		opts.Tags = strings.Split(f.tags, ",")
	}
	if f.run != "" {
		if opts.Filter, err = regexp.Compile(f.run); err != nil {
			return nil, nil, fmt.Errorf("-run: %w", err)
		}
	}
	if opts.Weights, err = loadWeights(root, f.weights); err != nil {
		return nil, nil, err
	}
	hidden := false
	for _, t := range opts.Tags {
		hidden = hidden || t == gotest.GradingTag
	}
	all, err := gotest.Discover(root, module, gotest.Scope{Hidden: hidden})
	if err != nil {
		return nil, nil, err
	}
	opts.Tests = gotest.Select(all, stages)
	if f.list {
		list(stdout, opts)
		return nil, opts, nil
	}
	label := strings.Join(stages, ",")
	if len(opts.Tests) == 0 {
		fmt.Fprintf(stdout, "stage %s: no tests yet (no Test...%s function in this tree)\n", label, stages[len(stages)-1])
		return &grading.Report{}, opts, nil
	}
	opts.LogDir = f.logDir
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(root, "dist", "grade", strings.ReplaceAll(label, ",", "-"))
	}
	if !f.quiet {
		opts.Progress = grading.NewProgress(stdout, tty.Interactive(stdout), f.runs)
	}
	fmt.Fprintf(stdout, "grading stage %s: %d tests, %d run(s) each, %d at a time\n", label, len(opts.Tests), f.runs, f.parallel)
	rep, err := grading.Grade(ctx, *opts)
	return rep, opts, err
}

func loadWeights(root, path string) (*weights.File, error) {
	if path != "" {
		return weights.Load(path)
	}
	w, err := weights.Load(filepath.Join(root, weights.DefaultPath))
	if os.IsNotExist(err) {
		return &weights.File{}, nil
	}
	return w, err
}

func list(w io.Writer, opts *grading.Options) {
	total := 0
	for _, t := range opts.Tests {
		if opts.Filter != nil && !opts.Filter.MatchString(t.Name) {
			continue
		}
		points, timeout := opts.Weights.For(t.Stage, t.Name)
		if opts.Timeout > 0 {
			timeout = opts.Timeout
		}
		hidden := ""
		if t.Hidden {
			hidden = " (hidden)"
		}
		fmt.Fprintf(w, "%-4s %-45s %-28s %3d points  timeout %v%s\n", t.Stage, t.Name, t.Pattern(), points, timeout, hidden)
		total += points
	}
	fmt.Fprintf(w, "total: %d points\n", total)
}

func writeResults(f *flags, rep *grading.Report, tags []string) error {
	if f.jsonOut != "" {
		if err := grading.WriteJSON(f.jsonOut, rep); err != nil {
			return err
		}
	}
	if f.junitOut != "" {
		if err := grading.WriteJUnit(f.junitOut, "tinykv stage "+f.stages, rep); err != nil {
			return err
		}
	}
	if f.classOut != "" {
		return grading.WriteClassroom(f.classOut, rep, tags)
	}
	return nil
}
