package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/client/percolator"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// threeRegions: ["", "g") led by store 1, ["g", "p") by store 2, ["p", "")
// by store 3, each with a peer on all three stores.
func threeRegions(t *testing.T) *fakeCluster {
	f := newFakeCluster(t)
	f.addRegion(1, "", "g", 1, 1, 2, 3)
	f.addRegion(2, "g", "p", 2, 1, 2, 3)
	f.addRegion(3, "p", "", 3, 1, 2, 3)
	return f
}

func mustPut(t *testing.T, c *Client, m model, key, value string) {
	t.Helper()
	if err := c.Put(context.Background(), []byte(key), []byte(value)); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	if m != nil {
		m[key] = value
	}
}

func mustGet(t *testing.T, c *Client, key, want string) {
	t.Helper()
	got, err := c.Get(context.Background(), []byte(key))
	if err != nil || string(got) != want {
		t.Fatalf("get %q = %q, %v; want %q", key, got, err, want)
	}
}

func TestRawRoutesByRegionAndScansAcrossRegions(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	m := model{}
	for i := 0; i < 26; i++ {
		k := string(rune('a' + i))
		mustPut(t, c, m, k+"1", fmt.Sprint(i))
		mustPut(t, c, m, k+"2", fmt.Sprint(i*2))
	}
	for store := uint64(1); store <= 3; store++ {
		if f.callsTo(store) == 0 {
			t.Errorf("store %d got no request: the client does not route by region", store)
		}
	}
	for _, tc := range []struct {
		start, end string
		limit      int
	}{{"", "", 100}, {"", "", 7}, {"f", "q", 100}, {"f2", "g1", 100}, {"g", "g", 10}, {"o", "", 3}, {"z2", "", 10}, {"b", "x", 30}} {
		got, err := c.Scan(context.Background(), []byte(tc.start), []byte(tc.end), tc.limit)
		if err != nil {
			t.Fatalf("scan [%q, %q) limit %d: %v", tc.start, tc.end, tc.limit, err)
		}
		if want := m.scan(tc.start, tc.end, tc.limit); strings.Join(pairsString(got), ",") != strings.Join(want, ",") {
			t.Errorf("scan [%q, %q) limit %d = %v, want %v", tc.start, tc.end, tc.limit, pairsString(got), want)
		}
	}
	if err := c.Delete(context.Background(), []byte("h1")); err != nil {
		t.Fatalf("delete h1: %v", err)
	}
	if _, err := c.Get(context.Background(), []byte("h1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get of a deleted key = %v, want ErrNotFound", err)
	}
}

func TestFollowsNotLeaderHint(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	mustPut(t, c, nil, "a", "1") // caches region 1 led by store 1
	f.setLeader(1, 3)
	before1, before2, before3 := f.callsTo(1), f.callsTo(2), f.callsTo(3)
	mustPut(t, c, nil, "b", "2")
	mustGet(t, c, "b", "2")
	if got := [3]int{f.callsTo(1) - before1, f.callsTo(2) - before2, f.callsTo(3) - before3}; got != [3]int{1, 0, 2} {
		t.Fatalf("a put and a get after the leader moved to store 3 sent %v requests to stores 1, 2, 3; want [1 0 2] "+
			"(the NotLeader hint leads straight to store 3, and the cache keeps it)", got)
	}
}

// TestNotLeaderHintOfAnUnknownPeerBacksOff: a store keeps answering
// NotLeader naming a peer that is not in the region (on a store nobody
// knows). The client must not follow the hint, nor retry without pause:
// it asks the scheduler for the region again, backs off between attempts,
// and gives up at the deadline with an error that names the region.
func TestNotLeaderHintOfAnUnknownPeerBacksOff(t *testing.T) {
	f := threeRegions(t)
	c := New(f, Options{Dial: f.dial, RPCTimeout: 200 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Seed: 1})
	defer c.Close()
	mustPut(t, c, nil, "a", "1") // caches region 1 led by store 1
	bogus := &metapb.Peer{Id: 999, StoreId: 9}
	f.injectAlways(1, &errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: bogus}})
	calls, reloads := f.callsTo(1), f.getRegionCount()

	const deadline = 400 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := c.Put(ctx, []byte("b"), []byte("2"))
	took := time.Since(start)
	attempts, reloaded := f.callsTo(1)-calls, f.getRegionCount()-reloads
	if err == nil || !strings.Contains(err.Error(), "region 1") || !strings.Contains(err.Error(), "not leader") {
		t.Fatalf("put while store 1 names peer %v as leader = %v; want an error naming region 1 and the NotLeader", bogus, err)
	}
	if took > deadline+time.Second {
		t.Errorf("put took %v with a %v deadline; want it to stop at the deadline", took, deadline)
	}
	// Back-off from 5 ms doubling: about 7 attempts fit in 400 ms; a client
	// that retries without a pause makes hundreds.
	if attempts < 2 || attempts > 20 {
		t.Errorf("%d requests to store 1 in %v (seed 1); want between 2 and 20: the client must back off after a hint it cannot use", attempts, took)
	}
	if reloaded < attempts-1 {
		t.Errorf("%d requests but %d region lookups at the scheduler; want the region reloaded after every unusable hint", attempts, reloaded)
	}
	if n := f.lookupsOf(9); n != 0 || f.callsTo(9) != 0 {
		t.Errorf("the client asked the scheduler for store 9 %d times and sent it %d requests; want none: peer %v is not in the region", n, f.callsTo(9), bogus)
	}
}

// TestNotLeaderHintOfANewPeerReloadsTheRegion: the leader moved to a peer
// added after the client cached the region; the hint names it, the cache
// does not know it, so the client reloads the region from the scheduler
// (which knows the new peer) and reaches the leader.
func TestNotLeaderHintOfANewPeerReloadsTheRegion(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	mustPut(t, c, nil, "a", "1")
	f.mu.Lock()
	f.regions[1].Peers[1] = &metapb.Peer{Id: 250, StoreId: 2} // peer 102 replaced by 250 on store 2
	f.regions[1].RegionEpoch.ConfVer += 2
	f.leaders[1] = 2
	f.mu.Unlock()
	f.tellScheduler()
	reloads := f.getRegionCount()
	mustPut(t, c, nil, "b", "2")
	mustGet(t, c, "b", "2")
	if f.getRegionCount() == reloads {
		t.Fatalf("the client reached the new leader without asking the scheduler; want a reload of region 1 after a hint naming a peer it does not cache")
	}
	if loc := c.Regions().lookup([]byte("b")); loc == nil || loc.Leader.GetId() != 250 {
		t.Fatalf("after the reload the cache has %v for key b, want region 1 led by peer 250", loc)
	}
}

func TestNotLeaderWithoutHintTriesOtherPeers(t *testing.T) {
	f := threeRegions(t)
	f.hintLeader = false
	c := newTestClient(f)
	mustPut(t, c, nil, "a", "1")
	f.setLeader(1, 3)
	mustPut(t, c, nil, "b", "2")
	mustGet(t, c, "b", "2")
}

func TestEpochNotMatchAfterSplit(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	m := model{}
	mustPut(t, c, m, "h", "1")
	f.split(2, 4, "k") // the scheduler does not know yet
	mustPut(t, c, m, "m", "2")
	mustPut(t, c, m, "i", "3")
	got, err := c.Scan(context.Background(), []byte("g"), nil, 10)
	if err != nil || strings.Join(pairsString(got), ",") != strings.Join(m.scan("g", "", 10), ",") {
		t.Fatalf("scan after a split = %v, %v; want %v", pairsString(got), err, m.scan("g", "", 10))
	}
	if loc := c.Regions().lookup([]byte("m")); loc == nil || loc.Region.Id != 4 {
		t.Fatalf("after EpochNotMatch the cache holds %v for key m, want region 4 (from the error's current regions)", loc)
	}
}

func TestRegionGoneAsksSchedulerAgain(t *testing.T) {
	for _, e := range []*errorpb.Error{
		{RegionNotFound: &errorpb.RegionNotFound{RegionId: 2}},
		{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: []byte("h"), RegionId: 2}},
		{StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: 2, ActualStoreId: 9}},
		{StaleCommand: &errorpb.StaleCommand{}},
		{Message: "server is busy"},
	} {
		t.Run(describe(e), func(t *testing.T) {
			f := threeRegions(t)
			c := newTestClient(f)
			mustPut(t, c, nil, "h", "1")
			f.injectOnce(2, e)
			f.injectOnce(2, e)
			mustGet(t, c, "h", "1")
		})
	}
}

// TestUnknownRegionErrorReloadsTheRegion: a region error of no known kind,
// like the store's "mismatch peer id" once the peer the cache names was
// replaced on that store, sends the region back to the scheduler; retrying
// the same route would repeat the error until the deadline.
func TestUnknownRegionErrorReloadsTheRegion(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	mustPut(t, c, nil, "h", "1")
	reloads := f.getRegionCount()
	f.injectOnce(2, &errorpb.Error{Message: "mismatch peer id 202 != 250"})
	mustPut(t, c, nil, "h", "2")
	if f.getRegionCount() == reloads {
		t.Fatalf("after a region error of no known kind the client asked the scheduler %d times more, want a reload of the region", f.getRegionCount()-reloads)
	}
	mustGet(t, c, "h", "2")
}

func TestStoreDownMovesToAnotherPeer(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	mustPut(t, c, nil, "a", "1")
	f.setDown(1, true)
	f.setLeader(1, 2) // the election after store 1 died
	f.tellScheduler()
	mustPut(t, c, nil, "b", "2")
	mustGet(t, c, "a", "1")
}

func TestGivesUpAtTheDeadline(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	for s := uint64(1); s <= 3; s++ {
		f.setDown(s, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Put(ctx, []byte("a"), []byte("1"))
	if err == nil || !strings.Contains(err.Error(), "region 1") || !strings.Contains(err.Error(), "store") {
		t.Fatalf("put with every store down = %v, want an error naming the region and a store", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("put with every store down took %v, want it to stop at the 300ms deadline", took)
	}
}

func TestStoreAddressesAreCached(t *testing.T) {
	f := threeRegions(t)
	c := newTestClient(f)
	for i := 0; i < 20; i++ {
		mustPut(t, c, nil, fmt.Sprintf("k%02d", i), "v")
	}
	if f.getStoreCalls > 3 {
		t.Fatalf("20 puts asked the scheduler for store addresses %d times, want at most 3 (one per store)", f.getStoreCalls)
	}
}

func TestRegionCacheReplacesOverlaps(t *testing.T) {
	f := newFakeCluster(t)
	rc := newRegionCache(f)
	whole := f.addRegion(1, "", "", 1, 1)
	rc.insert(whole, nil)
	left := f.addRegion(1, "", "m", 1, 1)
	left.RegionEpoch.Version = 2
	right := f.addRegion(2, "m", "", 1, 1)
	rc.insert(right, nil)
	if loc := rc.lookup([]byte("a")); loc != nil {
		t.Fatalf("after caching [m, ) over [, ) the cache still answers %v for key a; want a miss", loc.Region)
	}
	rc.insert(left, nil)
	for key, want := range map[string]uint64{"a": 1, "l": 1, "m": 2, "z": 2} {
		if loc := rc.lookup([]byte(key)); loc == nil || loc.Region.Id != want {
			t.Errorf("lookup %q = %v, want region %d", key, loc, want)
		}
	}
}

func TestTxnAcrossRegionsAndLockResolution(t *testing.T) {
	f := threeRegions(t)
	c := New(f, Options{Dial: f.dial, Timeout: 2 * time.Second, RPCTimeout: 200 * time.Millisecond, Seed: 1,
		Txn: percolator.Options{LockTTL: 1}})
	defer c.Close()
	ctx := context.Background()
	txn, err := c.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, k := range []string{"a", "h", "q"} {
		txn.Set([]byte(k), []byte("v-"+k))
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatalf("commit across three regions: %v", err)
	}
	// A client that dies after committing its primary: a reader must find
	// the secondaries committed (through the primary).
	txn2, _ := c.Begin(ctx)
	txn2.Set([]byte("b"), []byte("new-b"))
	txn2.Set([]byte("r"), []byte("new-r"))
	if committed, err := txn2.CommitAndCrash(ctx, percolator.CrashAfterPrimaryCommit); err != nil || !committed {
		t.Fatalf("commit and crash after the primary = %v, %v", committed, err)
	}
	// One that dies after prewriting: its lock expires, readers roll it back.
	txn3, _ := c.Begin(ctx)
	txn3.Set([]byte("i"), []byte("never"))
	txn3.Set([]byte("a"), []byte("never"))
	if _, err := txn3.CommitAndCrash(ctx, percolator.CrashAfterPrewrite); err != nil {
		t.Fatalf("commit and crash after prewrite: %v", err)
	}
	time.Sleep(5 * time.Millisecond) // the 1 ms TTL runs out
	ts, err := c.Timestamp(ctx)
	if err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	got, err := c.TxnScan(ctx, nil, nil, 10, ts)
	if err != nil {
		t.Fatalf("snapshot scan: %v", err)
	}
	want := "a=v-a,b=new-b,h=v-h,q=v-q,r=new-r"
	if strings.Join(pairsString(got), ",") != want {
		t.Fatalf("snapshot scan at %d = %v, want %s", ts, pairsString(got), want)
	}
	if v, err := c.TxnGet(ctx, []byte("a"), txn.StartTS); err != nil || v != nil {
		t.Fatalf("read of a at the first txn's start ts = %q, %v; want nothing (it committed later)", v, err)
	}
	if s := c.Txn().Stats(); s.Committed.Load() == 0 || s.RolledBack.Load() == 0 {
		t.Fatalf("lock resolution: %d committed, %d rolled back; want both > 0", s.Committed.Load(), s.RolledBack.Load())
	}
}
