package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

type storeCounts struct {
	regions, leaders, pending int
	regionSize, leaderSize    int64
}

func countsOf(s *StoreInfo) storeCounts {
	return storeCounts{s.GetRegionCount(), s.GetLeaderCount(), s.GetPendingPeerCount(), s.GetRegionSize(), s.GetLeaderSize()}
}

// checkCounts compares every store's counters with a recount from the
// regions themselves.
func checkCounts(t *testing.T, bc *BasicCluster, step string) {
	t.Helper()
	want := map[uint64]*storeCounts{}
	for _, s := range bc.GetStores() {
		want[s.GetID()] = &storeCounts{}
	}
	for _, r := range bc.GetRegions() {
		for _, p := range r.GetPeers() {
			c := want[p.GetStoreId()]
			if c == nil {
				continue
			}
			c.regions++
			c.regionSize += r.GetApproximateSize()
			if p.GetId() == r.GetLeader().GetId() {
				c.leaders++
				c.leaderSize += r.GetApproximateSize()
			}
			if r.GetPendingPeer(p.GetId()) != nil {
				c.pending++
			}
		}
	}
	for _, s := range bc.GetStores() {
		if got := countsOf(s); got != *want[s.GetID()] {
			t.Errorf("%s: store %d counters: want %+v (recounted from the regions), got %+v", step, s.GetID(), *want[s.GetID()], got)
		}
	}
}

func TestBasicClusterStoreStatsInStep(t *testing.T) {
	bc := NewBasicCluster()
	for id := uint64(1); id <= 3; id++ {
		bc.PutStore(NewStoreInfo(&metapb.Store{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", 20160+id)}))
	}
	r1 := newRegion(1, "", "", 1, 2, 3).Clone(SetApproximateSize(300))
	bc.PutRegion(r1)
	checkCounts(t, bc, "one region on 3 stores")
	if got := countsOf(bc.GetStore(1)); got != (storeCounts{1, 1, 0, 300, 300}) {
		t.Fatalf("leader store 1: want 1 region, 1 leader, size 300, got %+v", got)
	}
	// Leader moves to store 2, the region grows, store 3's peer is pending.
	r1b := r1.Clone(WithLeader(r1.GetStorePeer(2)), SetApproximateSize(500),
		WithPendingPeers([]*metapb.Peer{r1.GetStorePeer(3)}))
	bc.PutRegion(r1b)
	checkCounts(t, bc, "leader moved to store 2")
	if got := bc.SearchRegion([]byte("k")); got != r1b {
		t.Fatalf("SearchRegion after a same-range heartbeat: want the new version %v, got %v", r1b, got)
	}
	if got := countsOf(bc.GetStore(2)); got != (storeCounts{1, 1, 0, 500, 500}) {
		t.Fatalf("new leader store 2: got %+v", got)
	}
	// Split: region 2 takes [m,) and the left half shrinks.
	left := r1b.Clone(WithEndKey([]byte("m")), WithIncVersion(), SetApproximateSize(200), WithPendingPeers(nil))
	right := newRegion(2, "m", "", 3, 1, 2).Clone(WithIncVersion(), SetApproximateSize(250))
	bc.PutRegion(left)
	bc.PutRegion(right)
	checkCounts(t, bc, "after split")
	// Peer on store 3 of region 1 removed, one on store 4 added (store 4 registers later).
	moved := left.Clone(WithRemoveStorePeer(3), WithAddPeer(&metapb.Peer{Id: 14, StoreId: 4}))
	bc.PutRegion(moved)
	bc.PutStore(NewStoreInfo(&metapb.Store{Id: 4, Address: "127.0.0.1:20164"}))
	checkCounts(t, bc, "peer moved from store 3 to store 4")
	if got := countsOf(bc.GetStore(4)); got != (storeCounts{1, 0, 1, 200, 0}) {
		t.Fatalf("store 4 registered after its peer was added: got %+v", got)
	}
	// A merged region swallows both.
	merged := newRegion(2, "", "", 3, 1, 2).Clone(WithIncVersion(), WithIncVersion(), SetApproximateSize(450))
	if overlaps := bc.PutRegion(merged); len(overlaps) != 1 || overlaps[0].GetID() != 1 {
		t.Fatalf("merge: want region 1 overlapped, got %v", overlaps)
	}
	checkCounts(t, bc, "after merge")
	if got := countsOf(bc.GetStore(4)); got != (storeCounts{}) {
		t.Fatalf("store 4 lost its only region in the merge: got %+v", got)
	}
	// A heartbeat replaces a store's stats; counters stay.
	bc.PutStore(bc.GetStore(3).Clone(SetStoreStats(&schedulerpb.StoreStats{StoreId: 3, RegionCount: 1}), SetLastHeartbeatTS(time.Now())))
	checkCounts(t, bc, "store heartbeat")
	bc.RemoveRegion(merged)
	checkCounts(t, bc, "region removed")
}

func TestBasicClusterRandomPicks(t *testing.T) {
	bc := NewBasicCluster()
	bc.SetRandSeed(1)
	for id := uint64(1); id <= 3; id++ {
		bc.PutStore(NewStoreInfo(&metapb.Store{Id: id}))
	}
	// Regions 1..10 led by store 1, followers on 2; store 3 has pending peers of the even ones.
	keys := "abcdefghijk"
	for i := 0; i < 10; i++ {
		id := uint64(i + 1)
		r := newRegion(id, keys[i:i+1], keys[i+1:i+2], 1, 2)
		if id%2 == 0 {
			r = r.Clone(WithAddPeer(&metapb.Peer{Id: id*10 + 3, StoreId: 3}))
		}
		bc.PutRegion(r)
	}
	seen := map[uint64]bool{}
	for i := 0; i < 200; i++ {
		r := bc.RandLeaderRegion(1)
		if r == nil || r.GetLeader().GetStoreId() != 1 {
			t.Fatalf("RandLeaderRegion(1): want a region led by store 1, got %v", r)
		}
		seen[r.GetID()] = true
		if f := bc.RandFollowerRegion(2); f == nil || f.GetStorePeer(2) == nil || f.GetLeader().GetStoreId() == 2 {
			t.Fatalf("RandFollowerRegion(2): want a region with a follower on store 2, got %v", f)
		}
		if p := bc.RandPendingRegion(3); p == nil || p.GetPendingPeer(p.GetStorePeer(3).GetId()) == nil {
			t.Fatalf("RandPendingRegion(3): want a region pending on store 3, got %v", p)
		}
	}
	if len(seen) != 10 {
		t.Fatalf("200 random leader picks among 10 regions (seed 1) saw only %d of them", len(seen))
	}
	if r := bc.RandLeaderRegion(2); r != nil {
		t.Fatalf("store 2 leads nothing, RandLeaderRegion(2) = %v", r)
	}
	if r := bc.RandPendingRegion(1); r != nil {
		t.Fatalf("store 1 has no pending peer, RandPendingRegion(1) = %v", r)
	}
	// Once caught up, the pending set empties.
	for _, r := range bc.GetRegions() {
		bc.PutRegion(r.Clone(WithPendingPeers(nil)))
	}
	if r := bc.RandPendingRegion(3); r != nil {
		t.Fatalf("pending peers caught up, RandPendingRegion(3) = %v", r)
	}
	if got := bc.GetStore(3).GetRegionCount(); got != 5 {
		t.Fatalf("store 3 follows 5 regions, got %d", got)
	}
}

func TestRegionInfoCloneIsDeep(t *testing.T) {
	r := newRegion(1, "a", "z", 1, 2)
	c := r.Clone(WithRemoveStorePeer(2), WithLeader(nil))
	if len(r.GetPeers()) != 2 || r.GetLeader() == nil || r.GetRegionEpoch().GetConfVer() != 1 {
		t.Fatalf("Clone changed the original: %v", r)
	}
	if len(c.GetPeers()) != 1 || c.GetRegionEpoch().GetConfVer() != 2 {
		t.Fatalf("clone without the peer on store 2: want 1 peer and conf_ver 2, got %v", c)
	}
	if _, ok := r.GetFollowers()[2]; !ok || len(r.GetFollowers()) != 1 {
		t.Fatalf("GetFollowers: want only store 2, got %v", r.GetFollowers())
	}
	req := &schedulerpb.RegionHeartbeatRequest{Region: r.GetMeta(), Leader: r.GetLeader(), ApproximateSize: 42}
	if hb := RegionFromHeartbeat(req); hb.GetApproximateSize() != 42 || hb.GetLeader().GetId() != 11 {
		t.Fatalf("RegionFromHeartbeat: want size 42, leader 11, got %v", hb)
	}
	if !r.ContainsKey([]byte("a")) || r.ContainsKey([]byte("z")) || r.ContainsKey([]byte("")) {
		t.Fatalf("ContainsKey: [a,z) contains a, not z, not the empty key")
	}
}
