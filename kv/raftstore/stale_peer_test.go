//lab:file 3B

package raftstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// staleTestRegion is region 1 of stores 1, 2 and 3 at conf_ver.
func staleTestRegion(confVer uint64) *metapb.Region {
	return &metapb.Region{
		Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: 1},
		Peers: []*metapb.Peer{{Id: 1, StoreId: 1}, {Id: 2, StoreId: 2}, {Id: 3, StoreId: 3}},
	}
}

// withoutStore1 is the scheduler's region 1 at conf_ver, its peer on store
// 1 replaced by one on store 4.
func withoutStore1(confVer uint64) *metapb.Region {
	r := staleTestRegion(confVer)
	r.Peers[0] = &metapb.Peer{Id: 9, StoreId: 4}
	return r
}

// A follower that heard from no leader for MaxLeaderMissingDuration asks
// the scheduler once, and again only after as long again.
func TestQuietFollowerAsksTheSchedulerOnce(t *testing.T) {
	ctx := newSplitTestStore(t)
	tasks := make(chan worker.Task, 8)
	ctx.schedulerTaskSender = tasks
	p := addTestPeer(t, ctx, staleTestRegion(3))
	d := newPeerMsgHandler(p, ctx)
	asked := func(regionID uint64) int {
		n := 0
		for {
			select {
			case task := <-tasks:
				if rt, ok := task.(*runner.SchedulerRegionTask); !ok || rt.RegionID != regionID {
					t.Fatalf("the peer sent the scheduler worker %#v, want a SchedulerRegionTask for region %d", task, regionID)
				}
				n++
			default:
				return n
			}
		}
	}

	d.askIfRemovedWhenQuiet()
	if n := asked(1); n != 0 {
		t.Fatalf("a peer that just started asked the scheduler %d times, want 0", n)
	}
	// However short the setting, an election's length of quiet is normal.
	setting := ctx.cfg.MaxLeaderMissingDuration
	ctx.cfg.MaxLeaderMissingDuration = 0
	longestElection := 2 * time.Duration(ctx.cfg.RaftElectionTimeoutTicks) * ctx.cfg.RaftBaseTickInterval
	d.quietSince = time.Now().Add(-longestElection - time.Millisecond)
	d.askIfRemovedWhenQuiet()
	if n := asked(1); n != 0 {
		t.Fatalf("with max-leader-missing-duration 0, a follower quiet for one longest election timeout (%v) asked the scheduler %d times, want 0", longestElection, n)
	}
	ctx.cfg.MaxLeaderMissingDuration = setting

	d.quietSince = time.Now().Add(-ctx.cfg.MaxLeaderMissingDuration - time.Second)
	d.askIfRemovedWhenQuiet()
	d.askIfRemovedWhenQuiet()
	if n := asked(1); n != 1 {
		t.Fatalf("a follower quiet for longer than %v asked the scheduler %d times in two ticks, want 1", ctx.cfg.MaxLeaderMissingDuration, n)
	}

	// One question at a time per store: another quiet peer waits for the
	// first question to be over.
	other := staleTestRegion(3)
	other.Id, other.StartKey = 2, []byte("m")
	other.Peers = []*metapb.Peer{{Id: 21, StoreId: 1}, {Id: 22, StoreId: 2}, {Id: 23, StoreId: 3}}
	first := d
	d = newPeerMsgHandler(addTestPeer(t, ctx, other), ctx)
	d.quietSince = first.quietSince.Add(-ctx.cfg.MaxLeaderMissingDuration - time.Second)
	d.askIfRemovedWhenQuiet()
	if n := asked(2); n != 0 {
		t.Fatalf("a second quiet peer asked the scheduler %d times while the first one's question was not over, want 0", n)
	}
	ctx.askingScheduler.Store(false)
	d.askIfRemovedWhenQuiet()
	if n := asked(2); n != 1 {
		t.Fatalf("a second quiet peer asked the scheduler %d times once the first question was over, want 1", n)
	}

	// A heartbeat of the current term is the leader; an older term's is not.
	d.quietSince = time.Time{}
	d.noteMessage(&raft_serverpb.RaftMessage{Message: &eraftpb.Message{MsgType: eraftpb.MessageType_MsgHeartbeat, Term: p.RaftGroup.Raft.Term - 1}})
	if !d.quietSince.IsZero() {
		t.Fatalf("a heartbeat of term %d (the peer is at %d) counted as the leader's", p.RaftGroup.Raft.Term-1, p.RaftGroup.Raft.Term)
	}
	d.noteMessage(&raft_serverpb.RaftMessage{Message: &eraftpb.Message{MsgType: eraftpb.MessageType_MsgHeartbeat, Term: p.RaftGroup.Raft.Term}})
	if d.quietSince.IsZero() {
		t.Fatalf("a heartbeat of the peer's term %d did not count as the leader's", p.RaftGroup.Raft.Term)
	}
}

// The scheduler's answer destroys the peer only when the region's
// membership moved past it: a newer conf_ver without its id, and no leader
// heard from since it asked.
func TestSchedulerAnswerDestroysOnlyARemovedPeer(t *testing.T) {
	askedAt := time.Now()
	for _, c := range []struct {
		name      string
		empty     bool // created by a heartbeat at conf_ver 3, no data
		alone     bool // the only peer of its region: the leader
		memberAt  uint64
		scheduler *metapb.Region
		heard     bool // heard from a leader since it asked
		destroyed bool
	}{
		{name: "still listed at a newer conf_ver", scheduler: staleTestRegion(5)},
		{name: "not listed, same conf_ver", scheduler: withoutStore1(3)},
		{name: "not listed, but a leader was heard since", scheduler: withoutStore1(4), heard: true},
		{name: "not listed at a newer conf_ver", scheduler: withoutStore1(4), destroyed: true},
		{name: "not listed at conf_ver 4, but a member at 4 (its id added back)", memberAt: 4, scheduler: withoutStore1(4)},
		{name: "the leader", alone: true, scheduler: withoutStore1(4)},
		{name: "empty peer, not listed at its creation's conf_ver", empty: true, scheduler: withoutStore1(3)},
		{name: "empty peer, not listed at a newer conf_ver", empty: true, scheduler: withoutStore1(4), destroyed: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := newSplitTestStore(t)
			var p *peer
			switch {
			case c.empty:
				p = addEmptyTestPeer(t, ctx, 1, &metapb.Peer{Id: 1, StoreId: 1})
			case c.alone:
				region := staleTestRegion(3)
				region.Peers = region.Peers[:1]
				p = addTestPeer(t, ctx, region)
				if !p.IsLeader() {
					t.Fatalf("the only peer of region %v is not its leader", region)
				}
			default:
				p = addTestPeer(t, ctx, staleTestRegion(3))
			}
			d := newPeerMsgHandler(p, ctx)
			member := func(confVer uint64) {
				d.noteMessage(&raft_serverpb.RaftMessage{
					Message:     &eraftpb.Message{MsgType: eraftpb.MessageType_MsgHeartbeat},
					RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: 1},
				})
			}
			if c.empty {
				member(3)
			}
			if c.memberAt > 0 {
				member(c.memberAt)
			}
			d.quietSince = askedAt
			if c.heard {
				d.quietSince = askedAt.Add(time.Second)
			}
			d.HandleMsg(message.NewPeerMsg(message.MsgTypeSchedulerRegion, 1, &message.MsgSchedulerRegion{Region: c.scheduler, AskedAt: askedAt}))
			_, stillRouted := ctx.storeMeta.regions[1]
			if got := fmt.Sprintf("stopped=%v routed=%v", p.stopped, stillRouted); got != fmt.Sprintf("stopped=%v routed=%v", c.destroyed, !c.destroyed) {
				t.Fatalf("peer 1 (conf_ver 3, empty=%v) got the scheduler's region %v: %s, want destroyed=%v",
					c.empty, c.scheduler, got, c.destroyed)
			}
		})
	}
}
