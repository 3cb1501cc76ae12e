package raftstore

import (
	"path/filepath"
	"sync"

	"github.com/Connor1996/badger"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// storeState is the store worker's channel and the store's ticker.
type storeState struct {
	receiver <-chan message.Msg
	ticker   *ticker
}

func newStoreState(cfg *config.Config) (chan<- message.Msg, *storeState) {
	ch := make(chan message.Msg, 40960)
	state := &storeState{
		receiver: ch,
		ticker:   newStoreTicker(cfg),
	}
	return ch, state
}

// storeWorker handles what concerns the store rather than one peer:
// messages for regions it has no peer of yet, and the store's ticks.
type storeWorker struct {
	*GlobalContext
	id       uint64
	receiver <-chan message.Msg
}

func newStoreWorker(ctx *GlobalContext, state *storeState) *storeWorker {
	return &storeWorker{
		GlobalContext: ctx,
		id:            ctx.store.Id,
		receiver:      state.receiver,
	}
}

func (sw *storeWorker) run(closeCh <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		var msg message.Msg
		select {
		case <-closeCh:
			return
		case msg = <-sw.receiver:
		}
		sw.handleMsg(msg)
	}
}

func (sw *storeWorker) handleMsg(msg message.Msg) {
	switch msg.Type {
	case message.MsgTypeStoreRaftMessage:
		if err := sw.onRaftMessage(msg.Data.(*raft_serverpb.RaftMessage)); err != nil {
			log.Errorf("[msg] store=%d handle raft message failed: %v", sw.id, err)
		}
	case message.MsgTypeStoreTick:
		sw.onTick(msg.Data.(message.StoreTick))
	case message.MsgTypeStoreStart:
		sw.start(msg.Data.(*metapb.Store))
	}
}

func (sw *storeWorker) start(store *metapb.Store) {
	sw.id = store.Id
}

func (sw *storeWorker) onTick(tick message.StoreTick) {
	switch tick {
	case message.StoreTickSchedulerStoreHeartbeat:
		sw.onSchedulerStoreHeartbeatTick()
	case message.StoreTickSnapGC:
		sw.onSnapMgrGC()
	}
}

// checkMsg reports whether a message for an unknown region must be dropped:
// it is from a stale epoch, or for a peer this store already destroyed.
func (sw *storeWorker) checkMsg(msg *raft_serverpb.RaftMessage) (bool, error) {
	regionID := msg.GetRegionId()
	fromEpoch := msg.GetRegionEpoch()
	msgType := msg.Message.MsgType
	isVoteMsg := util.IsVoteMessage(msg.Message)
	fromStoreID := msg.FromPeer.GetStoreId()

	localState, err := meta.GetRegionLocalState(sw.engine.Kv, regionID)
	if err != nil {
		if err == badger.ErrKeyNotFound {
			return false, nil
		}
		return false, err
	}
	if localState.State != raft_serverpb.PeerState_Tombstone {
		// The region exists on disk but has no peer registered: a split is
		// creating it right now. Keep its first vote for when it is ready.
		if util.IsFirstVoteMessage(msg.Message) {
			meta := sw.storeMeta
			meta.Lock()
			defer meta.Unlock()
			if _, ok := meta.regions[regionID]; ok {
				return false, nil
			}
			meta.addPendingVote(msg)
			log.Infof("[split] store=%d region=%d not created yet, keeping its vote", sw.id, regionID)
			return true, nil
		}
		return false, errors.Errorf("region %d not exists but not tombstone: %s", regionID, localState)
	}
	log.Debugf("[msg] store=%d region=%d is a tombstone: %s", sw.id, regionID, localState)
	region := localState.Region
	regionEpoch := region.RegionEpoch
	// This store destroyed its peer of the region: tell a sender from an
	// older epoch that its own peer is gone too.
	if util.IsEpochStale(fromEpoch, regionEpoch) {
		log.Infof("[msg] store=%d region=%d tombstone (epoch %s) got stale %s", sw.id, regionID, regionEpoch, msgType)
		notExist := util.FindPeer(region, fromStoreID) == nil
		handleStaleMsg(sw.trans, msg, regionEpoch, isVoteMsg && notExist)
		return true, nil
	}
	if fromEpoch.ConfVer == regionEpoch.ConfVer {
		// Sent by a peer that knew the membership this store's peer had
		// when it was destroyed: a message that waited in the network
		// (a restarted store gets hundreds). Nothing to do.
		log.Debugf("[msg] store=%d region=%d tombstone (epoch %s) dropped %s from a peer at its conf_ver",
			sw.id, regionID, regionEpoch, msgType)
		return true, nil
	}
	return false, nil
}

// onRaftMessage handles a message for a region this store has no peer of:
// it may create the peer.
func (sw *storeWorker) onRaftMessage(msg *raft_serverpb.RaftMessage) error {
	regionID := msg.RegionId
	if err := sw.router.send(regionID, message.Msg{Type: message.MsgTypeRaftMessage, Data: msg}); err == nil {
		return nil
	}
	log.Debugf("[msg] store=%d handle raft message. from_peer:%d, to_peer:%d, store:%d, region:%d, msg:%+v",
		sw.id, msg.FromPeer.Id, msg.ToPeer.Id, sw.store.Id, regionID, msg.Message)
	if msg.ToPeer.StoreId != sw.store.Id {
		log.Warnf("[msg] store=%d message for store %d, ignore it", sw.id, msg.ToPeer.StoreId)
		return nil
	}

	if msg.RegionEpoch == nil {
		log.Errorf("[msg] store=%d missing region epoch in raft message, ignore it", sw.id)
		return nil
	}
	if msg.IsTombstone {
		// A peer that does not exist here needs no destroying.
		return nil
	}
	ok, err := sw.checkMsg(msg)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	created, err := sw.maybeCreatePeer(regionID, msg)
	if err != nil {
		return err
	}
	if !created {
		return nil
	}
	_ = sw.router.send(regionID, message.Msg{Type: message.MsgTypeRaftMessage, Data: msg})
	return nil
}

// maybeCreatePeer creates a peer for the region if msg may create one and
// its range is free on this store; it reports whether the peer now exists.
func (sw *storeWorker) maybeCreatePeer(regionID uint64, msg *raft_serverpb.RaftMessage) (bool, error) {
	meta := sw.storeMeta
	meta.Lock()
	defer meta.Unlock()
	if _, ok := meta.regions[regionID]; ok {
		return true, nil
	}
	if !util.IsInitialMsg(msg.Message) {
		log.Debugf("[msg] store=%d region=%d peer %d does not exist", sw.id, regionID, msg.ToPeer.Id)
		return false, nil
	}

	for _, region := range meta.getOverlapRegions(&metapb.Region{
		StartKey: msg.StartKey,
		EndKey:   msg.EndKey,
	}) {
		log.Debugf("[msg] store=%d region=%d overlaps region %d, not created", sw.id, regionID, region.Id)
		if util.IsFirstVoteMessage(msg.Message) {
			meta.addPendingVote(msg)
		}
		return false, nil
	}

	peer, err := replicatePeer(sw.GlobalContext, regionID, msg.ToPeer)
	if err != nil {
		return false, err
	}
	// The peer has no range until a snapshot gives it one: keep it out of
	// regionRanges, but known by id.
	meta.regions[regionID] = peer.Region()
	sw.router.register(peer)
	_ = sw.router.send(regionID, message.Msg{Type: message.MsgTypeStart})
	return true, nil
}

// storeHeartbeatStats collects what the store reports to the scheduler.
func (sw *storeWorker) storeHeartbeatStats() *schedulerpb.StoreStats {
	stats := new(schedulerpb.StoreStats)
	stats.StoreId = sw.store.Id
	sw.storeMeta.RLock()
	stats.RegionCount = uint32(len(sw.storeMeta.regions))
	sw.storeMeta.RUnlock()
	stats.SendingSnapCount, stats.ReceivingSnapCount = sw.snapMgr.Stats()
	return stats
}

func (sw *storeWorker) onSchedulerStoreHeartbeatTick() {
	sw.schedulerTaskSender <- &runner.SchedulerStoreHeartbeatTask{
		Stats:   sw.storeHeartbeatStats(),
		DataDir: filepath.Dir(sw.engine.KvPath),
	}
}

// onSnapMgrGC asks each peer whether its snapshot files are still needed.
func (sw *storeWorker) onSnapMgrGC() {
	keys, err := sw.snapMgr.ListIdleSnap()
	if err != nil {
		log.Errorf("[snap] store=%d list snapshots failed: %v", sw.id, err)
		return
	}
	if len(keys) == 0 {
		return
	}
	var regionID uint64
	var regionKeys []snap.SnapKeyWithSending
	for _, pair := range keys {
		key := pair.SnapKey
		if regionID == 0 {
			regionID = key.RegionID
		} else if key.RegionID != regionID {
			sw.sendGCSnap(regionID, regionKeys)
			regionKeys = nil
			regionID = key.RegionID
		}
		regionKeys = append(regionKeys, pair)
	}
	sw.sendGCSnap(regionID, regionKeys)
}

// sendGCSnap hands the peer of regionID its idle snapshot files to judge;
// files of regions without a peer here are deleted at once.
func (sw *storeWorker) sendGCSnap(regionID uint64, keys []snap.SnapKeyWithSending) {
	gcSnap := message.Msg{Type: message.MsgTypeGcSnap, Data: &message.MsgGCSnap{Snaps: keys}}
	if sw.router.send(regionID, gcSnap) == nil {
		return
	}
	for _, key := range keys {
		if err := sw.snapMgr.DeleteSnapshot(key.SnapKey, key.IsSending); err != nil {
			log.Warnf("[snap] store=%d delete orphan snapshot %s failed: %v", sw.id, key.SnapKey, err)
		}
	}
}

// handleStaleMsg tells the sender of a stale message that its peer is gone.
func handleStaleMsg(trans Transport, msg *raft_serverpb.RaftMessage, curEpoch *metapb.RegionEpoch,
	needGC bool) {
	regionID := msg.RegionId
	fromPeer := msg.FromPeer
	toPeer := msg.ToPeer
	msgType := msg.Message.GetMsgType()

	if !needGC {
		log.Infof("[msg] region=%d stale %s (current epoch %v), ignored", regionID, msgType, curEpoch)
		return
	}
	gcMsg := &raft_serverpb.RaftMessage{
		RegionId:    regionID,
		FromPeer:    toPeer,
		ToPeer:      fromPeer,
		RegionEpoch: curEpoch,
		IsTombstone: true,
	}
	if err := trans.Send(gcMsg); err != nil {
		log.Errorf("[msg] region=%d sending a tombstone message failed: %v", regionID, err)
	}
}
