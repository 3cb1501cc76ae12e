package e2e

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// launcher is a running tinykv-cluster (what `make run` starts).
type launcher struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	lines  chan string
	exited chan struct{}
}

func startLauncher(t *testing.T, dataDir string, args ...string) *launcher {
	t.Helper()
	// The launcher takes runs of ports from where it is told: the scheduler
	// two (client, peer), the stores three, their status servers three.
	ports := freePortRuns(t, 2, 3, 3)
	args = append([]string{"-bin", bins(t), "-data", dataDir, "-scheduler-port", strconv.Itoa(ports[0]), "-store-port", strconv.Itoa(ports[1]), "-status-port", strconv.Itoa(ports[2])}, args...)
	l := &launcher{cmd: exec.Command(filepath.Join(bins(t), "tinykv-cluster"), args...), lines: make(chan string, 1000), exited: make(chan struct{})}
	pr, pw := io.Pipe()
	l.cmd.Stdout, l.cmd.Stderr = pw, pw
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start tinykv-cluster: %v", err)
	}
	go func() {
		scanner := bufio.NewScanner(pr)
		for scanner.Scan() {
			l.mu.Lock()
			l.out.WriteString(scanner.Text() + "\n")
			l.mu.Unlock()
			select {
			case l.lines <- scanner.Text():
			default:
			}
		}
	}()
	go func() {
		l.cmd.Wait()
		pw.Close()
		close(l.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-l.exited:
		default:
			l.cmd.Process.Kill()
			<-l.exited
		}
	})
	return l
}

// startLauncherUp starts tinykv-cluster and waits until the cluster is
// up. The ports it is given were free a moment before, but another program
// may take one first (see portTaken): it tries other ports then.
func startLauncherUp(t *testing.T, dataDir string) (*launcher, string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		l := startLauncher(t, dataDir)
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case line := <-l.lines:
				if strings.Contains(line, "The cluster is up") {
					return l, line
				}
				continue
			case <-l.exited:
			case <-deadline:
				t.Fatalf("tinykv-cluster did not come up within 2 minutes:\n%s", l.output())
			}
			break
		}
		if attempt == 3 || !portTaken(l.output()) {
			t.Fatalf("tinykv-cluster exited (%v) before the cluster was up:\n%s", l.cmd.ProcessState, l.output())
		}
	}
}

func (l *launcher) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// waitLine waits for an output line containing text.
func (l *launcher) waitLine(t *testing.T, text string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-l.lines:
			if strings.Contains(line, text) {
				return line
			}
		case <-l.exited:
			t.Fatalf("tinykv-cluster exited (%v) before printing %q:\n%s", l.cmd.ProcessState, text, l.output())
		case <-deadline:
			t.Fatalf("tinykv-cluster did not print %q within %v:\n%s", text, timeout, l.output())
		}
	}
}

// freePortRuns returns, for each length n in runs, the first of n
// consecutive loopback ports, all free when it returns and no two runs
// overlapping.
func freePortRuns(t *testing.T, runs ...int) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var firsts []int
	for _, n := range runs {
		for attempt := 0; ; attempt++ {
			if attempt == 100 {
				t.Fatalf("found no %d consecutive free ports on 127.0.0.1 in 100 tries", n)
			}
			first, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			run := []net.Listener{first}
			base := first.Addr().(*net.TCPAddr).Port
			for i := 1; i < n; i++ {
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
				if err != nil {
					break
				}
				run = append(run, l)
			}
			held = append(held, run...)
			if len(run) == n {
				firsts = append(firsts, base)
				break
			}
		}
	}
	return firsts
}

// portTaken reports whether a launcher's output says that a port it was
// given was taken by another program in the meantime: when it chose its
// ports, or when a process it started tried to listen.
func portTaken(output string) bool {
	return strings.Contains(output, "is not free") || strings.Contains(output, "address already in use")
}

// watchChildren lists every child process of the launcher seen while it
// runs, until it exits.
func watchChildren(t *testing.T, l *launcher) []int {
	t.Helper()
	seen := make(map[int]bool)
	timeout := time.After(2 * time.Minute)
	for {
		for _, pid := range childPids(l.cmd.Process.Pid) {
			seen[pid] = true
		}
		select {
		case <-l.exited:
			var children []int
			for pid := range seen {
				children = append(children, pid)
			}
			return children
		case <-timeout:
			t.Fatalf("tinykv-cluster did not give up on a store that cannot start:\n%s", l.output())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// childPids lists the processes whose parent is pid (children of any of
// its threads).
func childPids(pid int) []int {
	files, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var pids []int
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
	}
	return pids
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// TestLauncherRunsAndStopsCleanly: tinykv-cluster (make run) starts a
// scheduler and three stores, reports three replicas, and on SIGINT (Ctrl-C)
// stops them all and exits 0, leaving no process behind; started again, it
// serves the same data.
func TestLauncherRunsAndStopsCleanly(t *testing.T) {
	start := time.Now()
	dataDir := t.TempDir()
	l, up := startLauncherUp(t, dataDir)
	ctlLine := l.waitLine(t, "tinykv-ctl -scheduler", 10*time.Second)
	sched := strings.Fields(ctlLine)[2]
	ctl := func(args ...string) string {
		out, err := exec.Command(filepath.Join(bins(t), "tinykv-ctl"), append([]string{"-scheduler", sched}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tinykv-ctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ctl("put", "hello", "world")
	if got := ctl("get", "hello"); got != "world\n" {
		t.Fatalf("tinykv-ctl get hello = %q, want world", got)
	}
	children := childPids(l.cmd.Process.Pid)
	if len(children) != 4 {
		t.Fatalf("tinykv-cluster runs %d child processes, want 4 (a scheduler and 3 stores)", len(children))
	}
	stopAt := time.Now()
	l.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-l.exited:
	case <-time.After(time.Minute):
		t.Fatalf("tinykv-cluster did not stop within a minute of SIGINT:\n%s", l.output())
	}
	// Streams between stores must not hold a store's stop until its
	// graceful-stop timeout (10 s each).
	stopTook := time.Since(stopAt)
	if stopTook > 8*time.Second {
		t.Errorf("stopping the cluster took %v, want a few seconds at most", stopTook)
	}
	if code := l.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("tinykv-cluster exit code after SIGINT = %d, want 0:\n%s", code, l.output())
	}
	for _, pid := range children {
		if alive(pid) {
			t.Fatalf("process %d outlived tinykv-cluster", pid)
		}
	}
	for _, name := range []string{"scheduler.log", "store-1.log", "store-2.log", "store-3.log"} {
		data, err := os.ReadFile(filepath.Join(dataDir, "logs", name))
		if err != nil || !strings.Contains(string(data), "stopped") && !strings.Contains(string(data), "stop") {
			t.Fatalf("log %s after a clean stop: %v, no stop message", name, err)
		}
	}

	again, _ := startLauncherUp(t, dataDir)
	sched = strings.Fields(again.waitLine(t, "tinykv-ctl -scheduler", 10*time.Second))[2]
	if got := ctl("get", "hello"); got != "world\n" {
		t.Fatalf("tinykv-ctl get hello after a restart = %q, want world", got)
	}
	again.cmd.Process.Signal(syscall.SIGTERM)
	<-again.exited
	passed(t, start, "%s; SIGINT stopped all 4 processes in %v, exit 0; the data was there at the next run", strings.TrimSpace(up), stopTook.Round(time.Millisecond))
}

// TestLauncherStopsEverythingWhenAStoreCannotStart: a store that cannot
// start (its data directory is a file) makes the launcher stop the
// processes it started and exit 1 naming the log.
func TestLauncherStopsEverythingWhenAStoreCannotStart(t *testing.T) {
	var l *launcher
	var children []int
	for attempt := 1; ; attempt++ {
		dataDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dataDir, "store-2"), []byte("not a directory"), 0o644); err != nil {
			t.Fatal(err)
		}
		l = startLauncher(t, dataDir, "-wait", "30s")
		children = watchChildren(t, l)
		// A port taken by another program between the choice and the
		// launcher's own check, or the listen of a process it started, fails
		// the start for another reason than store-2: try other ports.
		if attempt == 3 || !portTaken(l.output()) {
			break
		}
		t.Logf("attempt %d: a port was taken by another program, trying other ports:\n%s", attempt, l.output())
	}
	if code := l.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(l.output(), "store-2") {
		t.Fatalf("tinykv-cluster with a broken store: exit %d, output:\n%s\nwant exit 1 naming store-2", code, l.output())
	}
	if len(children) == 0 {
		t.Fatalf("tinykv-cluster started no process before it gave up:\n%s", l.output())
	}
	for _, pid := range children {
		if alive(pid) {
			t.Fatalf("process %d outlived tinykv-cluster", pid)
		}
	}
}
