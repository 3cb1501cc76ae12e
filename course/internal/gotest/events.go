// Package gotest finds the course's tests, builds their test binaries and runs
// one test per process, judging the result from the `go test -json` event
// stream (the format of `go test -json` and `go tool test2json`).
package gotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// Status is the verdict on one run of one test.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Reasons a run did not pass, from the most specific to the least.
const (
	ReasonFailed      = "failed"       // the test reported a failure (t.Error, t.Fatal)
	ReasonPanic       = "panic"        // the test or a goroutine panicked
	ReasonTimeout     = "timeout"      // the per-test timeout fired
	ReasonCrashed     = "crashed"      // a runtime fatal error (deadlock, concurrent map writes, out of memory)
	ReasonMemory      = "memory"       // killed for using more memory than the run may (RunOptions.MemoryLimit)
	ReasonExited      = "exited"       // the process exited in the middle of the test (os.Exit, log.Fatal)
	ReasonBuildFailed = "build failed" // the test binary did not compile
	ReasonNotFound    = "not found"    // the binary has no test of that name
	ReasonSkipped     = "skipped"      // the test called t.Skip
)

// Outcome is what one run of one test came to.
type Outcome struct {
	Status  Status        `json:"status"`
	Reason  string        `json:"reason,omitempty"`
	Message string        `json:"message,omitempty"` // the line that explains the failure best
	Elapsed time.Duration `json:"elapsed_ns"`
	Tail    []string      `json:"tail,omitempty"` // last lines of output, for a failure report
}

// Event is one line of `go test -json` output.
type Event struct {
	Time        time.Time `json:",omitempty"`
	Action      string
	Package     string  `json:",omitempty"`
	ImportPath  string  `json:",omitempty"` // build events carry this instead of Package
	Test        string  `json:",omitempty"`
	Output      string  `json:",omitempty"`
	Elapsed     float64 `json:",omitempty"`
	FailedBuild string  `json:",omitempty"`
}

// tailLines is how many lines of output an Outcome keeps.
const tailLines = 40

// fileLine matches the location prefix that t.Error and friends print.
var fileLine = regexp.MustCompile(`^\s*[\w.\-/]+\.go:\d+(:\d+)?: `)

// Collector judges one test from an event stream fed line by line, keeping
// only what the verdict needs, so that a huge debug log costs no memory.
// Every output line also goes to Log when it is set.
type Collector struct {
	Test string
	Log  io.Writer

	started, ended bool
	action         string
	elapsed        float64
	buildFailed    bool
	noTests        bool
	sawFailLine    bool
	firstPanic     string
	fatalError     string
	timeoutLine    string
	firstFileLine  string
	lastLine       string
	tail           []string

	// After the first panic the tail freezes and only the panic line and
	// the stack frames of the module's own code are kept, not the dump of
	// every goroutine of the runtime and the testing package.
	panicked     bool
	stack        []string
	pendingFrame string // a function line waiting for its file:line
}

// NewCollector returns a Collector for the named test.
func NewCollector(test string, log io.Writer) *Collector {
	return &Collector{Test: test, Log: log}
}

// FeedLine takes one line of the stream; lines that are not JSON events
// (stderr of the go command, say) count as package output.
func (c *Collector) FeedLine(line []byte) {
	var ev Event
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
		c.output(strings.TrimRight(string(line), "\r\n") + "\n")
		return
	}
	c.Feed(ev)
}

// Feed takes one decoded event.
func (c *Collector) Feed(ev Event) {
	switch ev.Action {
	case "build-output":
		c.output(ev.Output)
	case "build-fail":
		c.buildFailed = true
	case "output":
		if ev.Test == "" || ev.Test == c.Test || strings.HasPrefix(ev.Test, c.Test+"/") {
			c.output(ev.Output)
		}
	case "run":
		if ev.Test == c.Test {
			c.started = true
		}
	case "pass", "fail", "skip":
		if ev.Test == c.Test {
			c.ended, c.action, c.elapsed = true, ev.Action, ev.Elapsed
		}
		if ev.Test == "" && ev.FailedBuild != "" {
			c.buildFailed = true
		}
	}
}

func (c *Collector) output(text string) {
	if c.Log != nil {
		_, _ = io.WriteString(c.Log, text)
	}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		c.note(line)
	}
}

// note remembers what a verdict may need from one line of output.
func (c *Collector) note(line string) {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" {
		return
	}
	if c.panicked {
		c.noteStack(line)
	}
	switch {
	case strings.HasPrefix(trimmed, "panic: test timed out after"):
		c.timeoutLine = strings.TrimPrefix(trimmed, "panic: ")
	case strings.HasPrefix(trimmed, "panic: ") && c.firstPanic == "":
		c.firstPanic = strings.TrimSuffix(trimmed, " [recovered, repanicked]")
		c.firstPanic = strings.TrimSuffix(c.firstPanic, " [recovered]")
	case strings.HasPrefix(trimmed, "fatal error: ") && c.fatalError == "":
		c.fatalError = trimmed
	case strings.HasPrefix(trimmed, "--- FAIL"):
		c.sawFailLine = true
	case trimmed == "testing: warning: no tests to run":
		c.noTests = true
	case fileLine.MatchString(line) && c.firstFileLine == "" && !strings.HasPrefix(trimmed, "#"):
		c.firstFileLine = trimmed
	}
	c.lastLine = trimmed
	if !c.panicked && strings.HasPrefix(trimmed, "panic: ") {
		c.panicked = true
		c.stack = []string{line}
		return
	}
	if !c.panicked {
		c.tail = append(c.tail, line)
		if len(c.tail) > tailLines {
			c.tail = c.tail[len(c.tail)-tailLines:]
		}
	}
}

// maxStackLines bounds the frames kept from a panic's goroutine dump.
const maxStackLines = 16

// noteStack keeps a frame of a goroutine dump when its file belongs to the
// tests' own code rather than to the Go installation (runtime, testing).
// A frame is two lines: the function, then a tab and its file:line.
func (c *Collector) noteStack(line string) {
	if len(c.stack) >= maxStackLines {
		return
	}
	if !strings.HasPrefix(line, "\t") {
		c.pendingFrame = ""
		if !strings.HasPrefix(line, "goroutine ") && !strings.HasPrefix(line, "created by ") {
			c.pendingFrame = line
		}
		return
	}
	if c.pendingFrame != "" && ownCode(strings.TrimSpace(line)) {
		c.stack = append(c.stack, c.pendingFrame, line)
	}
	c.pendingFrame = ""
}

var goroot = filepath.ToSlash(runtime.GOROOT())

// ownCode tells a frame's file (an absolute path, or a module-relative one
// under -trimpath) that is neither in the Go installation nor generated.
func ownCode(fileLine string) bool {
	file, _, _ := strings.Cut(fileLine, ":")
	switch {
	case strings.HasSuffix(file, "_testmain.go"):
		return false
	case path.IsAbs(file) || filepath.IsAbs(file):
		return goroot == "" || !strings.HasPrefix(filepath.ToSlash(file), goroot+"/")
	}
	first, _, _ := strings.Cut(file, "/")
	return strings.Contains(first, ".")
}

// Outcome gives the verdict on everything fed so far.
func (c *Collector) Outcome() Outcome {
	o := Outcome{Elapsed: time.Duration(c.elapsed * float64(time.Second)), Tail: append(append([]string(nil), c.tail...), c.stack...)}
	switch {
	case c.buildFailed:
		o.Status, o.Reason, o.Message = Fail, ReasonBuildFailed, c.firstFileLine
	case c.ended && c.action == "pass":
		o.Status, o.Tail = Pass, nil
	case c.ended && c.action == "skip":
		o.Status, o.Reason, o.Message = Skip, ReasonSkipped, c.firstFileLine
	case c.started:
		o.Status = Fail
		o.Reason, o.Message = c.failure()
	case c.noTests:
		o.Status, o.Reason = Fail, ReasonNotFound
		o.Message = fmt.Sprintf("no test named %s in the binary", c.Test)
	default:
		o.Status, o.Reason, o.Message = Fail, ReasonExited, c.lastLine
		if o.Message == "" {
			o.Message = "the test binary printed nothing"
		}
	}
	return o
}

// failure explains a test that started and did not pass.
func (c *Collector) failure() (reason, message string) {
	switch {
	case c.timeoutLine != "":
		return ReasonTimeout, c.timeoutLine
	case c.firstPanic != "":
		return ReasonPanic, c.firstPanic
	case c.fatalError != "":
		return ReasonCrashed, c.fatalError
	case c.sawFailLine:
		if c.firstFileLine == "" {
			return ReasonFailed, "the test failed without a message"
		}
		return ReasonFailed, c.firstFileLine
	}
	if c.lastLine == "" {
		return ReasonExited, "the process exited during the test"
	}
	return ReasonExited, c.lastLine
}

// Judge reads a whole event stream and gives the verdict on test.
func Judge(r io.Reader, test string) (Outcome, error) {
	c := NewCollector(test, nil)
	if err := FeedAll(c, r); err != nil {
		return Outcome{}, err
	}
	return c.Outcome(), nil
}

// FeedAll feeds every line of r to c.
func FeedAll(c *Collector, r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			c.FeedLine(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading test output: %w", err)
		}
	}
}
