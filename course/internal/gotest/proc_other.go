//go:build !unix

package gotest

import (
	"os/exec"
	"time"
)

// killGroupOnCancel kills the command when its context ends; without process
// groups a test binary started by test2json may outlive it by a moment.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.WaitDelay = 5 * time.Second
}

// killLeftovers cannot find the processes a test left without process
// groups: it reports none.
func killLeftovers(cmd *exec.Cmd) bool { return false }
