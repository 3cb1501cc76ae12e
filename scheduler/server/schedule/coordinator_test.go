package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule/mockcluster"
)

// heartbeatRound has every region's leader send a heartbeat and carry out
// what the coordinator answers; added peers catch up by the next round. It
// returns how many steps were sent.
func heartbeatRound(t *testing.T, mc *mockcluster.Cluster, c *Coordinator) int {
	t.Helper()
	sent := 0
	for _, region := range mc.GetRegions() {
		if len(region.GetPendingPeers()) > 0 {
			region = mc.CatchUp(region.GetID())
		}
		if resp := c.OnRegionHeartbeat(region); resp != nil {
			sent++
			if _, err := mc.Apply(resp); err != nil {
				t.Fatalf("the coordinator sent a step the leader cannot carry out: %v", err)
			}
		}
	}
	return sent
}

func TestCoordinatorWaitsForWarmCache(t *testing.T) {
	mc := mockcluster.New()
	for id := uint64(1); id <= 3; id++ {
		mc.AddStore(id)
	}
	for id := uint64(1); id <= 10; id++ {
		mc.AddRegion(id, 1, 1, 2, 3)
	}
	for id := uint64(1); id <= 3; id++ {
		mc.PutStore(mc.GetStore(id).Clone(core.SetStoreStats(&schedulerpb.StoreStats{StoreId: id, RegionCount: 10})))
	}
	c := NewCoordinator(mc, nil)
	if c.IsPrepared() {
		t.Fatalf("no region heartbeat yet: the cache must not count as warm")
	}
	for id := uint64(1); id <= 7; id++ {
		c.OnRegionHeartbeat(mc.GetRegion(id))
	}
	if c.IsPrepared() {
		t.Fatalf("7 of 10 regions reported (less than 80%%): the cache must not count as warm")
	}
	c.OnRegionHeartbeat(mc.GetRegion(8))
	if !c.IsPrepared() {
		t.Fatalf("8 of 10 regions of every store reported: the cache is warm")
	}
	// A store that has not sent a heartbeat since the start holds it back.
	c2 := NewCoordinator(mc, nil)
	mc.AddStore(4)
	mc.PutStore(mc.GetStore(4).Clone(core.SetStoreStats(&schedulerpb.StoreStats{})))
	for id := uint64(1); id <= 10; id++ {
		c2.OnRegionHeartbeat(mc.GetRegion(id))
	}
	if c2.IsPrepared() {
		t.Fatalf("store 4 never sent a heartbeat: the cache must not count as warm")
	}
}

func TestCoordinatorReplacesDownStore(t *testing.T) {
	mc := mockcluster.New()
	for id := uint64(1); id <= 4; id++ {
		mc.AddStore(id)
	}
	const regions = 3 * patrolRegionBatch // a patrol round takes several batches
	for id := uint64(1); id <= regions; id++ {
		mc.AddRegion(id, 10, 1+id%2, 2-id%2, 3) // on stores 1, 2, 3, led by 1 or 2
	}
	c := NewCoordinator(mc, nil)
	now := time.Now()
	heartbeatRound(t, mc, c)
	mc.SetStoreLastHeartbeat(3, mc.GetMaxStoreDownTime()+time.Minute)
	for round := 0; round < 100; round++ {
		now = now.Add(time.Second)
		c.tick(now)
		heartbeatRound(t, mc, c)
	}
	for _, region := range mc.GetRegions() {
		if region.GetStorePeer(3) != nil || len(region.GetPeers()) != 3 || region.GetStorePeer(4) == nil {
			t.Fatalf("after store 3 went down every region must have 3 peers, on stores 1, 2, 4; got %v", region)
		}
	}
	if n := len(c.GetOperatorController().GetOperators()); n != 0 {
		t.Fatalf("all repairs done, yet %d operators run: %v", n, c.GetOperatorController().GetOperators())
	}
}

func TestCoordinatorRunStops(t *testing.T) {
	mc := mockcluster.New()
	c := NewCoordinator(mc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	time.Sleep(3 * coordinatorTick)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Run did not return within 5s of its context being canceled")
	}
}
