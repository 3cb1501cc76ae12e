package schedulers

import (
	"context"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

// TestCoordinatorBalancesRegions3C runs the coordinator with the default
// schedulers against 30 regions on 3 of 5 stores, the region leaders
// carrying out every step they are sent, until the sizes even out.
func TestCoordinatorBalancesRegions3C(t *testing.T) {
	mc := newBalanceCluster(t, 5, 3)
	for id := uint64(1); id <= 30; id++ {
		mc.AddRegion(id, 10, 1+id%3, 1+(id+1)%3, 1+(id+2)%3)
	}
	c := schedule.NewCoordinator(mc, nil)
	AddDefaults(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// 90 peers of size 10 on 5 stores: 180 each when even. Balance-region
	// stops once no move beats twice a region's size.
	const low, high = 160, 200
	balanced := func() bool {
		for _, s := range mc.GetStores() {
			if s.GetRegionSize() < low || s.GetRegionSize() > high {
				return false
			}
		}
		return len(c.GetOperatorController().GetOperators()) == 0
	}
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	moved := false
	for !balanced() {
		for _, op := range c.GetOperatorController().GetOperators() {
			moved = moved || op.Desc() == balanceRegionName
		}
		moved = moved || mc.GetStore(4).GetRegionSize() > 0 || mc.GetStore(5).GetRegionSize() > 0
		if !moved && time.Since(start) > 3*time.Second {
			t.Fatalf("balance-region proposed no move in 3s: %s", storeSizes(mc))
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the store sizes are not all within [%d, %d] with no operator running: %s; running %v",
				low, high, storeSizes(mc), c.GetOperatorController().GetOperators())
		}
		for _, region := range mc.GetRegions() {
			if len(region.GetPendingPeers()) > 0 {
				region = mc.CatchUp(region.GetID())
			}
			if resp := c.OnRegionHeartbeat(region); resp != nil {
				if _, err := mc.Apply(resp); err != nil {
					t.Fatalf("the coordinator sent a step the leader cannot carry out: %v", err)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, region := range mc.GetRegions() {
		if len(region.GetPeers()) != 3 {
			t.Fatalf("balancing must keep 3 peers per region, got %v", region)
		}
	}
	t.Logf("balanced: %s", storeSizes(mc))
}

// TestCoordinatorConcurrentHeartbeats has four leaders' worth of
// heartbeats arrive at once while the coordinator schedules (run it with
// -race): every step must still be one the leader can carry out, and the
// store counters must add up at the end.
func TestCoordinatorConcurrentHeartbeats(t *testing.T) {
	const regions, workers = 400, 4
	mc := newBalanceCluster(t, 6, 3)
	for id := uint64(1); id <= regions; id++ {
		mc.AddRegion(id, 10, 1+id%3, 1+(id+1)%3, 1+(id+2)%3)
	}
	c := schedule.NewCoordinator(mc, nil)
	AddDefaults(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	errs := make(chan error, workers)
	for w := uint64(0); w < workers; w++ {
		go func(w uint64) {
			stop := time.Now().Add(time.Second)
			for time.Now().Before(stop) {
				for id := 1 + w; id <= regions; id += workers {
					region := mc.GetRegion(id)
					if len(region.GetPendingPeers()) > 0 {
						region = mc.CatchUp(id)
					}
					if resp := c.OnRegionHeartbeat(region); resp != nil {
						if _, err := mc.Apply(resp); err != nil {
							errs <- err
							return
						}
					}
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatalf("the coordinator sent a step the leader cannot carry out: %v", err)
		}
	}
	total := 0
	for _, s := range mc.GetStores() {
		total += s.GetRegionCount()
	}
	peers := 0
	for _, r := range mc.GetRegions() {
		peers += len(r.GetPeers())
	}
	if total != peers || mc.GetStore(4).GetRegionCount() == 0 {
		t.Fatalf("store region counts add up to %d, the regions have %d peers; store 4 holds %d (%s)",
			total, peers, mc.GetStore(4).GetRegionCount(), storeSizes(mc))
	}
}
