package test_raftstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// Project 2B: a fault-tolerant key-value store on Raft. Each test runs the
// generic driver (see driver_test.go) over five stores.

func TestClusterBasic2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1})
}

func TestClusterConcurrent2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5})
}

func TestClusterUnreliable2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true})
}

func TestClusterManyPartitionsOneClient2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, partitions: true})
}

func TestClusterManyPartitionsManyClients2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, partitions: true})
}

func TestClusterPersistOneClient2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, crash: true})
}

func TestClusterPersistConcurrent2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, crash: true})
}

func TestClusterPersistConcurrentUnreliable2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true})
}

func TestClusterPersistPartition2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, partitions: true, crash: true})
}

func TestClusterPersistPartitionUnreliable2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, partitions: true, crash: true})
}

// TestClusterOnePartition2B cuts the cluster in two, first with the leader
// in the majority, then with it in a minority of two, and checks who may
// and who may not see the writes.
func TestClusterOnePartition2B(t *testing.T) {
	defer failOnHarnessPanic(t)
	cluster, fail := startCluster(t, 5, config.NewTestConfig())
	defer cluster.Shutdown()

	region := cluster.GetRegion(nil)
	leader := cluster.LeaderOfRegion(region.Id)
	if leader == nil {
		fail("no leader of region %d reported within %v of start", region.Id, leaderWaitTimeout)
	}
	var majority, minority []uint64
	majority = append(majority, leader.StoreId)
	for _, p := range region.Peers {
		if p.StoreId == leader.StoreId {
			continue
		}
		if len(majority) < 3 {
			majority = append(majority, p.StoreId)
		} else {
			minority = append(minority, p.StoreId)
		}
	}

	// The leader keeps a majority: writes go through, the minority misses them.
	cluster.AddFilter(NewPartitionFilter(majority, minority))
	cluster.MustPut([]byte("k1"), []byte("v1"))
	cluster.MustGet([]byte("k1"), []byte("v1"))
	for _, id := range minority {
		mustStayAbsent(t, fail, cluster.engines[id], []byte("k1"), id)
	}
	cluster.ClearFilters()

	// The old leader and one follower are cut off: the other three elect a
	// new leader and go on; the old leader cannot commit anything.
	oldLeader := leader.StoreId
	cutOff := majority[:2]
	rest := append(append([]uint64(nil), majority[2]), minority...)
	cluster.AddFilter(NewPartitionFilter(cutOff, rest))
	isolated := NewRequest(region.Id, region.RegionEpoch, []*raft_cmdpb.Request{NewPutCfCmd(engine_util.CfDefault, []byte("k3"), []byte("lost"))})
	isolated.Header.Peer = leader
	if resp, txn := cluster.CallCommand(&isolated, time.Second); resp != nil && resp.GetHeader().GetError() == nil {
		discardTxn(txn)
		fail("store %d, leader cut off with only one follower out of five, acknowledged a write: %v", oldLeader, resp)
	}
	cluster.MustGet([]byte("k1"), []byte("v1"))
	cluster.MustPut([]byte("k1"), []byte("changed"))
	for _, id := range cutOff {
		MustGetEqual(cluster.engines[id], []byte("k1"), []byte("v1"))
		mustStayValue(t, fail, cluster.engines[id], []byte("k1"), []byte("v1"), id)
	}
	cluster.ClearFilters()

	// Healed: the old leader learns every committed write, and the write it
	// took alone never happened.
	cluster.MustPut([]byte("k2"), []byte("v2"))
	MustGetEqual(cluster.engines[oldLeader], []byte("k2"), []byte("v2"))
	MustGetEqual(cluster.engines[oldLeader], []byte("k1"), []byte("changed"))
	if got := cluster.Get([]byte("k3")); got != nil {
		fail("the write of k3 that only the cut-off leader store %d took is visible after healing: %q", oldLeader, got)
	}
	for id := range cluster.engines {
		MustGetNone(cluster.engines[id], []byte("k3"))
	}
}

// partitionSettle is how long a partitioned store is watched to make sure
// a write does not reach it.
const partitionSettle = 300 * time.Millisecond

func mustStayAbsent(t *testing.T, fail func(string, ...interface{}), engines *engine_util.Engines, key []byte, storeID uint64) {
	t.Helper()
	deadline := time.Now().Add(partitionSettle)
	for time.Now().Before(deadline) {
		if val, err := engine_util.GetCF(engines.Kv, engine_util.CfDefault, key); err == nil {
			fail("store %d is partitioned away but has key %q = %q", storeID, key, val)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustStayValue(t *testing.T, fail func(string, ...interface{}), engines *engine_util.Engines, key, value []byte, storeID uint64) {
	t.Helper()
	deadline := time.Now().Add(partitionSettle)
	for time.Now().Before(deadline) {
		if val, err := engine_util.GetCF(engines.Kv, engine_util.CfDefault, key); err != nil || !bytes.Equal(val, value) {
			fail("store %d is partitioned away: key %q should still be %q, got %q (err %v)", storeID, key, value, val, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
