package gotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// BuildOptions say how test binaries are compiled.
type BuildOptions struct {
	Root   string   // module root
	OutDir string   // where binaries go
	Tags   []string // build tags (GradingTag for the hidden tier)
	Race   bool
	Env    []string // extra environment for the go command (GOFLAGS=-trimpath, say)
}

// Binary is a compiled test binary for one package, or the reason there is none.
type Binary struct {
	Dir        string // package directory relative to the module root
	ImportPath string
	Path       string // the executable; empty when the build failed
	Root       string
	Failure    *Outcome // the build failure shared by every test of the package
}

// Build compiles the test binary of the package in dir (relative to the
// module root) with `go test -c -json`, so that each test can then run in a
// process of its own without compiling again.
func Build(ctx context.Context, opts BuildOptions, dir, importPath string) *Binary {
	b := &Binary{Dir: dir, ImportPath: importPath, Root: opts.Root}
	name := strings.NewReplacer("/", "_", ".", "_").Replace(dir) + ".test"
	out := filepath.Join(opts.OutDir, name)
	args := []string{"test", "-c", "-json", "-o", out}
	if len(opts.Tags) > 0 {
		args = append(args, "-tags", strings.Join(opts.Tags, ","))
	}
	if opts.Race {
		args = append(args, "-race")
	}
	pattern := "./" + dir
	if dir == "." {
		pattern = "."
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pattern)...)
	cmd.Dir = opts.Root
	cmd.Env = append(os.Environ(), opts.Env...)
	output, err := cmd.CombinedOutput()
	if err == nil {
		if _, statErr := os.Stat(out); statErr == nil {
			b.Path = out
			return b
		}
	}
	c := NewCollector("", nil)
	if ferr := FeedAll(c, bytes.NewReader(output)); ferr != nil {
		err = ferr
	}
	c.buildFailed = true
	failure := c.Outcome()
	if failure.Message == "" {
		failure.Message = fmt.Sprintf("go test -c %s: %v", pattern, err)
	}
	b.Failure = &failure
	return b
}

// RunOptions say how one test runs.
type RunOptions struct {
	Test    string
	Timeout time.Duration // the test binary's own -test.timeout
	Env     []string      // extra environment (LOG_LEVEL, seeds)
	TempDir string        // parent of the run's private TMPDIR
	Log     io.Writer     // receives the test's output as plain text (t.Log lines included); may be nil
	// MemoryLimit bounds the resident memory of the run (bytes; 0 means
	// DefaultMemoryLimit). A run above it is killed and fails with
	// ReasonMemory: a bug that multiplies work must fail its test, not
	// exhaust the machine. Enforced on Linux.
	MemoryLimit int64
}

// DefaultMemoryLimit is far above what any correct test of the course uses
// (a five-store cluster test stays under 1 GiB).
const DefaultMemoryLimit = 4 << 30

// memoryPoll is how often a run's memory is measured.
const memoryPoll = 250 * time.Millisecond

// errMemory is a run killed for using more than its memory limit.
type errMemory struct{ used, limit int64 }

func (e errMemory) Error() string {
	return fmt.Sprintf("killed: the test used %d MiB of memory, more than the %d MiB limit (work that keeps multiplying? "+
		"messages handed out again by Ready, entries appended twice, a queue that never drains)", e.used>>20, e.limit>>20)
}

// killGrace is how long past its own timeout a test binary may take to print
// its goroutine dump before it is killed.
const killGrace = 30 * time.Second

// Result is an Outcome plus what the run left behind.
type Result struct {
	Outcome
	LeftFiles int `json:"left_files,omitempty"` // entries the test left in its TMPDIR
	// LeftProcesses tells that processes the test started were still
	// running once it had exited (the runner killed them).
	LeftProcesses bool `json:"left_processes,omitempty"`
}

// Run runs one test of the binary in a process of its own, in the package
// directory as `go test` does, with a fresh TMPDIR that is removed afterwards.
func (b *Binary) Run(ctx context.Context, opts RunOptions) Result {
	if b.Failure != nil {
		return Result{Outcome: *b.Failure}
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "run-")
	if err != nil {
		return Result{Outcome: Outcome{Status: Fail, Reason: ReasonExited, Message: "cannot make a temp dir: " + err.Error()}}
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	c := NewCollector(opts.Test, opts.Log)
	leftProcesses, err := b.stream(ctx, opts, tmp, c)
	out := c.Outcome()
	if out.Elapsed == 0 {
		out.Elapsed = time.Since(start)
	}
	var mem errMemory
	if errors.As(err, &mem) {
		out.Status, out.Reason, out.Message = Fail, ReasonMemory, mem.Error()
	} else if errors.Is(err, context.DeadlineExceeded) {
		out.Status, out.Reason = Fail, ReasonTimeout
		out.Message = fmt.Sprintf("killed: no result %v after the %v timeout", killGrace, opts.Timeout)
	} else if err != nil && out.Status == Pass {
		out.Status, out.Reason, out.Message = Fail, ReasonExited, err.Error()
	}
	entries, _ := os.ReadDir(tmp)
	return Result{Outcome: out, LeftFiles: len(entries), LeftProcesses: leftProcesses}
}

// stream runs the binary under test2json and feeds its events to c. It
// kills what the run left running and tells whether it had to.
func (b *Binary) stream(ctx context.Context, opts RunOptions, tmp string, c *Collector) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout+killGrace)
	defer cancel()
	args := []string{"-t", "-p", b.ImportPath, b.Path,
		"-test.run", "^" + opts.Test + "$", "-test.count", "1",
		"-test.timeout", opts.Timeout.String(), "-test.v=test2json"}
	cmd := exec.CommandContext(ctx, test2jsonPath(), args...)
	cmd.Dir = filepath.Join(b.Root, filepath.FromSlash(b.Dir))
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), opts.Env...)
	killGroupOnCancel(cmd)
	r, w, err := os.Pipe()
	if err != nil {
		return false, err
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return false, fmt.Errorf("starting %s: %w", b.Path, err)
	}
	limit := opts.MemoryLimit
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	watched := make(chan struct{})
	over := make(chan errMemory, 1)
	go watchMemory(cmd, limit, watched, over)
	feedErr := FeedAll(c, bufio.NewReaderSize(r, 64<<10))
	waitErr := cmd.Wait()
	close(watched)
	left := killLeftovers(cmd)
	select {
	case e := <-over:
		return left, e
	default:
	}
	if ctx.Err() != nil {
		return left, ctx.Err()
	}
	if feedErr != nil {
		return left, feedErr
	}
	var exit *exec.ExitError
	if errors.As(waitErr, &exit) {
		return left, nil // a failing test exits non-zero; the events say why
	}
	return left, waitErr
}

// watchMemory measures the run's process group until done closes, and
// kills the group (reporting on over) once it uses more than limit.
func watchMemory(cmd *exec.Cmd, limit int64, done <-chan struct{}, over chan<- errMemory) {
	tick := time.NewTicker(memoryPoll)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		used, ok := groupRSS(cmd.Process.Pid)
		if !ok {
			return
		}
		if used > limit {
			over <- errMemory{used: used, limit: limit}
			_ = cmd.Cancel()
			return
		}
	}
}

// test2jsonPath finds the toolchain's test2json once; `go tool test2json`
// works too but starts the go command for every test.
var test2jsonPath = sync.OnceValue(func() string {
	out, err := exec.Command("go", "tool", "-n", "test2json").Output()
	if p := strings.TrimSpace(string(out)); err == nil && p != "" {
		return p
	}
	return "test2json"
})
