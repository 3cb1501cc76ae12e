package schedulers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule/mockcluster"
)

// scheduleRuns is how many times a scenario runs the scheduler: its picks
// are random, every operator it proposes must fit the scenario.
const scheduleRuns = 40

func newBalanceCluster(t *testing.T, stores, maxReplicas int) *mockcluster.Cluster {
	t.Helper()
	mc := mockcluster.New()
	mc.Seed(t)
	mc.SetMaxReplicas(maxReplicas)
	for id := uint64(1); id <= uint64(stores); id++ {
		mc.AddStore(id)
	}
	return mc
}

// move is what a balance-region operator does, read from its steps.
type move struct {
	region, source, target uint64
	steps                  string
}

func (m move) String() string {
	return fmt.Sprintf("region %d from store %d to store %d: %s", m.region, m.source, m.target, m.steps)
}

// readMove checks that op moves one peer (add on a store, optionally move
// the leader, remove from another) and says which.
func readMove(t *testing.T, mc *mockcluster.Cluster, op *schedule.Operator) move {
	t.Helper()
	var m move
	var steps []string
	for i := 0; i < op.Len(); i++ {
		switch s := op.Step(i).(type) {
		case schedule.AddPeer:
			m.target = s.ToStore
			steps = append(steps, fmt.Sprintf("add %d", s.ToStore))
		case schedule.TransferLeader:
			steps = append(steps, fmt.Sprintf("leader %d->%d", s.FromStore, s.ToStore))
		case schedule.RemovePeer:
			m.source = s.FromStore
			steps = append(steps, fmt.Sprintf("remove %d", s.FromStore))
		}
	}
	m.region, m.steps = op.RegionID(), strings.Join(steps, ", ")
	if m.source == 0 || m.target == 0 || op.Step(0) != (schedule.AddPeer{ToStore: m.target, PeerID: op.Step(0).(schedule.AddPeer).PeerID}) {
		t.Fatalf("balance-region must propose add on the target, then remove from the source; got %v", op)
	}
	region := mc.GetRegion(m.region)
	if region.GetStorePeer(m.source) == nil || region.GetStorePeer(m.target) != nil {
		t.Fatalf("%v: the source must hold a peer of the region and the target none; region is %v", m, region)
	}
	if op.RegionEpoch().GetConfVer() != region.GetRegionEpoch().GetConfVer() || op.RegionEpoch().GetVersion() != region.GetRegionEpoch().GetVersion() {
		t.Fatalf("%v: operator made against epoch %v, region has %v", m, op.RegionEpoch(), region.GetRegionEpoch())
	}
	return m
}

// runBalance runs balance-region scheduleRuns times (the operators are
// not added, so the cluster stays as it is) and returns the moves.
func runBalance(t *testing.T, mc *mockcluster.Cluster) []move {
	t.Helper()
	s := NewBalanceRegionScheduler(schedule.NewOperatorController(mc, nil))
	var moves []move
	for i := 0; i < scheduleRuns; i++ {
		if op := s.Schedule(mc); op != nil {
			moves = append(moves, readMove(t, mc, op))
		}
	}
	return moves
}

func storeSizes(mc *mockcluster.Cluster) string {
	var parts []string
	for _, s := range mc.GetStores() {
		parts = append(parts, fmt.Sprintf("%d:%d", s.GetID(), s.GetRegionSize()))
	}
	return "store sizes " + strings.Join(parts, " ")
}

// expectMoves checks that some runs proposed a move and every move passes ok.
func expectMoves(t *testing.T, mc *mockcluster.Cluster, what string, ok func(move) bool) []move {
	t.Helper()
	moves := runBalance(t, mc)
	if len(moves) == 0 {
		t.Fatalf("%s: want a move, balance-region proposed none in %d runs (%s)", what, scheduleRuns, storeSizes(mc))
	}
	for _, m := range moves {
		if !ok(m) {
			t.Fatalf("%s: unexpected move %v (%s)", what, m, storeSizes(mc))
		}
	}
	return moves
}

func expectNoMove(t *testing.T, mc *mockcluster.Cluster, what string) {
	t.Helper()
	if moves := runBalance(t, mc); len(moves) > 0 {
		t.Fatalf("%s: want no move, got %v (%s)", what, moves[0], storeSizes(mc))
	}
}

func in(id uint64, set ...uint64) bool {
	for _, s := range set {
		if s == id {
			return true
		}
	}
	return false
}

func TestBalanceRegionOneReplica3C(t *testing.T) {
	mc := newBalanceCluster(t, 3, 1)
	for id := uint64(1); id <= 3; id++ {
		mc.AddRegion(id, 10, 1)
	}
	expectMoves(t, mc, "1 replica, all on store 1", func(m move) bool {
		want := fmt.Sprintf("add %d, leader 1->%d, remove 1", m.target, m.target)
		return m.source == 1 && in(m.target, 2, 3) && m.steps == want
	})
}

func TestBalanceRegionThreeReplicas3C(t *testing.T) {
	mc := newBalanceCluster(t, 5, 3)
	for id := uint64(1); id <= 4; id++ {
		mc.AddRegion(id, 10, 1, 2, 3)
	}
	mc.AddRegion(5, 10, 1, 4, 5)
	// Sizes: store 1: 50, stores 2, 3: 40, stores 4, 5: 10.
	expectMoves(t, mc, "3 replicas, store 1 fullest", func(m move) bool {
		return m.source == 1 && in(m.region, 1, 2, 3, 4) && in(m.target, 4, 5)
	})
}

func TestBalanceRegionFiveReplicas3C(t *testing.T) {
	mc := newBalanceCluster(t, 7, 5)
	for id := uint64(1); id <= 3; id++ {
		mc.AddRegion(id, 10, 1, 2, 3, 4, 5)
	}
	mc.AddRegion(4, 10, 6, 1, 2, 3, 4)
	// Sizes: stores 1..4: 40, store 5: 30, store 6: 10, store 7: 0.
	expectMoves(t, mc, "5 replicas", func(m move) bool {
		return in(m.source, 1, 2, 3, 4) && m.target == 7
	})
}

// pendingCluster: store 1 leads region 1, follows regions 2 and 3.
// Sizes: store 1: 30, stores 2, 3: 20, stores 4, 5: 10, store 6: 0.
func pendingCluster(t *testing.T) *mockcluster.Cluster {
	mc := newBalanceCluster(t, 6, 3)
	mc.AddRegion(1, 10, 1, 2, 3)
	mc.AddRegion(2, 10, 2, 1, 4)
	mc.AddRegion(3, 10, 3, 1, 5)
	return mc
}

func TestBalanceRegionPendingFirst3C(t *testing.T) {
	mc := pendingCluster(t)
	mc.SetPendingPeers(3, 1)
	expectMoves(t, mc, "store 1's peer of region 3 is pending", func(m move) bool {
		return m.source == 1 && m.region == 3 && m.target == 6
	})
}

func TestBalanceRegionFollowersBeforeLeaders3C(t *testing.T) {
	mc := pendingCluster(t)
	moves := expectMoves(t, mc, "store 1 leads region 1 and follows 2 and 3", func(m move) bool {
		return m.source == 1 && in(m.region, 2, 3) && m.target == 6 && !strings.Contains(m.steps, "leader")
	})
	seen := map[uint64]bool{}
	for _, m := range moves {
		seen[m.region] = true
	}
	if len(seen) != 2 {
		t.Fatalf("followers are picked at random: in %d moves saw only regions %v", len(moves), seen)
	}
	// Store 1 now only leads: the leader region moves, leadership first.
	mc2 := newBalanceCluster(t, 6, 3)
	mc2.AddRegion(1, 10, 1, 2, 3)
	mc2.AddRegion(2, 10, 1, 4, 5)
	mc2.AddRegion(3, 10, 1, 2, 4)
	expectMoves(t, mc2, "store 1 only leads", func(m move) bool {
		return m.source == 1 && m.target == 6 && strings.HasPrefix(m.steps, "add 6, leader 1->") && strings.HasSuffix(m.steps, "remove 1")
	})
}

func TestBalanceRegionSizeTolerance3C(t *testing.T) {
	mc := newBalanceCluster(t, 4, 3)
	mc.AddRegion(1, 15, 1, 2, 3)
	mc.AddRegion(2, 15, 2, 1, 3)
	// Stores 1..3: 30, store 4: 0: the difference is exactly twice a region.
	expectNoMove(t, mc, "difference 30 = 2 x region size 15")
	mc.AddRegion(3, 1, 3, 1, 2)
	expectMoves(t, mc, "difference 31 > 2 x 15", func(m move) bool {
		return in(m.source, 1, 2, 3) && m.target == 4
	})
}

func TestBalanceRegionExcludesDownAndOfflineStores3C(t *testing.T) {
	mc := newBalanceCluster(t, 5, 3)
	for id := uint64(1); id <= 3; id++ {
		mc.AddRegion(id, 10, 1, 2, 3)
	}
	mc.AddRegion(9, 10, 5, 2, 3)
	// Sizes: store 1: 30, stores 2, 3: 40, store 4: 0, store 5: 10.
	mc.SetStoreLastHeartbeat(4, mc.GetMaxStoreDownTime()+time.Minute)
	expectMoves(t, mc, "emptiest store 4 is down", func(m move) bool { return m.target == 5 })
	mc.SetStoreLastHeartbeat(4, 0)
	mc.SetStoreState(4, metapb.StoreState_Offline)
	expectMoves(t, mc, "emptiest store 4 is offline", func(m move) bool { return m.target == 5 })
	mc.SetStoreState(4, metapb.StoreState_Up)
	mc.SetStoreLastHeartbeat(2, mc.GetMaxStoreDownTime()+time.Minute)
	mc.SetStoreState(3, metapb.StoreState_Offline)
	expectMoves(t, mc, "fullest stores 2 (down) and 3 (offline) are no sources", func(m move) bool {
		return m.source == 1 && m.target == 4
	})
}

func TestBalanceRegionTargetHoldsNoPeer3C(t *testing.T) {
	mc := newBalanceCluster(t, 4, 2)
	mc.AddRegion(1, 10, 1, 4)
	mc.AddRegion(2, 20, 1, 2)
	mc.AddRegion(3, 20, 1, 3)
	// Sizes: store 1: 50, stores 2, 3: 20, store 4: 10. Only region 1 can
	// move (to 2 or 3: store 4 holds a peer of it); regions 2 and 3 would
	// go to store 4 but 50 - 10 is not more than 2 x 20.
	expectMoves(t, mc, "smallest store holds a peer of the region", func(m move) bool {
		return m.region == 1 && m.source == 1 && in(m.target, 2, 3)
	})
}

func TestBalanceRegionSkipsUnderReplicated3C(t *testing.T) {
	mc := newBalanceCluster(t, 4, 3)
	for id := uint64(1); id <= 3; id++ {
		mc.AddRegion(id, 10, 1, 2)
	}
	// Store 1 holds 30, stores 3 and 4 nothing, but every region has 2 peers.
	expectNoMove(t, mc, "every region has 2 peers, max-replicas 3")
	mc.AddRegion(4, 10, 1, 2, 3)
	expectMoves(t, mc, "a fully replicated region joins", func(m move) bool {
		return m.region == 4 && m.target == 4
	})
}

func TestBalanceRegionTwoStores3C(t *testing.T) {
	mc := newBalanceCluster(t, 2, 1)
	mc.AddRegion(1, 10, 1)
	mc.AddRegion(2, 10, 1)
	mc.AddRegion(3, 10, 1)
	expectMoves(t, mc, "two stores, 30 against 0", func(m move) bool { return m.source == 1 && m.target == 2 })
	mc.SetStoreState(2, metapb.StoreState_Tombstone)
	expectNoMove(t, mc, "the only other store is a tombstone")
}
