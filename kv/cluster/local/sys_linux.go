package local

import (
	"os/exec"
	"runtime"
	"syscall"
)

// sysProcAttr puts a child in a process group of its own and has the
// kernel kill it when the thread that started it dies (startLocked keeps
// that thread alive for as long as the launcher runs).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// starter is one goroutine locked to its OS thread for good: Pdeathsig
// fires when the parent *thread* exits, so every child is started from it.
var starter = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for f := range starter {
			f()
		}
	}()
}

func startLocked(cmd *exec.Cmd) error {
	errc := make(chan error)
	starter <- func() { errc <- cmd.Start() }
	return <-errc
}
