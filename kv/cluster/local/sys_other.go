//go:build !linux

package local

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts a child in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func startLocked(cmd *exec.Cmd) error {
	return cmd.Start()
}
