package raftstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
)

// raftWorker drives every peer of the store on one goroutine: it takes the
// messages waiting for peers, hands each to its peer, then lets every peer
// that got a message handle its Ready once. Batching like this persists
// and sends the work of many messages in one Ready per peer.
type raftWorker struct {
	pr *router

	// raftCh receives all the peer messages of the store.
	raftCh chan message.Msg
	ctx    *GlobalContext
}

func newRaftWorker(ctx *GlobalContext, pm *router) *raftWorker {
	return &raftWorker{
		raftCh: pm.peerSender,
		ctx:    ctx,
		pr:     pm,
	}
}

// maxBatchedMsgs bounds one round, so Ready handling is never starved by a
// flood of messages.
const maxBatchedMsgs = 4096

// run loops until closeCh is closed.
func (rw *raftWorker) run(closeCh <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	var msgs []message.Msg
	for {
		msgs = msgs[:0]
		select {
		case <-closeCh:
			return
		case msg := <-rw.raftCh:
			msgs = append(msgs, msg)
		}
		pending := len(rw.raftCh)
		if pending > maxBatchedMsgs {
			pending = maxBatchedMsgs
		}
		for i := 0; i < pending; i++ {
			msgs = append(msgs, <-rw.raftCh)
		}
		metrics.RaftRound(len(msgs))
		peerStateMap := make(map[uint64]*peerState)
		for _, msg := range msgs {
			peerState := rw.getPeerState(peerStateMap, msg.RegionID)
			if peerState == nil {
				// The peer was destroyed after the message was queued: a
				// command must still be answered.
				if cmd, ok := msg.Data.(*message.MsgRaftCmd); ok {
					notifyReqRegionRemoved(msg.RegionID, cmd.Callback)
				}
				continue
			}
			newPeerMsgHandler(peerState.peer, rw.ctx).HandleMsg(msg)
		}
		for _, peerState := range peerStateMap {
			start := time.Now()
			newPeerMsgHandler(peerState.peer, rw.ctx).HandleRaftReady()
			metrics.ReadyHandled(time.Since(start))
			if leads := peerState.peer.IsLeader(); leads != peerState.leader && atomic.LoadUint32(&peerState.closed) == 0 {
				peerState.leader = leads
				metrics.LeaderChanged(leads)
			}
		}
	}
}

func (rw *raftWorker) getPeerState(peersMap map[uint64]*peerState, regionID uint64) *peerState {
	peer, ok := peersMap[regionID]
	if !ok {
		peer = rw.pr.get(regionID)
		if peer == nil {
			return nil
		}
		peersMap[regionID] = peer
	}
	return peer
}
