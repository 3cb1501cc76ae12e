package test_raftstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// Tests of the mock scheduler.

func testRegion(id uint64, start, end string, confVer, version uint64, peers ...*metapb.Peer) *metapb.Region {
	return &metapb.Region{
		Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: version},
		Peers:       peers,
	}
}

func bootstrappedScheduler(t *testing.T) *MockSchedulerClient {
	t.Helper()
	m := NewMockSchedulerClient(1, 10)
	resp, err := m.Bootstrap(context.Background(), &metapb.Store{Id: 1},
		testRegion(1, "", "", 1, 1, NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3)))
	if err != nil || resp.Header.Error != nil {
		t.Fatalf("bootstrap: %v %v", err, resp)
	}
	return m
}

func heartbeat(t *testing.T, m *MockSchedulerClient, region *metapb.Region, leader *metapb.Peer) error {
	t.Helper()
	return m.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: region, Leader: leader})
}

func TestMockSchedulerBootstrapAndIDs(t *testing.T) {
	m := bootstrappedScheduler(t)
	resp, err := m.Bootstrap(context.Background(), &metapb.Store{Id: 2}, testRegion(9, "", "", 1, 1))
	if err != nil || resp.GetHeader().GetError().GetType() != schedulerpb.ErrorType_ALREADY_BOOTSTRAPPED {
		t.Fatalf("a second bootstrap should answer ALREADY_BOOTSTRAPPED, got %v, %v", resp, err)
	}
	if _, err := m.Bootstrap(context.Background(), nil, nil); err == nil {
		t.Fatalf("bootstrap without store and region should fail")
	}
	a, _ := m.AllocID(context.Background())
	b, _ := m.AllocID(context.Background())
	if a != 10 || b != 11 {
		t.Fatalf("ids from base 10: got %d then %d", a, b)
	}
	region, leader, _ := m.GetRegion(context.Background(), []byte("any"))
	if region.GetId() != 1 || leader != nil {
		t.Fatalf("before any heartbeat: region %v leader %v, want region 1 and no leader", region, leader)
	}
	region.StartKey = []byte("mutated")
	if again, _, _ := m.GetRegion(context.Background(), []byte("any")); len(again.StartKey) != 0 {
		t.Fatalf("GetRegion must return a copy; the caller's change leaked: %v", again)
	}
}

func TestMockSchedulerFollowsEpochs(t *testing.T) {
	m := bootstrappedScheduler(t)
	peers := []*metapb.Peer{NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3)}
	if err := heartbeat(t, m, testRegion(1, "", "", 1, 1, peers...), peers[1]); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if _, leader, _ := m.GetRegionByID(context.Background(), 1); leader.GetId() != 2 {
		t.Fatalf("leader should be peer 2, got %v", leader)
	}

	// A split: the right half reports first, then the left one.
	if err := heartbeat(t, m, testRegion(5, "m", "", 1, 2, peers...), peers[0]); err != nil {
		t.Fatalf("heartbeat of the new right region: %v", err)
	}
	if region, _, _ := m.GetRegion(context.Background(), []byte("a")); region != nil {
		t.Fatalf("the old region 1 overlaps the newer region 5 and should be gone until it reports again, got %v", region)
	}
	if err := heartbeat(t, m, testRegion(1, "", "", 1, 1, peers...), peers[1]); err == nil {
		t.Fatalf("a heartbeat of region 1 from before the split should be refused")
	}
	if err := heartbeat(t, m, testRegion(1, "", "m", 1, 2, peers...), peers[1]); err != nil {
		t.Fatalf("heartbeat of the left region: %v", err)
	}
	for key, want := range map[string]uint64{"": 1, "a": 1, "m": 5, "z": 5} {
		if region, _, _ := m.GetRegion(context.Background(), []byte(key)); region.GetId() != want {
			t.Errorf("key %q: region %v, want %d", key, region, want)
		}
	}
	if ids := m.regionIDs(); len(ids) != 2 || ids[0] != 1 || ids[1] != 5 {
		t.Fatalf("regions in key order: %v, want [1 5]", ids)
	}

	// An older conf version is refused; a newer one replaces the peers.
	if err := heartbeat(t, m, testRegion(5, "m", "", 2, 2, peers[:2]...), peers[0]); err != nil {
		t.Fatalf("heartbeat after removing a peer: %v", err)
	}
	if err := heartbeat(t, m, testRegion(5, "m", "", 1, 2, peers...), peers[2]); err == nil {
		t.Fatalf("a heartbeat with an older conf version should be refused")
	}
	if region, leader, _ := m.GetRegionByID(context.Background(), 5); len(region.Peers) != 2 || leader.GetId() != 1 {
		t.Fatalf("region 5 should have 2 peers and leader 1 (the refused heartbeat changes nothing), got %v, %v", region, leader)
	}

	split, err := m.AskSplit(context.Background(), testRegion(5, "m", "", 2, 2, peers[:2]...))
	if err != nil || split.NewRegionId == 0 || len(split.NewPeerIds) != 2 {
		t.Fatalf("ask split of a 2-peer region: %v, %v", split, err)
	}
	if _, err := m.AskSplit(context.Background(), testRegion(5, "m", "", 1, 1)); err == nil {
		t.Fatalf("ask split with a stale epoch should fail")
	}
}

// orders collects the heartbeat responses a store receives.
type orders struct {
	mu    sync.Mutex
	resps []*schedulerpb.RegionHeartbeatResponse
}

func (o *orders) handle(resp *schedulerpb.RegionHeartbeatResponse) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resps = append(o.resps, resp)
}

func (o *orders) take() []*schedulerpb.RegionHeartbeatResponse {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.resps
	o.resps = nil
	return r
}

// ordersOf keeps the responses that carry an order.
func ordersOf(resps []*schedulerpb.RegionHeartbeatResponse) []*schedulerpb.RegionHeartbeatResponse {
	var out []*schedulerpb.RegionHeartbeatResponse
	for _, r := range resps {
		if r.ChangePeer != nil || r.TransferLeader != nil {
			out = append(out, r)
		}
	}
	return out
}

func TestMockSchedulerOperators(t *testing.T) {
	m := bootstrappedScheduler(t)
	got := &orders{}
	m.SetRegionHeartbeatResponseHandler(1, got.handle)
	peers := []*metapb.Peer{NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3)}
	leader := peers[0]

	_ = heartbeat(t, m, testRegion(1, "", "", 1, 1, peers...), leader)
	if r := got.take(); len(r) != 1 || len(ordersOf(r)) != 0 || r[0].RegionId != 1 || r[0].TargetPeer.GetId() != 1 {
		t.Fatalf("a heartbeat with no order pending should get one empty response for region 1, got %v", r)
	}

	newPeer := NewPeer(4, 4)
	m.AddPeer(1, newPeer)
	_ = heartbeat(t, m, testRegion(1, "", "", 1, 1, peers...), leader)
	if r := ordersOf(got.take()); len(r) != 1 || r[0].ChangePeer.GetChangeType() != eraftpb.ConfChangeType_AddNode || r[0].ChangePeer.Peer.Id != 4 {
		t.Fatalf("the leader should be told to add peer 4, got %v", r)
	}
	withNew := append(append([]*metapb.Peer(nil), peers...), newPeer)
	_ = m.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: testRegion(1, "", "", 2, 1, withNew...), Leader: leader, PendingPeers: []*metapb.Peer{newPeer}})
	if r := ordersOf(got.take()); len(r) != 0 {
		t.Fatalf("peer 4 is added and catching up: no order expected, got %v", r)
	}
	if done, _ := m.peerCaughtUp(1, newPeer); done {
		t.Fatalf("peer 4 is reported pending: it has not caught up")
	}
	_ = heartbeat(t, m, testRegion(1, "", "", 2, 1, withNew...), leader)
	if len(m.operators) != 0 {
		t.Fatalf("the add-peer operator should be done once peer 4 caught up, still have %v", m.operators)
	}
	if done, _ := m.peerCaughtUp(1, newPeer); !done {
		t.Fatalf("peer 4 is listed and not pending: it has caught up")
	}

	m.TransferLeader(1, peers[1])
	_ = heartbeat(t, m, testRegion(1, "", "", 2, 1, withNew...), leader)
	if r := ordersOf(got.take()); len(r) != 1 || r[0].TransferLeader.GetPeer().GetId() != 2 {
		t.Fatalf("the leader should be told to transfer to peer 2, got %v", r)
	}
	_ = heartbeat(t, m, testRegion(1, "", "", 2, 1, withNew...), peers[1])
	if len(m.operators) != 0 {
		t.Fatalf("the transfer is done once peer 2 reports as leader, still have %v", m.operators)
	}

	m.RemovePeer(1, newPeer)
	other := &orders{}
	m.SetRegionHeartbeatResponseHandler(2, other.handle)
	_ = heartbeat(t, m, testRegion(1, "", "", 2, 1, withNew...), peers[1])
	if r := ordersOf(other.take()); len(r) != 1 || r[0].ChangePeer.GetChangeType() != eraftpb.ConfChangeType_RemoveNode {
		t.Fatalf("the new leader's store should be told to remove peer 4, got %v", r)
	}
	_ = heartbeat(t, m, testRegion(1, "", "", 3, 1, peers...), peers[1])
	if len(m.operators) != 0 || len(ordersOf(got.take()))+len(ordersOf(other.take())) != 0 {
		t.Fatalf("the removal is done once the region no longer lists peer 4")
	}
	if v := m.Violations(); len(v) != 0 {
		t.Fatalf("one change per conf_ver step is legal, got violations %v", v)
	}
}

// TestMockSchedulerRefusesImpossibleMembership: each report below breaks
// the rule "one applied change = conf_ver + 1 = one peer more or less" and
// must be refused, recorded, and leave the known region as it was.
func TestMockSchedulerRefusesImpossibleMembership(t *testing.T) {
	p1, p2, p3, p4, p5 := NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3), NewPeer(4, 4), NewPeer(4, 9)
	cases := []struct {
		name   string
		region *metapb.Region
		want   string
	}{
		{"an add applied twice", testRegion(1, "", "", 3, 1, p1, p2, p3, p4), "conf_ver jumped"},
		{"a conf_ver step without a change", testRegion(1, "", "", 2, 1, p1, p2, p3), "exactly one peer"},
		{"two peers added in one step", testRegion(1, "", "", 2, 1, p1, p2, p3, p4, NewPeer(5, 5)), "exactly one peer"},
		{"a peer's id changed in one step", testRegion(1, "", "", 2, 1, p1, p2, NewPeer(3, 7)), "exactly one peer"},
		{"peers changed without a step", testRegion(1, "", "", 1, 1, p1, p2), "conf_ver stayed"},
		{"two peers on one store", testRegion(1, "", "", 2, 1, p1, p2, p3, p4, p5), "share an id or a store"},
	}
	for _, c := range cases {
		m := bootstrappedScheduler(t)
		err := heartbeat(t, m, c.region, p1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want the report refused with %q, got %v", c.name, c.want, err)
			continue
		}
		v := m.Violations()
		if len(v) != 1 || !strings.Contains(v[0], "region 1") || !strings.Contains(v[0], "known epoch") && c.want != "share an id or a store" {
			t.Errorf("%s: want one violation naming the region and both epochs, got %v", c.name, v)
		}
		if region, _, _ := m.GetRegionByID(context.Background(), 1); region.RegionEpoch.ConfVer != 1 || len(region.Peers) != 3 {
			t.Errorf("%s: a refused report must change nothing, the scheduler now has %v", c.name, region)
		}
	}
}

// TestMockSchedulerChecksRegionsRemovedBySplit: the right half of a split
// reports first and removes region 1 from the range index; a later report
// of region 1 is still compared with what was known of it.
func TestMockSchedulerChecksRegionsRemovedBySplit(t *testing.T) {
	m := bootstrappedScheduler(t)
	peers := []*metapb.Peer{NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3)}
	if err := heartbeat(t, m, testRegion(7, "m", "", 1, 2, peers...), peers[0]); err != nil {
		t.Fatalf("the new right half: %v", err)
	}
	if err := heartbeat(t, m, testRegion(1, "", "m", 3, 2, peers[:2]...), peers[0]); err == nil || len(m.Violations()) != 1 {
		t.Fatalf("region 1 lost one peer but conf_ver grew by 2: want a violation, got err %v, violations %v", err, m.Violations())
	}
}

// TestClusterFailsOnMembershipViolation: a violation recorded by the
// scheduler fails the next harness helper, naming the region and the seed.
func TestClusterFailsOnMembershipViolation(t *testing.T) {
	cluster := NewTestCluster(1, config.NewTestConfig())
	cluster.name = t.Name()
	cluster.Start()
	defer func() {
		msg := fmt.Sprint(recover())
		for _, want := range []string{"impossible membership change", "region 1", "conf_ver jumped", SeedEnv} {
			if !strings.Contains(msg, want) {
				t.Errorf("the failure should mention %q; got: %s", want, msg)
			}
		}
	}()
	defer cluster.Shutdown()
	cluster.MustPut([]byte("k"), []byte("v"))
	_ = heartbeat(t, cluster.schedulerClient, testRegion(1, "", "", 5, 1, NewPeer(1, 1), NewPeer(2, 2)), NewPeer(1, 1))
	cluster.MustPut([]byte("k"), []byte("v2"))
	t.Fatalf("MustPut went on after the scheduler recorded a violation")
}
