package server

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/client"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
	"github.com/tinykv-lab/tinykv/scheduler/server/tso"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bootstrap bootstraps the cluster with store 1 and region 2 (peer 3).
func bootstrap(t *testing.T, c *client.Client, addr string) *metapb.Region {
	t.Helper()
	ctx := testCtx(t)
	store := &metapb.Store{Id: 1, Address: addr}
	r := &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}
	resp, err := c.Bootstrap(ctx, store, r)
	if err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("bootstrap: %v %v", err, resp.GetHeader().GetError())
	}
	return r
}

func TestTSOMonotonic(t *testing.T) {
	m := startOne(t)
	c := newClient(t, m)
	ctx := testCtx(t)
	const workers, each = 16, 500
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for i := 0; i < each; i++ {
				ts, err := c.GetTS(ctx)
				if err != nil {
					t.Errorf("GetTS: %v", err)
					return
				}
				if ts <= last {
					t.Errorf("timestamp %d after %d: want strictly increasing", ts, last)
					return
				}
				if ts&(1<<18-1) == 0 {
					t.Errorf("timestamp %d has logical 0", ts)
				}
				last = ts
				mu.Lock()
				if seen[ts] {
					t.Errorf("timestamp %d answered twice", ts)
				}
				seen[ts] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	// The raw stream: count 0 is an error, a batch answers its last logical.
	stream, err := rawClient(t, m).Tso(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &schedulerpb.RequestHeader{ClusterId: m.srv.ClusterID()}
	if err := stream.Send(&schedulerpb.TsoRequest{Header: h, Count: 1000}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetCount() != 1000 || resp.GetTimestamp().GetLogical() < 1000 || resp.GetTimestamp().GetLogical() >= 1<<18 {
		t.Fatalf("Tso count 1000: got %v, %v; want count 1000 and 1000 <= logical < 2^18", resp, err)
	}
	if err := stream.Send(&schedulerpb.TsoRequest{Header: h, Count: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Tso count 0: want InvalidArgument, got %v", err)
	}

	// An oracle starts above a saved bound even when the clock is behind it
	// (a leader whose clock is late, or a clock set back).
	store := kv.NewEtcd(m.srv.client, "/test-tso")
	ahead := time.Now().Add(time.Hour).UnixMilli()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(ahead))
	if err := store.Save(tso.Key, buf[:]); err != nil {
		t.Fatal(err)
	}
	o, err := tso.NewOracle(store, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.Get(1)
	if err != nil || got.GetPhysical() <= ahead {
		t.Fatalf("oracle after a saved bound of %d ms: answered physical %d (%v), want above the bound", ahead, got.GetPhysical(), err)
	}
	if saved, err := tso.Load(store); err != nil || saved <= got.GetPhysical() {
		t.Fatalf("oracle answered physical %d with a saved bound of %d (%v): the bound must be ahead", got.GetPhysical(), saved, err)
	}
}

func TestRestartKeepsIDsTimestampsStoresRegions(t *testing.T) {
	m := &member{cfg: newMemberConfigs(t, t.TempDir(), 1)[0]}
	m.start(t)
	waitLeader(t, m)
	c := newClient(t, m)
	ctx := testCtx(t)
	r := bootstrap(t, c, "127.0.0.1:20161")
	if err := c.PutStore(ctx, &metapb.Store{Id: 4, Address: "127.0.0.1:20164"}); err != nil {
		t.Fatal(err)
	}
	// Region 2 splits into 2 [, m) and 5 [m, ).
	hbs, err := scheduler_client.NewClient([]string{m.clientURL()}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer hbs.Close()
	left := &metapb.Region{Id: 2, EndKey: []byte("m"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 2}, Peers: r.Peers}
	right := &metapb.Region{Id: 5, StartKey: []byte("m"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 2}, Peers: []*metapb.Peer{{Id: 6, StoreId: 1}}}
	for _, x := range []*metapb.Region{left, right} {
		if err := hbs.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: x, Leader: x.Peers[0], ApproximateSize: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the split halves in the cache", func() bool {
		got, leader, err := c.GetRegion(ctx, []byte("x"))
		return err == nil && got.GetId() == 5 && leader.GetId() == 6
	})
	var lastID, lastTS uint64
	for i := 0; i < 3; i++ {
		if lastID, err = c.AllocID(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if lastTS, err = c.GetTS(ctx); err != nil {
		t.Fatal(err)
	}
	hbs.Close()
	c.Close()
	cid := m.srv.ClusterID()

	m.stop()
	m.start(t)
	waitLeader(t, m)
	if m.srv.ClusterID() != cid {
		t.Fatalf("after a restart the cluster id is %d, was %d", m.srv.ClusterID(), cid)
	}
	c = newClient(t, m)
	id, err := c.AllocID(ctx)
	if err != nil || id <= lastID {
		t.Fatalf("after a restart AllocID answered %d (%v), want above %d", id, err, lastID)
	}
	ts, err := c.GetTS(ctx)
	if err != nil || ts <= lastTS {
		t.Fatalf("after a restart GetTS answered %d (%v), want above %d", ts, err, lastTS)
	}
	if s, err := c.GetStore(ctx, 4); err != nil || s.GetAddress() != "127.0.0.1:20164" {
		t.Fatalf("after a restart store 4: %v, %v", s, err)
	}
	for key, want := range map[string]uint64{"a": 2, "x": 5} {
		got, leader, err := c.GetRegion(ctx, []byte(key))
		if err != nil || got.GetId() != want || got.GetRegionEpoch().GetVersion() != 2 {
			t.Fatalf("after a restart GetRegion(%q): %v, %v; want region %d at version 2", key, got, err, want)
		}
		if leader.GetId() != 0 {
			t.Fatalf("after a restart region %d has leader %v before any heartbeat, want none", want, leader)
		}
	}
	if ok, err := c.IsBootstrapped(ctx); err != nil || !ok {
		t.Fatalf("after a restart IsBootstrapped: %v, %v", ok, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBadRequests(t *testing.T) {
	m := startOne(t)
	raw := rawClient(t, m)
	ctx := testCtx(t)
	good := &schedulerpb.RequestHeader{ClusterId: m.srv.ClusterID()}
	bad := &schedulerpb.RequestHeader{ClusterId: m.srv.ClusterID() + 1}

	if _, err := raw.AllocID(ctx, &schedulerpb.AllocIDRequest{Header: bad}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("AllocID with a wrong cluster id: want FailedPrecondition, got %v", err)
	}
	if _, err := raw.GetStore(ctx, &schedulerpb.GetStoreRequest{Header: bad, StoreId: 1}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("GetStore with a wrong cluster id: want FailedPrecondition, got %v", err)
	}
	// Not bootstrapped: ids and IsBootstrapped work, store and region calls say so.
	if resp, err := raw.AllocID(ctx, &schedulerpb.AllocIDRequest{Header: good}); err != nil || resp.GetId() == 0 {
		t.Fatalf("AllocID before bootstrap: %v, %v", resp, err)
	}
	if resp, err := raw.IsBootstrapped(ctx, &schedulerpb.IsBootstrappedRequest{Header: good}); err != nil || resp.GetBootstrapped() {
		t.Fatalf("IsBootstrapped before bootstrap: %v, %v; want false", resp, err)
	}
	notBootstrapped := func(what string, h *schedulerpb.ResponseHeader, err error) {
		t.Helper()
		if err != nil || h.GetError().GetType() != schedulerpb.ErrorType_NOT_BOOTSTRAPPED {
			t.Fatalf("%s before bootstrap: want header error NOT_BOOTSTRAPPED, got %v, %v", what, h, err)
		}
	}
	r1, err := raw.GetStore(ctx, &schedulerpb.GetStoreRequest{Header: good, StoreId: 1})
	notBootstrapped("GetStore", r1.GetHeader(), err)
	r2, err := raw.PutStore(ctx, &schedulerpb.PutStoreRequest{Header: good, Store: &metapb.Store{Id: 1, Address: "a:1"}})
	notBootstrapped("PutStore", r2.GetHeader(), err)
	r3, err := raw.GetRegion(ctx, &schedulerpb.GetRegionRequest{Header: good, RegionKey: []byte("a")})
	notBootstrapped("GetRegion", r3.GetHeader(), err)
	r4, err := raw.AskSplit(ctx, &schedulerpb.AskSplitRequest{Header: good, Region: &metapb.Region{Id: 2}})
	notBootstrapped("AskSplit", r4.GetHeader(), err)

	// Bootstrap: a store without an address is refused, then the real one.
	if resp, err := raw.Bootstrap(ctx, &schedulerpb.BootstrapRequest{Header: good, Store: &metapb.Store{Id: 1}}); err != nil || resp.GetHeader().GetError() == nil {
		t.Fatalf("Bootstrap of a store without address: want a header error, got %v, %v", resp, err)
	}
	reg := &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}
	if resp, err := raw.Bootstrap(ctx, &schedulerpb.BootstrapRequest{Header: good, Store: &metapb.Store{Id: 1, Address: "127.0.0.1:20161"}, Region: reg}); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("Bootstrap: %v, %v", resp, err)
	}
	if resp, err := raw.Bootstrap(ctx, &schedulerpb.BootstrapRequest{Header: good, Store: &metapb.Store{Id: 9, Address: "127.0.0.1:20169"}}); err != nil ||
		resp.GetHeader().GetError().GetType() != schedulerpb.ErrorType_ALREADY_BOOTSTRAPPED {
		t.Fatalf("second Bootstrap: want ALREADY_BOOTSTRAPPED, got %v, %v", resp, err)
	}
	// The bootstrap region is known before any heartbeat.
	if resp, err := raw.GetRegionByID(ctx, &schedulerpb.GetRegionByIDRequest{Header: good, RegionId: 2}); err != nil || resp.GetRegion().GetId() != 2 {
		t.Fatalf("GetRegionByID(2) after bootstrap with the region: %v, %v", resp, err)
	}
	// Unknown store, duplicate address, heartbeat of an unknown store.
	if resp, err := raw.GetStore(ctx, &schedulerpb.GetStoreRequest{Header: good, StoreId: 42}); err != nil || resp.GetHeader().GetError() == nil {
		t.Fatalf("GetStore(42) of an unknown store: want a header error, got %v, %v", resp, err)
	}
	if resp, err := raw.PutStore(ctx, &schedulerpb.PutStoreRequest{Header: good, Store: &metapb.Store{Id: 5, Address: "127.0.0.1:20161"}}); err != nil || resp.GetHeader().GetError() == nil {
		t.Fatalf("PutStore of store 5 at store 1's address: want a header error, got %v, %v", resp, err)
	}
	if resp, err := raw.StoreHeartbeat(ctx, &schedulerpb.StoreHeartbeatRequest{Header: good, Stats: &schedulerpb.StoreStats{StoreId: 42}}); err != nil || resp.GetHeader().GetError() == nil {
		t.Fatalf("StoreHeartbeat of unknown store 42: want a header error, got %v, %v", resp, err)
	}
	// Offline then tombstone: a tombstone store is left out and refused.
	if resp, err := raw.PutStore(ctx, &schedulerpb.PutStoreRequest{Header: good, Store: &metapb.Store{Id: 7, Address: "127.0.0.1:20167", State: metapb.StoreState_Offline}}); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("PutStore 7 offline: %v, %v", resp, err)
	}
	if resp, err := raw.StoreHeartbeat(ctx, &schedulerpb.StoreHeartbeatRequest{Header: good, Stats: &schedulerpb.StoreStats{StoreId: 7}}); err != nil || resp.GetHeader().GetError() != nil {
		t.Fatalf("StoreHeartbeat 7: %v, %v", resp, err)
	}
	all, err := raw.GetAllStores(ctx, &schedulerpb.GetAllStoresRequest{Header: good, ExcludeTombstoneStores: true})
	if err != nil || len(all.GetStores()) != 1 || all.GetStores()[0].GetId() != 1 {
		t.Fatalf("GetAllStores without tombstones: want only store 1 (store 7 offline and empty is a tombstone), got %v, %v", all, err)
	}
	if resp, err := raw.StoreHeartbeat(ctx, &schedulerpb.StoreHeartbeatRequest{Header: good, Stats: &schedulerpb.StoreStats{StoreId: 7}}); err != nil ||
		resp.GetHeader().GetError().GetType() != schedulerpb.ErrorType_STORE_TOMBSTONE {
		t.Fatalf("StoreHeartbeat of tombstone store 7: want STORE_TOMBSTONE, got %v, %v", resp, err)
	}
	// AskSplit: a new region id and one peer id per peer.
	split, err := raw.AskSplit(ctx, &schedulerpb.AskSplitRequest{Header: good, Region: reg})
	if err != nil || split.GetNewRegionId() == 0 || len(split.GetNewPeerIds()) != 1 {
		t.Fatalf("AskSplit: %v, %v", split, err)
	}
	// A heartbeat stream with a wrong cluster id ends with FailedPrecondition.
	stream, err := raw.RegionHeartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&schedulerpb.RegionHeartbeatRequest{Header: bad, Region: reg, Leader: reg.Peers[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("region heartbeat with a wrong cluster id: want FailedPrecondition, got %v", err)
	}
}

// TestHeartbeatStreamCarriesOrders: an operator for a region goes to its
// leader's store on the heartbeat stream, through the store's client.
func TestHeartbeatStreamCarriesOrders(t *testing.T) {
	m := startOne(t)
	c := newClient(t, m)
	ctx := testCtx(t)
	r := bootstrap(t, c, "127.0.0.1:20161")
	if err := c.PutStore(ctx, &metapb.Store{Id: 4, Address: "127.0.0.1:20164"}); err != nil {
		t.Fatal(err)
	}
	// One replica is enough here: the replica checker has nothing to add.
	if err := c.PutClusterConfig(ctx, &metapb.Cluster{Id: m.srv.ClusterID(), MaxPeerCount: 1}); err != nil {
		t.Fatal(err)
	}
	store, err := scheduler_client.NewClient([]string{m.clientURL()}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	orders := make(chan *schedulerpb.RegionHeartbeatResponse, 16)
	store.SetRegionHeartbeatResponseHandler(1, func(resp *schedulerpb.RegionHeartbeatResponse) { orders <- resp })
	send := func() {
		if err := store.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: r, Leader: r.Peers[0]}); err != nil {
			t.Fatal(err)
		}
	}
	send()
	cluster := m.srv.getLeadership().getCluster()
	waitFor(t, "the region's heartbeat", func() bool { return cluster.GetRegion(2).GetLeader().GetId() == 3 })
	op := schedule.CreateAddPeerOperator("test-add-peer", cluster.GetRegion(2), 4, 10, schedule.OpAdmin)
	if !cluster.coord.GetOperatorController().AddOperator(op) {
		t.Fatal("AddOperator refused the operator")
	}
	// The first step goes out when the operator is added, and again with
	// every heartbeat until the region shows it done.
	wantOrder := func(when string) {
		t.Helper()
		select {
		case o := <-orders:
			cp := o.GetChangePeer()
			if o.GetRegionId() != 2 || cp.GetChangeType() != eraftpb.ConfChangeType_AddNode || cp.GetPeer().GetStoreId() != 4 || cp.GetPeer().GetId() != 10 ||
				o.GetTargetPeer().GetId() != 3 || o.GetRegionEpoch().GetConfVer() != 1 {
				t.Fatalf("order for region 2 %s: want AddNode peer 10 on store 4 to leader 3, got %v", when, o)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no order came on the heartbeat stream %s within 10s", when)
		}
	}
	wantOrder("when the operator was added")
	send()
	wantOrder("after the next heartbeat")
	got, err := c.GetOperator(ctx, 2)
	if err != nil || got.GetStatus() != schedulerpb.OperatorStatus_RUNNING {
		t.Fatalf("GetOperator(2): want RUNNING, got %v, %v", got, err)
	}
}

// startMembers starts an n-member scheduler, its members at once (each
// waits for the others to form the cluster).
func startMembers(t *testing.T, n int) []*member {
	var ms []*member
	for _, cfg := range newMemberConfigs(t, t.TempDir(), n) {
		ms = append(ms, &member{cfg: cfg})
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func(m *member) {
			defer wg.Done()
			m.start(t)
		}(m)
	}
	wg.Wait()
	return ms
}

func TestThreeMembersLeaderLoss(t *testing.T) {
	ms := startMembers(t, 3)
	if t.Failed() {
		return
	}
	leader := waitLeader(t, ms...)
	ctx := testCtx(t)
	c := newClient(t, ms...)
	members, err := c.GetMembers(ctx)
	if err != nil || members.GetLeader().GetName() != leader.cfg.Name || len(members.GetMembers()) != 3 {
		t.Fatalf("GetMembers: want 3 members and leader %s, got %v, %v", leader.cfg.Name, members, err)
	}
	if u := members.GetLeader().GetClientUrls(); len(u) == 0 || u[0] != leader.clientURL() {
		t.Fatalf("GetMembers names the leader at %v, want %s", u, leader.clientURL())
	}
	for _, m := range ms {
		if m == leader {
			continue
		}
		_, err := rawClient(t, m).AllocID(ctx, &schedulerpb.AllocIDRequest{Header: &schedulerpb.RequestHeader{ClusterId: m.srv.ClusterID()}})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("AllocID on follower %s: want Unavailable not leader, got %v", m.cfg.Name, err)
		}
	}
	lastID, err := c.AllocID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lastTS, err := c.GetTS(ctx)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	leader.crash(t)
	var rest []*member
	for _, m := range ms {
		if m != leader {
			rest = append(rest, m)
		}
	}
	next := waitLeader(t, rest...)
	ts, err := c.GetTS(ctx)
	if err != nil || ts <= lastTS {
		t.Fatalf("after losing leader %s: GetTS %d (%v), want above %d", leader.cfg.Name, ts, err, lastTS)
	}
	id, err := c.AllocID(ctx)
	if err != nil || id <= lastID {
		t.Fatalf("after losing leader %s: AllocID %d (%v), want above %d", leader.cfg.Name, id, err, lastID)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("member %s served %v after the leader was killed, want within 10s", next.cfg.Name, d)
	}
	t.Logf("leader %s killed; %s served after %v", leader.cfg.Name, next.cfg.Name, time.Since(start).Round(time.Millisecond))
	// The etcd v3 API answers on the same port.
	ec, err := clientv3.New(clientv3.Config{Endpoints: []string{next.clientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	if resp, err := ec.Get(ctx, clusterIDPath); err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != fmt.Sprint(next.srv.ClusterID()) {
		t.Fatalf("etcd Get %s on %s: %v, %v", clusterIDPath, next.clientURL(), resp, err)
	}
}

// TestLastMemberWithoutQuorumStopsQuickly: the two other members of three
// die; the last one, a follower without quorum whose campaign cannot end
// the usual way (etcd's election resigns through requests that wait for
// the server's request timeout), still stops within seconds.
func TestLastMemberWithoutQuorumStopsQuickly(t *testing.T) {
	ms := startMembers(t, 3)
	if t.Failed() {
		return
	}
	leader := waitLeader(t, ms...)
	var followers []*member
	for _, m := range ms {
		if m != leader {
			followers = append(followers, m)
		}
	}
	leader.crash(t)
	followers[0].crash(t)
	last := followers[1]
	// Let the last member notice: it campaigns, and cannot win.
	time.Sleep(2 * time.Second)
	start := time.Now()
	last.stop()
	const within = 5 * time.Second // closeWait, then etcd's own stop (about a second)
	if d := time.Since(start); d > within {
		t.Fatalf("the last member %s, without quorum, took %v to stop, want within %v", last.cfg.Name, d.Round(time.Millisecond), within)
	}
	t.Logf("the last member %s, without quorum, stopped in %v", last.cfg.Name, time.Since(start).Round(time.Millisecond))
}

// TestReplicaCheckerOrdersOverGRPC: the scheduling runs in the server: a
// region with one peer and max-replicas 3 gets an AddNode order for a store
// that has no peer of it, on its leader's heartbeat stream.
func TestReplicaCheckerOrdersOverGRPC(t *testing.T) {
	m := startOne(t)
	c := newClient(t, m)
	ctx := testCtx(t)
	r := bootstrap(t, c, "127.0.0.1:20161")
	for _, id := range []uint64{4, 5} {
		if err := c.PutStore(ctx, &metapb.Store{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", 20160+id)}); err != nil {
			t.Fatal(err)
		}
	}
	store, err := scheduler_client.NewClient([]string{m.clientURL()}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	orders := make(chan *schedulerpb.RegionHeartbeatResponse, 64)
	store.SetRegionHeartbeatResponseHandler(1, func(resp *schedulerpb.RegionHeartbeatResponse) { orders <- resp })
	if err := c.StoreHeartbeat(ctx, nil); err == nil {
		t.Fatalf("a store heartbeat without stats was accepted")
	}
	for _, id := range []uint64{1, 4, 5} {
		regions := uint32(0)
		if id == 1 {
			regions = 1
		}
		if err := c.StoreHeartbeat(ctx, &schedulerpb.StoreStats{StoreId: id, Capacity: 100 << 30, Available: 90 << 30, RegionCount: regions}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case o := <-orders:
			cp := o.GetChangePeer()
			if cp.GetChangeType() != eraftpb.ConfChangeType_AddNode || o.GetRegionId() != 2 ||
				(cp.GetPeer().GetStoreId() != 4 && cp.GetPeer().GetStoreId() != 5) || cp.GetPeer().GetId() == 0 {
				t.Fatalf("order for region 2 with one peer of 3: want AddNode on store 4 or 5, got %v", o)
			}
			return
		case <-tick.C:
			if err := store.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: r, Leader: r.Peers[0], ApproximateSize: 1 << 20}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("no AddNode order for an under-replicated region within 15s")
		}
	}
}
