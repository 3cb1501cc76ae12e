package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule/mockcluster"
)

// stepsOf writes an operator's steps shortly: "add 4, leader 1->2, remove 1".
func stepsOf(op *Operator) string {
	if op == nil {
		return "no operator"
	}
	var parts []string
	for i := 0; i < op.Len(); i++ {
		switch s := op.Step(i).(type) {
		case AddPeer:
			parts = append(parts, fmt.Sprintf("add %d", s.ToStore))
		case RemovePeer:
			parts = append(parts, fmt.Sprintf("remove %d", s.FromStore))
		case TransferLeader:
			parts = append(parts, fmt.Sprintf("leader %d->%d", s.FromStore, s.ToStore))
		}
	}
	return strings.Join(parts, ", ")
}

func expectCheck(t *testing.T, mc *mockcluster.Cluster, regionID uint64, want, when string) *Operator {
	t.Helper()
	op := NewReplicaChecker(mc).Check(mc.GetRegion(regionID))
	if got := stepsOf(op); got != want {
		t.Fatalf("%s: want %q, got %q (operator %v, region %v)", when, want, got, op, mc.GetRegion(regionID))
	}
	return op
}

// replicaCluster has stores 1..5; store sizes grow with the store id so
// that the least loaded store is predictable.
func replicaCluster(t *testing.T) *mockcluster.Cluster {
	mc := mockcluster.New()
	for id := uint64(1); id <= 5; id++ {
		mc.AddStore(id)
	}
	for id := uint64(1); id <= 5; id++ {
		mc.AddRegion(100+id, int64(10*id), id) // a single-peer region per store, size 10 x store id
	}
	return mc
}

func TestReplicaCheckerMissingReplica(t *testing.T) {
	mc := replicaCluster(t)
	mc.AddRegion(1, 1, 4, 5)
	op := expectCheck(t, mc, 1, "add 1", "2 peers of 3, store 1 least loaded")
	if op.GetPriorityLevel() != HighPriority || op.Kind()&OpReplica == 0 {
		t.Fatalf("a missing replica is urgent replica work: got priority %d, kind %v", op.GetPriorityLevel(), op.Kind())
	}
	mc.SetStoreBusy(1, true)
	expectCheck(t, mc, 1, "add 2", "store 1 busy: next least loaded")
	mc.SetStoreState(2, metapb.StoreState_Offline)
	mc.SetStoreLastHeartbeat(3, mc.GetMaxStoreDownTime()+time.Minute)
	mc.SetStoreState(1, metapb.StoreState_Tombstone)
	expectCheck(t, mc, 1, "no operator", "stores 1 (tombstone), 2 (offline), 3 (down) cannot take it")
	mc.AddRegion(2, 1, 1, 2, 3)
	mc.SetStoreState(1, metapb.StoreState_Up)
	mc.SetStoreLastHeartbeat(3, 0)
	mc.SetStoreState(2, metapb.StoreState_Up)
	expectCheck(t, mc, 2, "no operator", "3 healthy replicas")
	mc.PutRegion(mc.GetRegion(2).Clone(core.WithLeader(nil)))
	mc.PutRegion(mc.GetRegion(2).Clone(core.WithRemoveStorePeer(3)))
	expectCheck(t, mc, 2, "no operator", "no leader known yet")
}

func TestReplicaCheckerExtraReplica(t *testing.T) {
	mc := replicaCluster(t)
	mc.AddRegion(1, 1, 1, 2, 3, 5)
	expectCheck(t, mc, 1, "remove 5", "4 peers of 3: the most loaded store loses one")
	mc.AddRegion(2, 1, 5, 1, 2, 3)
	expectCheck(t, mc, 2, "leader 5->2, remove 5", "the leader's store is the most loaded")
	mc.SetStoreLastHeartbeat(1, mc.GetMaxStoreDownTime()+time.Minute)
	expectCheck(t, mc, 2, "remove 1", "a down store's peer goes first")
}

func TestReplicaCheckerOfflineStore(t *testing.T) {
	mc := replicaCluster(t)
	mc.AddRegion(1, 1, 2, 3, 4)
	mc.SetStoreState(3, metapb.StoreState_Offline)
	op := expectCheck(t, mc, 1, "add 1, remove 3", "store 3 offline: move its peer to the least loaded store")
	if op.GetPriorityLevel() != HighPriority {
		t.Fatalf("replacing an offline replica is urgent, got priority %d", op.GetPriorityLevel())
	}
	mc.SetStoreState(2, metapb.StoreState_Offline)
	mc.SetStoreState(3, metapb.StoreState_Up)
	expectCheck(t, mc, 1, "add 1, leader 2->3, remove 2", "the leader's store offline: leadership moves first")
}

func TestReplicaCheckerDownStore(t *testing.T) {
	mc := replicaCluster(t)
	mc.AddRegion(1, 1, 2, 3, 4)
	mc.SetStoreLastHeartbeat(3, mc.GetMaxStoreDownTime()-time.Minute)
	expectCheck(t, mc, 1, "no operator", "store 3 silent, but for less than max-store-down-time")
	mc.SetStoreLastHeartbeat(3, mc.GetMaxStoreDownTime()+time.Minute)
	op := expectCheck(t, mc, 1, "remove 3", "store 3 silent past max-store-down-time")
	if op.GetPriorityLevel() != HighPriority {
		t.Fatalf("replacing a lost replica is urgent, got priority %d", op.GetPriorityLevel())
	}
	mc.AddRegion(4, 1, 3, 2, 4)
	expectCheck(t, mc, 4, "no operator", "store 3 leads region 4: its heartbeat just came, its peer is not lost")
	// The region's next check makes the replica up elsewhere.
	mc.PutRegion(mc.GetRegion(1).Clone(core.WithRemoveStorePeer(3)))
	expectCheck(t, mc, 1, "add 1", "after the lost peer went")
	// Stores 1 and 5 tombstones: nowhere to put a replacement, keep the peer.
	mc.AddRegion(2, 1, 2, 3, 4)
	mc.SetStoreState(1, metapb.StoreState_Tombstone)
	mc.SetStoreState(5, metapb.StoreState_Tombstone)
	expectCheck(t, mc, 2, "no operator", "store 3 down but no store can take its replacement")
	// A peer on a tombstone store is lost as well.
	mc.SetStoreLastHeartbeat(3, 0)
	mc.SetStoreState(5, metapb.StoreState_Up)
	mc.AddRegion(3, 1, 2, 1, 4)
	expectCheck(t, mc, 3, "remove 1", "store 1 is a tombstone")
}

func TestReplicaCheckerDisconnectedStore(t *testing.T) {
	mc := replicaCluster(t)
	mc.AddRegion(1, 1, 4, 5)
	mc.SetStoreLastHeartbeat(1, disconnected)
	expectCheck(t, mc, 1, "add 2", "store 1 (least loaded) silent for 25s: the replica goes to the next")
	mc.SetStoreLastHeartbeat(1, mc.GetStoreDisconnectTime()-5*time.Second)
	expectCheck(t, mc, 1, "add 1", "store 1 silent for 15s, within store-disconnect-time")
	mc.SetStoreLastHeartbeat(1, 0)
	mc.AddRegion(2, 1, 2, 3, 4)
	mc.SetStoreLastHeartbeat(3, disconnected)
	expectCheck(t, mc, 2, "no operator", "store 3 silent for 25s: disconnected, not down, its peer stays")
	mc.SetStoreState(3, metapb.StoreState_Offline)
	expectCheck(t, mc, 2, "add 1, remove 3", "offline store 3, store 1 takes the replacement")
	mc.SetStoreLastHeartbeat(1, disconnected)
	expectCheck(t, mc, 2, "add 5, remove 3", "offline store 3, store 1 disconnected: store 5 takes it")
	mc.SetStoreState(3, metapb.StoreState_Up)
	mc.SetStoreLastHeartbeat(3, 0)
	mc.AddRegion(3, 1, 2, 1, 3, 4)
	expectCheck(t, mc, 3, "remove 1", "4 peers of 3: the disconnected store's goes first, not the most loaded")
}
