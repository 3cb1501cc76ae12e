package test_raftstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/golang/protobuf/proto"
	"github.com/google/btree"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// MockSchedulerClient is the scheduler of a test cluster, in process. It
// learns regions only from what the stores report: the bootstrap region,
// then the region heartbeats of leaders. A heartbeat with an older epoch
// than the one known is refused, and a region with a newer epoch replaces
// the regions it overlaps (a split shrinks one and adds another). Orders
// (add or remove a peer, transfer the leader) are queued per region with
// AddPeer, RemovePeer and TransferLeader and sent back in heartbeat
// responses until the region reports them done; a heartbeat with no order
// pending gets an empty response, as from a real scheduler.
//
// It is as strict as a real scheduler about membership: every applied
// change adds exactly one to conf_ver and changes the peer set by exactly
// one peer. A report that breaks this (a conf change applied twice, one
// skipped, two peers swapped at once, two peers on one store) is refused
// and recorded as a violation; the cluster fails the test with it (see
// Cluster.checkScheduler).
type MockSchedulerClient struct {
	mu           sync.RWMutex
	clusterID    uint64
	nextID       uint64
	bootstrapped bool
	stores       map[uint64]*mockStore
	regions      *btree.BTreeG[*regionRecord] // by start key
	regionByID   map[uint64]*regionRecord
	pendingPeers map[uint64]*metapb.Peer
	operators    map[uint64]*operator
	heartbeats   uint64
	// lastSeen is the last accepted membership of every region id ever
	// reported, kept when a split or merge removes the region from the
	// range index, so a later report of the same id is checked too.
	lastSeen   map[uint64]*metapb.Region
	violations []string
}

var _ scheduler_client.Client = (*MockSchedulerClient)(nil)

type regionRecord struct {
	region *metapb.Region
	leader *metapb.Peer
}

func regionRecordLess(a, b *regionRecord) bool {
	return bytes.Compare(a.region.StartKey, b.region.StartKey) < 0
}

type mockStore struct {
	store   *metapb.Store
	stats   *schedulerpb.StoreStats
	handler func(*schedulerpb.RegionHeartbeatResponse)
}

type operatorKind int

const (
	opAddPeer operatorKind = iota
	opRemovePeer
	opTransferLeader
)

func (k operatorKind) String() string {
	return [...]string{"add peer", "remove peer", "transfer leader"}[k]
}

// operator is an order for one region. An added peer is done once the
// region lists it and it no longer reports it as pending (it has caught up).
type operator struct {
	kind    operatorKind
	peer    *metapb.Peer
	applied bool // add peer: the region lists the peer already
}

func (op *operator) String() string { return fmt.Sprintf("%v %v", op.kind, op.peer) }

// NewMockSchedulerClient makes a scheduler for cluster clusterID whose id
// allocator starts at baseID (ids below it are taken by the bootstrap).
func NewMockSchedulerClient(clusterID uint64, baseID uint64) *MockSchedulerClient {
	return &MockSchedulerClient{
		clusterID:    clusterID,
		nextID:       baseID,
		stores:       make(map[uint64]*mockStore),
		regions:      btree.NewG[*regionRecord](8, regionRecordLess),
		regionByID:   make(map[uint64]*regionRecord),
		pendingPeers: make(map[uint64]*metapb.Peer),
		operators:    make(map[uint64]*operator),
		lastSeen:     make(map[uint64]*metapb.Region),
	}
}

func (m *MockSchedulerClient) header() *schedulerpb.ResponseHeader {
	return &schedulerpb.ResponseHeader{ClusterId: m.clusterID}
}

// GetClusterID is the cluster's id.
func (m *MockSchedulerClient) GetClusterID(ctx context.Context) uint64 { return m.clusterID }

// AllocID returns a fresh id.
func (m *MockSchedulerClient) AllocID(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.allocIDLocked(), nil
}

func (m *MockSchedulerClient) allocIDLocked() uint64 {
	id := m.nextID
	m.nextID++
	return id
}

// Bootstrap records the first store and region; a second bootstrap gets
// an ALREADY_BOOTSTRAPPED error in the response header.
func (m *MockSchedulerClient) Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) (*schedulerpb.BootstrapResponse, error) {
	if store == nil || region == nil || region.RegionEpoch == nil {
		return nil, fmt.Errorf("bootstrap needs a store and a region with an epoch, got store %v region %v", store, region)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := &schedulerpb.BootstrapResponse{Header: m.header()}
	if m.bootstrapped {
		resp.Header.Error = &schedulerpb.Error{
			Type:    schedulerpb.ErrorType_ALREADY_BOOTSTRAPPED,
			Message: fmt.Sprintf("cluster %d is already bootstrapped", m.clusterID),
		}
		return resp, nil
	}
	m.storeLocked(store.Id).store = proto.Clone(store).(*metapb.Store)
	m.insertRegionLocked(&regionRecord{region: util.CopyRegion(region)})
	m.lastSeen[region.Id] = util.CopyRegion(region)
	m.bootstrapped = true
	return resp, nil
}

// IsBootstrapped reports whether Bootstrap has run.
func (m *MockSchedulerClient) IsBootstrapped(ctx context.Context) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bootstrapped, nil
}

func (m *MockSchedulerClient) storeLocked(storeID uint64) *mockStore {
	s := m.stores[storeID]
	if s == nil {
		s = &mockStore{store: &metapb.Store{Id: storeID}}
		m.stores[storeID] = s
	}
	return s
}

// PutStore registers or updates a store.
func (m *MockSchedulerClient) PutStore(ctx context.Context, store *metapb.Store) error {
	if store == nil || store.Id == 0 {
		return fmt.Errorf("put store: invalid store %v", store)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeLocked(store.Id).store = proto.Clone(store).(*metapb.Store)
	return nil
}

// GetStore looks a store up.
func (m *MockSchedulerClient) GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.stores[storeID]
	if s == nil {
		return nil, fmt.Errorf("store %d not found", storeID)
	}
	return proto.Clone(s.store).(*metapb.Store), nil
}

// GetRegion returns (copies of) the region containing key and its leader,
// or nils when no region known covers key (right after a split, until the
// new region's first heartbeat).
func (m *MockSchedulerClient) GetRegion(ctx context.Context, key []byte) (*metapb.Region, *metapb.Peer, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec := m.regionContainingLocked(key)
	if rec == nil {
		return nil, nil, nil
	}
	return copyRecord(rec)
}

// GetRegionByID returns (copies of) a region and its leader, or nils.
func (m *MockSchedulerClient) GetRegionByID(ctx context.Context, regionID uint64) (*metapb.Region, *metapb.Peer, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec := m.regionByID[regionID]
	if rec == nil {
		return nil, nil, nil
	}
	return copyRecord(rec)
}

func copyRecord(rec *regionRecord) (*metapb.Region, *metapb.Peer, error) {
	var leader *metapb.Peer
	if rec.leader != nil {
		leader = proto.Clone(rec.leader).(*metapb.Peer)
	}
	return util.CopyRegion(rec.region), leader, nil
}

// AskSplit allocates the ids of the region that a split of region creates.
func (m *MockSchedulerClient) AskSplit(ctx context.Context, region *metapb.Region) (*schedulerpb.AskSplitResponse, error) {
	if region == nil || region.RegionEpoch == nil {
		return nil, fmt.Errorf("ask split: invalid region %v", region)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	known := m.regionByID[region.Id]
	if known == nil {
		return nil, fmt.Errorf("ask split: region %d not found", region.Id)
	}
	if util.IsEpochStale(region.RegionEpoch, known.region.RegionEpoch) {
		return nil, fmt.Errorf("ask split: region %d epoch %v is older than %v", region.Id, region.RegionEpoch, known.region.RegionEpoch)
	}
	resp := &schedulerpb.AskSplitResponse{Header: m.header(), NewRegionId: m.allocIDLocked()}
	for range region.Peers {
		resp.NewPeerIds = append(resp.NewPeerIds, m.allocIDLocked())
	}
	return resp, nil
}

// StoreHeartbeat records a store's statistics.
func (m *MockSchedulerClient) StoreHeartbeat(ctx context.Context, stats *schedulerpb.StoreStats) error {
	if stats == nil {
		return fmt.Errorf("store heartbeat without statistics")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeLocked(stats.StoreId).stats = proto.Clone(stats).(*schedulerpb.StoreStats)
	return nil
}

// RegionHeartbeat takes a leader's report of its region and answers with
// the region's pending order, if any, through the store's handler.
func (m *MockSchedulerClient) RegionHeartbeat(req *schedulerpb.RegionHeartbeatRequest) error {
	if req.GetRegion().GetRegionEpoch() == nil || req.GetLeader() == nil {
		return fmt.Errorf("region heartbeat without region, epoch or leader: %v", req)
	}
	resp, handler, err := m.takeHeartbeat(req)
	if err != nil || resp == nil || handler == nil {
		return err
	}
	// Outside the lock: the handler talks to the store, which may call back.
	handler(resp)
	return nil
}

func (m *MockSchedulerClient) takeHeartbeat(req *schedulerpb.RegionHeartbeatRequest) (*schedulerpb.RegionHeartbeatResponse, func(*schedulerpb.RegionHeartbeatResponse), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.bootstrapped {
		return nil, nil, fmt.Errorf("region heartbeat before the cluster is bootstrapped")
	}
	region := util.CopyRegion(req.Region)
	leader := proto.Clone(req.Leader).(*metapb.Peer)
	if err := m.checkNotStaleLocked(region); err != nil {
		return nil, nil, err
	}
	if err := m.checkMembershipLocked(region, leader); err != nil {
		m.violations = append(m.violations, err.Error())
		return nil, nil, err
	}
	m.lastSeen[region.Id] = util.CopyRegion(region)
	m.heartbeats++
	m.removeRegionsLocked(m.overlapsLocked(region))
	if old := m.regionByID[region.Id]; old != nil {
		m.regions.Delete(old)
	}
	m.insertRegionLocked(&regionRecord{region: region, leader: leader})
	for _, p := range region.Peers {
		delete(m.pendingPeers, p.Id)
	}
	for _, p := range req.PendingPeers {
		m.pendingPeers[p.Id] = p
	}

	// Every heartbeat is answered; the answer carries an order only when one
	// is pending (a store must treat an empty answer as "nothing to do").
	resp := &schedulerpb.RegionHeartbeatResponse{
		Header:      m.header(),
		RegionId:    region.Id,
		RegionEpoch: util.CopyRegion(region).RegionEpoch,
		TargetPeer:  proto.Clone(leader).(*metapb.Peer),
	}
	handler := m.storeLocked(leader.StoreId).handler
	op := m.operators[region.Id]
	if op != nil && m.operatorDoneLocked(op, region, leader) {
		delete(m.operators, region.Id)
		op = nil
	}
	if op == nil {
		return resp, handler, nil
	}
	switch op.kind {
	case opAddPeer:
		if op.applied {
			return resp, handler, nil // waiting for the new peer to catch up
		}
		resp.ChangePeer = &schedulerpb.ChangePeer{ChangeType: eraftpb.ConfChangeType_AddNode, Peer: op.peer}
	case opRemovePeer:
		resp.ChangePeer = &schedulerpb.ChangePeer{ChangeType: eraftpb.ConfChangeType_RemoveNode, Peer: op.peer}
	case opTransferLeader:
		resp.TransferLeader = &schedulerpb.TransferLeader{Peer: op.peer}
	}
	return resp, handler, nil
}

// checkMembershipLocked compares a (not stale) report with the last accepted
// report of the same region id: conf_ver may only stay or grow by one, and
// the peer set must stay the same or change by exactly one peer with it.
func (m *MockSchedulerClient) checkMembershipLocked(region *metapb.Region, leader *metapb.Peer) error {
	if err := checkPeerList(region); err != nil {
		return fmt.Errorf("scheduler: region %d epoch %v reported by leader %v: %v", region.Id, region.RegionEpoch, leader, err)
	}
	old := m.lastSeen[region.Id]
	if old == nil {
		return nil
	}
	oldVer, newVer := old.RegionEpoch.ConfVer, region.RegionEpoch.ConfVer
	changed := peerSetDifference(old.Peers, region.Peers)
	var problem string
	switch {
	case newVer > oldVer+1:
		problem = fmt.Sprintf("conf_ver jumped from %d to %d: a membership change was applied twice or a step was skipped", oldVer, newVer)
	case newVer == oldVer+1 && len(changed) != 1:
		problem = fmt.Sprintf("conf_ver grew by one but %d peers changed (%v): each applied change adds or removes exactly one peer (a change applied twice changes none)",
			len(changed), changed)
	case newVer == oldVer && len(changed) != 0:
		problem = fmt.Sprintf("the peers changed (%v) but conf_ver stayed %d", changed, newVer)
	default:
		return nil
	}
	return fmt.Errorf("scheduler: region %d reported by leader %v: %s; known epoch %v peers %v, reported epoch %v peers %v",
		region.Id, leader, problem, old.RegionEpoch, old.Peers, region.RegionEpoch, region.Peers)
}

// checkPeerList refuses a region with two peers of one id or on one store.
func checkPeerList(region *metapb.Region) error {
	ids, stores := map[uint64]bool{}, map[uint64]bool{}
	for _, p := range region.Peers {
		if p.Id == 0 || p.StoreId == 0 {
			return fmt.Errorf("peer %v has no id or no store", p)
		}
		if ids[p.Id] || stores[p.StoreId] {
			return fmt.Errorf("two peers share an id or a store: %v", region.Peers)
		}
		ids[p.Id], stores[p.StoreId] = true, true
	}
	return nil
}

// peerSetDifference lists the peers that are in one list and not the other
// (a peer is its id and its store).
func peerSetDifference(a, b []*metapb.Peer) []*metapb.Peer {
	key := func(p *metapb.Peer) [2]uint64 { return [2]uint64{p.Id, p.StoreId} }
	inA, inB := map[[2]uint64]bool{}, map[[2]uint64]bool{}
	for _, p := range a {
		inA[key(p)] = true
	}
	for _, p := range b {
		inB[key(p)] = true
	}
	var diff []*metapb.Peer
	for _, p := range a {
		if !inB[key(p)] {
			diff = append(diff, p)
		}
	}
	for _, p := range b {
		if !inA[key(p)] {
			diff = append(diff, p)
		}
	}
	return diff
}

// Violations lists the refused reports that broke the membership rules.
func (m *MockSchedulerClient) Violations() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]string(nil), m.violations...)
}

// peerCaughtUp reports whether the last report of the region lists peer
// and does not call it pending, with the region as last reported.
func (m *MockSchedulerClient) peerCaughtUp(regionID uint64, peer *metapb.Peer) (bool, *metapb.Region) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec := m.regionByID[regionID]
	if rec == nil {
		return false, nil
	}
	p := FindPeer(rec.region, peer.StoreId)
	_, pending := m.pendingPeers[peer.Id]
	return p != nil && p.Id == peer.Id && !pending, util.CopyRegion(rec.region)
}

// checkNotStaleLocked refuses a report older than what is known of its
// region or of the regions it overlaps.
func (m *MockSchedulerClient) checkNotStaleLocked(region *metapb.Region) error {
	if old := m.regionByID[region.Id]; old != nil && util.IsEpochStale(region.RegionEpoch, old.region.RegionEpoch) {
		return fmt.Errorf("region %d: heartbeat epoch %v is older than the known %v", region.Id, region.RegionEpoch, old.region.RegionEpoch)
	}
	for _, o := range m.overlapsLocked(region) {
		if o.region.Id != region.Id && region.RegionEpoch.Version <= o.region.RegionEpoch.Version {
			return fmt.Errorf("region %d (version %d) overlaps region %d of version %d: stale report",
				region.Id, region.RegionEpoch.Version, o.region.Id, o.region.RegionEpoch.Version)
		}
	}
	return nil
}

func (m *MockSchedulerClient) operatorDoneLocked(op *operator, region *metapb.Region, leader *metapb.Peer) bool {
	inRegion := FindPeer(region, op.peer.StoreId)
	has := inRegion != nil && inRegion.Id == op.peer.Id
	switch op.kind {
	case opAddPeer:
		if !has {
			return false
		}
		op.applied = true
		_, pending := m.pendingPeers[op.peer.Id]
		return !pending
	case opRemovePeer:
		return !has
	default:
		return leader.Id == op.peer.Id
	}
}

func (m *MockSchedulerClient) insertRegionLocked(rec *regionRecord) {
	m.regions.ReplaceOrInsert(rec)
	m.regionByID[rec.region.Id] = rec
}

func (m *MockSchedulerClient) removeRegionsLocked(recs []*regionRecord) {
	for _, rec := range recs {
		m.regions.Delete(rec)
		delete(m.regionByID, rec.region.Id)
	}
}

// regionContainingLocked is the region whose range holds key, or nil.
func (m *MockSchedulerClient) regionContainingLocked(key []byte) *regionRecord {
	var found *regionRecord
	m.regions.DescendLessOrEqual(&regionRecord{region: &metapb.Region{StartKey: key}}, func(rec *regionRecord) bool {
		found = rec
		return false
	})
	if found == nil || engineKeyBeyond(key, found.region.EndKey) {
		return nil
	}
	return found
}

// overlapsLocked lists the known regions whose range meets region's.
func (m *MockSchedulerClient) overlapsLocked(region *metapb.Region) []*regionRecord {
	var overlaps []*regionRecord
	if first := m.regionContainingLocked(region.StartKey); first != nil {
		overlaps = append(overlaps, first)
	}
	m.regions.AscendGreaterOrEqual(&regionRecord{region: &metapb.Region{StartKey: region.StartKey}}, func(rec *regionRecord) bool {
		if engineKeyBeyond(rec.region.StartKey, region.EndKey) {
			return false
		}
		if len(overlaps) == 0 || overlaps[0] != rec {
			overlaps = append(overlaps, rec)
		}
		return true
	})
	return overlaps
}

// engineKeyBeyond reports whether key is at or past end; an empty end is
// the end of the key space.
func engineKeyBeyond(key, end []byte) bool {
	return len(end) > 0 && bytes.Compare(key, end) >= 0
}

// SetRegionHeartbeatResponseHandler installs the function that receives
// the orders for the regions led from storeID.
func (m *MockSchedulerClient) SetRegionHeartbeatResponseHandler(storeID uint64, h func(*schedulerpb.RegionHeartbeatResponse)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeLocked(storeID).handler = h
}

// Close does nothing: there is no connection.
func (m *MockSchedulerClient) Close() {}

// AddPeer orders regionID to add peer; the order stands until the peer is
// in the region and caught up.
func (m *MockSchedulerClient) AddPeer(regionID uint64, peer *metapb.Peer) {
	m.setOperator(regionID, &operator{kind: opAddPeer, peer: peer})
}

// RemovePeer orders regionID to remove peer.
func (m *MockSchedulerClient) RemovePeer(regionID uint64, peer *metapb.Peer) {
	m.setOperator(regionID, &operator{kind: opRemovePeer, peer: peer})
}

// TransferLeader orders regionID to make peer its leader.
func (m *MockSchedulerClient) TransferLeader(regionID uint64, peer *metapb.Peer) {
	m.setOperator(regionID, &operator{kind: opTransferLeader, peer: peer})
}

func (m *MockSchedulerClient) setOperator(regionID uint64, op *operator) {
	op.peer = proto.Clone(op.peer).(*metapb.Peer)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.operators[regionID] = op
}

// regionCount is the number of regions known.
func (m *MockSchedulerClient) regionCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.regionByID)
}

// regionIDs lists the ids of the regions known, in key order.
func (m *MockSchedulerClient) regionIDs() []uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ids := make([]uint64, 0, m.regions.Len())
	m.regions.Ascend(func(rec *regionRecord) bool {
		ids = append(ids, rec.region.Id)
		return true
	})
	return ids
}

// peersReported is the number of peers (initialized or not) that the
// store's last heartbeat counted, or -1 before its first heartbeat.
func (m *MockSchedulerClient) peersReported(storeID uint64) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.stores[storeID]
	if s == nil || s.stats == nil {
		return -1
	}
	return int(s.stats.RegionCount)
}
