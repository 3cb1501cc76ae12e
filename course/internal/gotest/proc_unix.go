//go:build unix

package gotest

import (
	"os/exec"
	"syscall"
	"time"
)

// killGroupOnCancel puts the command in a process group of its own and kills
// the whole group when its context ends, so that the test binary started by
// test2json dies with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
}

// killLeftovers kills what is left of the command's process group once the
// command has exited: processes the test started and did not stop (a server
// it ran, orphaned when the test binary died). It tells whether there were any.
func killLeftovers(cmd *exec.Cmd) bool {
	if cmd.Process == nil || syscall.Kill(-cmd.Process.Pid, 0) != nil {
		return false
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return true
}
