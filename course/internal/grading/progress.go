package grading

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
)

// Progress prints a line per finished run and, on a terminal, a status line
// with the tests still running. A nil *Progress prints nothing.
type Progress struct {
	w     io.Writer
	color bool // a terminal: colours and the status line
	runs  int

	mu      sync.Mutex
	running map[string]time.Time
	status  bool // a status line is on screen
	done    chan struct{}
	ticking sync.WaitGroup
}

// NewProgress prints to w; terminal turns on colours and the status line.
func NewProgress(w io.Writer, terminal bool, runs int) *Progress {
	return &Progress{w: w, color: terminal, runs: runs, running: map[string]time.Time{}}
}

// ANSI colours for verdicts.
const (
	green = "\033[32m"
	red   = "\033[31m"
	amber = "\033[33m"
	reset = "\033[0m"
)

// Paint colours s when colour is on.
func Paint(on bool, colour, s string) string {
	if !on {
		return s
	}
	return colour + s + reset
}

// VerdictColour is the colour of a verdict or status word.
func VerdictColour(v string) string {
	switch v {
	case VerdictPass: // also the status word of a passing run
		return green
	case VerdictFlaky, VerdictSkip: // VerdictSkip is also the status word of a skipped run
		return amber
	}
	return red
}

func (p *Progress) printf(format string, args ...interface{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearStatus()
	fmt.Fprintf(p.w, format, args...)
}

func (p *Progress) building(pkg string) {
	if p != nil {
		p.printf("building %s\n", pkg)
	}
}

func (p *Progress) buildFailed(pkg string, o *gotest.Outcome) {
	if p != nil {
		p.printf("%s %s: %s\n", Paint(p.color, red, "build failed:"), pkg, o.Message)
	}
}

func (p *Progress) start(total int) {
	if p == nil {
		return
	}
	p.printf("running %d test runs\n", total)
	if !p.color {
		return
	}
	p.done = make(chan struct{})
	p.ticking.Add(1)
	go p.tick()
}

func (p *Progress) tick() {
	defer p.ticking.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawStatus()
			p.mu.Unlock()
		}
	}
}

func (p *Progress) stop() {
	if p == nil || p.done == nil {
		return
	}
	close(p.done)
	p.ticking.Wait()
	p.mu.Lock()
	p.clearStatus()
	p.mu.Unlock()
}

func key(name string, n int) string { return fmt.Sprintf("%s#%d", name, n) }

func (p *Progress) started(name string, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.running[key(name, n)] = time.Now()
	p.mu.Unlock()
}

func (p *Progress) ended(name string, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.running, key(name, n))
	p.mu.Unlock()
}

// finished prints the line of one run: counter, verdict, test, time, reason.
func (p *Progress) finished(done, total int, t *TestReport, run Run) {
	if p == nil {
		return
	}
	word := strings.ToUpper(string(run.Status))
	name := t.Name
	if p.runs > 1 {
		name = fmt.Sprintf("%s (run %d)", t.Name, run.N)
	}
	line := fmt.Sprintf("[%*d/%d] %s  %-40s %7.1fs", len(fmt.Sprint(total)), done, total,
		Paint(p.color, VerdictColour(string(run.Status)), fmt.Sprintf("%-4s", word)), name, run.Elapsed.Seconds())
	if run.Status != gotest.Pass {
		line += "  " + run.Reason
		if run.Message != "" {
			line += ": " + run.Message
		}
	}
	if run.LeftFiles > 0 {
		line += fmt.Sprintf("  (left %d files in its temp dir)", run.LeftFiles)
	}
	if run.LeftProcesses {
		line += "  (left processes running; killed)"
	}
	p.printf("%s\n", line)
}

// drawStatus shows the running tests and their ages; the caller holds mu.
func (p *Progress) drawStatus() {
	if len(p.running) == 0 {
		p.clearStatus()
		return
	}
	var names []string
	for k, since := range p.running {
		names = append(names, fmt.Sprintf("%s %ds", strings.Split(k, "#")[0], int(time.Since(since).Seconds())))
	}
	sort.Strings(names)
	more := ""
	if len(names) > 3 {
		more = fmt.Sprintf(" +%d more", len(names)-3)
		names = names[:3]
	}
	fmt.Fprintf(p.w, "\r\033[K  running: %s%s", strings.Join(names, ", "), more)
	p.status = true
}

// clearStatus removes the status line; the caller holds mu.
func (p *Progress) clearStatus() {
	if p.status {
		fmt.Fprint(p.w, "\r\033[K")
		p.status = false
	}
}
