package server

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// newTestCluster is a RaftCluster without etcd (nothing persisted) with
// stores 1..stores registered.
func newTestCluster(t testing.TB, stores int) *RaftCluster {
	opt := config.NewScheduleOption(config.NewDefaultScheduleConfig(), config.NewDefaultReplicationConfig())
	c := newRaftCluster(context.Background(), 1, nil, nil, opt, &metapb.Cluster{Id: 1, MaxPeerCount: 3})
	for i := 1; i <= stores; i++ {
		c.BasicCluster.PutStore(core.NewStoreInfo(&metapb.Store{Id: uint64(i), Address: fmt.Sprintf("127.0.0.1:%d", 20160+i)}))
	}
	return c
}

// region makes a region [start, end) with the given epoch and peers on
// stores (peer ids are region id*100 + store id); the first peer leads.
func region(id uint64, start, end string, confVer, version uint64, stores ...uint64) *core.RegionInfo {
	meta := &metapb.Region{
		Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: version},
	}
	for _, s := range stores {
		meta.Peers = append(meta.Peers, &metapb.Peer{Id: id*100 + s, StoreId: s})
	}
	return core.NewRegionInfo(meta, meta.Peers[0])
}

func heartbeat(t *testing.T, c *RaftCluster, r *core.RegionInfo) {
	t.Helper()
	if err := c.HandleRegionHeartbeat(r); err != nil {
		t.Fatalf("heartbeat of %v: want accepted, got %v", r, err)
	}
}

func wantStale(t *testing.T, c *RaftCluster, r *core.RegionInfo) {
	t.Helper()
	err := c.HandleRegionHeartbeat(r)
	if errors.Cause(err) != ErrRegionStale {
		t.Fatalf("heartbeat of %v: want ErrRegionStale, got %v", r, err)
	}
}

// wantRegions checks the cached regions in key order: each as "id[start,end)vN".
func wantRegions(t *testing.T, c *RaftCluster, want ...string) {
	t.Helper()
	var got []string
	for _, r := range c.ScanRange(nil, nil, 0) {
		got = append(got, fmt.Sprintf("%d[%s,%s)v%d", r.GetID(), r.GetStartKey(), r.GetEndKey(), r.GetRegionEpoch().GetVersion()))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cached regions:\n got  %v\n want %v", got, want)
	}
	if n := c.GetRegionCount(); n != len(want) {
		t.Fatalf("region count %d, regions in the tree %v", n, got)
	}
}

func TestRegionHeartbeatStaleEpoch3C(t *testing.T) {
	for _, tc := range []struct {
		name             string
		confVer, version uint64
		stale            bool
	}{
		{"older version", 2, 1, true},
		{"older conf_ver", 1, 2, true},
		{"both older", 1, 1, true},
		{"same epoch", 2, 2, false},
		{"newer version", 2, 3, false},
		{"newer conf_ver", 3, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 3)
			cached := region(1, "", "", 2, 2, 1, 2, 3)
			heartbeat(t, c, cached)
			hb := region(1, "", "", tc.confVer, tc.version, 1, 2).Clone(core.WithLeader(&metapb.Peer{Id: 102, StoreId: 2}))
			if tc.stale {
				wantStale(t, c, hb)
				if got := c.GetRegion(1); got != cached {
					t.Fatalf("a stale heartbeat (epoch conf_ver %d version %d) changed the cached region: %v", tc.confVer, tc.version, got)
				}
				if n := c.GetStore(2).GetLeaderCount(); n != 0 {
					t.Fatalf("a stale heartbeat moved the leader count: store 2 leads %d regions", n)
				}
				return
			}
			heartbeat(t, c, hb)
			if got := c.GetRegion(1).GetLeader().GetStoreId(); got != 2 {
				t.Fatalf("heartbeat with epoch conf_ver %d version %d: leader on store %d, want 2", tc.confVer, tc.version, got)
			}
		})
	}
}

func TestRegionHeartbeatOverlaps3C(t *testing.T) {
	c := newTestCluster(t, 3)
	heartbeat(t, c, region(1, "a", "c", 1, 1, 1))
	heartbeat(t, c, region(2, "c", "e", 1, 1, 1))
	heartbeat(t, c, region(3, "e", "g", 1, 1, 1))
	wantRegions(t, c, "1[a,c)v1", "2[c,e)v1", "3[e,g)v1")

	// A newer region covering [b, f) replaces every region it overlaps.
	heartbeat(t, c, region(4, "b", "f", 1, 2, 1))
	wantRegions(t, c, "4[b,f)v2")
	if c.GetRegion(1) != nil || c.GetRegion(2) != nil || c.GetRegion(3) != nil {
		t.Fatalf("overlapped regions are still found by id")
	}

	// A region overlapping a cached one of a higher version is stale.
	wantStale(t, c, region(5, "a", "c", 1, 1, 1))
	wantRegions(t, c, "4[b,f)v2")

	// Same version: not stale (only a higher version wins).
	heartbeat(t, c, region(6, "e", "h", 1, 2, 1))
	wantRegions(t, c, "6[e,h)v2")
}

func TestRegionHeartbeatSplitAndMerge3C(t *testing.T) {
	for _, order := range []string{"left first", "right first"} {
		t.Run(order, func(t *testing.T) {
			c := newTestCluster(t, 3)
			heartbeat(t, c, region(1, "", "", 1, 1, 1, 2, 3))
			left, right := region(1, "", "m", 1, 2, 1, 2, 3), region(2, "m", "", 1, 2, 1, 2, 3)
			if order == "left first" {
				heartbeat(t, c, left)
				wantRegions(t, c, "1[,m)v2")
				if r := c.SearchRegion([]byte("x")); r != nil {
					t.Fatalf("after the left half reported, key x: want no region yet, got %v", r)
				}
				heartbeat(t, c, right)
			} else {
				heartbeat(t, c, right)
				wantRegions(t, c, "2[m,)v2")
				heartbeat(t, c, left)
			}
			wantRegions(t, c, "1[,m)v2", "2[m,)v2")
			// The parent's old epoch is stale now on both sides.
			wantStale(t, c, region(1, "", "", 1, 1, 1, 2, 3))
			wantRegions(t, c, "1[,m)v2", "2[m,)v2")
			// A merge back into region 1 replaces region 2.
			heartbeat(t, c, region(1, "", "", 1, 3, 1, 2, 3))
			wantRegions(t, c, "1[,)v3")
			if r := c.SearchRegion([]byte("x")); r.GetID() != 1 {
				t.Fatalf("after the merge, key x: want region 1, got %v", r)
			}
		})
	}
}

func TestRegionHeartbeatUpdates3C(t *testing.T) {
	c := newTestCluster(t, 3)
	r := region(1, "", "", 1, 1, 1, 2, 3)
	heartbeat(t, c, r)
	// Nothing changed: the cached region stays as it is.
	heartbeat(t, c, r.Clone())
	if c.GetRegion(1) != r {
		t.Fatalf("an unchanged heartbeat replaced the cached region")
	}
	for _, tc := range []struct {
		name  string
		opt   core.RegionCreateOption
		check func(*core.RegionInfo) bool
	}{
		{"leader", core.WithLeader(&metapb.Peer{Id: 102, StoreId: 2}), func(x *core.RegionInfo) bool { return x.GetLeader().GetId() == 102 }},
		{"pending peers", core.WithPendingPeers([]*metapb.Peer{{Id: 103, StoreId: 3}}), func(x *core.RegionInfo) bool { return len(x.GetPendingPeers()) == 1 }},
		{"no pending peers", core.WithPendingPeers(nil), func(x *core.RegionInfo) bool { return len(x.GetPendingPeers()) == 0 }},
		{"size", core.SetApproximateSize(96 << 20), func(x *core.RegionInfo) bool { return x.GetApproximateSize() == 96<<20 }},
		{"conf_ver", core.WithIncConfVer(), func(x *core.RegionInfo) bool { return x.GetRegionEpoch().GetConfVer() == 2 }},
	} {
		next := c.GetRegion(1).Clone(tc.opt)
		heartbeat(t, c, next)
		if got := c.GetRegion(1); !tc.check(got) {
			t.Fatalf("a heartbeat that changes the %s was not taken: cached %v", tc.name, got)
		}
	}
}

func TestRegionHeartbeatStoreStats3C(t *testing.T) {
	c := newTestCluster(t, 3)
	heartbeat(t, c, region(1, "", "m", 1, 1, 1, 2, 3).Clone(core.SetApproximateSize(10)))
	heartbeat(t, c, region(2, "m", "", 1, 1, 2, 3).Clone(core.SetApproximateSize(20)))
	want := func(store uint64, regions, leaders int, regionSize, leaderSize int64) {
		t.Helper()
		s := c.GetStore(store)
		if s.GetRegionCount() != regions || s.GetLeaderCount() != leaders || s.GetRegionSize() != regionSize || s.GetLeaderSize() != leaderSize {
			t.Fatalf("store %d: regions %d leaders %d region size %d leader size %d; want %d %d %d %d",
				store, s.GetRegionCount(), s.GetLeaderCount(), s.GetRegionSize(), s.GetLeaderSize(), regions, leaders, regionSize, leaderSize)
		}
	}
	want(1, 1, 1, 10, 10)
	want(2, 2, 1, 30, 20)
	want(3, 2, 0, 30, 0)
	// Leadership of region 2 moves to store 3; region 1 loses its peer on store 1.
	heartbeat(t, c, c.GetRegion(2).Clone(core.WithLeader(&metapb.Peer{Id: 203, StoreId: 3})))
	heartbeat(t, c, region(1, "", "m", 2, 1, 2, 3).Clone(core.SetApproximateSize(10)))
	want(1, 0, 0, 0, 0)
	want(2, 2, 1, 30, 10)
	want(3, 2, 1, 30, 20)
}

// TestRegionHeartbeatConcurrent3C sends thousands of heartbeats at once,
// newer and older epochs of each region interleaved: every region must end
// at its newest epoch.
func TestRegionHeartbeatConcurrent3C(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	rng := rand.New(rand.NewSource(seed))
	c := newTestCluster(t, 5)
	const regions, versions = 1000, 5
	var hbs []*core.RegionInfo
	for id := uint64(1); id <= regions; id++ {
		start, end := fmt.Sprintf("k%06d", id), fmt.Sprintf("k%06d", id+1)
		for v := uint64(1); v <= versions; v++ {
			s := 1 + (id+v)%5
			hbs = append(hbs, region(id, start, end, v, 1, s, 1+s%5, 1+(s+1)%5))
		}
	}
	rng.Shuffle(len(hbs), func(i, j int) { hbs[i], hbs[j] = hbs[j], hbs[i] })
	var wg sync.WaitGroup
	work := make(chan *core.RegionInfo)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := c.HandleRegionHeartbeat(r); err != nil && errors.Cause(err) != ErrRegionStale {
					t.Errorf("heartbeat of %v: %v", r, err)
				}
			}
		}()
	}
	for _, r := range hbs {
		work <- r
	}
	close(work)
	wg.Wait()
	if n := c.GetRegionCount(); n != regions {
		t.Fatalf("seed %d: %d regions cached, want %d", seed, n, regions)
	}
	leaders := 0
	for id := uint64(1); id <= regions; id++ {
		if v := c.GetRegion(id).GetRegionEpoch().GetConfVer(); v != versions {
			t.Fatalf("seed %d: region %d ends at conf_ver %d, want the newest %d", seed, id, v, versions)
		}
	}
	for _, s := range c.GetStores() {
		leaders += s.GetLeaderCount()
	}
	if leaders != regions {
		t.Fatalf("seed %d: the stores lead %d regions in all, want %d", seed, leaders, regions)
	}
}
