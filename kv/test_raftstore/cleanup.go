package test_raftstore

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Every cluster keeps its stores' data under one temporary directory named
// dirPrefix + pid + "-" + random. Shutdown removes it. Harness helpers have
// no *testing.T (course tests call them from any goroutine), so the
// harness cleans up after failures itself:
//   - a helper that fails (failNow) shuts every live cluster down before it
//     panics, since a panic outside the test goroutine ends the process
//     without running the test's deferred Shutdown;
//   - shortly before the test binary's -test.timeout fires, a watchdog
//     removes the directories of the clusters still alive;
//   - a cluster that starts removes the directories left by test processes
//     that no longer exist (killed, or ended by os.Exit).
const dirPrefix = "tinykv-test-raftstore-"

// abandonGrace bounds the shutdown done by failNow and the watchdog: a
// store that does not stop in time keeps running, its files removed.
const abandonGrace = 10 * time.Second

// processStart is close to the moment the test binary started; the
// testing package's timeout counts from a little later.
var processStart = time.Now()

var live = struct {
	sync.Mutex
	clusters map[*Cluster]struct{}
	watchdog sync.Once
	failing  sync.Mutex
}{clusters: make(map[*Cluster]struct{})}

func trackCluster(c *Cluster) {
	live.Lock()
	live.clusters[c] = struct{}{}
	live.Unlock()
	live.watchdog.Do(armTimeoutWatchdog)
}

func untrackCluster(c *Cluster) {
	live.Lock()
	delete(live.clusters, c)
	live.Unlock()
}

func liveClusters() []*Cluster {
	live.Lock()
	defer live.Unlock()
	clusters := make([]*Cluster, 0, len(live.clusters))
	for c := range live.clusters {
		clusters = append(clusters, c)
	}
	return clusters
}

// failNow ends the test from any goroutine: it shuts the live clusters
// down (removing their directories), then panics with the message and the
// seeds to replay.
func failNow(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	clusters := liveClusters()
	for _, c := range clusters {
		msg += fmt.Sprintf("\n\tcluster %s: replay its random choices with %s=%d", c.label(), SeedEnv, c.seed)
	}
	// One failure cleans up; others wait for it, then panic as well.
	live.failing.Lock()
	for _, c := range clusters {
		c.abandon()
	}
	live.failing.Unlock()
	panic(msg)
}

// abandon shuts the cluster down within abandonGrace, or else removes its
// directory under the running stores.
func (c *Cluster) abandon() {
	c.abandoned.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.shutdown()
	}()
	select {
	case <-done:
	case <-time.After(abandonGrace):
		c.removeDirs()
	}
}

// armTimeoutWatchdog removes the live clusters' directories just before
// the test binary's timeout kills the process.
func armTimeoutWatchdog() {
	timeout := testTimeout()
	if timeout <= 0 {
		return
	}
	const margin = 2 * time.Second
	wait := time.Until(processStart.Add(timeout - margin))
	if wait <= 0 {
		return
	}
	time.AfterFunc(wait, func() {
		for _, c := range liveClusters() {
			fmt.Fprintf(os.Stderr, "test_raftstore: the test binary times out in %v: removing the directory of cluster %s (%s=%d replays it)\n",
				margin, c.label(), SeedEnv, c.seed)
			c.removeDirs()
		}
	})
}

// testTimeout is the -test.timeout of this test binary, 0 when none.
func testTimeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if d, ok := g.Get().(time.Duration); ok {
			return d
		}
	}
	return 0
}

// makeClusterDir creates this cluster's temporary directory.
func makeClusterDir() (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s%d-*", dirPrefix, os.Getpid()))
}

// sweepStaleDirs removes the cluster directories of test processes that
// have ended without cleaning up.
func sweepStaleDirs() {
	matches, err := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	if err != nil {
		return
	}
	for _, dir := range matches {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), dirPrefix), "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}
