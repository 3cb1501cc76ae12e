package schedule

import (
	"fmt"

	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// OpStep is one change an operator makes to a region. The region's leader
// carries it out (a conf change or a leader transfer proposed through
// raft); the scheduler sees it done in a later heartbeat.
type OpStep interface {
	fmt.Stringer
	// IsFinish says whether the region, as last reported, shows the step done.
	IsFinish(region *core.RegionInfo) bool
	// isConfChange says whether the step changes the membership (conf_ver + 1).
	isConfChange() bool
}

// AddPeer adds peer PeerID on store ToStore. It is done once the region lists
// the peer and the peer is no longer pending (it has caught up).
type AddPeer struct {
	ToStore, PeerID uint64
}

func (ap AddPeer) String() string {
	return fmt.Sprintf("add peer %d on store %d", ap.PeerID, ap.ToStore)
}

// IsFinish implements OpStep.
func (ap AddPeer) IsFinish(region *core.RegionInfo) bool {
	p := region.GetStorePeer(ap.ToStore)
	return p != nil && p.GetId() == ap.PeerID && region.GetPendingPeer(ap.PeerID) == nil
}

func (ap AddPeer) isConfChange() bool { return true }

// RemovePeer removes peer PeerID from store FromStore. It is done once the
// region no longer lists the peer.
type RemovePeer struct {
	FromStore, PeerID uint64
}

func (rp RemovePeer) String() string {
	return fmt.Sprintf("remove peer %d on store %d", rp.PeerID, rp.FromStore)
}

// IsFinish implements OpStep.
func (rp RemovePeer) IsFinish(region *core.RegionInfo) bool {
	return region.GetPeer(rp.PeerID) == nil
}

func (rp RemovePeer) isConfChange() bool { return true }

// TransferLeader moves leadership from store FromStore to the region's peer
// on store ToStore. It is done once the leader is on ToStore.
type TransferLeader struct {
	FromStore, ToStore uint64
}

func (tl TransferLeader) String() string {
	return fmt.Sprintf("transfer leader from store %d to store %d", tl.FromStore, tl.ToStore)
}

// IsFinish implements OpStep.
func (tl TransferLeader) IsFinish(region *core.RegionInfo) bool {
	return region.GetLeader().GetStoreId() == tl.ToStore
}

func (tl TransferLeader) isConfChange() bool { return false }
