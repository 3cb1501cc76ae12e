package raftstore

import (
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// newSplitTestStore is the context of store 1 with fresh engines and no
// running workers; its queues are buffered so that nothing blocks.
func newSplitTestStore(t *testing.T) *GlobalContext {
	t.Helper()
	engines := util.NewTestEngines()
	t.Cleanup(func() {
		if err := engines.Destroy(); err != nil {
			t.Errorf("destroy engines: %v", err)
		}
	})
	tasks := func() chan worker.Task { return make(chan worker.Task, 64) }
	return &GlobalContext{
		cfg:                  config.NewTestConfig(),
		engine:               engines,
		store:                &metapb.Store{Id: 1},
		storeMeta:            newStoreMeta(),
		router:               newRouter(make(chan message.Msg, 64)),
		schedulerTaskSender:  tasks(),
		regionTaskSender:     tasks(),
		snapGenTaskSender:    tasks(),
		raftLogGCTaskSender:  tasks(),
		splitCheckTaskSender: tasks(),
		tickDriverSender:     make(chan uint64, 64),
	}
}

// addTestPeer creates and registers the store's peer of region, written
// to kvdb as a live region that applied up to the initial index.
func addTestPeer(t *testing.T, ctx *GlobalContext, region *metapb.Region) *peer {
	t.Helper()
	kvWB := new(engine_util.WriteBatch)
	meta.WriteRegionState(kvWB, region, raft_serverpb.PeerState_Normal)
	if err := writeInitialApplyState(kvWB, region.Id); err != nil {
		t.Fatal(err)
	}
	kvWB.MustWriteToDB(ctx.engine.Kv)
	p, err := createPeer(ctx, region)
	if err != nil {
		t.Fatalf("create the peer of region %d: %v", region.Id, err)
	}
	ctx.router.register(p)
	ctx.storeMeta.regions[region.Id] = region
	ctx.storeMeta.regionRanges.ReplaceOrInsert(regionItem{region: region})
	return p
}

// addEmptyTestPeer creates and registers a peer of regionID as a message
// from another store would: no range, waiting for a snapshot.
func addEmptyTestPeer(t *testing.T, ctx *GlobalContext, regionID uint64, peerMeta *metapb.Peer) *peer {
	t.Helper()
	p, err := replicatePeer(ctx, regionID, peerMeta)
	if err != nil {
		t.Fatalf("create the empty peer of region %d: %v", regionID, err)
	}
	ctx.router.register(p)
	ctx.storeMeta.regions[regionID] = p.Region()
	return p
}

// A faster store's vote created an empty peer of the new region here
// before this store applied the split: the split takes it over (keeping
// the vote it cast), and the store ends up with exactly one peer of the
// new region, initialized, which gets the votes kept for it.
func TestSplitTakesOverAnUninitializedPeer3B(t *testing.T) {
	ctx := newSplitTestStore(t)
	region := applyTestRegion()
	left := addTestPeer(t, ctx, region)

	// The empty peer of region 10 voted for peer 12 in term 7.
	empty := addEmptyTestPeer(t, ctx, 10, &metapb.Peer{Id: 11, StoreId: 1})
	raftWB := new(engine_util.WriteBatch)
	voted := &raft_serverpb.RaftLocalState{HardState: &eraftpb.HardState{Term: 7, Vote: 12}}
	if err := raftWB.SetMeta(meta.RaftStateKey(10), voted); err != nil {
		t.Fatal(err)
	}
	raftWB.MustWriteToDB(ctx.engine.Raft)
	ctx.storeMeta.addPendingVote(&raft_serverpb.RaftMessage{RegionId: 10,
		Message: &eraftpb.Message{MsgType: eraftpb.MessageType_MsgRequestVote, Term: 8}})

	split := &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}
	newPeerMsgHandler(left, ctx).applyCommitted([]eraftpb.Entry{splitEntry(t, 6, region, split)})

	state := ctx.router.get(10)
	if state == nil || state.peer == empty {
		t.Fatalf("after the split, region 10's peer in the router is %v: expected a new peer replacing the empty one", state)
	}
	if !empty.stopped {
		t.Errorf("the empty peer of region 10 was not stopped: it could still write its raft state")
	}
	created := state.peer
	if !created.isInitialized() || created.PeerId() != 11 || string(created.Region().StartKey) != "m" {
		t.Fatalf("region 10's peer after the split: expected initialized peer 11 of [m, z), got %s region %v", created.Tag, created.Region())
	}
	if hs := created.RaftGroup.Raft; hs.Term != 7 || hs.Vote != 12 {
		t.Errorf("the vote cast by the empty peer was lost: expected term 7 vote 12, got term %d vote %d", hs.Term, hs.Vote)
	}
	if last := created.RaftGroup.Raft.RaftLog.LastIndex(); last != meta.RaftInitLogIndex {
		t.Errorf("the new peer's log: expected last index %d, got %d", meta.RaftInitLogIndex, last)
	}
	if got := ctx.storeMeta.regions[10]; got != created.Region() {
		t.Errorf("store meta's region 10 is %v, expected the new peer's %v", got, created.Region())
	}
	if got := ctx.storeMeta.getOverlapRegions(&metapb.Region{StartKey: []byte("a"), EndKey: []byte("z")}); len(got) != 2 {
		t.Errorf("store meta's ranges over [a, z): expected the two halves, got %v", got)
	}
	if len(ctx.storeMeta.pendingVotes) != 0 {
		t.Errorf("the vote kept for region 10 was not delivered: %v", ctx.storeMeta.pendingVotes)
	}
	delivered := false
	for len(ctx.router.peerSender) > 0 {
		msg := <-ctx.router.peerSender
		if msg.RegionID == 10 && msg.Type == message.MsgTypeRaftMessage {
			delivered = true
		}
	}
	if !delivered {
		t.Errorf("no raft message queued for region 10's new peer: the kept vote was dropped")
	}
}

// A command queued for a peer that is destroyed before the raft worker
// takes it, or in the same round, is answered RegionNotFound: its client
// must not wait forever.
func TestCommandForADestroyedPeerIsAnswered(t *testing.T) {
	ctx := newSplitTestStore(t)
	notFound := func(what string, cb *message.Callback) {
		t.Helper()
		resp := cb.WaitRespWithTimeout(5 * time.Second)
		if resp == nil || resp.Header.Error == nil || resp.Header.Error.RegionNotFound == nil {
			t.Errorf("command %s: expected a RegionNotFound answer, got %v", what, resp)
		}
	}

	queued := message.NewCallback()
	ctx.router.peerSender <- message.NewPeerMsg(message.MsgTypeRaftCmd, 99,
		&message.MsgRaftCmd{Request: &raft_cmdpb.RaftCmdRequest{}, Callback: queued})
	closeCh, wg := make(chan struct{}), new(sync.WaitGroup)
	wg.Add(1)
	go newRaftWorker(ctx, ctx.router).run(closeCh, wg)
	notFound("queued for a region without a peer", queued)
	close(closeCh)
	wg.Wait()

	region := applyTestRegion()
	p, err := createPeer(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	p.stopped = true
	late := message.NewCallback()
	newPeerMsgHandler(p, ctx).proposeRaftCommand(&raft_cmdpb.RaftCmdRequest{
		Header: cmdHeader(region, region.RegionEpoch)}, late)
	notFound("for a peer destroyed in the same round", late)
	if len(p.proposals) != 0 {
		t.Errorf("a destroyed peer kept a proposal: %v", p.proposals)
	}
}
