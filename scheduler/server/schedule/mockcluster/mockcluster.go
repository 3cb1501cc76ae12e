// Package mockcluster is an in-memory cluster for the tests of checkers,
// schedulers and the operator controller: stores and regions put in by
// hand, peer ids from a counter, and a leader that carries out heartbeat
// responses the way a store would.
package mockcluster

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// Cluster implements schedule.Cluster in memory.
type Cluster struct {
	*core.BasicCluster
	*config.ScheduleOption
	nextID atomic.Uint64
}

// New returns an empty cluster with the default settings; ids it allocates
// start at 1000.
func New() *Cluster {
	mc := &Cluster{
		BasicCluster:   core.NewBasicCluster(),
		ScheduleOption: config.NewScheduleOption(config.NewDefaultScheduleConfig(), config.NewDefaultReplicationConfig()),
	}
	mc.nextID.Store(1000)
	return mc
}

// AllocID returns a fresh id.
func (mc *Cluster) AllocID() uint64 { return mc.nextID.Add(1) }

// AllocPeer returns a new peer with a fresh id on the store.
func (mc *Cluster) AllocPeer(storeID uint64) (*metapb.Peer, error) {
	if mc.GetStore(storeID) == nil {
		return nil, fmt.Errorf("alloc peer: store %d is unknown", storeID)
	}
	return &metapb.Peer{Id: mc.AllocID(), StoreId: storeID}, nil
}

// AddStore adds an Up store that has just sent a heartbeat.
func (mc *Cluster) AddStore(storeID uint64) {
	mc.PutStore(core.NewStoreInfo(
		&metapb.Store{Id: storeID, Address: fmt.Sprintf("127.0.0.1:%d", 20160+storeID), State: metapb.StoreState_Up},
		core.SetStoreStats(&schedulerpb.StoreStats{StoreId: storeID}),
		core.SetLastHeartbeatTS(time.Now()),
	))
}

// SetStoreState changes a store's state.
func (mc *Cluster) SetStoreState(storeID uint64, state metapb.StoreState) {
	mc.PutStore(mc.GetStore(storeID).Clone(core.SetStoreState(state)))
}

// SetStoreLastHeartbeat sets when the store last sent a heartbeat, ago.
func (mc *Cluster) SetStoreLastHeartbeat(storeID uint64, ago time.Duration) {
	mc.PutStore(mc.GetStore(storeID).Clone(core.SetLastHeartbeatTS(time.Now().Add(-ago))))
}

// SetStoreBusy marks a store busy (or not) as its heartbeat would.
func (mc *Cluster) SetStoreBusy(storeID uint64, busy bool) {
	s := mc.GetStore(storeID)
	stats := *s.GetStoreStats()
	stats.IsBusy = busy
	mc.PutStore(s.Clone(core.SetStoreStats(&stats)))
}

// RegionKey is the start key of region id in the regions AddRegion makes:
// region id covers [RegionKey(id), RegionKey(id+1)).
func RegionKey(id uint64) []byte { return []byte(fmt.Sprintf("r%08d", id)) }

// AddRegion adds region id of the given size in bytes, led by the peer on
// leaderStore, with followers on the other stores. Peer ids are id*100 +
// store id.
func (mc *Cluster) AddRegion(id uint64, size int64, leaderStore uint64, followerStores ...uint64) *core.RegionInfo {
	meta := &metapb.Region{
		Id: id, StartKey: RegionKey(id), EndKey: RegionKey(id + 1),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
	}
	for _, s := range append([]uint64{leaderStore}, followerStores...) {
		meta.Peers = append(meta.Peers, &metapb.Peer{Id: id*100 + s, StoreId: s})
	}
	region := core.NewRegionInfo(meta, meta.Peers[0], core.SetApproximateSize(size))
	mc.PutRegion(region)
	return region
}

// SetPendingPeers marks the region's peers on the given stores pending.
func (mc *Cluster) SetPendingPeers(regionID uint64, storeIDs ...uint64) *core.RegionInfo {
	region := mc.GetRegion(regionID)
	var pending []*metapb.Peer
	for _, s := range storeIDs {
		pending = append(pending, region.GetStorePeer(s))
	}
	region = region.Clone(core.WithPendingPeers(pending))
	mc.PutRegion(region)
	return region
}

// Apply carries out a heartbeat response the way the region's leader would
// (a conf change or a leader transfer, applied at once) and puts the new
// region into the cluster. An added peer stays pending until CatchUp. It
// returns the region as its next heartbeat reports it.
func (mc *Cluster) Apply(resp *schedulerpb.RegionHeartbeatResponse) (*core.RegionInfo, error) {
	region := mc.GetRegion(resp.GetRegionId())
	if region == nil {
		return nil, fmt.Errorf("apply %v: region %d is unknown", resp, resp.GetRegionId())
	}
	if region.GetLeader().GetId() != resp.GetTargetPeer().GetId() {
		return nil, fmt.Errorf("apply %v: sent to peer %d, the leader of region %d is %v", resp, resp.GetTargetPeer().GetId(), region.GetID(), region.GetLeader())
	}
	switch {
	case resp.GetChangePeer() != nil:
		peer := resp.GetChangePeer().GetPeer()
		switch resp.GetChangePeer().GetChangeType() {
		case eraftpb.ConfChangeType_AddNode:
			if region.GetStorePeer(peer.GetStoreId()) != nil {
				return nil, fmt.Errorf("apply %v: store %d already holds a peer of region %d", resp, peer.GetStoreId(), region.GetID())
			}
			region = region.Clone(core.WithAddPeer(peer))
		case eraftpb.ConfChangeType_RemoveNode:
			if region.GetPeer(peer.GetId()) == nil {
				return nil, fmt.Errorf("apply %v: region %d has no peer %d", resp, region.GetID(), peer.GetId())
			}
			if peer.GetId() == region.GetLeader().GetId() {
				return nil, fmt.Errorf("apply %v: the leader of region %d cannot remove itself", resp, region.GetID())
			}
			region = region.Clone(core.WithRemoveStorePeer(peer.GetStoreId()))
		}
	case resp.GetTransferLeader() != nil:
		peer := region.GetPeer(resp.GetTransferLeader().GetPeer().GetId())
		if peer == nil {
			return nil, fmt.Errorf("apply %v: region %d has no peer %v", resp, region.GetID(), resp.GetTransferLeader().GetPeer())
		}
		region = region.Clone(core.WithLeader(peer))
	default:
		return nil, fmt.Errorf("apply %v: neither a conf change nor a leader transfer", resp)
	}
	mc.PutRegion(region)
	return region, nil
}

// CatchUp clears the region's pending peers, as when they have received
// their snapshot, and returns the region.
func (mc *Cluster) CatchUp(regionID uint64) *core.RegionInfo {
	region := mc.GetRegion(regionID).Clone(core.WithPendingPeers(nil))
	mc.PutRegion(region)
	return region
}
