package test_raftstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
)

// Project 2C: raft log GC and snapshots. The generic scenarios run with a
// small RaftLogGcCountLimit and a lagging store per round that can only
// catch up by snapshot.

// gcLimit2C is the RaftLogGcCountLimit of the 2C scenarios: small, so that
// a store stopped for a second falls behind the compacted log.
const gcLimit2C = 20

// TestClusterOneSnapshot2C isolates a follower, compacts the log past it,
// heals the network and checks that the follower catches up by snapshot.
func TestClusterOneSnapshot2C(t *testing.T) {
	defer failOnHarnessPanic(t)
	cfg := config.NewTestConfig()
	cfg.RaftLogGcCountLimit = 10
	cluster, fail := startCluster(t, 3, cfg)
	defer cluster.Shutdown()
	cf := engine_util.CfLock
	cluster.MustPutCF(cf, []byte("k1"), []byte("v1"))
	cluster.MustPutCF(cf, []byte("k2"), []byte("v2"))
	MustGetCfEqual(cluster.engines[1], cf, []byte("k1"), []byte("v1"))
	MustGetCfEqual(cluster.engines[1], cf, []byte("k2"), []byte("v2"))
	for id, engines := range cluster.engines {
		state, err := meta.GetApplyState(engines.Kv, 1)
		if err != nil {
			fail("store %d: read the apply state of region 1: %v", id, err)
		}
		if state.TruncatedState.Index != meta.RaftInitLogIndex || state.TruncatedState.Term != meta.RaftInitLogTerm {
			fail("store %d: after 2 writes with a GC limit of 10 the log should not be compacted yet: truncated state %v",
				id, state.TruncatedState)
		}
	}

	cluster.AddFilter(NewPartitionFilter([]uint64{1}, []uint64{2, 3}))
	for i := 100; i < 130; i++ {
		cluster.MustPutCF(cf, []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i)))
	}
	cluster.MustDeleteCF(cf, []byte("k2"))
	waitTruncatedPast(t, fail, cluster, 2, 1, appliedOrFail(fail, cluster, 1))
	MustGetCfNone(cluster.engines[1], cf, []byte("k100"))
	if n := cluster.transport().SnapshotsSentTo(1); n != 0 {
		fail("store 1 is isolated but received %d snapshots", n)
	}
	cluster.ClearFilters()

	MustGetCfEqual(cluster.engines[1], cf, []byte("k1"), []byte("v1"))
	MustGetCfEqual(cluster.engines[1], cf, []byte("k129"), []byte("v129"))
	MustGetCfNone(cluster.engines[1], cf, []byte("k2"))
	if cluster.transport().SnapshotsSentTo(1) == 0 {
		fail("store 1 caught up, but no snapshot was sent to it although the others compacted their logs past it")
	}
	state, err := meta.GetApplyState(cluster.engines[1].Kv, 1)
	if err != nil || state.TruncatedState.Index <= meta.RaftInitLogIndex {
		fail("store 1 applied a snapshot, so its truncated index should have moved past %d: apply state %v (err %v)",
			meta.RaftInitLogIndex, state, err)
	}

	cluster.StopServer(1)
	cluster.StartServer(1)
	cluster.MustPutCF(cf, []byte("k3"), []byte("v3"))
	MustGetCfEqual(cluster.engines[1], cf, []byte("k1"), []byte("v1"))
	MustGetCfEqual(cluster.engines[1], cf, []byte("k3"), []byte("v3"))
	for id, engines := range cluster.engines {
		state, err := meta.GetApplyState(engines.Kv, 1)
		if err != nil {
			fail("store %d: read the apply state of region 1: %v", id, err)
		}
		if kept := state.AppliedIndex - state.TruncatedState.Index; kept > 2*cfg.RaftLogGcCountLimit {
			fail("store %d keeps %d applied entries (applied %d, truncated %d), more than 2*%d",
				id, kept, state.AppliedIndex, state.TruncatedState.Index, cfg.RaftLogGcCountLimit)
		}
	}
}

func appliedOrFail(fail func(string, ...interface{}), cluster *Cluster, storeID uint64) uint64 {
	applied, err := appliedIndex(cluster.engines[storeID], 1)
	if err != nil {
		fail("store %d: read the apply state of region 1: %v", storeID, err)
	}
	return applied
}

// waitTruncatedPast waits until store storeID has compacted region
// regionID's log past index.
func waitTruncatedPast(t *testing.T, fail func(string, ...interface{}), cluster *Cluster, storeID, regionID, index uint64) {
	t.Helper()
	deadline := time.Now().Add(engineWaitTimeout)
	for {
		state, err := meta.GetApplyState(cluster.engines[storeID].Kv, regionID)
		if err == nil && state.TruncatedState.Index > index {
			return
		}
		if time.Now().After(deadline) {
			fail("store %d did not compact the log of region %d past index %d within %v (apply state %v, err %v)",
				storeID, regionID, index, engineWaitTimeout, state, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterPowerLossRecover2C crashes every store after each round as a
// power loss would: each kv engine loses the applies since its last sync
// (the raftstore defers that sync), each raft engine the raft states
// written since (only moves of the commit index may wait; see
// durableStates). The stores must redo the applies from the raft log,
// which the GC may not have cut short, and every acknowledged write must
// be there once.
func TestClusterPowerLossRecover2C(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, crash: true, loseUnsynced: true, maxRaftLog: gcLimit2C})
}

func TestClusterSnapshotRecover2C(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, crash: true, maxRaftLog: gcLimit2C, lagger: true})
}

func TestClusterSnapshotRecoverManyClients2C(t *testing.T) {
	runGenericScenario(t, scenario{clients: 20, crash: true, maxRaftLog: gcLimit2C, lagger: true})
}

func TestClusterSnapshotUnreliable2C(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, maxRaftLog: gcLimit2C, lagger: true})
}

func TestClusterSnapshotUnreliableRecover2C(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, maxRaftLog: gcLimit2C, lagger: true})
}

func TestClusterSnapshotUnreliableRecoverConcurrentPartition2C(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true, partitions: true, maxRaftLog: gcLimit2C, lagger: true})
}

func appliedIndex(engines *engine_util.Engines, regionID uint64) (uint64, error) {
	state, err := meta.GetApplyState(engines.Kv, regionID)
	if err != nil {
		return 0, err
	}
	return state.AppliedIndex, nil
}
