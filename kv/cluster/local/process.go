// Package local runs a TinyKV cluster on one machine as real processes:
// one tinyscheduler-server and several tinykv-server, each with its data
// directory, its config file and its log file under one directory. The
// `make run` launcher (kv/cluster) and the end-to-end tests (kv/e2e) use it;
// the tests also kill, pause and restart the processes.
//
// Every process runs in a process group of its own (a signal sent to the
// launcher's terminal does not reach it directly: the launcher stops them
// in order) and, on Linux, gets SIGKILL if the launcher dies, so nothing is
// left running.
package local

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the cluster, started and restarted with the same
// command line.
type Proc struct {
	Name    string // "scheduler", "store-1", ...
	Bin     string
	Args    []string
	LogPath string
	// Addr is where the process serves (host:port); StatusAddr its HTTP
	// status server (/metrics) for a store.
	Addr, StatusAddr string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the running process exited
	exitErr error
	paused  bool
	// onExit, when set, hears of every exit that Stop or Kill did not ask for.
	onExit func(p *Proc, err error)
	// stopping is set while Stop or Kill waits for the exit it asked for.
	stopping bool
}

// Start starts the process (again), appending to its log file.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: cannot open its log file: %v", p.Name, err)
	}
	fmt.Fprintf(logFile, "\n==== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.Bin, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := startLocked(cmd); err != nil {
		logFile.Close()
		return fmt.Errorf("%s: cannot start %s: %v", p.Name, p.Bin, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.paused, p.stopping = cmd, done, nil, false, false
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.cmd, p.exitErr = nil, err
		asked := p.stopping
		onExit := p.onExit
		p.mu.Unlock()
		close(done)
		if !asked && onExit != nil {
			onExit(p, err)
		}
	}()
	return nil
}

// Running reports whether the process runs (a paused one does).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Exited is closed when the running process exits (nil when none runs).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	return p.done
}

// ExitErr is how the last run ended (nil for exit code 0).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// signal sends sig to the process group; it reports whether a process ran.
func (p *Proc) signal(sig syscall.Signal) (chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, false
	}
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL || sig == syscall.SIGINT {
		p.stopping = true
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	if sig == syscall.SIGSTOP {
		p.paused = true
	}
	if sig == syscall.SIGCONT {
		p.paused = false
	}
	return p.done, true
}

// Stop asks the process to stop (SIGTERM, after SIGCONT if it is paused)
// and waits up to timeout before it kills it. It returns how the process
// ended: nil for exit code 0.
func (p *Proc) Stop(timeout time.Duration) error {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	done, ok := p.signal(syscall.SIGTERM)
	if !ok {
		return nil
	}
	if paused {
		p.signal(syscall.SIGCONT)
	}
	select {
	case <-done:
		return p.ExitErr()
	case <-time.After(timeout):
		p.signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop within %v after SIGTERM and was killed", p.Name, timeout)
	}
}

// Kill ends the process at once (kill -9) and waits for it.
func (p *Proc) Kill() {
	if done, ok := p.signal(syscall.SIGKILL); ok {
		<-done
	}
}

// Pause stops the process (SIGSTOP) without ending it; Resume continues it.
func (p *Proc) Pause()  { p.signal(syscall.SIGSTOP) }
func (p *Proc) Resume() { p.signal(syscall.SIGCONT) }

// LogTail is the end of the process's log file, for error messages.
func (p *Proc) LogTail(lines int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
