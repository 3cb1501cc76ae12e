//lab:file 2B

package test_raftstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// Tests of the crash facility itself (crash.go); they need a working
// store, so they live with the 2B reference.

// TestCrashCutsTheStoreOff: a follower crashes just before its next engine
// write, which is the save of the entry a put sends it. From that instant
// nothing it does reaches the outside: its raftdb does not get the entry,
// the network delivers nothing from it. Restarted, it writes again and
// catches up.
func TestCrashCutsTheStoreOff(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster := NewTestCluster(3, config.NewTestConfig())
	cluster.name = t.Name()
	cluster.Start()
	defer cluster.Shutdown()

	cluster.MustPut([]byte("k0"), []byte("v0"))
	time.Sleep(200 * time.Millisecond) // every log catches up
	region := cluster.GetRegion(nil)
	leader := cluster.LeaderOfRegion(region.Id)
	var follower uint64
	for _, p := range region.Peers {
		if p.StoreId != leader.StoreId {
			follower = p.StoreId
			break
		}
	}
	before, err := meta.GetRaftLocalState(cluster.engines[follower].Raft, region.Id)
	if err != nil {
		t.Fatalf("raft state of store %d: %v", follower, err)
	}

	// A trigger that never fires records what the network delivers from
	// the follower once it has crashed.
	var mu sync.Mutex
	var leaked []string
	crash := cluster.CrashServerBeforeWrite(follower, 1)
	cluster.CrashServerAfter(0, AfterSent(follower, 0, func(m *eraftpb.Message) bool {
		if crash.Fired() {
			mu.Lock()
			leaked = append(leaked, fmt.Sprintf("%v (term %d, index %d)", m.GetMsgType(), m.GetTerm(), m.GetIndex()))
			mu.Unlock()
		}
		return false
	}))
	cluster.MustPut([]byte("k1"), []byte("v1"))
	if !crash.Wait(crashWaitTimeout) {
		t.Fatalf("store %d made no engine write within %v of a put", follower, crashWaitTimeout)
	}
	after, err := meta.GetRaftLocalState(cluster.engines[follower].Raft, region.Id)
	if err != nil {
		t.Fatalf("raft state of store %d after its crash: %v", follower, err)
	}
	if after.LastIndex != before.LastIndex || after.GetHardState().GetCommit() != before.GetHardState().GetCommit() {
		t.Errorf("store %d crashed before its next write, but its raftdb moved from last index %d, commit %d to %d, %d: "+
			"writes after the crash reached the engine", follower, before.LastIndex, before.GetHardState().GetCommit(),
			after.LastIndex, after.GetHardState().GetCommit())
	}
	mu.Lock()
	if len(leaked) > 0 {
		t.Errorf("the network delivered %d message(s) from store %d after its crash: %v", len(leaked), follower, leaked)
	}
	mu.Unlock()

	cluster.StartServer(follower)
	MustGetEqual(cluster.engines[follower], []byte("k1"), []byte("v1"))
}
