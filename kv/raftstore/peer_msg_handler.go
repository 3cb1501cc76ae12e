package raftstore

import (
	"fmt"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// peerMsgHandler handles the messages and the Ready of one peer, on the
// raft worker's goroutine. It is made anew for each use: the state lives
// in the peer and the global context.
type peerMsgHandler struct {
	*peer
	ctx *GlobalContext
}

func newPeerMsgHandler(peer *peer, ctx *GlobalContext) *peerMsgHandler {
	return &peerMsgHandler{
		peer: peer,
		ctx:  ctx,
	}
}

// HandleRaftReady persists, sends and applies what raft has ready, then
// tells raft it is done (Advance).
func (d *peerMsgHandler) HandleRaftReady() {
	if d.stopped {
		return
	}
	// Your Code Here (2B).
	//lab:begin 2B
	if !d.RaftGroup.HasReady() {
		return
	}
	rd := d.RaftGroup.Ready()
	// A leader's appends go out before its write, everything else after.
	rest := d.SendAppends(d.ctx.trans, rd.Messages)
	// A leader applies what it has on disk before its write, so that its
	// clients need not wait for the write of newer entries.
	committed := rd.CommittedEntries
	if d.IsLeader() {
		var now []eraftpb.Entry
		if now, committed = d.committedOnDisk(&rd); len(now) > 0 {
			d.applyCommitted(now)
			if d.stopped {
				return
			}
		}
	}
	result, err := d.peerStorage.SaveReadyState(&rd)
	if err != nil {
		log.Panicf("[persist] %s saving ready state failed: %v", d.Tag, err)
	}
	if result != nil {
		d.onSnapshotApplied(result)
	}
	d.Send(d.ctx.trans, rest)
	if len(committed) > 0 {
		d.applyCommitted(committed)
		if d.stopped {
			return
		}
	}
	d.RaftGroup.Advance(rd)
	//lab:end
}

// onSnapshotApplied records the region a snapshot brought in the store's
// view; HandleRaftReady calls it when SaveReadyState applied a snapshot.
func (d *peerMsgHandler) onSnapshotApplied(result *ApplySnapResult) {
	// The snapshot replaced the entries up to its index: proposals among
	// them, or of an older term, will never be applied here.
	d.proposals.answerStale(d.peerStorage.truncatedIndex(), d.peerStorage.truncatedTerm())
	storeMeta := d.ctx.storeMeta
	storeMeta.Lock()
	defer storeMeta.Unlock()
	if len(result.PrevRegion.Peers) > 0 {
		storeMeta.regionRanges.Delete(regionItem{region: result.PrevRegion})
	}
	storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: result.Region})
	storeMeta.regions[result.Region.Id] = result.Region
}

// HandleMsg handles one message routed to this peer.
func (d *peerMsgHandler) HandleMsg(msg message.Msg) {
	switch msg.Type {
	case message.MsgTypeRaftMessage:
		raftMsg := msg.Data.(*raft_serverpb.RaftMessage)
		if err := d.onRaftMsg(raftMsg); err != nil {
			log.Errorf("[msg] %s handle raft message error %v", d.Tag, err)
		}
	case message.MsgTypeRaftCmd:
		raftCMD := msg.Data.(*message.MsgRaftCmd)
		d.proposeRaftCommand(raftCMD.Request, raftCMD.Callback)
	case message.MsgTypeTick:
		d.onTick()
	case message.MsgTypeSplitRegion:
		split := msg.Data.(*message.MsgSplitRegion)
		log.Infof("[split] %s on split with %v", d.Tag, split.SplitKey)
		d.onPrepareSplitRegion(split.RegionEpoch, split.SplitKey, split.Callback)
	case message.MsgTypeRegionApproximateSize:
		d.onApproximateRegionSize(msg.Data.(uint64))
	case message.MsgTypeGcSnap:
		gcSnap := msg.Data.(*message.MsgGCSnap)
		d.onGCSnap(gcSnap.Snaps)
	case message.MsgTypeSchedulerRegion:
		d.onSchedulerRegion(msg.Data.(*message.MsgSchedulerRegion))
	case message.MsgTypeStart:
		d.startTicker()
		d.resumeSnapshotApply()
	}
}

// resumeSnapshotApply finishes a snapshot apply a crash interrupted: the
// states already point at the snapshot, the data is ingested again.
func (d *peerMsgHandler) resumeSnapshotApply() {
	if d.peerStorage.snapState.stateType != snapStateApplying {
		return
	}
	truncated := d.peerStorage.applyState.TruncatedState
	snapMeta := &eraftpb.SnapshotMetadata{
		Index:     truncated.Index,
		Term:      truncated.Term,
		ConfState: &eraftpb.ConfState{Nodes: util.ConfStateFromRegion(d.Region()).Nodes},
	}
	log.Infof("[snap] %s resumes applying snapshot at index %d", d.Tag, truncated.Index)
	if err := d.peerStorage.applySnapshotData(snapMeta); err != nil {
		log.Panicf("[snap] %s cannot finish an interrupted snapshot apply: %v", d.Tag, err)
	}
}

// notLeader is the error for a command that reached a peer which does not
// lead its region, naming the leader it knows of (if any).
func (d *peerMsgHandler) notLeader() *util.ErrNotLeader {
	return &util.ErrNotLeader{RegionId: d.regionId, Leader: d.getPeerFromCache(d.LeaderId())}
}

// preProposeRaftCommand checks that this peer may propose the command: the
// right store, the leader, the right peer, a current epoch.
func (d *peerMsgHandler) preProposeRaftCommand(req *raft_cmdpb.RaftCmdRequest) error {
	if err := util.CheckStoreID(req, d.storeID()); err != nil {
		return err
	}

	if !d.IsLeader() {
		return d.notLeader()
	}
	if err := util.CheckPeerID(req, d.PeerId()); err != nil {
		return err
	}
	if err := util.CheckTerm(req, d.Term()); err != nil {
		return err
	}
	err := util.CheckRegionEpoch(req, d.Region(), true)
	if errEpochNotMatching, ok := err.(*util.ErrEpochNotMatch); ok {
		// The next region on this store is likely the one split off this
		// one: telling the client about it saves it a lookup.
		siblingRegion := d.findSiblingRegion()
		if siblingRegion != nil {
			errEpochNotMatching.Regions = append(errEpochNotMatching.Regions, siblingRegion)
		}
		return errEpochNotMatching
	}
	return err
}

// proposeRaftCommand checks the command, proposes it to raft, and
// remembers the callback to answer once the entry is applied.
func (d *peerMsgHandler) proposeRaftCommand(msg *raft_cmdpb.RaftCmdRequest, cb *message.Callback) {
	if d.stopped {
		// Destroyed earlier in this round of the raft worker.
		notifyReqRegionRemoved(d.regionId, cb)
		return
	}
	err := d.preProposeRaftCommand(msg)
	if err != nil {
		cb.Done(ErrResp(err))
		return
	}
	metrics.Proposed(msg.GetAdminRequest())
	cb.Proposed()
	// Your Code Here (2B).
	//lab:begin 2B
	if err := checkRequestKeys(msg, d.Region()); err != nil {
		cb.Done(ErrResp(err))
		return
	}
	if admin := msg.AdminRequest; admin != nil {
		switch admin.CmdType {
		case raft_cmdpb.AdminCmdType_TransferLeader:
			d.transferLeader(admin.TransferLeader.Peer, cb)
			return
		case raft_cmdpb.AdminCmdType_ChangePeer:
			d.proposeConfChange(msg, cb)
			return
		case raft_cmdpb.AdminCmdType_Split:
			d.proposeSplit(msg, cb)
			return
		}
	}
	d.propose(msg, cb)
	//lab:end
}

//lab:begin 2B

// propose appends a normal command to the log and remembers its callback.
func (d *peerMsgHandler) propose(msg *raft_cmdpb.RaftCmdRequest, cb *message.Callback) {
	data, err := msg.Marshal()
	if err != nil {
		cb.Done(ErrResp(err))
		return
	}
	index, term := d.nextProposalIndex(), d.Term()
	if err := d.RaftGroup.Propose(data); err != nil {
		cb.Done(ErrRespWithTerm(err, term))
		return
	}
	if cb != nil {
		d.proposals = append(d.proposals, &proposal{index: index, term: term, cb: cb})
	}
}

//lab:end

// proposeConfChange proposes a ChangePeer command as a raft conf change,
// the command riding in the entry's context. An order already in effect
// is answered at once; one while another conf change is not applied yet is
// refused. The leader never proposes its own removal: it hands leadership
// to another peer and answers NotLeader, so the scheduler sends the order
// again to the new leader (a leader that removed itself from a two-peer
// region could leave the other peer unaware of the commit, unable to win
// an election without it).
func (d *peerMsgHandler) proposeConfChange(msg *raft_cmdpb.RaftCmdRequest, cb *message.Callback) {
	// Your Code Here (3B).
	//lab:begin 3B
	changePeer := msg.AdminRequest.ChangePeer
	if changePeer == nil || changePeer.Peer.GetId() == 0 || changePeer.Peer.GetStoreId() == 0 {
		cb.Done(ErrResp(errors.Errorf("%s: ChangePeer needs a peer with an id and a store, got %v", d.Tag, changePeer)))
		return
	}
	region := d.Region()
	changed, err := changeRegionPeers(region, changePeer)
	if err != nil {
		cb.Done(ErrResp(err))
		return
	}
	if changed == region {
		cb.Done(changePeerResp(region))
		return
	}
	if changePeer.ChangeType == eraftpb.ConfChangeType_RemoveNode && changePeer.Peer.Id == d.PeerId() {
		d.leaveLeadershipBeforeRemoval(cb)
		return
	}
	if pending := d.RaftGroup.Raft.PendingConfIndex; pending > d.peerStorage.AppliedIndex() {
		cb.Done(ErrResp(errors.Errorf("%s: conf change at %d is not applied yet (applied %d), try again later",
			d.Tag, pending, d.peerStorage.AppliedIndex())))
		return
	}
	context, err := msg.Marshal()
	if err != nil {
		cb.Done(ErrResp(err))
		return
	}
	cc := eraftpb.ConfChange{ChangeType: changePeer.ChangeType, NodeId: changePeer.Peer.Id, Context: context}
	index, term := d.nextProposalIndex(), d.Term()
	if err := d.RaftGroup.ProposeConfChange(cc); err != nil {
		cb.Done(ErrRespWithTerm(err, term))
		return
	}
	log.Infof("[conf] %s proposed %s of peer %d (store %d) at %d", d.Tag,
		changePeer.ChangeType, changePeer.Peer.Id, changePeer.Peer.StoreId, index)
	if cb != nil {
		d.proposals = append(d.proposals, &proposal{index: index, term: term, cb: cb})
	}
	//lab:else
	//	cb.Done(ErrResp(errors.Errorf("%s: conf change is not supported", d.Tag)))
	//lab:end
}

//lab:begin 3B

// changePeerResp answers a ChangePeer command with the region.
func changePeerResp(region *metapb.Region) *raft_cmdpb.RaftCmdResponse {
	resp := newCmdResp()
	resp.AdminResponse = &raft_cmdpb.AdminResponse{
		CmdType:    raft_cmdpb.AdminCmdType_ChangePeer,
		ChangePeer: &raft_cmdpb.ChangePeerResponse{Region: util.CopyRegion(region)},
	}
	return resp
}

// leaveLeadershipBeforeRemoval answers an order to remove this leader: it
// transfers leadership to the most up-to-date other peer and answers
// NotLeader naming it.
func (d *peerMsgHandler) leaveLeadershipBeforeRemoval(cb *message.Callback) {
	var target *metapb.Peer
	var bestMatch uint64
	progress := d.RaftGroup.GetProgress()
	for _, p := range d.Region().Peers {
		if p.Id == d.PeerId() {
			continue
		}
		if pr, ok := progress[p.Id]; ok && (target == nil || pr.Match > bestMatch) {
			target, bestMatch = p, pr.Match
		}
	}
	if target == nil {
		cb.Done(ErrResp(errors.Errorf("%s: cannot remove the only peer of the region", d.Tag)))
		return
	}
	log.Infof("[conf] %s asked to remove itself: transferring leadership to peer %d first", d.Tag, target.Id)
	d.RaftGroup.TransferLeader(target.Id)
	cb.Done(ErrRespWithTerm(&util.ErrNotLeader{RegionId: d.regionId, Leader: target}, d.Term()))
}

//lab:end

// proposeSplit proposes a Split command once its key and ids fit the
// region.
func (d *peerMsgHandler) proposeSplit(msg *raft_cmdpb.RaftCmdRequest, cb *message.Callback) {
	// Your Code Here (3B).
	//lab:begin 3B
	if err := checkSplitRequest(d.Region(), msg.AdminRequest.Split); err != nil {
		cb.Done(ErrResp(err))
		return
	}
	d.propose(msg, cb)
	//lab:else
	//	cb.Done(ErrResp(errors.Errorf("%s: split is not supported", d.Tag)))
	//lab:end
}

// checkRequestKeys rejects a command with a key outside the region.
func checkRequestKeys(msg *raft_cmdpb.RaftCmdRequest, region *metapb.Region) error {
	for _, req := range msg.Requests {
		if key := requestKey(req); key != nil {
			if err := util.CheckKeyInRegion(key, region); err != nil {
				return err
			}
		}
	}
	return nil
}

// requestKey is the key a request reads or writes, nil for Snap.
func requestKey(req *raft_cmdpb.Request) []byte {
	switch req.CmdType {
	case raft_cmdpb.CmdType_Get:
		return req.Get.GetKey()
	case raft_cmdpb.CmdType_Put:
		return req.Put.GetKey()
	case raft_cmdpb.CmdType_Delete:
		return req.Delete.GetKey()
	}
	return nil
}

// transferLeader asks raft to hand leadership to peer and answers at once:
// the transfer itself is not replicated.
func (d *peerMsgHandler) transferLeader(peer *metapb.Peer, cb *message.Callback) {
	// Your Code Here (3B).
	//lab:begin 3B
	d.RaftGroup.TransferLeader(peer.GetId())
	resp := newCmdResp()
	resp.AdminResponse = &raft_cmdpb.AdminResponse{
		CmdType:        raft_cmdpb.AdminCmdType_TransferLeader,
		TransferLeader: &raft_cmdpb.TransferLeaderResponse{},
	}
	cb.Done(resp)
	//lab:else
	//	cb.Done(ErrResp(errors.Errorf("%s: transfer leader is not supported", d.Tag)))
	//lab:end
}

func (d *peerMsgHandler) onTick() {
	if d.stopped {
		return
	}
	d.ticker.tickClock()
	if d.ticker.isOnTick(PeerTickRaft) {
		d.onRaftBaseTick()
	}
	if d.ticker.isOnTick(PeerTickRaftLogGC) {
		d.onRaftGCLogTick()
	}
	if d.ticker.isOnTick(PeerTickSchedulerHeartbeat) {
		d.onSchedulerHeartbeatTick()
	}
	if d.ticker.isOnTick(PeerTickSplitRegionCheck) {
		d.onSplitRegionCheckTick()
	}
	d.ctx.tickDriverSender <- d.regionId
}

func (d *peerMsgHandler) startTicker() {
	d.ticker = newTicker(d.regionId, d.ctx.cfg)
	d.ctx.tickDriverSender <- d.regionId
	d.ticker.schedule(PeerTickRaft)
	d.ticker.schedule(PeerTickRaftLogGC)
	d.ticker.schedule(PeerTickSplitRegionCheck)
	d.ticker.schedule(PeerTickSchedulerHeartbeat)
}

func (d *peerMsgHandler) onRaftBaseTick() {
	d.RaftGroup.Tick()
	d.ticker.schedule(PeerTickRaft)
}

// ScheduleCompactLog has the raft-log GC worker delete the log entries up
// to truncatedIndex, which the apply state no longer needs.
func (d *peerMsgHandler) ScheduleCompactLog(truncatedIndex uint64) {
	raftLogGCTask := &runner.RaftLogGCTask{
		KvEngine:   d.ctx.engine.Kv,
		RaftEngine: d.ctx.engine.Raft,
		RegionID:   d.regionId,
		StartIdx:   d.LastCompactedIdx,
		EndIdx:     truncatedIndex + 1,
	}
	d.LastCompactedIdx = raftLogGCTask.EndIdx
	d.ctx.raftLogGCTaskSender <- raftLogGCTask
}

// onRaftMsg steps a message from another peer into raft, after checking
// that it is for this peer and not stale.
func (d *peerMsgHandler) onRaftMsg(msg *raft_serverpb.RaftMessage) error {
	log.Debugf("[msg] %s handle raft message %s from %d to %d",
		d.Tag, msg.GetMessage().GetMsgType(), msg.GetFromPeer().GetId(), msg.GetToPeer().GetId())
	if !d.validateRaftMessage(msg) {
		return nil
	}
	if d.stopped {
		return nil
	}
	if msg.GetIsTombstone() {
		// Our peer was removed from the region: destroy it.
		d.handleGCPeerMsg(msg)
		return nil
	}
	if d.checkMessage(msg) {
		return nil
	}
	key, err := d.checkSnapshot(msg)
	if err != nil {
		return err
	}
	if key != nil {
		// The snapshot is dropped: its files are of no use any more.
		if err := d.ctx.snapMgr.DeleteSnapshot(*key, false); err != nil {
			log.Warnf("[snap] %s delete dropped snapshot %s failed: %v", d.Tag, key, err)
		}
		return nil
	}
	d.insertPeerCache(msg.GetFromPeer())
	err = d.RaftGroup.Step(*msg.GetMessage())
	if err != nil {
		return err
	}
	d.noteMessage(msg)
	if d.AnyNewPeerCatchUp(msg.FromPeer.Id) {
		d.HeartbeatScheduler(d.ctx.schedulerTaskSender)
	}
	return nil
}

// validateRaftMessage reports whether msg is addressed to this store.
func (d *peerMsgHandler) validateRaftMessage(msg *raft_serverpb.RaftMessage) bool {
	regionID := msg.GetRegionId()
	to := msg.GetToPeer()
	if to.GetStoreId() != d.storeID() {
		log.Warnf("[msg] %s message for store %d, not this one, ignored", d.Tag, to.GetStoreId())
		return false
	}
	if msg.RegionEpoch == nil {
		log.Errorf("[msg] %s message of region %d without an epoch, ignored", d.Tag, regionID)
		return false
	}
	return true
}

// checkMessage reports whether msg must be dropped: it comes from a peer
// with a stale epoch that is no longer a member (which is then told to
// destroy itself).
func (d *peerMsgHandler) checkMessage(msg *raft_serverpb.RaftMessage) bool {
	fromEpoch := msg.GetRegionEpoch()
	isVoteMsg := util.IsVoteMessage(msg.Message)
	fromStoreID := msg.FromPeer.GetStoreId()

	// A peer removed from the region (or from before a split) may keep
	// sending, until a newer message reaches it: answer it so it can
	// destroy itself, and drop what it sent.
	region := d.Region()
	if util.IsEpochStale(fromEpoch, region.RegionEpoch) && util.FindPeer(region, fromStoreID) == nil {
		handleStaleMsg(d.ctx.trans, msg, region.RegionEpoch, isVoteMsg)
		return true
	}
	target := msg.GetToPeer()
	if target.Id < d.PeerId() {
		log.Infof("[msg] %s message for older peer %d, ignored", d.Tag, target.Id)
		return true
	} else if target.Id > d.PeerId() {
		if d.MaybeDestroy() {
			log.Infof("[conf] %s replaced by newer peer %d of this store, destroying", d.Tag, target.Id)
			d.destroyPeer()
			d.ctx.router.sendStore(message.NewMsg(message.MsgTypeStoreRaftMessage, msg))
		}
		return true
	}
	return false
}

// handleGCPeerMsg destroys this peer when the message says it was removed.
func (d *peerMsgHandler) handleGCPeerMsg(msg *raft_serverpb.RaftMessage) {
	fromEpoch := msg.RegionEpoch
	if !util.IsEpochStale(d.Region().RegionEpoch, fromEpoch) {
		return
	}
	if !util.PeerEqual(d.Meta, msg.ToPeer) {
		log.Infof("[conf] %s stale tombstone message, ignored", d.Tag)
		return
	}
	log.Infof("[conf] %s removed from the region, destroying", d.Tag)
	if d.MaybeDestroy() {
		d.destroyPeer()
	}
}

// checkSnapshot returns the key of a snapshot message that must be dropped
// (stale, or overlapping another region of this store), or nil to step it.
func (d *peerMsgHandler) checkSnapshot(msg *raft_serverpb.RaftMessage) (*snap.SnapKey, error) {
	if msg.Message.Snapshot == nil {
		return nil, nil
	}
	regionID := msg.RegionId
	snapshot := msg.Message.Snapshot
	key := snap.SnapKeyFromRegionSnap(regionID, snapshot)
	snapData := new(raft_serverpb.RaftSnapshotData)
	err := snapData.Unmarshal(snapshot.Data)
	if err != nil {
		return nil, err
	}
	snapRegion := snapData.Region
	peerID := msg.ToPeer.Id
	var contains bool
	for _, peer := range snapRegion.Peers {
		if peer.Id == peerID {
			contains = true
			break
		}
	}
	if !contains {
		log.Infof("[snap] %s receiving a snapshot that does not include it, peer id %d, snap region %v",
			d.Tag, peerID, snapRegion)
		return &key, nil
	}
	meta := d.ctx.storeMeta
	meta.Lock()
	defer meta.Unlock()
	if !util.RegionEqual(meta.regions[d.regionId], d.Region()) {
		if !d.isInitialized() {
			log.Infof("[snap] %s stale delegate detected, skip", d.Tag)
			return &key, nil
		}
		panic(fmt.Sprintf("%s meta corrupted %s != %s", d.Tag, meta.regions[d.regionId], d.Region()))
	}

	existRegions := meta.getOverlapRegions(snapRegion)
	for _, existRegion := range existRegions {
		if existRegion.GetId() == snapRegion.GetId() {
			continue
		}
		log.Infof("[snap] %s region overlapped %s %s", d.Tag, existRegion, snapRegion)
		return &key, nil
	}

	// The files must have arrived before raft may see the snapshot.
	s, err := d.ctx.snapMgr.GetSnapshotForApplying(key)
	if err != nil {
		return nil, err
	}
	return nil, s.Close()
}

// destroyPeer removes the peer from the store: its state and data, its
// place in the router and in the store's view.
func (d *peerMsgHandler) destroyPeer() {
	log.Infof("[conf] %s starts destroy", d.Tag)
	regionID := d.regionId
	meta := d.ctx.storeMeta
	meta.Lock()
	defer meta.Unlock()
	isInitialized := d.isInitialized()
	if err := d.Destroy(d.ctx.engine, false); err != nil {
		// Failing to destroy leaves the store in a state it cannot recover
		// from without restart: stop here rather than corrupt more.
		panic(fmt.Sprintf("%s destroy err %v", d.Tag, err))
	}
	d.ctx.router.close(regionID)
	d.stopped = true
	// regionRanges holds initialized regions only, by end key: the empty
	// range of an uninitialized peer would match the last region's item
	// (its end key is the end of the key space too) and delete it.
	if isInitialized {
		if _, found := meta.regionRanges.Delete(regionItem{region: d.Region()}); !found {
			panic(d.Tag + " meta corruption detected")
		}
	}
	if _, ok := meta.regions[regionID]; !ok {
		panic(d.Tag + " meta corruption detected")
	}
	delete(meta.regions, regionID)
}

// findSiblingRegion is the region right after this one on this store, if
// any: after a split it is usually the new region, which the client wants
// to learn about along with an epoch error.
func (d *peerMsgHandler) findSiblingRegion() (result *metapb.Region) {
	meta := d.ctx.storeMeta
	meta.RLock()
	defer meta.RUnlock()
	item := regionItem{region: &metapb.Region{EndKey: d.Region().EndKey}}
	if len(d.Region().EndKey) == 0 {
		return nil
	}
	meta.regionRanges.AscendGreaterOrEqual(item, func(i regionItem) bool {
		if i.region.Id == d.regionId {
			return true
		}
		result = i.region
		return false
	})
	return
}

// onRaftGCLogTick proposes to compact the log when the leader keeps more
// applied entries than RaftLogGcCountLimit.
func (d *peerMsgHandler) onRaftGCLogTick() {
	d.ticker.schedule(PeerTickRaftLogGC)
	if !d.IsLeader() {
		return
	}
	//lab:begin 2C
	appliedIdx := d.peerStorage.AppliedIndex()
	firstIdx, _ := d.peerStorage.FirstIndex()
	if appliedIdx < firstIdx || appliedIdx-firstIdx < d.ctx.cfg.RaftLogGcCountLimit {
		return
	}
	// Keep the last applied entry: raft needs its term to check appends.
	compactIdx := appliedIdx - 1
	if compactIdx < firstIdx {
		return
	}
	term, err := d.RaftGroup.Raft.RaftLog.Term(compactIdx)
	if err != nil {
		log.Panicf("[gc] %s term of applied index %d is unknown: %v", d.Tag, compactIdx, err)
	}
	request := newCompactLogRequest(d.regionId, d.Meta, compactIdx, term)
	d.proposeRaftCommand(request, nil)
	//lab:end
}

func (d *peerMsgHandler) onSplitRegionCheckTick() {
	d.ticker.schedule(PeerTickSplitRegionCheck)
	// One scan at a time: skip while the split checker is still busy.
	if len(d.ctx.splitCheckTaskSender) > 0 {
		return
	}

	if !d.IsLeader() {
		return
	}
	if !needSplitCheck(d.ApproximateSize, d.SizeDiffHint, d.ctx.cfg.RegionSplitSize, d.ctx.cfg.RegionMaxSize) {
		return
	}
	d.ctx.splitCheckTaskSender <- &runner.SplitCheckTask{
		Region: d.Region(),
	}
	// Until the checker answers, the size is at least what it was plus
	// what was written since.
	if d.ApproximateSize != nil {
		size := *d.ApproximateSize + d.SizeDiffHint
		d.ApproximateSize = &size
	}
	d.SizeDiffHint = 0
}

// needSplitCheck tells whether a region of approximate size (nil: never
// measured) that grew by diff since its last check is worth checking
// again: after enough growth, and whenever it may be over the maximum (a
// region whose last writes carried it over must split however small they
// were).
func needSplitCheck(approximate *uint64, diff, splitSize, maxSize uint64) bool {
	if approximate == nil || diff >= splitSize/8 {
		return true
	}
	return *approximate+diff > maxSize
}

// onPrepareSplitRegion asks the scheduler for the ids of a split; the split
// itself is proposed when they arrive (project 3B).
func (d *peerMsgHandler) onPrepareSplitRegion(regionEpoch *metapb.RegionEpoch, splitKey []byte, cb *message.Callback) {
	if err := d.validateSplitRegion(regionEpoch, splitKey); err != nil {
		cb.Done(ErrResp(err))
		return
	}
	region := d.Region()
	d.ctx.schedulerTaskSender <- &runner.SchedulerAskSplitTask{
		Region:   region,
		SplitKey: splitKey,
		Peer:     d.Meta,
		Callback: cb,
	}
}

func (d *peerMsgHandler) validateSplitRegion(epoch *metapb.RegionEpoch, splitKey []byte) error {
	if len(splitKey) == 0 {
		return errors.Errorf("%s split key should not be empty", d.Tag)
	}

	if !d.IsLeader() {
		return d.notLeader()
	}

	region := d.Region()
	latestEpoch := region.GetRegionEpoch()

	// Only the version matters: a split checked on an older range is
	// wrong, while a membership change does not move the range.
	if latestEpoch.Version != epoch.Version {
		log.Infof("[split] %s epoch changed from %s to %s, retry later", d.Tag, epoch, latestEpoch)
		return &util.ErrEpochNotMatch{
			Message: fmt.Sprintf("%s epoch changed %s != %s, retry later", d.Tag, latestEpoch, epoch),
			Regions: []*metapb.Region{region},
		}
	}
	return nil
}

func (d *peerMsgHandler) onApproximateRegionSize(size uint64) {
	d.ApproximateSize = &size
}

func (d *peerMsgHandler) onSchedulerHeartbeatTick() {
	d.ticker.schedule(PeerTickSchedulerHeartbeat)

	if !d.IsLeader() {
		d.askIfRemovedWhenQuiet()
		return
	}
	d.quietSince = time.Now()
	d.HeartbeatScheduler(d.ctx.schedulerTaskSender)
}

// onGCSnap deletes the snapshot files this peer no longer needs: sent
// snapshots older than the log's start, received ones already applied.
func (d *peerMsgHandler) onGCSnap(snaps []snap.SnapKeyWithSending) {
	compactedIdx := d.peerStorage.truncatedIndex()
	compactedTerm := d.peerStorage.truncatedTerm()
	for _, snapKeyWithSending := range snaps {
		key := snapKeyWithSending.SnapKey
		if snapKeyWithSending.IsSending {
			if key.Term < compactedTerm || key.Index < compactedIdx {
				d.deleteSnapshot(key, true)
			}
			continue
		}
		if key.Term <= compactedTerm && (key.Index < compactedIdx ||
			(key.Index == compactedIdx && d.peerStorage.snapState.stateType != snapStateApplying)) {
			d.deleteSnapshot(key, false)
		}
	}
}

func (d *peerMsgHandler) deleteSnapshot(key snap.SnapKey, isSending bool) {
	if err := d.ctx.snapMgr.DeleteSnapshot(key, isSending); err != nil {
		log.Warnf("[snap] %s delete snapshot %s failed: %v", d.Tag, key, err)
	}
}

// newAdminRequest makes a command header for the peer's region.
func newAdminRequest(regionID uint64, peer *metapb.Peer) *raft_cmdpb.RaftCmdRequest {
	return &raft_cmdpb.RaftCmdRequest{
		Header: &raft_cmdpb.RaftRequestHeader{
			RegionId: regionID,
			Peer:     peer,
		},
	}
}

// newCompactLogRequest makes the admin command that truncates the log up
// to compactIndex (of compactTerm).
func newCompactLogRequest(regionID uint64, peer *metapb.Peer, compactIndex, compactTerm uint64) *raft_cmdpb.RaftCmdRequest {
	req := newAdminRequest(regionID, peer)
	req.AdminRequest = &raft_cmdpb.AdminRequest{
		CmdType: raft_cmdpb.AdminCmdType_CompactLog,
		CompactLog: &raft_cmdpb.CompactLogRequest{
			CompactIndex: compactIndex,
			CompactTerm:  compactTerm,
		},
	}
	return req
}
