//lab:file 2B

package test_raftstore

import (
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
)

// A test binary runs dozens of clusters one after another: whatever one
// leaves behind (goroutines, engines kept by a registry, their memtables
// with them) stays for every later test, and the suite's peak RSS grows
// with the number of tests run before. This test runs small clusters
// through what tests do to them and checks that each is gone once shut
// down and dropped.

const (
	// releaseRounds is the number of clusters run; the first one sets the
	// baseline of the live heap (what a process allocates once).
	releaseRounds = 4
	// releaseHeapSlack is the growth of the live heap allowed over the
	// rounds after the first. One round's engines are ~120 MB, one round's
	// raftstores without engines ~4 MB: three rounds leaking either exceed it.
	releaseHeapSlack = 8 << 20
	// goroutineExitWait bounds the wait for a cluster's goroutines to end
	// after Shutdown returns.
	goroutineExitWait = 5 * time.Second
)

// TestShutdownReleasesTheCluster runs clusters of 3 stores with the
// power-loss model hooked on their kv engines, a crash and a restart, and
// a crash armed that never fires, and after each checks that every
// goroutine the cluster started has ended and, once the cluster is
// dropped, that its engines are garbage and the live heap after GC is
// where the first round left it.
func TestShutdownReleasesTheCluster(t *testing.T) {
	defer failOnHarnessPanic(t)
	goroutines := runtime.NumGoroutine()
	var baseline uint64
	for round := 1; round <= releaseRounds; round++ {
		engines, seed := runReleaseRound(t)
		if extra := waitGoroutines(goroutines, goroutineExitWait); extra != "" {
			t.Fatalf("round %d: %v after Shutdown returned, %d goroutines still run, expected at most the %d of before the first cluster (seed %d: replay with %s=%d):\n%s",
				round, goroutineExitWait, runtime.NumGoroutine(), goroutines, seed, SeedEnv, seed, extra)
		}
		heap := liveHeap()
		for name, db := range engines {
			if db.Value() != nil {
				t.Fatalf("round %d: the %s is still reachable once the cluster is shut down and dropped: something outside the cluster keeps it, and its memtables, for the life of the process (seed %d: replay with %s=%d)",
					round, name, seed, SeedEnv, seed)
			}
		}
		t.Logf("round %d: live heap %.1f MB after GC", round, float64(heap)/(1<<20))
		if round == 1 {
			baseline = heap
			continue
		}
		if heap > baseline+releaseHeapSlack {
			t.Fatalf("round %d: live heap after GC is %.2f MB, %.2f MB more than after round 1, expected at most %d MB more: the clusters shut down leave memory behind (seed %d: replay with %s=%d)",
				round, float64(heap)/(1<<20), float64(heap-baseline)/(1<<20), releaseHeapSlack>>20, seed, SeedEnv, seed)
		}
	}
}

// runReleaseRound runs one cluster and shuts it down. It returns weak
// pointers to the cluster's engines, by name, and the cluster's seed.
func runReleaseRound(t *testing.T) (map[string]weak.Pointer[badger.DB], int64) {
	cluster, fail := startCluster(t, 3, config.NewTestConfig())
	defer cluster.Shutdown()
	durable, err := cluster.trackDurableStates()
	if err != nil {
		fail("%v", err)
	}
	for i := 0; i < 20; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("k%02d", i)), []byte("v"))
	}
	cluster.CrashServer(3)
	if err := durable.loseUnsynced(3, cluster.engines[3]); err != nil {
		fail("%v", err)
	}
	cluster.StartServer(3)
	cluster.CrashServerBeforeWrite(2, 1<<40)
	for i := 20; i < 40; i++ {
		cluster.MustPut([]byte(fmt.Sprintf("k%02d", i)), []byte("v"))
	}
	engines := make(map[string]weak.Pointer[badger.DB])
	for id, e := range cluster.engines {
		engines[fmt.Sprintf("kv engine of store %d", id)] = weak.Make(e.Kv)
		engines[fmt.Sprintf("raft engine of store %d", id)] = weak.Make(e.Raft)
	}
	return engines, cluster.seed
}

// waitGoroutines waits until at most n goroutines run, for at most
// timeout. It returns "" once they do, or else the stacks of all of them.
func waitGoroutines(n int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			var dump strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
			return dump.String()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ""
}

// liveHeap is the heap in use after a full collection. Two collections:
// objects with cleanups, and what the first one's cleanups let go, are
// freed by the second.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
