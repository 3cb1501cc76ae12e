//go:build unix

package gotest

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process the test started and left running is killed once the run
// ends, and the result says so.
func TestRunKillsWhatTheTestLeftRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	root := writeFixtureModule(t)
	bin := Build(context.Background(), BuildOptions{Root: root, OutDir: t.TempDir()}, "kv", "example.com/fixture/kv")
	if bin.Failure != nil {
		t.Fatalf("build failed: %+v", bin.Failure)
	}
	var log strings.Builder
	res := bin.Run(context.Background(), RunOptions{Test: "TestOrphan1", Timeout: 30 * time.Second, TempDir: t.TempDir(), Log: &log})
	m := regexp.MustCompile(`orphan pid (\d+)`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("the fixture test did not say which process it started; log:\n%s", log.String())
	}
	pid, _ := strconv.Atoi(m[1])
	defer syscall.Kill(pid, syscall.SIGKILL)
	if res.Status != Pass || !res.LeftProcesses {
		t.Errorf("got %s (%s), left processes %t; want pass, left processes true", res.Status, res.Message, res.LeftProcesses)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d that the test left is still running 5s after the run ended", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
