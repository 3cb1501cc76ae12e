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

// disconnected is a silence past store-disconnect-time (20 s) but far
// within max-store-down-time (30 min).
const disconnected = 25 * time.Second

func TestBalanceLeaderSkipsDisconnectedTarget(t *testing.T) {
	mc := newBalanceCluster(t, 3, 3)
	for id := uint64(1); id <= 8; id++ {
		mc.AddRegion(id, 10, 1, 2, 3)
	}
	s := NewBalanceLeaderScheduler(schedule.NewOperatorController(mc, nil))
	setLeaders(mc, 5, 3, 0)
	mc.SetStoreLastHeartbeat(3, mc.GetStoreDisconnectTime()-5*time.Second)
	expectTransfers(t, mc, s, 1, 3, "store 3 silent for 15s, within store-disconnect-time")
	mc.SetStoreLastHeartbeat(3, disconnected)
	expectTransfers(t, mc, s, 1, 2, "store 3 silent for 25s (disconnected, not down): not a target")
	mc.SetStoreLastHeartbeat(3, 0)
	expectTransfers(t, mc, s, 1, 3, "store 3 heard from again: a target again")
	mc.SetStoreLastHeartbeat(1, disconnected)
	expectTransfers(t, mc, s, 1, 3, "store 1 disconnected: it may still give its leaders away")
}

// TestBalanceLeaderNoPingPong runs balance-leader round after round, each
// transfer carried out by the region's leader through the operator
// controller, with store 4 disconnected: no leader goes to store 4, every
// transfer narrows the gap between its two stores (a move between stores
// whose counts differ by less than 2 only swaps them: the ping-pong), and
// the rounds settle with the leaders as even as they can be (13 on 3
// stores). A region's leader may come back to a store it left once the
// other moves made that store the emptier one (2 in 200 seeds do that).
func TestBalanceLeaderNoPingPong(t *testing.T) {
	mc := newBalanceCluster(t, 4, 3)
	for id := uint64(1); id <= 13; id++ {
		followers := []uint64{2, 3}
		if id%2 == 0 {
			followers = []uint64{2, 4}
		}
		mc.AddRegion(id, 10, 1, followers...)
	}
	mc.SetStoreLastHeartbeat(4, disconnected)
	oc := schedule.NewOperatorController(mc, nil)
	s := NewBalanceLeaderScheduler(oc)
	for rounds := 0; ; rounds++ {
		op := s.Schedule(mc)
		if op == nil {
			break
		}
		if rounds == 50 {
			t.Fatalf("50 transfers and balance-leader still proposes %v (%s)", op, leaderCounts(mc))
		}
		tl := op.Step(0).(schedule.TransferLeader)
		if tl.ToStore == 4 {
			t.Fatalf("round %d (%s, store 4 disconnected): leader moved to store 4: %v", rounds, leaderCounts(mc), op)
		}
		if from, to := mc.GetStore(tl.FromStore).GetLeaderCount(), mc.GetStore(tl.ToStore).GetLeaderCount(); from-to < 2 {
			t.Fatalf("round %d (%s): %v moves a leader from store %d (%d leaders) to store %d (%d): "+
				"with counts less than 2 apart it only swaps them (ping-pong)", rounds, leaderCounts(mc), op, tl.FromStore, from, tl.ToStore, to)
		}
		if !oc.AddOperator(op) {
			t.Fatalf("round %d: the operator controller refused %v", rounds, op)
		}
		region := mc.GetRegion(op.RegionID())
		if region, err := mc.Apply(oc.Dispatch(region)); err != nil || oc.Dispatch(region) != nil || oc.GetOperator(region.GetID()) != nil {
			t.Fatalf("round %d: %v did not run to its end in one heartbeat (%v); still running: %v", rounds, op, err, oc.GetOperator(region.GetID()))
		}
	}
	for id := uint64(1); id <= 3; id++ {
		if n := mc.GetStore(id).GetLeaderCount(); n != 4 && n != 5 {
			t.Fatalf("balance-leader settled with %s: want 4 or 5 on each of stores 1, 2, 3", leaderCounts(mc))
		}
	}
}
