package schedule

import (
	"fmt"

	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// CreateAddPeerOperator makes an operator that adds a peer (id peerID) on
// store storeID.
func CreateAddPeerOperator(desc string, region *core.RegionInfo, storeID, peerID uint64, kind OpKind) *Operator {
	return NewOperator(desc, region.GetID(), region.GetRegionEpoch(), kind, AddPeer{ToStore: storeID, PeerID: peerID})
}

// CreateTransferLeaderOperator makes an operator that moves the region's
// leadership from store sourceID to store targetID.
func CreateTransferLeaderOperator(desc string, region *core.RegionInfo, sourceID, targetID uint64, kind OpKind) *Operator {
	return NewOperator(desc, region.GetID(), region.GetRegionEpoch(), kind|OpLeader,
		TransferLeader{FromStore: sourceID, ToStore: targetID})
}

// CreateRemovePeerOperator makes an operator that removes the region's peer
// on store storeID, moving the leadership away first if it is there.
func CreateRemovePeerOperator(desc string, cluster Cluster, kind OpKind, region *core.RegionInfo, storeID uint64) (*Operator, error) {
	steps, err := removePeerSteps(cluster, region, storeID, 0)
	if err != nil {
		return nil, err
	}
	return NewOperator(desc, region.GetID(), region.GetRegionEpoch(), kind, steps...), nil
}

// CreateMovePeerOperator makes an operator that moves the region's peer
// from store oldStore to store newStore: add peer peerID on newStore, move
// the leadership off oldStore if it is there, remove the peer on oldStore.
func CreateMovePeerOperator(desc string, cluster Cluster, region *core.RegionInfo, kind OpKind, oldStore, newStore uint64, peerID uint64) (*Operator, error) {
	if region.GetStorePeer(newStore) != nil {
		return nil, fmt.Errorf("move peer of region %d to store %d: the store already holds peer %d of it",
			region.GetID(), newStore, region.GetStorePeer(newStore).GetId())
	}
	remove, err := removePeerSteps(cluster, region, oldStore, newStore)
	if err != nil {
		return nil, err
	}
	steps := append([]OpStep{AddPeer{ToStore: newStore, PeerID: peerID}}, remove...)
	return NewOperator(desc, region.GetID(), region.GetRegionEpoch(), kind|OpRegion, steps...), nil
}

// removePeerSteps returns the steps that remove the region's peer on
// storeID. When the leader is there it moves first: to the caught-up
// follower with the fewest leaders among those that can receive it, else to
// newStore (a peer being added; 0: none).
func removePeerSteps(cluster Cluster, region *core.RegionInfo, storeID, newStore uint64) ([]OpStep, error) {
	peer := region.GetStorePeer(storeID)
	if peer == nil {
		return nil, fmt.Errorf("remove peer of region %d from store %d: the store holds no peer of it", region.GetID(), storeID)
	}
	var steps []OpStep
	if region.GetLeader().GetStoreId() == storeID {
		target := leaderTarget(cluster, region, storeID)
		if target == 0 {
			target = newStore
		}
		if target == 0 {
			return nil, fmt.Errorf("remove peer %d of region %d from store %d: it is the leader and no other peer can take over",
				peer.GetId(), region.GetID(), storeID)
		}
		steps = append(steps, TransferLeader{FromStore: storeID, ToStore: target})
	}
	return append(steps, RemovePeer{FromStore: storeID, PeerID: peer.GetId()}), nil
}

// leaderTarget picks the follower store (not exclude) that should take the
// leadership: caught up, able to receive it (CanReceive), fewest leaders.
// 0: none.
func leaderTarget(cluster Cluster, region *core.RegionInfo, exclude uint64) uint64 {
	var best *core.StoreInfo
	for _, store := range cluster.GetFollowerStores(region) {
		id := store.GetID()
		if id == exclude || region.GetPendingPeer(region.GetStorePeer(id).GetId()) != nil || !CanReceive(cluster, store) {
			continue
		}
		if best == nil || store.GetLeaderCount() < best.GetLeaderCount() {
			best = store
		}
	}
	if best == nil {
		return 0
	}
	return best.GetID()
}
