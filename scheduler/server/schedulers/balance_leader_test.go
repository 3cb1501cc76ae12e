package schedulers

import (
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

func TestBalanceLeader(t *testing.T) {
	mc := newBalanceCluster(t, 3, 3)
	for id := uint64(1); id <= 6; id++ {
		mc.AddRegion(id, 10, 1, 2, 3)
	}
	s := NewBalanceLeaderScheduler(schedule.NewOperatorController(mc, nil))
	// Store 1 leads all 6. Every proposal moves a leader off store 1.
	for i := 0; i < scheduleRuns; i++ {
		op := s.Schedule(mc)
		if op == nil {
			t.Fatalf("store 1 leads 6 regions, stores 2 and 3 none: want a leader transfer, got none")
		}
		tl, ok := op.Step(0).(schedule.TransferLeader)
		if op.Len() != 1 || !ok || tl.FromStore != 1 || tl.ToStore == 1 || op.Kind()&schedule.OpLeader == 0 {
			t.Fatalf("want one leader transfer from store 1, got %v", op)
		}
	}
	// Store 3 is down: leaders go to store 2 only.
	mc.SetStoreLastHeartbeat(3, mc.GetMaxStoreDownTime()+time.Minute)
	for i := 0; i < scheduleRuns; i++ {
		if op := s.Schedule(mc); op == nil || op.Step(0).(schedule.TransferLeader).ToStore != 2 {
			t.Fatalf("store 3 is down: want a transfer to store 2, got %v", op)
		}
	}
	mc.SetStoreLastHeartbeat(3, 0)
	// Leaders 2, 2, 2: balanced.
	for id := uint64(1); id <= 6; id++ {
		region := mc.GetRegion(id)
		leader := region.GetStorePeer((id-1)%3 + 1)
		mc.PutRegion(region.Clone(core.WithLeader(leader)))
	}
	for i := 0; i < scheduleRuns; i++ {
		if op := s.Schedule(mc); op != nil {
			t.Fatalf("leaders are 2, 2, 2: want no transfer, got %v", op)
		}
	}
	// Leaders 3, 2, 1: one step still evens them (3 - 1 >= 2).
	region := mc.GetRegion(3)
	mc.PutRegion(region.Clone(core.WithLeader(region.GetStorePeer(1))))
	op := s.Schedule(mc)
	if op == nil || op.Step(0).(schedule.TransferLeader).FromStore != 1 || op.Step(0).(schedule.TransferLeader).ToStore != 3 {
		t.Fatalf("leaders 3, 2, 1: want a transfer from store 1 to store 3, got %v", op)
	}
}
