package raftstore

import (
	"bytes"
	"fmt"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// applyAdmin applies an admin command that came as a normal entry.
// Membership changes come as conf change entries (applyConfChange). The
// batch that holds an admin command is synced: the peer and the store act
// on it (a new region, a log deleted) beyond what a replay would redo.
func (a *applier) applyAdmin(req *raft_cmdpb.RaftCmdRequest) *raft_cmdpb.RaftCmdResponse {
	a.kvWB.MustSync()
	admin := req.AdminRequest
	switch admin.CmdType {
	case raft_cmdpb.AdminCmdType_CompactLog:
		return a.applyCompactLog(admin.CompactLog)
	case raft_cmdpb.AdminCmdType_Split:
		return a.applySplit(admin.Split)
	}
	return ErrResp(fmt.Errorf("%s: admin command %s cannot be applied from a normal entry", a.ctx.tag, admin.CmdType))
}

// applyCompactLog moves the truncated state forward; the peer then has the
// raft-log GC worker delete the entries before it (execCompactLog).
func (a *applier) applyCompactLog(compact *raft_cmdpb.CompactLogRequest) *raft_cmdpb.RaftCmdResponse {
	resp := newCmdResp()
	resp.AdminResponse = &raft_cmdpb.AdminResponse{
		CmdType:    raft_cmdpb.AdminCmdType_CompactLog,
		CompactLog: &raft_cmdpb.CompactLogResponse{},
	}
	// Your Code Here (2C).
	//lab:begin 2C
	applyState := a.ctx.applyState
	if compact.CompactIndex <= applyState.TruncatedState.Index {
		return resp
	}
	applyState.TruncatedState = &raft_serverpb.RaftTruncatedState{
		Index: compact.CompactIndex,
		Term:  compact.CompactTerm,
	}
	// The log entries go only after the apply state is on disk: the peer
	// acts on the result once the batch is written.
	a.results = append(a.results, &execCompactLog{truncatedIndex: compact.CompactIndex})
	log.Debugf("[gc] %s log truncated to index %d term %d", a.ctx.tag, compact.CompactIndex, compact.CompactTerm)
	//lab:end
	return resp
}

// applyConfChange applies a membership change (a ChangePeer command in a
// conf change entry): it checks the epoch again, adds or removes the peer in
// the region with conf_ver + 1 when that changes the membership (a repeated
// order changes nothing), writes the region state into the batch of the
// apply state, answers with the new region, and returns execChangePeer for
// the peer to update raft and the store.
func (a *applier) applyConfChange(entry *eraftpb.Entry) {
	var cc eraftpb.ConfChange
	if err := cc.Unmarshal(entry.Data); err != nil {
		log.Panicf("[conf] %s entry %d is not a conf change: %v", a.ctx.tag, entry.Index, err)
	}
	req := new(raft_cmdpb.RaftCmdRequest)
	if err := req.Unmarshal(cc.Context); err != nil {
		log.Panicf("[conf] %s conf change at %d carries no command: %v", a.ctx.tag, entry.Index, err)
	}
	p := a.takeProposal(entry)
	a.kvWB.MustSync()
	// Your Code Here (3B).
	//lab:begin 3B
	changePeer := req.GetAdminRequest().GetChangePeer()
	if changePeer == nil || changePeer.Peer == nil {
		a.respond(p, ErrResp(fmt.Errorf("%s: conf change at %d is not a ChangePeer command", a.ctx.tag, entry.Index)))
		return
	}
	if err := util.CheckRegionEpoch(req, a.ctx.region, true); err != nil {
		log.Infof("[conf] %s skips %s of peer %d at %d: %v", a.ctx.tag, changePeer.ChangeType, changePeer.Peer.Id, entry.Index, err)
		a.respond(p, ErrResp(err))
		return
	}
	region, err := changeRegionPeers(a.ctx.region, changePeer)
	if err != nil {
		a.respond(p, ErrResp(err))
		return
	}
	resp := changePeerResp(region)
	if region == a.ctx.region {
		// The same order again: it took effect already.
		a.respond(p, resp)
		return
	}
	meta.WriteRegionState(a.kvWB, region, raft_serverpb.PeerState_Normal)
	a.ctx.region = region
	a.results = append(a.results, &execChangePeer{
		confChange: eraftpb.ConfChange{ChangeType: cc.ChangeType, NodeId: changePeer.Peer.Id},
		changeType: changePeer.ChangeType,
		peer:       changePeer.Peer,
		region:     region,
	})
	log.Infof("[conf] %s applied %s of peer %d (store %d) at %d: epoch %s, peers %v", a.ctx.tag,
		changePeer.ChangeType, changePeer.Peer.Id, changePeer.Peer.StoreId, entry.Index, region.RegionEpoch, region.Peers)
	a.respond(p, resp)
	if changePeer.ChangeType == eraftpb.ConfChangeType_RemoveNode && changePeer.Peer.Id == a.ctx.peerID {
		a.stopped = true
	}
	//lab:else
	//	a.respond(p, ErrResp(fmt.Errorf("%s: conf change at %d is not supported", a.ctx.tag, entry.Index)))
	//lab:end
}

//lab:begin 3B

// changeRegionPeers is region after the change: region itself when the
// change is already in effect (the peer is there, or gone), else a copy
// with the peer added or removed and conf_ver + 1. Adding a second peer on
// one store is refused.
func changeRegionPeers(region *metapb.Region, change *raft_cmdpb.ChangePeerRequest) (*metapb.Region, error) {
	peer := change.Peer
	switch change.ChangeType {
	case eraftpb.ConfChangeType_AddNode:
		if existing := util.FindPeer(region, peer.StoreId); existing != nil {
			if existing.Id == peer.Id {
				return region, nil
			}
			return nil, fmt.Errorf("region %d already has peer %d on store %d, cannot add peer %d",
				region.Id, existing.Id, peer.StoreId, peer.Id)
		}
		for _, p := range region.Peers {
			if p.Id == peer.Id {
				return nil, fmt.Errorf("region %d already has peer %d on store %d, cannot add it on store %d",
					region.Id, p.Id, p.StoreId, peer.StoreId)
			}
		}
		changed := util.CopyRegion(region)
		changed.Peers = append(changed.Peers, &metapb.Peer{Id: peer.Id, StoreId: peer.StoreId})
		changed.RegionEpoch.ConfVer++
		return changed, nil
	case eraftpb.ConfChangeType_RemoveNode:
		changed := util.CopyRegion(region)
		changed.Peers = changed.Peers[:0]
		for _, p := range region.Peers {
			if p.Id != peer.Id {
				changed.Peers = append(changed.Peers, p)
			}
		}
		if len(changed.Peers) == len(region.Peers) {
			return region, nil
		}
		changed.RegionEpoch.ConfVer++
		return changed, nil
	}
	return nil, fmt.Errorf("region %d: unknown change type %v", region.Id, change.ChangeType)
}

//lab:end

// applySplit applies a Split: it checks the key and ids against the region
// as it is now, shrinks the region to [start, split key) and makes the new
// region [split key, end) with one new peer per store, both with version
// + 1, writes both region states (and the new region's initial apply
// state) into the batch of the apply state, answers with both regions, and
// returns execSplit for the peer to create the new region's peer.
func (a *applier) applySplit(split *raft_cmdpb.SplitRequest) *raft_cmdpb.RaftCmdResponse {
	// Your Code Here (3B).
	//lab:begin 3B
	region := a.ctx.region
	if err := checkSplitRequest(region, split); err != nil {
		return ErrResp(err)
	}
	left, right := splitRegion(region, split)
	// The new region may be known here already: created by a snapshot (its
	// data is newer than ours) or even removed again. Then it is left as is.
	createRight, err := regionStateAbsent(a.ctx.engines.Kv, right.Id)
	if err != nil {
		log.Panicf("[split] %s reading the state of new region %d failed: %v", a.ctx.tag, right.Id, err)
	}
	meta.WriteRegionState(a.kvWB, left, raft_serverpb.PeerState_Normal)
	if createRight {
		meta.WriteRegionState(a.kvWB, right, raft_serverpb.PeerState_Normal)
		if err := writeInitialApplyState(a.kvWB, right.Id); err != nil {
			log.Panicf("[split] %s encoding the apply state of region %d failed: %v", a.ctx.tag, right.Id, err)
		}
	}
	a.ctx.region = left
	a.results = append(a.results, &execSplit{left: left, right: right, createRight: createRight})
	log.Infof("[split] %s split at %x: left %v, right %v", a.ctx.tag, split.SplitKey, left, right)
	resp := newCmdResp()
	resp.AdminResponse = &raft_cmdpb.AdminResponse{
		CmdType: raft_cmdpb.AdminCmdType_Split,
		Split:   &raft_cmdpb.SplitResponse{Regions: []*metapb.Region{util.CopyRegion(left), util.CopyRegion(right)}},
	}
	return resp
	//lab:else
	//	return ErrResp(fmt.Errorf("%s: split is not supported", a.ctx.tag))
	//lab:end
}

//lab:begin 3B

// checkSplitRequest tells whether split can apply to region: a key inside
// the region other than its start, a new region id, and one new peer id
// per peer.
func checkSplitRequest(region *metapb.Region, split *raft_cmdpb.SplitRequest) error {
	if split == nil {
		return fmt.Errorf("region %d: split request without a body", region.Id)
	}
	key := split.SplitKey
	if len(key) == 0 {
		return fmt.Errorf("region %d: empty split key", region.Id)
	}
	if err := util.CheckKeyInRegion(key, region); err != nil {
		return err
	}
	if bytes.Equal(key, region.StartKey) {
		return fmt.Errorf("region %d: split key %x is the region's start key", region.Id, key)
	}
	if split.NewRegionId == 0 || split.NewRegionId == region.Id {
		return fmt.Errorf("region %d: invalid new region id %d", region.Id, split.NewRegionId)
	}
	if len(split.NewPeerIds) != len(region.Peers) {
		return fmt.Errorf("region %d: %d new peer ids for %d peers", region.Id, len(split.NewPeerIds), len(region.Peers))
	}
	seen := make(map[uint64]bool, len(split.NewPeerIds))
	for _, id := range split.NewPeerIds {
		if id == 0 || seen[id] {
			return fmt.Errorf("region %d: invalid new peer ids %v", region.Id, split.NewPeerIds)
		}
		seen[id] = true
	}
	return nil
}

// splitRegion is the two halves of region split by a checked request.
func splitRegion(region *metapb.Region, split *raft_cmdpb.SplitRequest) (left, right *metapb.Region) {
	left = util.CopyRegion(region)
	left.EndKey = append([]byte(nil), split.SplitKey...)
	left.RegionEpoch.Version++
	right = &metapb.Region{
		Id:       split.NewRegionId,
		StartKey: append([]byte(nil), split.SplitKey...),
		EndKey:   append([]byte(nil), region.EndKey...),
		RegionEpoch: &metapb.RegionEpoch{
			ConfVer: region.RegionEpoch.ConfVer,
			Version: region.RegionEpoch.Version + 1,
		},
	}
	for i, p := range region.Peers {
		right.Peers = append(right.Peers, &metapb.Peer{Id: split.NewPeerIds[i], StoreId: p.StoreId})
	}
	return left, right
}

// regionStateAbsent tells whether kvdb has no region state for regionID.
func regionStateAbsent(kv *badger.DB, regionID uint64) (bool, error) {
	_, err := meta.GetRegionLocalState(kv, regionID)
	if err == badger.ErrKeyNotFound {
		return true, nil
	}
	return false, err
}

//lab:end
