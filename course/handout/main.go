// Command handout cuts the student handout out of the reference solution and
// checks that the cut is right.
//
//	go run ./course/handout                      # writes dist/handout
//	go run ./course/handout -keep 1,2A -out DIR  # keeps the solutions of stages 1, 2AA, 2AB, 2AC
//	go run ./course/handout -check               # the checks CI runs (make handout-check)
//	go run ./course/handout -check -all          # every check, slow stages too (make handout-check-all)
//
// Solutions are marked in the reference with //lab:begin STAGE, //lab:else
// and //lab:end (# and <!-- --> in Makefiles and Markdown); see doc/handout.md.
// The generator is staff-only: it is not part of the handout itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

type options struct {
	cfg         Config
	keep        string
	check       bool
	all         bool
	stages      string
	failTimeout time.Duration
	parallel    int
	work        string
	quiet       bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("handout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cfg.Src, "src", ".", "the reference checkout")
	fs.StringVar(&o.cfg.Out, "out", "dist/handout", "where the handout goes (replaced)")
	fs.StringVar(&o.keep, "keep", "", "keep the solutions of these stages (comma-separated; 2A and all work too)")
	fs.BoolVar(&o.cfg.Hidden, "hidden", false, "also write the hidden test tier (for a private grading repository)")
	fs.BoolVar(&o.cfg.Classroom, "classroom", false, "install the GitHub Classroom workflow as "+classroomWorkflow)
	fs.BoolVar(&o.cfg.Git, "git", false, "make the handout a git repository with one commit")
	fs.BoolVar(&o.check, "check", false, "check the handout instead of writing it (see doc/handout.md)")
	fs.BoolVar(&o.all, "all", false, "with -check: every check, also the slow cluster stages")
	fs.StringVar(&o.stages, "stages", "all", "with -check: the stages to check")
	fs.DurationVar(&o.failTimeout, "fail-timeout", 5*time.Second, "with -check: per-test timeout when a test must fail on the handout")
	fs.IntVar(&o.parallel, "parallel", 4, "with -check: tests run at once where they must fail (where they must pass: at most the number of cores)")
	fs.StringVar(&o.work, "work", "", "with -check: keep the checked trees in this directory (default: a temporary one, removed)")
	fs.BoolVar(&o.quiet, "q", false, "print less")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./course/handout [-keep STAGES] [-out DIR] | -check [-all]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.parallel < 1 || o.failTimeout <= 0 {
		return nil, fmt.Errorf("-parallel and -fail-timeout must be positive")
	}
	o.cfg.Keep = map[string]bool{}
	if o.keep != "" {
		kept, err := stage.Expand(o.keep)
		if err != nil {
			return nil, fmt.Errorf("-keep: %w", err)
		}
		for _, s := range kept {
			o.cfg.Keep[s] = true
		}
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "handout:", err)
		}
		return 2
	}
	if o.check {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runChecks(ctx, o, stdout)
	}
	start := time.Now()
	sum, err := Generate(o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "handout: %v\n", err)
		return 1
	}
	if !o.quiet {
		printSummary(stdout, sum)
	}
	fmt.Fprintf(stdout, "handout written to %s in %v\n", o.cfg.Out, time.Since(start).Round(time.Millisecond))
	return 0
}

// printSummary tells what the handout lost, stage by stage.
func printSummary(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "%d files written (%d rewritten), %d hidden-tier files and %d staff-only files left out",
		s.Copied, s.Rewritten, len(s.Hidden), len(s.StaffOnly))
	if s.HiddenWeights > 0 {
		fmt.Fprintf(w, ", %d hidden tests' weights removed", s.HiddenWeights)
	}
	fmt.Fprintln(w)
	names := summaryStages(s)
	if len(names) == 0 {
		fmt.Fprintln(w, "no solution markers found")
		return
	}
	fmt.Fprintf(w, "%-6s %8s %14s %11s %14s\n", "stage", "regions", "lines removed", "stub lines", "files dropped")
	for _, name := range names {
		st := s.Stages[name]
		fmt.Fprintf(w, "%-6s %8d %14d %11d %14d\n", name, st.Regions, st.Lines, st.StubLines, st.Files)
	}
	var missing []string
	for _, name := range stage.All {
		if s.Stages[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "no markers yet for stage %s\n", strings.Join(missing, ", "))
	}
}
