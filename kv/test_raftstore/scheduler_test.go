package test_raftstore

import (
	"context"
	"sync"
	"testing"

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

func TestMockSchedulerOperators(t *testing.T) {
	m := bootstrappedScheduler(t)
	got := &orders{}
	m.SetRegionHeartbeatResponseHandler(1, got.handle)
	peers := []*metapb.Peer{NewPeer(1, 1), NewPeer(2, 2), NewPeer(3, 3)}
	leader := peers[0]

	newPeer := NewPeer(4, 4)
	m.AddPeer(1, newPeer)
	_ = heartbeat(t, m, testRegion(1, "", "", 1, 1, peers...), leader)
	if r := got.take(); len(r) != 1 || r[0].ChangePeer.GetChangeType() != eraftpb.ConfChangeType_AddNode || r[0].ChangePeer.Peer.Id != 4 {
		t.Fatalf("the leader should be told to add peer 4, got %v", r)
	}
	withNew := append(append([]*metapb.Peer(nil), peers...), newPeer)
	_ = m.RegionHeartbeat(&schedulerpb.RegionHeartbeatRequest{Region: testRegion(1, "", "", 2, 1, withNew...), Leader: leader, PendingPeers: []*metapb.Peer{newPeer}})
	if r := got.take(); len(r) != 0 {
		t.Fatalf("peer 4 is added and catching up: no order expected, got %v", r)
	}
	_ = heartbeat(t, m, testRegion(1, "", "", 2, 1, withNew...), leader)
	if len(m.operators) != 0 {
		t.Fatalf("the add-peer operator should be done once peer 4 caught up, still have %v", m.operators)
	}

	m.TransferLeader(1, peers[1])
	_ = heartbeat(t, m, testRegion(1, "", "", 2, 1, withNew...), leader)
	if r := got.take(); len(r) != 1 || r[0].TransferLeader.GetPeer().GetId() != 2 {
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
	if r := other.take(); len(r) != 1 || r[0].ChangePeer.GetChangeType() != eraftpb.ConfChangeType_RemoveNode {
		t.Fatalf("the new leader's store should be told to remove peer 4, got %v", r)
	}
	_ = heartbeat(t, m, testRegion(1, "", "", 3, 1, peers...), peers[1])
	if len(m.operators) != 0 || len(got.take())+len(other.take()) != 0 {
		t.Fatalf("the removal is done once the region no longer lists peer 4")
	}
}
