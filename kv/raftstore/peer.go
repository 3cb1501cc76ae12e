package raftstore

import (
	"fmt"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/raft"
)

// notifyStaleReq answers a proposal that will never be applied.
func notifyStaleReq(term uint64, cb *message.Callback) {
	cb.Done(ErrRespStaleCommand(term))
}

// notifyReqRegionRemoved answers a proposal whose region left this store.
func notifyReqRegionRemoved(regionId uint64, cb *message.Callback) {
	regionNotFound := &util.ErrRegionNotFound{RegionId: regionId}
	resp := ErrResp(regionNotFound)
	cb.Done(resp)
}

// createPeer makes the peer of an initialized region on this store: one
// bootstrapped, loaded at start-up, or split off.
func createPeer(ctx *GlobalContext, region *metapb.Region) (*peer, error) {
	storeID := ctx.store.Id
	metaPeer := util.FindPeer(region, storeID)
	if metaPeer == nil {
		return nil, errors.Errorf("find no peer for store %d in region %v", storeID, region)
	}
	log.Infof("[conf] store=%d region=%d peer=%d created", storeID, region.GetId(), metaPeer.GetId())
	return newStorePeer(ctx, region, metaPeer)
}

// replicatePeer makes a peer for a region this store learns about from a
// raft message: it knows nothing of the region yet but its id, and gets the
// rest from a snapshot of the leader.
func replicatePeer(ctx *GlobalContext, regionID uint64, metaPeer *metapb.Peer) (*peer, error) {
	log.Infof("[conf] store=%d region=%d peer=%d created by a message, waits for a snapshot", ctx.store.Id, regionID, metaPeer.GetId())
	region := &metapb.Region{
		Id:          regionID,
		RegionEpoch: &metapb.RegionEpoch{},
	}
	return newStorePeer(ctx, region, metaPeer)
}

// newStorePeer makes a peer of this store, its snapshots generated on the
// store's generator worker.
func newStorePeer(ctx *GlobalContext, region *metapb.Region, metaPeer *metapb.Peer) (*peer, error) {
	p, err := NewPeer(ctx.store.Id, ctx.cfg, ctx.engine, region, ctx.regionTaskSender, metaPeer)
	if err != nil {
		return nil, err
	}
	p.peerStorage.genSched = ctx.snapGenTaskSender
	return p, nil
}

// proposal is a command waiting to be applied: when the entry at index of
// term is applied, cb gets the answer.
type proposal struct {
	index uint64
	term  uint64
	cb    *message.Callback
}

// peer is one replica of a region on this store: its raft node, its
// storage, and the proposals it is waiting to answer.
type peer struct {
	// ticker counts down each periodic task of the peer.
	ticker *ticker
	// Meta is this peer's id and store.
	Meta *metapb.Peer
	// regionId is the region this peer belongs to.
	regionId uint64
	// RaftGroup drives raft for this peer.
	RaftGroup *raft.RawNode
	// peerStorage is the raft.Storage of RaftGroup.
	peerStorage *PeerStorage

	// proposals wait for their entries to be applied, in index order.
	proposals proposalQueue
	// LastCompactedIdx is where the next raft-log GC task starts: one past
	// the last truncated index handed to the GC worker.
	LastCompactedIdx uint64
	// peerCache knows the store of every peer it has heard of.
	peerCache map[uint64]*metapb.Peer
	// PeersStartPendingTime records when a peer started to need a snapshot.
	PeersStartPendingTime map[uint64]time.Time
	// stopped is set when the peer is destroyed.
	stopped bool
	// quietSince is when the peer last heard from (or was) the leader of
	// its region, or last asked the scheduler whether it is still a member
	// (stale_peer.go).
	quietSince time.Time
	// memberConfVer is the highest conf_ver at which another peer listed
	// this one: the region epoch of a message only a member gets (an
	// append, heartbeat, snapshot, vote request or campaign order).
	memberConfVer uint64

	// SizeDiffHint approximates the bytes written since the last split check.
	SizeDiffHint uint64
	// ApproximateSize is the region's size seen by the last split check.
	ApproximateSize *uint64

	// Tag names the peer in logs: "store=1 region=1 peer=2".
	Tag string
}

// NewPeer makes a peer over the region's stored state.
func NewPeer(storeId uint64, cfg *config.Config, engines *engine_util.Engines, region *metapb.Region, regionSched chan<- worker.Task,
	meta *metapb.Peer) (*peer, error) {
	if meta.GetId() == util.InvalidID {
		return nil, fmt.Errorf("invalid peer id")
	}
	tag := fmt.Sprintf("store=%d region=%d peer=%d", storeId, region.GetId(), meta.GetId())

	ps, err := NewPeerStorage(engines, region, regionSched, tag)
	if err != nil {
		return nil, err
	}

	appliedIndex := ps.AppliedIndex()

	raftCfg := &raft.Config{
		ID:            meta.GetId(),
		ElectionTick:  cfg.RaftElectionTimeoutTicks,
		HeartbeatTick: cfg.RaftHeartbeatTicks,
		Applied:       appliedIndex,
		Storage:       ps,
	}

	raftGroup, err := raft.NewRawNode(raftCfg)
	if err != nil {
		return nil, err
	}
	p := &peer{
		Meta:                  meta,
		regionId:              region.GetId(),
		RaftGroup:             raftGroup,
		peerStorage:           ps,
		peerCache:             make(map[uint64]*metapb.Peer),
		PeersStartPendingTime: make(map[uint64]time.Time),
		Tag:                   tag,
		ticker:                newTicker(region.GetId(), cfg),
		quietSince:            time.Now(),
	}

	// A region of one peer, this one, needs no election timeout to elect it.
	if len(region.GetPeers()) == 1 && region.GetPeers()[0].GetStoreId() == storeId {
		if err := p.RaftGroup.Campaign(); err != nil {
			return nil, err
		}
	}

	return p, nil
}

func (p *peer) insertPeerCache(peer *metapb.Peer) {
	p.peerCache[peer.GetId()] = peer
}

// getPeerFromCache finds the store of a peer: the region's peer list
// first (peer ids are reused, so an id may have named a peer on another
// store before), then the peers heard of.
func (p *peer) getPeerFromCache(peerID uint64) *metapb.Peer {
	for _, peer := range p.peerStorage.Region().GetPeers() {
		if peer.GetId() == peerID {
			return peer
		}
	}
	return p.peerCache[peerID]
}

func (p *peer) nextProposalIndex() uint64 {
	return p.RaftGroup.Raft.RaftLog.LastIndex() + 1
}

// MaybeDestroy reports whether the peer can be destroyed now: not while a
// snapshot is being applied into its range.
func (p *peer) MaybeDestroy() bool {
	if p.stopped {
		log.Infof("[conf] %v is being destroyed already", p.Tag)
		return false
	}
	return p.peerStorage.snapState.stateType != snapStateApplying
}

// Destroy deletes the peer's state and data: the region is marked
// Tombstone and its raft and apply states and log are cleared (a crash in
// the middle leaves a peer recognised as destroyed at the next start), the
// region worker deletes its data unless keepData, and its waiting
// proposals are answered RegionNotFound.
func (p *peer) Destroy(engine *engine_util.Engines, keepData bool) error {
	// Your Code Here (3B).
	//lab:begin 3B
	start := time.Now()
	region := p.Region()
	log.Infof("[conf] %v destroying", p.Tag)

	kvWB := new(engine_util.WriteBatch)
	raftWB := new(engine_util.WriteBatch)
	if err := p.peerStorage.clearMeta(kvWB, raftWB); err != nil {
		return err
	}
	meta.WriteRegionState(kvWB, region, raft_serverpb.PeerState_Tombstone)
	// The tombstone (kvdb) first: a crash after it is recognised at start-up.
	if err := kvWB.WriteToDB(engine.Kv); err != nil {
		return err
	}
	if err := raftWB.WriteToDB(engine.Raft); err != nil {
		return err
	}

	if p.peerStorage.isInitialized() && !keepData {
		// Left-over data of a crash here is deleted when the store starts
		// again: it lies in none of its regions (clearDataOutsideRegions).
		p.peerStorage.ClearData()
	}

	for _, proposal := range p.proposals {
		notifyReqRegionRemoved(region.Id, proposal.cb)
	}
	p.proposals = nil

	log.Infof("[conf] %v destroyed in %v", p.Tag, time.Since(start))
	//lab:end
	return nil
}

func (p *peer) isInitialized() bool {
	return p.peerStorage.isInitialized()
}

func (p *peer) storeID() uint64 {
	return p.Meta.StoreId
}

// Region is the peer's current region.
func (p *peer) Region() *metapb.Region {
	return p.peerStorage.Region()
}

// SetRegion replaces the region after a conf change, a split or a snapshot.
func (p *peer) SetRegion(region *metapb.Region) {
	p.peerStorage.SetRegion(region)
}

// PeerId is this peer's id.
func (p *peer) PeerId() uint64 {
	return p.Meta.GetId()
}

// LeaderId is the id of the leader raft knows of, or 0.
func (p *peer) LeaderId() uint64 {
	return p.RaftGroup.Raft.Lead
}

// IsLeader reports whether this peer is its region's leader.
func (p *peer) IsLeader() bool {
	return p.RaftGroup.Raft.State == raft.StateLeader
}

// Send hands the messages of a Ready to the transport. It is called once
// the Ready is persisted, so it also records for the metrics which
// proposals are in the raft log and which are committed.
func (p *peer) Send(trans Transport, msgs []eraftpb.Message) {
	state := p.peerStorage.raftState
	p.stampProposals(state.GetLastIndex(), state.GetHardState().GetCommit())
	for _, msg := range msgs {
		err := p.sendRaftMessage(msg, trans)
		if err != nil {
			log.Debugf("[msg] %v send message err: %v", p.Tag, err)
		}
	}
}

// SendAppends sends at once the appends (MsgAppend) among the messages of
// a Ready that is not persisted yet, and returns the other messages, which
// must wait until it is. Only a leader sends appends, and it may send its
// entries before writing them: the followers write them while it does, and
// the leader's own copy counts towards a commit only when their answers
// arrive, in a later round of the raft worker, after its write (etcd and
// TiKV do the same). Answers and votes must never go early: they promise
// what the sender has persisted.
func (p *peer) SendAppends(trans Transport, msgs []eraftpb.Message) []eraftpb.Message {
	rest := msgs[:0:0]
	for _, msg := range msgs {
		if msg.MsgType != eraftpb.MessageType_MsgAppend {
			rest = append(rest, msg)
			continue
		}
		if err := p.sendRaftMessage(msg, trans); err != nil {
			log.Debugf("[msg] %v send message err: %v", p.Tag, err)
		}
	}
	return rest
}

// committedOnDisk splits the committed entries of rd into those already in
// this peer's raft log on disk, which it may apply before writing rd, and
// the others (after a snapshot, or among the entries rd itself appends),
// which it may apply only once rd is written.
func (p *peer) committedOnDisk(rd *raft.Ready) (now, later []eraftpb.Entry) {
	if !raft.IsEmptySnap(&rd.Snapshot) {
		return nil, rd.CommittedEntries
	}
	limit := p.peerStorage.raftState.GetLastIndex()
	if len(rd.Entries) > 0 && rd.Entries[0].Index <= limit {
		limit = rd.Entries[0].Index - 1
	}
	n := 0
	for n < len(rd.CommittedEntries) && rd.CommittedEntries[n].Index <= limit {
		n++
	}
	return rd.CommittedEntries[:n], rd.CommittedEntries[n:]
}

// stampProposals times, for the metrics, the proposals up to appended (in
// the raft log on disk) and up to committed (known committed: persisted,
// or about to be applied).
func (p *peer) stampProposals(appended, committed uint64) {
	if len(p.proposals) == 0 {
		return
	}
	now := time.Now()
	for _, prop := range p.proposals {
		if prop.index > appended && prop.index > committed {
			break
		}
		if prop.index <= appended {
			prop.cb.Appended(now)
		}
		if prop.index <= committed {
			prop.cb.Committed(now)
		}
	}
}

// CollectPendingPeers lists the peers that lag behind the leader's log
// start (they need a snapshot), for the scheduler heartbeat.
func (p *peer) CollectPendingPeers() []*metapb.Peer {
	pendingPeers := make([]*metapb.Peer, 0, len(p.Region().GetPeers()))
	truncatedIdx := p.peerStorage.truncatedIndex()
	for id, progress := range p.RaftGroup.GetProgress() {
		if id == p.Meta.GetId() {
			continue
		}
		if progress.Match < truncatedIdx {
			if peer := p.getPeerFromCache(id); peer != nil {
				pendingPeers = append(pendingPeers, peer)
				if _, ok := p.PeersStartPendingTime[id]; !ok {
					now := time.Now()
					p.PeersStartPendingTime[id] = now
					log.Debugf("[snap] %v peer %v needs a snapshot since %v", p.Tag, id, now)
				}
			}
		}
	}
	return pendingPeers
}

func (p *peer) clearPeersStartPendingTime() {
	for id := range p.PeersStartPendingTime {
		delete(p.PeersStartPendingTime, id)
	}
}

// AnyNewPeerCatchUp forgets peers that caught up since they were pending.
func (p *peer) AnyNewPeerCatchUp(peerId uint64) bool {
	if len(p.PeersStartPendingTime) == 0 {
		return false
	}
	if !p.IsLeader() {
		p.clearPeersStartPendingTime()
		return false
	}
	if startPendingTime, ok := p.PeersStartPendingTime[peerId]; ok {
		truncatedIdx := p.peerStorage.truncatedIndex()
		progress, ok := p.RaftGroup.Raft.Prs[peerId]
		if ok {
			if progress.Match >= truncatedIdx {
				delete(p.PeersStartPendingTime, peerId)
				elapsed := time.Since(startPendingTime)
				log.Debugf("[snap] %v peer %v caught up after %v", p.Tag, peerId, elapsed)
				return true
			}
		}
	}
	return false
}

// Term is the current raft term.
func (p *peer) Term() uint64 {
	return p.RaftGroup.Raft.Term
}

// HeartbeatScheduler reports the region to the scheduler through the
// scheduler worker.
func (p *peer) HeartbeatScheduler(ch chan<- worker.Task) {
	clonedRegion := util.CopyRegion(p.Region())
	ch <- &runner.SchedulerRegionHeartbeatTask{
		Region:          clonedRegion,
		Peer:            p.Meta,
		PendingPeers:    p.CollectPendingPeers(),
		ApproximateSize: p.ApproximateSize,
	}
}

func (p *peer) sendRaftMessage(msg eraftpb.Message, trans Transport) error {
	sendMsg := new(raft_serverpb.RaftMessage)
	sendMsg.RegionId = p.regionId
	sendMsg.RegionEpoch = &metapb.RegionEpoch{
		ConfVer: p.Region().RegionEpoch.ConfVer,
		Version: p.Region().RegionEpoch.Version,
	}

	fromPeer := *p.Meta
	toPeer := p.getPeerFromCache(msg.To)
	if toPeer == nil {
		return fmt.Errorf("failed to lookup recipient peer %v in region %v", msg.To, p.regionId)
	}
	log.Debugf("[msg] %v, send raft msg %v from %v to %v", p.Tag, msg.MsgType, fromPeer.Id, toPeer.Id)

	sendMsg.FromPeer = &fromPeer
	sendMsg.ToPeer = toPeer

	// The receiving store may have no peer of the region yet (it was just
	// added, or the region just split off). Messages that may create one
	// carry the region's range, so that store can check the range is free.
	if p.peerStorage.isInitialized() && util.IsInitialMsg(&msg) {
		sendMsg.StartKey = append([]byte{}, p.Region().StartKey...)
		sendMsg.EndKey = append([]byte{}, p.Region().EndKey...)
	}
	sendMsg.Message = &msg
	return trans.Send(sendMsg)
}
