package test_raftstore

import (
	"context"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// TransferLeader asks the region's leader to hand leadership to leader,
// through a TransferLeader admin command; it does not wait for the result.
func (c *Cluster) TransferLeader(regionID uint64, leader *metapb.Peer) {
	region, _, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
	if region == nil {
		failNow("cluster %s: transfer leader: the scheduler knows no region %d", c.label(), regionID)
	}
	req := NewAdminRequest(regionID, region.RegionEpoch, NewTransferLeaderCmd(leader))
	resp, _ := c.CallCommandOnLeader(req, attemptTimeout)
	if resp != nil && resp.GetHeader().GetError() == nil &&
		resp.GetAdminResponse().GetCmdType() != raft_cmdpb.AdminCmdType_TransferLeader {
		failNow("cluster %s: transfer leader of region %d: want a TransferLeader admin response, got %v", c.label(), regionID, resp)
	}
}

// MustTransferLeader makes leader the region's leader, asking again until
// the scheduler reports it, and fails after peerWaitTimeout.
func (c *Cluster) MustTransferLeader(regionID uint64, leader *metapb.Peer) {
	deadline := time.Now().Add(peerWaitTimeout)
	for {
		current := c.LeaderOfRegion(regionID)
		if current != nil && current.Id == leader.Id && current.StoreId == leader.StoreId {
			return
		}
		if time.Now().After(deadline) {
			failNow("cluster %s: region %d: leadership did not move to %v within %v (leader is %v)",
				c.label(), regionID, leader, peerWaitTimeout, current)
		}
		c.TransferLeader(regionID, leader)
		time.Sleep(50 * time.Millisecond)
	}
}

// MustAddPeer has the scheduler order the region to add peer, and waits
// until the region lists it.
func (c *Cluster) MustAddPeer(regionID uint64, peer *metapb.Peer) {
	c.schedulerClient.AddPeer(regionID, peer)
	c.MustHavePeer(regionID, peer)
}

// MustRemovePeer has the scheduler order the region to remove peer, and
// waits until the region no longer lists it.
func (c *Cluster) MustRemovePeer(regionID uint64, peer *metapb.Peer) {
	c.schedulerClient.RemovePeer(regionID, peer)
	c.MustNonePeer(regionID, peer)
}

// MustHavePeer waits until the scheduler's view of the region lists peer.
func (c *Cluster) MustHavePeer(regionID uint64, peer *metapb.Peer) {
	c.waitPeer(regionID, peer, true)
}

// MustNonePeer waits until the scheduler's view of the region does not list peer.
func (c *Cluster) MustNonePeer(regionID uint64, peer *metapb.Peer) {
	c.waitPeer(regionID, peer, false)
}

func (c *Cluster) waitPeer(regionID uint64, peer *metapb.Peer, want bool) {
	deadline := time.Now().Add(peerWaitTimeout)
	for {
		region, _, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
		if region != nil {
			p := FindPeer(region, peer.StoreId)
			if (p != nil && p.Id == peer.Id) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			what := "gain"
			if !want {
				what = "lose"
			}
			failNow("cluster %s: region %d did not %s peer %v within %v; the scheduler has %v",
				c.label(), regionID, what, peer, peerWaitTimeout, region)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
