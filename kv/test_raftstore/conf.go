package test_raftstore

import (
	"context"
	"strings"
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

// MustTransferLeader has the scheduler order the region's leader to hand
// leadership to leader, and waits until the scheduler sees leader report
// as the region's leader; it fails after peerWaitTimeout.
func (c *Cluster) MustTransferLeader(regionID uint64, leader *metapb.Peer) {
	c.checkScheduler()
	c.schedulerClient.TransferLeader(regionID, leader)
	deadline := time.Now().Add(peerWaitTimeout)
	for {
		_, current, _ := c.schedulerClient.GetRegionByID(context.Background(), regionID)
		if current != nil && current.Id == leader.Id && current.StoreId == leader.StoreId {
			return
		}
		if time.Now().After(deadline) {
			failNow("cluster %s: region %d: the scheduler ordered leadership to move to %v; %v later the leader reported is %v",
				c.label(), regionID, leader, peerWaitTimeout, current)
		}
		c.checkScheduler()
		time.Sleep(10 * time.Millisecond)
	}
}

// MustAddPeer has the scheduler order the region to add peer, and waits
// until the region lists it and its leader no longer reports it pending
// (it has caught up with the leader's log, by snapshot if need be).
func (c *Cluster) MustAddPeer(regionID uint64, peer *metapb.Peer) {
	c.checkScheduler()
	c.schedulerClient.AddPeer(regionID, peer)
	deadline := time.Now().Add(peerWaitTimeout)
	for {
		done, region := c.schedulerClient.peerCaughtUp(regionID, peer)
		if done {
			return
		}
		if time.Now().After(deadline) {
			state := "does not list it"
			if p := FindPeer(region, peer.StoreId); p != nil && p.Id == peer.Id {
				state = "lists it but its leader still reports it pending (it has not caught up: no snapshot applied?)"
			}
			failNow("cluster %s: region %d did not add peer %v within %v: the scheduler's view %v %s",
				c.label(), regionID, peer, peerWaitTimeout, region, state)
		}
		c.checkScheduler()
		time.Sleep(10 * time.Millisecond)
	}
}

// MustRemovePeer has the scheduler order the region to remove peer, and
// waits until the region no longer lists it.
func (c *Cluster) MustRemovePeer(regionID uint64, peer *metapb.Peer) {
	c.checkScheduler()
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
		c.checkScheduler()
		time.Sleep(10 * time.Millisecond)
	}
}

// checkScheduler fails the test when the scheduler has refused a report
// that breaks the membership rules (see MockSchedulerClient), or the
// network has seen a store break a rule (see invariants.go).
func (c *Cluster) checkScheduler() {
	if v := c.schedulerClient.Violations(); len(v) > 0 {
		failNow("cluster %s: the stores reported %d impossible membership change(s); the first:\n\t%s\n(seed %d: replay with %s=%d)",
			c.label(), len(v), strings.Join(v[:1], "\n\t"), c.seed, SeedEnv, c.seed)
	}
	if trans := c.transport(); trans != nil {
		if v := trans.Violations(); len(v) > 0 {
			failNow("cluster %s: the network saw %d violation(s) of what a store must never do; the first:\n\t%s\n(seed %d: replay with %s=%d)",
				c.label(), len(v), v[0], c.seed, SeedEnv, c.seed)
		}
	}
}
