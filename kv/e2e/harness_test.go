// Package e2e tests the finished system as an operator and a user see it:
// a real tinyscheduler-server and real tinykv-server processes on free
// loopback ports, spoken to through the client library, killed (-9),
// paused (SIGSTOP) and restarted. TestMain builds the binaries once into a
// temporary directory. Each test's processes are stopped and its data
// removed when it ends; a failed test keeps its data and logs and says
// where, with the seed to replay it (E2E_SEED).
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/client"
	"github.com/tinykv-lab/tinykv/kv/cluster/local"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	schedclient "github.com/tinykv-lab/tinykv/scheduler/client"
)

// binDir holds the binaries TestMain built.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "tinykv-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	binDir = dir
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the servers, the launcher and tinykv-ctl into dir.
func build(dir string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is needed to build the servers: %v", err)
	}
	for bin, pkg := range binaries {
		out, err := exec.Command(goTool, "build", "-o", filepath.Join(dir, bin), pkg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("building %s: %v\n%s", bin, err, out)
		}
	}
	return nil
}

// binaries are the programs build makes, by the package they come from.
var binaries = map[string]string{
	"tinykv-server":        "github.com/tinykv-lab/tinykv/kv",
	"tinyscheduler-server": "github.com/tinykv-lab/tinykv/scheduler",
	"tinykv-cluster":       "github.com/tinykv-lab/tinykv/kv/cluster",
	"tinykv-ctl":           "github.com/tinykv-lab/tinykv/kv/ctl",
}

var sourcesSeen sync.Once

// bins is the directory of the binaries. Its first call looks at their
// sources (statSources): go test caches a result with the files the tests
// looked at, and only once they run, not in TestMain.
func bins(t testing.TB) string {
	sourcesSeen.Do(func() {
		if err := statSources(); err != nil {
			t.Fatalf("e2e: %v", err)
		}
	})
	return binDir
}

// statSources looks at every file of this module that the binaries are
// built from: they are built by a command go test cannot see into, and
// without this a change to the servers would leave this package's result
// cached.
func statSources() error {
	args := append([]string{"list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{.Module.GoMod}}{{"\n"}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`},
		slices.Collect(maps.Values(binaries))...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return fmt.Errorf("listing the sources of the servers: %v", err)
	}
	for _, path := range strings.Fields(string(out)) {
		if _, err := os.Stat(path); err != nil {
			return err
		}
	}
	return nil
}

// testSeed is the seed of a randomised test, from E2E_SEED or the clock;
// a failed test prints it.
func testSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if env := os.Getenv("E2E_SEED"); env != "" {
		parsed, err := strconv.ParseInt(env, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q is not a number", env)
		}
		seed = parsed
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with E2E_SEED=%d go test ./kv/e2e -run '^%s$'", seed, seed, t.Name())
		}
	})
	return seed
}

// storeConfig is the stores' config in the tests: faster still than the
// launcher's.
const storeConfig = `[raftstore]
raft-base-tick-interval = "50ms"
raft-heartbeat-ticks = 2
raft-election-timeout-ticks = 10
raft-log-gc-tick-interval = "200ms"
raft-log-gc-count-limit = 1000
split-region-check-tick-interval = "200ms"
scheduler-heartbeat-tick-interval = "200ms"
scheduler-store-heartbeat-tick-interval = "200ms"
max-leader-missing-duration = "2s"
`

// options shape a test cluster.
type options struct {
	stores           int
	schedulers       int           // scheduler members (default 1)
	maxStoreDownTime time.Duration // default 10m: no store is declared dead
	regionMaxSize    string        // default: the servers'
	regionSplitSize  string
	// beforeStart, when set, may change the processes' command lines
	// before anything starts.
	beforeStart func(*local.Cluster)
}

// testCluster is a cluster of real processes for one test.
type testCluster struct {
	t testing.TB
	*local.Cluster
	dir   string
	sched *schedclient.Client
	kv    *client.Client
}

// startCluster starts a cluster and registers its end: processes killed,
// data removed (kept, and named, when the test failed).
func startCluster(t testing.TB, o options) *testCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "tinykv-e2e-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	if o.maxStoreDownTime == 0 {
		o.maxStoreDownTime = 10 * time.Minute
	}
	var extra []string
	if o.regionMaxSize != "" {
		extra = append(extra, "-region-max-size", o.regionMaxSize, "-region-split-size", o.regionSplitSize)
	}
	c, err := local.New(local.Config{
		BinDir: bins(t), DataDir: dir, Stores: o.stores, Schedulers: o.schedulers, StoreConfig: storeConfig,
		SchedulerConfig: fmt.Sprintf("[schedule]\npatrol-region-interval = \"100ms\"\nmax-store-down-time = %q\n[replication]\nmax-replicas = 3\n",
			o.maxStoreDownTime.String()),
		ExtraStoreArgs: extra,
	})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("preparing the cluster: %v", err)
	}
	tc := &testCluster{t: t, Cluster: c, dir: dir}
	t.Cleanup(tc.cleanup)
	if o.beforeStart != nil {
		o.beforeStart(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	tc.sched, err = schedclient.New(c.SchedulerAddrs(), schedclient.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("scheduler client: %v", err)
	}
	tc.kv = client.New(tc.sched, client.Options{Timeout: 20 * time.Second, Seed: rand.Int63()})
	return tc
}

func (tc *testCluster) cleanup() {
	if tc.kv != nil {
		tc.kv.Close()
	}
	if tc.sched != nil {
		tc.sched.Close()
	}
	tc.Kill()
	if tc.t.Failed() {
		tc.t.Logf("the data and logs of this run are kept in %s (logs/ has one file per process)", tc.dir)
		for _, p := range tc.Procs() {
			tc.t.Logf("the end of %s:\n%s", p.LogPath, p.LogTail(8))
		}
		return
	}
	os.RemoveAll(tc.dir)
}

// waitReplicas waits until every region has n peers and a leader.
func (tc *testCluster) waitReplicas(n int, timeout time.Duration) []*metapb.Region {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	regions, err := local.WaitReplicas(ctx, tc.sched, n)
	if err != nil {
		tc.t.Fatalf("%v", err)
	}
	return regions
}

// ctx is a context for one step of a test.
func ctx(t testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func (tc *testCluster) mustPut(key, value string) {
	tc.t.Helper()
	if err := tc.kv.Put(ctx(tc.t, 30*time.Second), []byte(key), []byte(value)); err != nil {
		tc.t.Fatalf("put %q: %v", key, err)
	}
}

func (tc *testCluster) mustGet(key, want string) {
	tc.t.Helper()
	got, err := tc.kv.Get(ctx(tc.t, 30*time.Second), []byte(key))
	if err != nil || string(got) != want {
		tc.t.Fatalf("get %q = %q, %v; want %q", key, got, err, want)
	}
}

// storeIDs maps each store process to its store id, from the scheduler.
func (tc *testCluster) storeIDs() map[string]uint64 {
	tc.t.Helper()
	stores, err := tc.sched.GetAllStores(ctx(tc.t, 10*time.Second), true)
	if err != nil {
		tc.t.Fatalf("stores: %v", err)
	}
	ids := make(map[string]uint64)
	for _, s := range stores {
		for _, p := range tc.Stores {
			if p.Addr == s.Address {
				ids[p.Name] = s.Id
			}
		}
	}
	return ids
}

// passed prints a one-line summary of a test that passed.
func passed(t *testing.T, start time.Time, format string, args ...interface{}) {
	if t.Failed() {
		return
	}
	t.Logf("Passed -- %v: %s", time.Since(start).Round(100*time.Millisecond), fmt.Sprintf(format, args...))
}

func isNotFound(err error) bool {
	return errors.Is(err, client.ErrNotFound)
}
