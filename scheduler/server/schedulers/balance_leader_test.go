package schedulers

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule/mockcluster"
)

// setLeaders makes the stores lead the given numbers of regions 1, 2, ...
// in order: setLeaders(mc, 5, 3, 0) has store 1 lead regions 1..5 and store
// 2 regions 6..8.
func setLeaders(mc *mockcluster.Cluster, counts ...int) {
	id := uint64(1)
	for store, n := range counts {
		for i := 0; i < n; i++ {
			region := mc.GetRegion(id)
			mc.PutRegion(region.Clone(core.WithLeader(region.GetStorePeer(uint64(store + 1)))))
			id++
		}
	}
}

func leaderCounts(mc *mockcluster.Cluster) string {
	return fmt.Sprintf("leaders %d, %d, %d", mc.GetStore(1).GetLeaderCount(), mc.GetStore(2).GetLeaderCount(), mc.GetStore(3).GetLeaderCount())
}

// expectTransfers runs balance-leader and checks every proposal moves a
// leader from store from to store to (0: expect no proposal at all).
func expectTransfers(t *testing.T, mc *mockcluster.Cluster, s schedule.Scheduler, from, to uint64, when string) {
	t.Helper()
	for i := 0; i < scheduleRuns; i++ {
		op := s.Schedule(mc)
		if from == 0 {
			if op != nil {
				t.Fatalf("%s (%s): want no transfer, got %v", when, leaderCounts(mc), op)
			}
			continue
		}
		if op == nil {
			t.Fatalf("%s (%s): want a transfer from store %d to store %d, got none", when, leaderCounts(mc), from, to)
		}
		tl, ok := op.Step(0).(schedule.TransferLeader)
		if op.Len() != 1 || !ok || tl.FromStore != from || tl.ToStore != to || op.Kind()&schedule.OpLeader == 0 {
			t.Fatalf("%s (%s): want one transfer from store %d to store %d, got %v", when, leaderCounts(mc), from, to, op)
		}
	}
}

func TestBalanceLeader(t *testing.T) {
	mc := newBalanceCluster(t, 3, 3)
	for id := uint64(1); id <= 8; id++ {
		mc.AddRegion(id, 10, 1, 2, 3)
	}
	s := NewBalanceLeaderScheduler(schedule.NewOperatorController(mc, nil))
	setLeaders(mc, 5, 3, 0)
	expectTransfers(t, mc, s, 1, 3, "the store leading most gives one to the store leading fewest")
	mc.SetStoreLastHeartbeat(3, mc.GetMaxStoreDownTime()+time.Minute)
	expectTransfers(t, mc, s, 1, 2, "store 3 is down: not a target")
	mc.SetStoreLastHeartbeat(3, 0)
	setLeaders(mc, 3, 3, 2)
	expectTransfers(t, mc, s, 0, 0, "a difference of one leader")
	setLeaders(mc, 4, 2, 2)
	if op := s.Schedule(mc); op == nil || op.Step(0).(schedule.TransferLeader).FromStore != 1 {
		t.Fatalf("leaders 4, 2, 2: want a transfer from store 1, got %v", op)
	}
}
