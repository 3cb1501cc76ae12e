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
