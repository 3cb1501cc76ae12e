package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/client"
)

// fakeStores plays the leaders of a few regions on three stores over gRPC:
// each store has its own heartbeat stream, every region's heartbeat comes
// from the store of its leader, and a leader transfer it is ordered is
// carried out at once (the next heartbeat comes from the new leader).
type fakeStores struct {
	t       *testing.T
	ctx     context.Context
	c       *client.Client
	clients map[uint64]*scheduler_client.GRPCClient

	mu        sync.Mutex
	regions   []*metapb.Region
	leader    map[uint64]uint64 // region id → store id of its leader
	transfers map[uint64]int    // store id → leaderships ordered to it
	silent    map[uint64]bool   // stores that send no store heartbeat
	toSilent  int               // leaderships ordered to a silent store
}

func newFakeStores(t *testing.T, ctx context.Context, m *member, c *client.Client) *fakeStores {
	f := &fakeStores{t: t, ctx: ctx, c: c, clients: map[uint64]*scheduler_client.GRPCClient{},
		leader: map[uint64]uint64{}, transfers: map[uint64]int{}, silent: map[uint64]bool{}}
	for id := uint64(1); id <= 3; id++ {
		sc, err := scheduler_client.NewClient([]string{m.clientURL()}, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sc.Close)
		sc.SetRegionHeartbeatResponseHandler(id, f.order)
		f.clients[id] = sc
	}
	return f
}

// order carries out a leader transfer (other orders are not expected).
func (f *fakeStores) order(resp *schedulerpb.RegionHeartbeatResponse) {
	to := resp.GetTransferLeader().GetPeer().GetStoreId()
	if to == 0 {
		f.t.Errorf("only leader transfers are expected, got %v", resp)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.leader[resp.GetRegionId()]; !ok {
		f.t.Errorf("an order for unknown region %d: %v", resp.GetRegionId(), resp)
		return
	}
	if f.leader[resp.GetRegionId()] != to {
		f.transfers[to]++
	}
	if f.silent[to] {
		f.toSilent++
		return // a store that is gone does not take the leadership
	}
	f.leader[resp.GetRegionId()] = to
}

// round sends a store heartbeat of every store that is not silent and a
// region heartbeat of every region.
func (f *fakeStores) round() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := uint64(1); id <= 3; id++ {
		if f.silent[id] {
			continue
		}
		if err := f.c.StoreHeartbeat(f.ctx, &schedulerpb.StoreStats{StoreId: id, Capacity: 100 << 30, Available: 90 << 30,
			RegionCount: uint32(len(f.regions))}); err != nil {
			f.t.Fatalf("store heartbeat of store %d: %v", id, err)
		}
	}
	for _, r := range f.regions {
		store := f.leader[r.GetId()]
		leader := r.GetPeers()[store-1]
		if err := f.clients[store].RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: r, Leader: leader, ApproximateSize: 1 << 20}); err != nil {
			f.t.Fatalf("region heartbeat of region %d: %v", r.GetId(), err)
		}
	}
}

func (f *fakeStores) leaders() map[uint64]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := map[uint64]int{}
	for _, s := range f.leader {
		n[s]++
	}
	return n
}

// counts returns the leaderships ordered to each store and those ordered
// to a silent store.
func (f *fakeStores) counts() (map[uint64]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint64]int{}
	for s, n := range f.transfers {
		out[s] = n
	}
	return out, f.toSilent
}

func (f *fakeStores) setSilent(store uint64, silent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.silent[store] = silent
}

// TestNoLeaderToDisconnectedStoreOverGRPC runs the real scheduler against
// three stores that lead 9, 3 and 0 of 12 regions, with
// store-disconnect-time 1s. Store 3 sends no store heartbeat: balance-leader
// evens stores 1 and 2 out and orders no leader to store 3. Once store 3
// sends heartbeats again it gets leaders too.
func TestNoLeaderToDisconnectedStoreOverGRPC(t *testing.T) {
	cfg := newMemberConfigs(t, t.TempDir(), 1)[0]
	cfg.Schedule.StoreDisconnectTime.Duration = time.Second
	m := &member{cfg: cfg}
	m.start(t)
	waitLeader(t, m)
	c := newClient(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if resp, err := c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:20161"}, nil); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("bootstrap: %v %v", err, resp.GetHeader().GetError())
	}
	for _, id := range []uint64{2, 3} {
		if err := c.PutStore(ctx, &metapb.Store{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", 20160+id)}); err != nil {
			t.Fatal(err)
		}
	}
	f := newFakeStores(t, ctx, m, c)
	for i := uint64(0); i < 12; i++ {
		r := &metapb.Region{Id: 100 + i, StartKey: []byte(fmt.Sprintf("k%02d", i)), EndKey: []byte(fmt.Sprintf("k%02d", i+1)),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 2}}
		if i == 0 {
			r.StartKey = nil
		}
		if i == 11 {
			r.EndKey = nil
		}
		for s := uint64(1); s <= 3; s++ {
			r.Peers = append(r.Peers, &metapb.Peer{Id: 1000 + 10*i + s, StoreId: s})
		}
		f.regions = append(f.regions, r)
		f.leader[r.GetId()] = 1
		if i >= 9 {
			f.leader[r.GetId()] = 2
		}
	}
	// Store 3 sends one store heartbeat (the coordinator waits for one of
	// every store), then none: it is disconnected before the first region
	// heartbeat lets scheduling start.
	if err := c.StoreHeartbeat(ctx, &schedulerpb.StoreStats{StoreId: 3, RegionCount: 12}); err != nil {
		t.Fatal(err)
	}
	f.setSilent(3, true)
	time.Sleep(1500 * time.Millisecond)

	checkSilent := func() {
		t.Helper()
		if ordered, bad := f.counts(); bad > 0 {
			t.Fatalf("store 3 is disconnected (no heartbeat for over 1s), yet %d leaderships were ordered to it; leaders %v, ordered %v",
				bad, f.leaders(), ordered)
		}
	}
	wait := func(what string, within time.Duration, done func(map[uint64]int) bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !done(f.leaders()) {
			checkSilent()
			if time.Now().After(deadline) {
				ordered, _ := f.counts()
				t.Fatalf("%s: not within %v; leaders per store %v, leaderships ordered to each store %v",
					what, within, f.leaders(), ordered)
			}
			f.round()
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("stores 1 and 2 even out (6 leaders each) with store 3 disconnected", 20*time.Second, func(n map[uint64]int) bool {
		return n[1] == 6 && n[2] == 6
	})
	// It stays so: nothing is ordered to store 3 for a few more rounds.
	for i := 0; i < 10; i++ {
		f.round()
		time.Sleep(100 * time.Millisecond)
	}
	checkSilent()
	f.setSilent(3, false)
	wait("store 3 heard from again takes leaders (4 each)", 20*time.Second, func(n map[uint64]int) bool {
		return n[1] == 4 && n[2] == 4 && n[3] == 4
	})
}
