// Package grading runs a set of course tests, each in a process of its own and
// as many times as asked, and turns the runs into a report: verdicts, pass
// rates, points and the logs of the runs that failed.
package grading

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
	"github.com/tinykv-lab/tinykv/course/internal/weights"
)

// Options say what to run and how.
type Options struct {
	Root, Module string
	Tests        []gotest.Test  // what to run, usually from gotest.Discover
	Weights      *weights.File  // points and default timeouts; nil means the package defaults
	Timeout      time.Duration  // per-test timeout for every test; 0 takes it from Weights
	Runs         int            // runs per test (>= 1)
	Parallel     int            // tests running at once (>= 1)
	Tags         []string       // build tags; include gotest.GradingTag for the hidden tier
	Race         bool           // build with the race detector
	Env          []string       // extra environment for the tests
	BuildEnv     []string       // extra environment for the go command
	LogDir       string         // failing runs' logs go here; "" keeps none
	Progress     *Progress      // live output; nil prints nothing
	Filter       *regexp.Regexp // when set, only tests whose name matches
	MemoryLimit  int64          // resident memory a run may use, bytes; 0 means gotest.DefaultMemoryLimit

	binaries map[string]*gotest.Binary // by package directory, set by buildAll
}

// Run is one run of one test.
type Run struct {
	gotest.Result
	N   int    `json:"run"`
	Log string `json:"log,omitempty"` // the kept log of a failing run
}

// Verdicts over all the runs of a test.
const (
	VerdictPass  = "pass"
	VerdictFail  = "fail"
	VerdictFlaky = "flaky" // passed some runs and failed others
	VerdictSkip  = "skip"
)

// TestReport is everything about one test.
type TestReport struct {
	gotest.Test
	Points  int           `json:"points"`
	Earned  int           `json:"earned"`
	Timeout time.Duration `json:"timeout_ns"`
	Verdict string        `json:"verdict"`
	Passed  int           `json:"passed_runs"`
	Runs    []Run         `json:"runs"`
}

// Mean is the mean duration of the runs.
func (t *TestReport) Mean() time.Duration {
	if len(t.Runs) == 0 {
		return 0
	}
	var sum time.Duration
	for _, r := range t.Runs {
		sum += r.Elapsed
	}
	return sum / time.Duration(len(t.Runs))
}

// FirstFailure is the first run that did not pass, or nil.
func (t *TestReport) FirstFailure() *Run {
	for i := range t.Runs {
		if t.Runs[i].Status != gotest.Pass {
			return &t.Runs[i]
		}
	}
	return nil
}

// Report is the result of a whole grading run.
type Report struct {
	Tests   []*TestReport `json:"tests"`
	Score   int           `json:"score"`
	Total   int           `json:"total"`
	Passed  int           `json:"passed"`
	Failed  int           `json:"failed"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Grade builds the test binaries, runs every test opts.Runs times over
// opts.Parallel workers, and scores the result: a test earns its points only
// when every run passed.
func Grade(ctx context.Context, opts Options) (*Report, error) {
	if opts.Runs < 1 {
		opts.Runs = 1
	}
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	if opts.Weights == nil {
		opts.Weights = &weights.File{}
	}
	start := time.Now()
	reports := opts.plan()
	if len(reports) == 0 {
		return &Report{}, nil
	}
	binDir, err := os.MkdirTemp("", "tinykv-grade-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	tempRoot, err := os.MkdirTemp("", "tinykv-grade-tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tempRoot)
	if err := clearLogs(opts.LogDir, reports); err != nil {
		return nil, err
	}
	opts.buildAll(ctx, reports, binDir)
	opts.runAll(ctx, reports, tempRoot)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	rep := score(reports)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// plan makes one report per selected test, with its points and timeout.
func (o *Options) plan() []*TestReport {
	var reports []*TestReport
	for _, t := range o.Tests {
		if o.Filter != nil && !o.Filter.MatchString(t.Name) {
			continue
		}
		points, timeout := o.Weights.For(t.Stage, t.Name)
		if o.Timeout > 0 {
			timeout = o.Timeout
		}
		reports = append(reports, &TestReport{Test: t, Points: points, Timeout: timeout})
	}
	return reports
}

// buildAll compiles one test binary per package, one package at a time
// (the go command already uses every core).
func (o *Options) buildAll(ctx context.Context, reports []*TestReport, binDir string) {
	o.binaries = map[string]*gotest.Binary{}
	bopts := gotest.BuildOptions{Root: o.Root, OutDir: binDir, Tags: o.Tags, Race: o.Race, Env: o.BuildEnv}
	for _, r := range reports {
		if _, done := o.binaries[r.Dir]; done {
			continue
		}
		o.Progress.building(r.Pattern())
		b := gotest.Build(ctx, bopts, r.Dir, r.ImportPath)
		if b.Failure != nil {
			o.Progress.buildFailed(r.Pattern(), b.Failure)
		}
		o.binaries[r.Dir] = b
	}
}

// clearLogs removes the logs an earlier run left for these tests, so that
// every log in the directory belongs to this run; other files stay.
func clearLogs(dir string, reports []*TestReport) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range reports {
		old, err := filepath.Glob(filepath.Join(dir, r.Name+"-*.log"))
		if err != nil {
			return err
		}
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

type job struct {
	report *TestReport
	n      int
}

// runAll runs every test opts.Runs times; all first runs come before any
// second run, so a long -runs session gives an early picture of every test.
func (o *Options) runAll(ctx context.Context, reports []*TestReport, tempRoot string) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := len(reports) * o.Runs
	done := 0
	o.Progress.start(total)
	for w := 0; w < o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				run := o.runOne(ctx, j, tempRoot)
				mu.Lock()
				j.report.Runs = append(j.report.Runs, run)
				done++
				n := done
				mu.Unlock()
				o.Progress.finished(n, total, j.report, run)
			}
		}()
	}
	for n := 1; n <= o.Runs; n++ {
		for _, r := range reports {
			select {
			case jobs <- job{r, n}:
			case <-ctx.Done():
			}
		}
	}
	close(jobs)
	wg.Wait()
	o.Progress.stop()
}

// runOne runs a test once, writing its output to a log that is kept only
// when the run fails.
func (o *Options) runOne(ctx context.Context, j job, tempRoot string) Run {
	r := j.report
	if ctx.Err() != nil {
		return Run{N: j.n, Result: gotest.Result{Outcome: gotest.Outcome{Status: gotest.Fail, Reason: "interrupted"}}}
	}
	var logFile *os.File
	logPath := ""
	if o.LogDir != "" {
		logPath = filepath.Join(o.LogDir, fmt.Sprintf("%s-%d.log", r.Name, j.n))
		if f, err := os.Create(logPath); err == nil {
			logFile = f
		}
	}
	o.Progress.started(r.Name, j.n)
	ropts := gotest.RunOptions{Test: r.Name, Timeout: r.Timeout, Env: o.Env, TempDir: tempRoot, MemoryLimit: o.MemoryLimit}
	if logFile != nil {
		ropts.Log = logFile
	}
	res := o.binaries[r.Dir].Run(ctx, ropts)
	o.Progress.ended(r.Name, j.n)
	run := Run{Result: res, N: j.n}
	if logFile != nil {
		logFile.Close()
		if res.Status == gotest.Pass {
			os.Remove(logPath)
		} else {
			run.Log = logPath
		}
	}
	return run
}

// score sets verdicts and points and sums them up.
func score(reports []*TestReport) *Report {
	rep := &Report{Tests: reports}
	for _, r := range reports {
		r.Passed = 0
		skipped := 0
		for _, run := range r.Runs {
			switch run.Status {
			case gotest.Pass:
				r.Passed++
			case gotest.Skip:
				skipped++
			}
		}
		switch {
		case len(r.Runs) > 0 && r.Passed == len(r.Runs):
			r.Verdict, r.Earned = VerdictPass, r.Points
		case r.Passed > 0:
			r.Verdict = VerdictFlaky
		case skipped == len(r.Runs) && skipped > 0:
			r.Verdict = VerdictSkip
		default:
			r.Verdict = VerdictFail
		}
		rep.Total += r.Points
		rep.Score += r.Earned
		if r.Verdict == VerdictPass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	return rep
}

// ScoreLine is the last line the grader prints.
func (r *Report) ScoreLine() string {
	return fmt.Sprintf("score: %d/%d points (%d passed, %d failed)", r.Score, r.Total, r.Passed, r.Failed)
}

// Replay is the command that runs one test the way the grader did.
func Replay(t gotest.Test, tags []string, race bool) string {
	cmd := "go test"
	if len(tags) > 0 {
		cmd += " -tags " + strings.Join(tags, ",")
	}
	if race {
		cmd += " -race"
	}
	return fmt.Sprintf("%s -count=1 -run '^%s$' %s", cmd, t.Name, t.Pattern())
}
