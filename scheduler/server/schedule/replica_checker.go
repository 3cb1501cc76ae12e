package schedule

import (
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// ReplicaChecker keeps every region at max-replicas peers on healthy
// stores. For one region it proposes at most one operator, in this order:
//
//  1. a peer on a store that is Tombstone, unknown, or silent for longer
//     than max-store-down-time is removed, provided another store can take
//     a replacement (removing first keeps the quorum among live peers; the
//     replacement is added by rule 3 on a later check);
//  2. a peer on an Offline store is moved (add elsewhere, then remove);
//  3. a region with fewer than max-replicas peers gets one more;
//  4. a region with more than max-replicas peers loses one, on the worst store.
//
// New peers go to the store with the least region size that holds no peer
// of the region, is healthy, is not busy and is not disconnected (a store
// silent for store-disconnect-time may be dead: a peer placed there would
// never catch up). A disconnected store's peers stay until it is down. The
// leader's own peer is never taken for down: its heartbeat just arrived.
type ReplicaChecker struct {
	cluster Cluster
}

// NewReplicaChecker returns a replica checker for the cluster.
func NewReplicaChecker(cluster Cluster) *ReplicaChecker {
	return &ReplicaChecker{cluster: cluster}
}

// Check returns an operator that repairs the region's replicas, or nil.
func (rc *ReplicaChecker) Check(region *core.RegionInfo) *Operator {
	if region.GetLeader() == nil {
		return nil
	}
	if op := rc.checkLostPeer(region); op != nil {
		return op
	}
	if op := rc.checkOfflinePeer(region); op != nil {
		return op
	}
	maxReplicas := rc.cluster.GetMaxReplicas()
	peers := len(region.GetPeers())
	switch {
	case peers < maxReplicas:
		target := rc.selectTarget(region)
		if target == nil {
			return nil
		}
		peer, err := rc.cluster.AllocPeer(target.GetID())
		if err != nil {
			log.Warnf("[replica-checker] region=%d alloc-peer store=%d error=%q", region.GetID(), target.GetID(), err)
			return nil
		}
		op := CreateAddPeerOperator("make-up-replica", region, target.GetID(), peer.GetId(), OpReplica)
		op.SetPriorityLevel(HighPriority)
		return op
	case peers > maxReplicas:
		worst := rc.selectWorstPeerStore(region)
		op, err := CreateRemovePeerOperator("remove-extra-replica", rc.cluster, OpReplica, region, worst)
		if err != nil {
			log.Warnf("[replica-checker] region=%d remove-extra store=%d error=%q", region.GetID(), worst, err)
			return nil
		}
		return op
	}
	return nil
}

// lost says whether a store can no longer serve its peers.
func (rc *ReplicaChecker) lost(store *core.StoreInfo) bool {
	return store == nil || store.IsTombstone() || store.DownTime() > rc.cluster.GetMaxStoreDownTime()
}

func (rc *ReplicaChecker) checkLostPeer(region *core.RegionInfo) *Operator {
	leaderStore := region.GetLeader().GetStoreId()
	for _, peer := range region.GetPeers() {
		storeID := peer.GetStoreId()
		if storeID == leaderStore || !rc.lost(rc.cluster.GetStore(storeID)) {
			continue
		}
		if len(region.GetPeers()) <= rc.cluster.GetMaxReplicas() && rc.selectTarget(region) == nil {
			log.Debugf("[replica-checker] region=%d lost-peer=%d store=%d no-replacement", region.GetID(), peer.GetId(), storeID)
			continue
		}
		op, err := CreateRemovePeerOperator("remove-lost-replica", rc.cluster, OpReplica, region, storeID)
		if err != nil {
			log.Warnf("[replica-checker] region=%d remove-lost store=%d error=%q", region.GetID(), storeID, err)
			continue
		}
		op.SetPriorityLevel(HighPriority)
		return op
	}
	return nil
}

func (rc *ReplicaChecker) checkOfflinePeer(region *core.RegionInfo) *Operator {
	for _, peer := range region.GetPeers() {
		store := rc.cluster.GetStore(peer.GetStoreId())
		if store == nil || !store.IsOffline() {
			continue
		}
		target := rc.selectTarget(region)
		if target == nil {
			continue
		}
		newPeer, err := rc.cluster.AllocPeer(target.GetID())
		if err != nil {
			log.Warnf("[replica-checker] region=%d alloc-peer store=%d error=%q", region.GetID(), target.GetID(), err)
			return nil
		}
		op, err := CreateMovePeerOperator("replace-offline-replica", rc.cluster, region, OpReplica,
			store.GetID(), target.GetID(), newPeer.GetId())
		if err != nil {
			log.Warnf("[replica-checker] region=%d replace-offline store=%d error=%q", region.GetID(), store.GetID(), err)
			continue
		}
		op.SetPriorityLevel(HighPriority)
		return op
	}
	return nil
}

// selectTarget returns the store that should receive a new peer of the
// region, or nil.
func (rc *ReplicaChecker) selectTarget(region *core.RegionInfo) *core.StoreInfo {
	filters := []Filter{NewHealthFilter(), NewDisconnectFilter(), NewBusyFilter(), NewExcludedFilter(nil, region.GetStoreIds())}
	var best *core.StoreInfo
	for _, s := range SelectTargetStores(rc.cluster, rc.cluster.GetStores(), filters) {
		if best == nil || lessLoaded(s, best) {
			best = s
		}
	}
	return best
}

// selectWorstPeerStore returns the store whose peer of the region should
// go: one on a store that is lost, unhealthy or disconnected first, else the
// most loaded.
func (rc *ReplicaChecker) selectWorstPeerStore(region *core.RegionInfo) uint64 {
	var worst *core.StoreInfo
	var worstID uint64
	for _, peer := range region.GetPeers() {
		store := rc.cluster.GetStore(peer.GetStoreId())
		if store == nil || !CanReceive(rc.cluster, store) {
			return peer.GetStoreId()
		}
		if worst == nil || lessLoaded(worst, store) {
			worst, worstID = store, store.GetID()
		}
	}
	return worstID
}

// lessLoaded orders stores by region size, then region count, then id.
func lessLoaded(a, b *core.StoreInfo) bool {
	if a.GetRegionSize() != b.GetRegionSize() {
		return a.GetRegionSize() < b.GetRegionSize()
	}
	if a.GetRegionCount() != b.GetRegionCount() {
		return a.GetRegionCount() < b.GetRegionCount()
	}
	return a.GetID() < b.GetID()
}
