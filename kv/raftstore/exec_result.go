package raftstore

import (
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// execResult is what applying an admin command leaves for the peer to do
// once the batch is on disk: the applier changes only the engines and its
// own view of the region; raft, the store's region index, other peers and
// the workers are the peer's business (onExecResults).
type execResult interface {
	execResultKind() string
}

// execCompactLog: the log is truncated up to truncatedIndex; its entries
// can be deleted.
type execCompactLog struct {
	truncatedIndex uint64
}

// execChangePeer: peer was added or removed; region is the new region.
type execChangePeer struct {
	confChange eraftpb.ConfChange
	changeType eraftpb.ConfChangeType
	peer       *metapb.Peer
	region     *metapb.Region
}

// execSplit: the region was split into left (the old id) and right (the
// new one). createRight is false when this store already had a state for
// right (a snapshot created it, or it was removed since): then the split
// leaves it alone.
type execSplit struct {
	left, right *metapb.Region
	createRight bool
}

func (*execCompactLog) execResultKind() string { return "compact log" }
func (*execChangePeer) execResultKind() string { return "change peer" }
func (*execSplit) execResultKind() string      { return "split" }

// applyCommitted applies committed entries through a narrow context and
// then carries out what they require of the peer.
func (d *peerMsgHandler) applyCommitted(entries []eraftpb.Entry) {
	if len(entries) > 0 {
		d.stampProposals(0, entries[len(entries)-1].Index)
	}
	ctx := newApplyContext(d)
	results := newApplier(ctx).applyEntries(entries)
	d.SizeDiffHint += ctx.sizeDiffHint
	d.onExecResults(results)
}

// onExecResults carries out the side effects of applied admin commands, in
// order; it stops when one of them destroyed the peer.
func (d *peerMsgHandler) onExecResults(results []execResult) {
	for _, result := range results {
		log.Debugf("[apply] %s carries out %s", d.Tag, result.execResultKind())
		switch r := result.(type) {
		case *execCompactLog:
			d.ScheduleCompactLog(r.truncatedIndex)
		case *execChangePeer:
			d.onChangePeer(r)
		case *execSplit:
			d.onSplit(r)
		}
		if d.stopped {
			return
		}
	}
}

// onChangePeer makes raft, the store's region index and the peer cache
// follow an applied membership change, destroys the peer when it was the
// one removed, and tells the scheduler at once when this peer leads.
func (d *peerMsgHandler) onChangePeer(r *execChangePeer) {
	// Your Code Here (3B).
	//lab:begin 3B
	d.RaftGroup.ApplyConfChange(r.confChange)
	d.SetRegion(r.region)
	storeMeta := d.ctx.storeMeta
	storeMeta.Lock()
	storeMeta.regions[r.region.Id] = r.region
	storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: r.region})
	storeMeta.Unlock()
	switch r.changeType {
	case eraftpb.ConfChangeType_AddNode:
		d.insertPeerCache(r.peer)
		if d.IsLeader() {
			d.PeersStartPendingTime[r.peer.Id] = time.Now()
		}
	case eraftpb.ConfChangeType_RemoveNode:
		delete(d.peerCache, r.peer.Id)
		delete(d.PeersStartPendingTime, r.peer.Id)
		if r.peer.Id == d.PeerId() {
			log.Infof("[conf] %s removed from the region, destroying", d.Tag)
			d.destroyPeer()
			return
		}
	}
	if d.IsLeader() {
		d.HeartbeatScheduler(d.ctx.schedulerTaskSender)
	}
	//lab:end
}

// onSplit makes the store follow an applied split: the region index gets
// both halves, the new region's peer is created (taking over an
// uninitialized peer of it that a message created, never a second one),
// registered and started, votes that arrived for it early are delivered,
// and, on the leader, the new peer campaigns at once and both halves are
// reported to the scheduler.
func (d *peerMsgHandler) onSplit(r *execSplit) {
	// Your Code Here (3B).
	//lab:begin 3B
	storeMeta := d.ctx.storeMeta
	storeMeta.Lock()
	defer storeMeta.Unlock()
	storeMeta.regionRanges.Delete(regionItem{region: d.Region()})
	d.SetRegion(r.left)
	storeMeta.regions[r.left.Id] = r.left
	storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: r.left})
	d.SizeDiffHint = 0
	d.ApproximateSize = nil

	var newPeer *peer
	if r.createRight {
		newPeer = d.createSplitPeer(r.right)
	} else if known := storeMeta.regions[r.right.Id]; known != nil && len(known.Peers) > 0 {
		// The range of the old region was indexed by its end key, which
		// the new region shares.
		storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: known})
	}
	if !d.IsLeader() {
		return
	}
	d.HeartbeatScheduler(d.ctx.schedulerTaskSender)
	if newPeer == nil {
		return
	}
	newPeer.HeartbeatScheduler(d.ctx.schedulerTaskSender)
	// The other stores' peers of the new region are created as they apply
	// the split; the vote waits for them there. Campaigning now saves an
	// election timeout.
	if newPeer.IsLeader() {
		return
	}
	if err := newPeer.RaftGroup.Campaign(); err != nil {
		log.Warnf("[split] %s new peer cannot campaign: %v", newPeer.Tag, err)
	}
	//lab:end
}

//lab:begin 3B

// createSplitPeer creates, registers and starts the peer of a region just
// split off on this store; the caller holds the store meta lock.
func (d *peerMsgHandler) createSplitPeer(region *metapb.Region) *peer {
	storeMeta := d.ctx.storeMeta
	if old := d.ctx.router.get(region.Id); old != nil {
		// A message of a faster store created an empty peer of the region.
		// It holds nothing but its raft state (a vote it may have cast),
		// which the new peer's storage keeps.
		if old.peer.isInitialized() {
			log.Panicf("[split] %s new region %d already has an initialized peer %s", d.Tag, region.Id, old.peer.Tag)
		}
		log.Infof("[split] %s takes over uninitialized peer %s", d.Tag, old.peer.Tag)
		old.peer.stopped = true
		d.ctx.router.close(region.Id)
	}
	newPeer, err := createPeer(d.ctx, region)
	if err != nil {
		log.Panicf("[split] %s creating the peer of new region %d failed: %v", d.Tag, region.Id, err)
	}
	storeMeta.regions[region.Id] = region
	storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: region})
	d.ctx.router.register(newPeer)
	_ = d.ctx.router.send(region.Id, message.Msg{Type: message.MsgTypeStart})
	// Votes that came before the region existed here.
	for _, vote := range storeMeta.takePendingVotes(region.Id) {
		_ = d.ctx.router.send(region.Id, message.NewPeerMsg(message.MsgTypeRaftMessage, region.Id, vote))
	}
	return newPeer
}

//lab:end
