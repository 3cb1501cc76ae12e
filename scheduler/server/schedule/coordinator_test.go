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

// proposer is a scheduler that proposes whatever propose makes and counts
// its runs.
type proposer struct {
	propose func() *Operator
	runs    int
}

func (p *proposer) GetName() string                        { return "proposer" }
func (p *proposer) GetMinInterval() time.Duration          { return 10 * time.Millisecond }
func (p *proposer) IsScheduleAllowed(cluster Cluster) bool { return true }
func (p *proposer) Schedule(cluster Cluster) *Operator {
	p.runs++
	return p.propose()
}

// TestCoordinatorBacksOffRefusedProposals: a scheduler whose proposal is
// refused because its target store cannot receive it runs less and less
// often, as one that proposes nothing; one refused because the region runs
// an operator already runs again at once.
func TestCoordinatorBacksOffRefusedProposals(t *testing.T) {
	mc := newTestCluster(t, 4)
	mc.SetStoreLastHeartbeat(3, disconnected)
	c := NewCoordinator(mc, nil)
	heartbeatRound(t, mc, c)
	p := &proposer{propose: func() *Operator {
		return CreateTransferLeaderOperator("to-disconnected", mc.GetRegion(1), 1, 3, OpBalance)
	}}
	c.AddScheduler(p)
	now := time.Now()
	ticks := func() {
		for i := 0; i < 100; i++ {
			c.tick(now)
			now = now.Add(coordinatorTick)
		}
	}
	ticks()
	if p.runs > 10 {
		t.Fatalf("a proposal refused for its disconnected target store: want the scheduler backed off (about 6 runs in 100 ticks), got %d runs", p.runs)
	}
	if c.GetOperatorController().GetOperator(1) != nil {
		t.Fatalf("the leadership must not be moved to disconnected store 3: %v", c.GetOperatorController().GetOperator(1))
	}
	running := CreateTransferLeaderOperator("running", mc.GetRegion(1), 1, 2, OpBalance)
	if !c.GetOperatorController().AddOperator(running) {
		t.Fatalf("AddOperator refused %v", running)
	}
	p.runs = 0
	p.propose = func() *Operator { return CreateTransferLeaderOperator("busy-region", mc.GetRegion(1), 1, 4, OpBalance) }
	for i := 0; i < 10; i++ {
		ticks() // back to the longest interval, if it had stayed there
	}
	if p.runs < 500 {
		t.Fatalf("a proposal refused because its region runs an operator: want the scheduler run again at once (about 1000 runs in 1000 ticks), got %d", p.runs)
	}
}
