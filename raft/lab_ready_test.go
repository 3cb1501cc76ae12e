package raft

// RawNode: what a Ready carries, what Advance records, restarts.

import (
	"errors"
	"reflect"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

func labRawNode(t *testing.T, id uint64, peers []uint64, s *MemoryStorage) *RawNode {
	t.Helper()
	rn, err := NewRawNode(labConfig(id, peers, 10, 1, s))
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

// labHandle persists and applies a Ready as the application would.
func labHandle(t *testing.T, rn *RawNode, s *MemoryStorage, rd Ready) {
	t.Helper()
	if !IsEmptySnap(&rd.Snapshot) {
		if err := s.ApplySnapshot(rd.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if !IsEmptyHardState(rd.HardState) {
		if err := s.SetHardState(rd.HardState); err != nil {
			t.Fatal(err)
		}
	}
	rn.Advance(rd)
}

func TestReadyAfterSingleNodeCampaign2AC(t *testing.T) {
	s := NewMemoryStorage()
	rn := labRawNode(t, 1, []uint64{1}, s)
	if rn.HasReady() {
		t.Fatalf("a new node has a Ready: %+v", rn.Ready())
	}
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	noop := []pb.Entry{{Term: 1, Index: 1}}
	want := Ready{
		SoftState:        &SoftState{Lead: 1, RaftState: StateLeader},
		HardState:        pb.HardState{Term: 1, Vote: 1, Commit: 1},
		Entries:          noop,
		CommittedEntries: noop,
	}
	rd := rn.Ready()
	if !reflect.DeepEqual(rd, want) {
		t.Fatalf("Ready after winning alone:\n%+v\nwant\n%+v", rd, want)
	}
	labHandle(t, rn, s, rd)
	if rn.HasReady() {
		t.Errorf("HasReady after Advance, with nothing new: %+v", rn.Ready())
	}
	got := rn.Ready()
	if got.SoftState != nil || !IsEmptyHardState(got.HardState) || len(got.Entries) != 0 || !IsEmptySnap(&got.Snapshot) ||
		len(got.CommittedEntries) != 0 || len(got.Messages) != 0 {
		t.Errorf("a Ready with nothing to do is %+v, want it empty", got)
	}
}

// Messages and a soft state change are handed over by Ready; messages
// queued between Ready and Advance are in the next Ready, not lost.
func TestReadyHandsMessagesOverOnce2AC(t *testing.T) {
	s := NewMemoryStorage()
	rn := labRawNode(t, 1, []uint64{1, 2, 3}, s)
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if len(rd.Messages) != 2 || rd.SoftState == nil || rd.RaftState != StateCandidate {
		t.Fatalf("Ready after campaigning: %+v, want 2 vote requests and the candidate state", rd)
	}
	if again := rn.Ready(); again.Messages != nil || again.SoftState != nil {
		t.Errorf("a second Ready repeats messages or soft state: %+v", again)
	}
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	labHandle(t, rn, s, rd)
	next := rn.Ready()
	if len(msgsOfType(next.Messages, pb.MessageType_MsgAppend)) != 2 {
		t.Errorf("appends of the new leader, queued before Advance, are missing from the next Ready:\n%s", describeMsgs(next.Messages))
	}
}

// Advance records only what the Ready it is given handed out: entries
// appended and entries committed after that Ready (between Ready and
// Advance) come in the next one, they are neither persisted nor applied.
func TestReadyAdvanceRecordsOnlyItsReady2AC(t *testing.T) {
	s := NewMemoryStorage()
	rn := labRawNode(t, 1, []uint64{1, 2, 3}, s)
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	labHandle(t, rn, s, rn.Ready())
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	labHandle(t, rn, s, rn.Ready()) // leader: the no-op at 1, not committed yet
	if err := rn.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if got := describeEntries(rd.Entries); got != `[1/2:"a"]` || len(rd.CommittedEntries) != 0 {
		t.Fatalf("Ready after proposing a: entries %s, committed %s; want [1/2:\"a\"] and none committed",
			got, describeEntries(rd.CommittedEntries))
	}
	// Before Advance: 2 acknowledges both entries (they commit) and b is proposed.
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, From: 2, To: 1, Term: 1, Index: 2}); err != nil {
		t.Fatal(err)
	}
	if err := rn.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	labHandle(t, rn, s, rd)
	next := rn.Ready()
	if got := describeEntries(next.Entries); got != `[1/3:"b"]` {
		t.Errorf("entries to persist after Advance: %s, want [1/3:\"b\"] (appended after the Ready, not persisted by it)", got)
	}
	if got := describeEntries(next.CommittedEntries); got != `[1/1 1/2:"a"]` {
		t.Errorf("entries to apply after Advance: %s, want [1/1 1/2:\"a\"] (committed after the Ready, not applied by it)", got)
	}
}

// HardState is reported when it changes, and only then.
func TestReadyHardStateOnlyWhenChanged2AC(t *testing.T) {
	s := NewMemoryStorage()
	rn := labRawNode(t, 1, []uint64{1, 2, 3}, s)
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 2, To: 1, Term: 4}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if want := (pb.HardState{Term: 4, Vote: 2}); !reflect.DeepEqual(rd.HardState, want) {
		t.Fatalf("HardState after voting %+v, want %+v (the vote must be persisted before the answer is sent)", rd.HardState, want)
	}
	labHandle(t, rn, s, rd)
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgHeartbeat, From: 2, To: 1, Term: 4}); err != nil {
		t.Fatal(err)
	}
	if rd := rn.Ready(); !IsEmptyHardState(rd.HardState) {
		t.Errorf("HardState %+v reported though unchanged", rd.HardState)
	}
}

// A node restarts from what it persisted: term, vote, commit, membership
// (ConfState) and entries; Config.Applied skips entries applied before.
func TestReadyRestartFromStorage2AC(t *testing.T) {
	s := NewMemoryStorage()
	snap := pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 3, Term: 2, ConfState: &pb.ConfState{Nodes: []uint64{1, 2, 3}}}}
	if err := s.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	ents := []pb.Entry{{Term: 2, Index: 4, Data: []byte("a")}, {Term: 3, Index: 5, Data: []byte("b")}, {Term: 3, Index: 6, Data: []byte("c")}}
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHardState(pb.HardState{Term: 3, Vote: 2, Commit: 5}); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, Applied: 4, Seed: 1}
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rn.Raft
	if r.Term != 3 || r.Vote != 2 || r.RaftLog.committed != 5 || r.RaftLog.applied != 4 || !reflect.DeepEqual(nodes(r), []uint64{1, 2, 3}) {
		t.Fatalf("restarted: term %d vote %d commit %d applied %d peers %v, want 3 2 5 4 [1 2 3]",
			r.Term, r.Vote, r.RaftLog.committed, r.RaftLog.applied, nodes(r))
	}
	rd := rn.Ready()
	want := Ready{Entries: []pb.Entry{}, CommittedEntries: ents[1:2]}
	if !reflect.DeepEqual(rd, want) {
		t.Errorf("first Ready after restart:\n%+v\nwant\n%+v", rd, want)
	}
}

// Advance marks entries stable only if they are still in the log: an
// entry replaced between Ready and Advance must be persisted again.
func TestReadyAdvanceSkipsReplacedEntries2AC(t *testing.T) {
	s := NewMemoryStorage()
	rn := labRawNode(t, 1, []uint64{1, 2, 3}, s)
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgAppend, From: 2, To: 1, Term: 1,
		Entries: []*pb.Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}}}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgAppend, From: 3, To: 1, Term: 2, Index: 1, LogTerm: 1,
		Entries: []*pb.Entry{{Term: 2, Index: 2}}}); err != nil {
		t.Fatal(err)
	}
	labHandle(t, rn, s, rd)
	rd = rn.Ready()
	if got := describeEntries(rd.Entries); got != "[2/2]" {
		t.Errorf("entries to persist after the replacement: %s, want [2/2]", got)
	}
}

// Local messages cannot arrive from the network, nor answers from
// strangers.
func TestReadyStepChecksOrigin2AC(t *testing.T) {
	rn := labRawNode(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	for _, mt := range []pb.MessageType{pb.MessageType_MsgHup, pb.MessageType_MsgBeat} {
		if err := rn.Step(pb.Message{MsgType: mt, From: 2, To: 1}); !errors.Is(err, ErrStepLocalMsg) {
			t.Errorf("Step(%s) = %v, want ErrStepLocalMsg", mt, err)
		}
	}
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, From: 9, To: 1, Term: 1}); !errors.Is(err, ErrStepPeerNotFound) {
		t.Errorf("an answer from non-member 9: %v, want ErrStepPeerNotFound", err)
	}
	if rn.Raft.State != StateFollower || rn.Raft.Term != 0 {
		t.Errorf("refused messages changed the node: state %s term %d", rn.Raft.State, rn.Raft.Term)
	}
}

// Malformed input does not crash a node.
func TestReadyBadMessagesDoNotPanic2AC(t *testing.T) {
	rn := labRawNode(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	for mt := range pb.MessageType_name {
		for _, term := range []uint64{0, 1, 5} {
			_ = rn.Step(pb.Message{MsgType: pb.MessageType(mt), From: 2, To: 1, Term: term})
			_ = rn.Step(pb.Message{MsgType: pb.MessageType(mt), From: 2, To: 1, Term: term, Snapshot: &pb.Snapshot{}})
		}
	}
	if err := rn.ProposeConfChange(pb.ConfChange{NodeId: None}); err != nil && !errors.Is(err, ErrProposalDropped) {
		t.Errorf("ProposeConfChange: %v", err)
	}
	if cs := rn.ApplyConfChange(pb.ConfChange{NodeId: None}); !reflect.DeepEqual(cs.Nodes, []uint64{1, 2, 3}) {
		t.Errorf("ApplyConfChange of no node changed the membership to %v", cs.Nodes)
	}
}
