package raftstore

import (
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// A peer usually learns of its removal from its region's other peers: it
// applies the conf change that removes it, or, removed while cut off, it
// campaigns and the peers it asks for votes tell it (checkMessage). Two
// kinds of peer hear from neither. One was removed while its store was
// down, and every peer it knows left the region too. The other was
// created, without data, by a message that reached its store after its
// removal (one that waited in a sender's queue while the store was down):
// it knows no peers and never campaigns. Each would stay forever, holding
// its range and counting as a region of the store.
//
// So a follower that has heard from no leader for MaxLeaderMissingDuration
// asks the scheduler for its region, and destroys itself if the region's
// membership moved past it: a conf_ver newer than any at which it was a
// member, and its peer id not among the peers. Tests add a removed peer id
// back to its store; the peer then hears of the newer conf_ver from the
// messages it gets as a member again, and so it is kept.

// noteMessage records what msg, just stepped, tells: that its sender
// listed this peer at the message's conf_ver (a message only a member
// gets), and that the leader of the peer's current term is there.
func (d *peerMsgHandler) noteMessage(msg *raft_serverpb.RaftMessage) {
	switch msg.GetMessage().GetMsgType() {
	case eraftpb.MessageType_MsgAppend, eraftpb.MessageType_MsgHeartbeat, eraftpb.MessageType_MsgSnapshot:
		if msg.GetMessage().GetTerm() == d.RaftGroup.Raft.Term {
			d.quietSince = time.Now()
		}
	case eraftpb.MessageType_MsgRequestVote, eraftpb.MessageType_MsgTimeoutNow:
	default:
		return
	}
	d.memberConfVer = max(d.memberConfVer, msg.GetRegionEpoch().GetConfVer())
}

// askIfRemovedWhenQuiet asks the scheduler for the region of a follower
// that heard from no leader for MaxLeaderMissingDuration, at most once in
// that time; the store asks one question at a time (a store cut off from
// the scheduler must not fill the scheduler worker's queue).
func (d *peerMsgHandler) askIfRemovedWhenQuiet() {
	now := time.Now()
	quiet := now.Sub(d.quietSince)
	if quiet < maxLeaderMissing(d.ctx.cfg) || !d.ctx.askingScheduler.CompareAndSwap(false, true) {
		return
	}
	log.Infof("[conf] %s heard from no leader for %v, asking the scheduler whether it is still a member",
		d.Tag, quiet.Round(time.Millisecond))
	d.quietSince = now
	d.ctx.schedulerTaskSender <- &runner.SchedulerRegionTask{
		RegionID: d.regionId, AskedAt: now,
		Done: func() { d.ctx.askingScheduler.Store(false) },
	}
}

// maxLeaderMissing is cfg.MaxLeaderMissingDuration, but no shorter than
// two of the longest election timeouts (twice the base one): a region may
// go that long without a leader in an ordinary election.
func maxLeaderMissing(cfg *config.Config) time.Duration {
	longestElection := 2 * time.Duration(cfg.RaftElectionTimeoutTicks) * cfg.RaftBaseTickInterval
	return max(cfg.MaxLeaderMissingDuration, 2*longestElection)
}

// onSchedulerRegion destroys the peer if the scheduler's region, the
// answer to its question, no longer has it. The answer counts only if the
// peer heard from no leader since it asked: a peer removed and added again
// with the same id (tests do that) hears from its leader again.
func (d *peerMsgHandler) onSchedulerRegion(answer *message.MsgSchedulerRegion) {
	if d.stopped || d.IsLeader() || !d.quietSince.Equal(answer.AskedAt) {
		return
	}
	region := answer.Region
	memberAt := d.memberConfVer
	if d.isInitialized() {
		memberAt = max(memberAt, d.Region().GetRegionEpoch().GetConfVer())
	}
	if region.GetRegionEpoch().GetConfVer() <= memberAt {
		return
	}
	for _, p := range region.GetPeers() {
		if p.GetId() == d.PeerId() {
			return
		}
	}
	if d.MaybeDestroy() {
		log.Infof("[conf] %s is not in the scheduler's region (epoch %s, peers %v): removed at a conf_ver after %d, destroying",
			d.Tag, region.GetRegionEpoch(), region.GetPeers(), memberAt)
		d.destroyPeer()
	}
}
