package raftstore

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/raft"
)

const applyTestTerm = 6

// applyTestRegion is region 1, [a, z), peers 1..3 on stores 1..3.
func applyTestRegion() *metapb.Region {
	return &metapb.Region{
		Id:          1,
		StartKey:    []byte("a"),
		EndKey:      []byte("z"),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 1},
		Peers:       []*metapb.Peer{{Id: 1, StoreId: 1}, {Id: 2, StoreId: 2}, {Id: 3, StoreId: 3}},
	}
}

// newApplyTestContext is the context of peer 1 of region, which applied up
// to the initial index; the engines are destroyed after the test.
func newApplyTestContext(t *testing.T, region *metapb.Region) *applyContext {
	t.Helper()
	engines := util.NewTestEngines()
	t.Cleanup(func() {
		if err := engines.Destroy(); err != nil {
			t.Errorf("destroy engines: %v", err)
		}
	})
	return &applyContext{
		tag:     "test",
		peerID:  1,
		term:    applyTestTerm,
		engines: engines,
		region:  region,
		applyState: &raft_serverpb.RaftApplyState{
			AppliedIndex:   meta.RaftInitLogIndex,
			TruncatedState: &raft_serverpb.RaftTruncatedState{Index: meta.RaftInitLogIndex, Term: meta.RaftInitLogTerm},
		},
		proposals: new(proposalQueue),
	}
}

// waitingProposal records a proposal waiting for the entry at index.
func waitingProposal(ctx *applyContext, index uint64) *message.Callback {
	cb := message.NewCallback()
	*ctx.proposals = append(*ctx.proposals, &proposal{index: index, term: applyTestTerm, cb: cb})
	return cb
}

func cmdHeader(region *metapb.Region, epoch *metapb.RegionEpoch) *raft_cmdpb.RaftRequestHeader {
	return &raft_cmdpb.RaftRequestHeader{RegionId: region.Id, RegionEpoch: proto.Clone(epoch).(*metapb.RegionEpoch)}
}

func confChangeEntry(t *testing.T, index uint64, region *metapb.Region, epoch *metapb.RegionEpoch,
	changeType eraftpb.ConfChangeType, peer *metapb.Peer) eraftpb.Entry {
	t.Helper()
	req := &raft_cmdpb.RaftCmdRequest{
		Header: cmdHeader(region, epoch),
		AdminRequest: &raft_cmdpb.AdminRequest{
			CmdType:    raft_cmdpb.AdminCmdType_ChangePeer,
			ChangePeer: &raft_cmdpb.ChangePeerRequest{ChangeType: changeType, Peer: peer},
		},
	}
	context, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	data, err := (&eraftpb.ConfChange{ChangeType: changeType, NodeId: peer.Id, Context: context}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return eraftpb.Entry{EntryType: eraftpb.EntryType_EntryConfChange, Term: applyTestTerm, Index: index, Data: data}
}

func commandEntry(t *testing.T, index uint64, req *raft_cmdpb.RaftCmdRequest) eraftpb.Entry {
	t.Helper()
	data, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return eraftpb.Entry{Term: applyTestTerm, Index: index, Data: data}
}

func putEntry(t *testing.T, index uint64, region *metapb.Region, epoch *metapb.RegionEpoch, key string) eraftpb.Entry {
	return commandEntry(t, index, &raft_cmdpb.RaftCmdRequest{
		Header: cmdHeader(region, epoch),
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Put,
			Put: &raft_cmdpb.PutRequest{Cf: engine_util.CfDefault, Key: []byte(key), Value: []byte("v")}}},
	})
}

func snapEntry(t *testing.T, index uint64, region *metapb.Region, epoch *metapb.RegionEpoch) eraftpb.Entry {
	return commandEntry(t, index, &raft_cmdpb.RaftCmdRequest{
		Header:   cmdHeader(region, epoch),
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Snap, Snap: &raft_cmdpb.SnapRequest{}}},
	})
}

func splitEntry(t *testing.T, index uint64, region *metapb.Region, split *raft_cmdpb.SplitRequest) eraftpb.Entry {
	return commandEntry(t, index, &raft_cmdpb.RaftCmdRequest{
		Header:       cmdHeader(region, region.RegionEpoch),
		AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_Split, Split: split},
	})
}

func storedRegionState(t *testing.T, ctx *applyContext, regionID uint64) *raft_serverpb.RegionLocalState {
	t.Helper()
	state, err := meta.GetRegionLocalState(ctx.engines.Kv, regionID)
	if err != nil {
		t.Fatalf("region state of %d: %v", regionID, err)
	}
	return state
}

func storedAppliedIndex(t *testing.T, ctx *applyContext, regionID uint64) uint64 {
	t.Helper()
	state, err := meta.GetApplyState(ctx.engines.Kv, regionID)
	if err != nil {
		t.Fatalf("apply state of %d: %v", regionID, err)
	}
	return state.AppliedIndex
}

func respError(cb *message.Callback) string {
	resp := cb.WaitResp()
	if resp == nil || resp.Header == nil || resp.Header.Error == nil {
		return ""
	}
	return resp.Header.Error.String()
}

// The scheduler repeats an order until it sees it done: the second time it
// must change nothing, and an order of an old epoch is refused at apply.
func TestApplyConfChangeTakesEffectOnce3B(t *testing.T) {
	region := applyTestRegion()
	ctx := newApplyTestContext(t, region)
	newPeer := &metapb.Peer{Id: 4, StoreId: 4}
	afterEpoch := &metapb.RegionEpoch{ConfVer: 4, Version: 1}
	cbFirst, cbRepeat, cbStale := waitingProposal(ctx, 6), waitingProposal(ctx, 7), waitingProposal(ctx, 8)
	results := newApplier(ctx).applyEntries([]eraftpb.Entry{
		confChangeEntry(t, 6, region, region.RegionEpoch, eraftpb.ConfChangeType_AddNode, newPeer),
		confChangeEntry(t, 7, region, afterEpoch, eraftpb.ConfChangeType_AddNode, newPeer),
		confChangeEntry(t, 8, region, region.RegionEpoch, eraftpb.ConfChangeType_AddNode, newPeer),
	})

	if len(results) != 1 {
		t.Fatalf("the same AddNode applied three times: expected one exec result, got %d: %v", len(results), results)
	}
	cp, ok := results[0].(*execChangePeer)
	if !ok || cp.changeType != eraftpb.ConfChangeType_AddNode || cp.peer.Id != 4 || cp.confChange.NodeId != 4 {
		t.Fatalf("expected execChangePeer adding peer 4, got %#v", results[0])
	}
	if got := cp.region.RegionEpoch; got.ConfVer != 4 || got.Version != 1 || len(cp.region.Peers) != 4 {
		t.Fatalf("region after adding peer 4: expected conf_ver 4, version 1, 4 peers, got epoch %s peers %v", got, cp.region.Peers)
	}
	if ctx.region != cp.region {
		t.Errorf("the context's region is not the changed one: %v", ctx.region)
	}
	if region.RegionEpoch.ConfVer != 3 || len(region.Peers) != 3 {
		t.Errorf("the region of before the change was modified in place: %v", region)
	}
	state := storedRegionState(t, ctx, 1)
	if state.State != raft_serverpb.PeerState_Normal || !proto.Equal(state.Region, cp.region) {
		t.Errorf("stored region state: expected Normal %v, got %s %v", cp.region, state.State, state.Region)
	}
	if got := storedAppliedIndex(t, ctx, 1); got != 8 {
		t.Errorf("stored applied index: expected 8, got %d", got)
	}
	if e := respError(cbFirst); e != "" {
		t.Errorf("first AddNode answered with error %s", e)
	} else if r := cbFirst.Resp.AdminResponse.GetChangePeer().GetRegion(); r == nil || len(r.Peers) != 4 {
		t.Errorf("first AddNode: expected the new region in the response, got %v", cbFirst.Resp)
	}
	if e := respError(cbRepeat); e != "" {
		t.Errorf("repeated AddNode (already in effect) answered with error %s", e)
	}
	if e := respError(cbStale); !bytes.Contains([]byte(e), []byte("epoch_not_match")) {
		t.Errorf("AddNode of the old epoch: expected EpochNotMatch, got %q", e)
	}
}

// A peer that applies its own removal applies nothing after it.
func TestApplyOwnRemovalStopsTheBatch3B(t *testing.T) {
	region := applyTestRegion()
	ctx := newApplyTestContext(t, region)
	after := &metapb.RegionEpoch{ConfVer: 4, Version: 1}
	a := newApplier(ctx)
	results := a.applyEntries([]eraftpb.Entry{
		confChangeEntry(t, 6, region, region.RegionEpoch, eraftpb.ConfChangeType_RemoveNode, &metapb.Peer{Id: 1, StoreId: 1}),
		putEntry(t, 7, region, after, "k"),
	})
	if !a.stopped || len(results) != 1 {
		t.Fatalf("removing itself: expected the applier stopped with one result, got stopped=%v results %v", a.stopped, results)
	}
	if cp := results[0].(*execChangePeer); util.FindPeer(cp.region, 1) != nil || cp.region.RegionEpoch.ConfVer != 4 {
		t.Errorf("region after removing peer 1: %v", cp.region)
	}
	if got := storedAppliedIndex(t, ctx, 1); got != 6 {
		t.Errorf("stored applied index: expected 6 (nothing after the removal), got %d", got)
	}
	if v, _ := engine_util.GetCF(ctx.engines.Kv, engine_util.CfDefault, []byte("k")); v != nil {
		t.Errorf("the write after the removal was applied")
	}
}

// Compacting the log is the peer's to finish: the applier returns it.
func TestApplyCompactLogReturnsExecResult2C(t *testing.T) {
	region := applyTestRegion()
	ctx := newApplyTestContext(t, region)
	compact := newCompactLogRequest(1, region.Peers[0], 6, applyTestTerm)
	results := newApplier(ctx).applyEntries([]eraftpb.Entry{
		putEntry(t, 6, region, region.RegionEpoch, "k"),
		commandEntry(t, 7, compact),
	})
	if len(results) != 1 {
		t.Fatalf("compact log: expected one exec result, got %v", results)
	}
	if r, ok := results[0].(*execCompactLog); !ok || r.truncatedIndex != 6 {
		t.Fatalf("expected execCompactLog up to 6, got %#v", results[0])
	}
	state, err := meta.GetApplyState(ctx.engines.Kv, 1)
	if err != nil || state.TruncatedState.Index != 6 || state.TruncatedState.Term != applyTestTerm {
		t.Fatalf("stored truncated state: expected 6/%d, got %v (%v)", applyTestTerm, state, err)
	}
}

func TestApplySplitRefusesBadRequests3B(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split *raft_cmdpb.SplitRequest
		want  string
	}{
		{"key before the region", &raft_cmdpb.SplitRequest{SplitKey: []byte("0"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}, "key_not_in_region"},
		{"key at the region's end", &raft_cmdpb.SplitRequest{SplitKey: []byte("z"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}, "key_not_in_region"},
		{"key at the region's start", &raft_cmdpb.SplitRequest{SplitKey: []byte("a"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}, "start key"},
		{"no key", &raft_cmdpb.SplitRequest{NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}, "empty split key"},
		{"too few peer ids", &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: 10, NewPeerIds: []uint64{11, 12}}, "new peer ids"},
		{"repeated peer id", &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: 10, NewPeerIds: []uint64{11, 11, 13}}, "new peer ids"},
		{"no new region id", &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewPeerIds: []uint64{11, 12, 13}}, "new region id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			region := applyTestRegion()
			ctx := newApplyTestContext(t, region)
			cb := waitingProposal(ctx, 6)
			results := newApplier(ctx).applyEntries([]eraftpb.Entry{splitEntry(t, 6, region, tc.split)})
			if len(results) != 0 || ctx.region != region {
				t.Fatalf("split %v: expected it refused, got results %v, region %v", tc.split, results, ctx.region)
			}
			if e := respError(cb); !bytes.Contains([]byte(e), []byte(tc.want)) {
				t.Errorf("split %v: expected an error mentioning %q, got %q", tc.split, tc.want, e)
			}
			if _, err := meta.GetRegionLocalState(ctx.engines.Kv, 10); err == nil {
				t.Errorf("a refused split wrote a state for region 10")
			}
		})
	}
}

// After a split, later commands of the same batch are checked against the
// shrunk region: a write to the right half is refused, a Snap sees the left
// half only.
func TestApplySplitMakesBothHalves3B(t *testing.T) {
	region := applyTestRegion()
	ctx := newApplyTestContext(t, region)
	newEpoch := &metapb.RegionEpoch{ConfVer: 3, Version: 2}
	cbSplit, cbRight, cbLeft, cbSnap := waitingProposal(ctx, 6), waitingProposal(ctx, 7), waitingProposal(ctx, 8), waitingProposal(ctx, 9)
	split := &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}
	results := newApplier(ctx).applyEntries([]eraftpb.Entry{
		splitEntry(t, 6, region, split),
		putEntry(t, 7, region, newEpoch, "n"),
		putEntry(t, 8, region, newEpoch, "b"),
		snapEntry(t, 9, region, newEpoch),
	})
	if len(results) != 1 {
		t.Fatalf("split: expected one exec result, got %v", results)
	}
	r, ok := results[0].(*execSplit)
	if !ok || !r.createRight {
		t.Fatalf("expected execSplit creating the new region, got %#v", results[0])
	}
	wantLeft := &metapb.Region{Id: 1, StartKey: []byte("a"), EndKey: []byte("m"),
		RegionEpoch: newEpoch, Peers: region.Peers}
	wantRight := &metapb.Region{Id: 10, StartKey: []byte("m"), EndKey: []byte("z"), RegionEpoch: newEpoch,
		Peers: []*metapb.Peer{{Id: 11, StoreId: 1}, {Id: 12, StoreId: 2}, {Id: 13, StoreId: 3}}}
	if !proto.Equal(r.left, wantLeft) || !proto.Equal(r.right, wantRight) {
		t.Fatalf("split at m:\nexpected left  %v\n         right %v\ngot      left  %v\n         right %v", wantLeft, wantRight, r.left, r.right)
	}
	for _, want := range []*metapb.Region{wantLeft, wantRight} {
		if state := storedRegionState(t, ctx, want.Id); state.State != raft_serverpb.PeerState_Normal || !proto.Equal(state.Region, want) {
			t.Errorf("stored region state of %d: expected Normal %v, got %s %v", want.Id, want, state.State, state.Region)
		}
	}
	if got := storedAppliedIndex(t, ctx, 10); got != meta.RaftInitLogIndex {
		t.Errorf("new region's applied index: expected %d, got %d", meta.RaftInitLogIndex, got)
	}
	if e := respError(cbSplit); e != "" {
		t.Errorf("split answered with error %s", e)
	} else if regions := cbSplit.Resp.AdminResponse.GetSplit().GetRegions(); len(regions) != 2 {
		t.Errorf("split response: expected both regions, got %v", regions)
	}
	if e := respError(cbRight); !bytes.Contains([]byte(e), []byte("key_not_in_region")) {
		t.Errorf("put of n after the split (applied in the same batch): expected KeyNotInRegion, got %q", e)
	}
	if e := respError(cbLeft); e != "" {
		t.Errorf("put of b after the split: %s", e)
	}
	if e := respError(cbSnap); e != "" {
		t.Fatalf("snap after the split: %s", e)
	}
	defer cbSnap.Txn.Discard()
	if got := cbSnap.Resp.Responses[0].Snap.Region; !proto.Equal(got, wantLeft) {
		t.Errorf("snap after the split: expected the left half %v, got %v", wantLeft, got)
	}
}

// A new region this store already knows (created by a snapshot, or removed
// since) is left alone by a late split.
func TestApplySplitLeavesAKnownNewRegionAlone3B(t *testing.T) {
	region := applyTestRegion()
	ctx := newApplyTestContext(t, region)
	tombstone := &metapb.Region{Id: 10, RegionEpoch: &metapb.RegionEpoch{ConfVer: 5, Version: 2}}
	kvWB := new(engine_util.WriteBatch)
	meta.WriteRegionState(kvWB, tombstone, raft_serverpb.PeerState_Tombstone)
	kvWB.MustWriteToDB(ctx.engines.Kv)

	split := &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}}
	results := newApplier(ctx).applyEntries([]eraftpb.Entry{splitEntry(t, 6, region, split)})
	if len(results) != 1 {
		t.Fatalf("split: expected one exec result, got %v", results)
	}
	if r := results[0].(*execSplit); r.createRight {
		t.Errorf("split over a tombstone of the new region: expected createRight false")
	}
	if state := storedRegionState(t, ctx, 10); state.State != raft_serverpb.PeerState_Tombstone {
		t.Errorf("tombstone of region 10 overwritten by a late split: %s %v", state.State, state.Region)
	}
	if _, err := meta.GetApplyState(ctx.engines.Kv, 10); err == nil {
		t.Errorf("a late split wrote an apply state for the removed region 10")
	}
}

// The split checker must run again on a region its last writes carried
// over the maximum, however small they were.
func TestSplitCheckGate(t *testing.T) {
	size := func(n uint64) *uint64 { return &n }
	const split, max = 500, 800
	for _, tc := range []struct {
		approximate *uint64
		diff        uint64
		want        bool
	}{
		{nil, 0, true},
		{size(100), split / 8, true},
		{size(100), 10, false},
		{size(780), 30, true},
		{size(900), 0, true},
		{size(780), 20, false},
	} {
		if got := needSplitCheck(tc.approximate, tc.diff, split, max); got != tc.want {
			approx := "nil"
			if tc.approximate != nil {
				approx = fmt.Sprint(*tc.approximate)
			}
			t.Errorf("needSplitCheck(approximate %s, diff %d, split %d, max %d): expected %v, got %v",
				approx, tc.diff, split, max, tc.want, got)
		}
	}
}

// Snapshots are built on the generator worker when the store has one, so
// that an apply queued on the region worker never waits behind a build.
func TestSnapshotGeneratedOffTheRegionWorker(t *testing.T) {
	ps, _ := openStorageForTest(t)
	regionSched, genSched := make(chan worker.Task, 1), make(chan worker.Task, 1)
	ps.regionSched, ps.genSched = regionSched, genSched
	if _, err := ps.Snapshot(); err != raft.ErrSnapshotTemporarilyUnavailable {
		t.Fatalf("first Snapshot(): expected ErrSnapshotTemporarilyUnavailable, got %v", err)
	}
	select {
	case task := <-genSched:
		if _, ok := task.(*runner.RegionTaskGen); !ok {
			t.Errorf("generator worker got %T, expected a RegionTaskGen", task)
		}
	default:
		t.Errorf("no RegionTaskGen on the generator worker")
	}
	if len(regionSched) != 0 {
		t.Errorf("the region worker got %T: generation must not queue there", <-regionSched)
	}
}

// Votes for regions not created yet are kept in bounded number and handed
// out by region.
func TestPendingVotesAreBoundedAndTakenByRegion(t *testing.T) {
	m := newStoreMeta()
	for i := 0; i < maxPendingVotes+10; i++ {
		m.addPendingVote(&raft_serverpb.RaftMessage{RegionId: uint64(i%2 + 1)})
	}
	if len(m.pendingVotes) != maxPendingVotes {
		t.Fatalf("kept %d votes, expected at most %d", len(m.pendingVotes), maxPendingVotes)
	}
	taken := m.takePendingVotes(2)
	for _, v := range taken {
		if v.RegionId != 2 {
			t.Fatalf("votes taken for region 2 include one of region %d", v.RegionId)
		}
	}
	if len(taken) != maxPendingVotes/2 || len(m.pendingVotes) != maxPendingVotes/2 {
		t.Fatalf("took %d votes of region 2 and kept %d, expected %d each", len(taken), len(m.pendingVotes), maxPendingVotes/2)
	}
	for _, v := range m.pendingVotes {
		if v.RegionId != 1 {
			t.Fatalf("a vote of region %d was kept after taking region 2's", v.RegionId)
		}
	}
}

// A snapshot that covers a proposal's index, or comes with a newer term,
// means its entry will never be applied here: its client is answered.
func TestSnapshotAnswersTheProposalsItCovers(t *testing.T) {
	ctx := newApplyTestContext(t, applyTestRegion())
	covered := waitingProposal(ctx, 6)
	older := &proposal{index: 20, term: applyTestTerm - 1, cb: message.NewCallback()}
	later := &proposal{index: 11, term: applyTestTerm + 1, cb: message.NewCallback()}
	*ctx.proposals = append(*ctx.proposals, older, later)
	ctx.proposals.answerStale(10, applyTestTerm+1)
	for name, cb := range map[string]*message.Callback{"covered by the snapshot": covered, "of an older term": older.cb} {
		resp := cb.WaitRespWithTimeout(time.Second)
		if resp == nil || resp.Header.Error == nil || resp.Header.Error.StaleCommand == nil {
			t.Errorf("proposal %s: expected a StaleCommand answer, got %v", name, resp)
		}
	}
	if len(*ctx.proposals) != 1 || (*ctx.proposals)[0] != later {
		t.Errorf("the proposal after the snapshot, of its term, must keep waiting; left: %v", *ctx.proposals)
	}
}
