package raft

// Snapshots and log compaction (project 2C).

import (
	"reflect"
	"strings"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// labSlowStorage answers Snapshot with ErrSnapshotTemporarilyUnavailable
// the first `busy` times, as a raftstore's storage does while it builds one.
type labSlowStorage struct {
	*MemoryStorage
	busy, calls int
}

func (s *labSlowStorage) Snapshot() (pb.Snapshot, error) {
	s.calls++
	if s.calls <= s.busy {
		return pb.Snapshot{}, ErrSnapshotTemporarilyUnavailable
	}
	return s.MemoryStorage.Snapshot()
}

// labCompactedLeader returns node 1, leader of {1,2,3} in term 1 with
// entries 1..5 whose storage compacted up to 4 (snapshot at 4) and whose
// memory followed; follower 2 acknowledged nothing.
func labCompactedLeader(t *testing.T, s Storage, ms *MemoryStorage) *Raft {
	r := newRaft(labConfig(1, []uint64{1, 2, 3}, 10, 1, s))
	labBecome(r, StateLeader)
	for i := 0; i < 4; i++ {
		labPropose(t, r, "x")
	}
	labAck(t, r, 3, 5)
	if err := ms.Append(r.RaftLog.unstableEntries()); err != nil {
		t.Fatal(err)
	}
	r.RaftLog.stabled = 5
	r.RaftLog.applied = 5
	if _, err := ms.CreateSnapshot(4, &pb.ConfState{Nodes: []uint64{1, 2, 3}}, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := ms.Compact(4); err != nil {
		t.Fatal(err)
	}
	r.RaftLog.maybeCompact()
	takeMsgs(r)
	return r
}

// maybeCompact drops from memory what the storage compacted; the term of
// the snapshot's entry stays known.
func TestSnapCompactionFollowsStorage2C(t *testing.T) {
	ms := NewMemoryStorage()
	r := labCompactedLeader(t, ms, ms)
	if got := describeEntries(r.RaftLog.allEntries()); got != `[1/5:"x"]` {
		t.Errorf(`entries in memory %s, want [1/5:"x"]`, got)
	}
	if term, err := r.RaftLog.Term(4); err != nil || term != 1 {
		t.Errorf("Term(4) = %d, %v, want 1 (the snapshot's entry)", term, err)
	}
	if _, err := r.RaftLog.Term(3); err != ErrCompacted {
		t.Errorf("Term(3) error %v, want ErrCompacted", err)
	}
	if r.RaftLog.LastIndex() != 5 {
		t.Errorf("last index %d, want 5", r.RaftLog.LastIndex())
	}
}

// A follower that needs compacted entries gets the storage's snapshot, and
// entries again once it acknowledges it.
func TestSnapSentWhenEntriesCompacted2C(t *testing.T) {
	ms := NewMemoryStorage()
	r := labCompactedLeader(t, ms, ms)
	r.Prs[2].Next = 2
	r.sendAppend(2)
	msgs := takeMsgs(r)
	if len(msgs) != 1 || msgs[0].MsgType != pb.MessageType_MsgSnapshot || msgs[0].Snapshot.Metadata.Index != 4 ||
		!reflect.DeepEqual(msgs[0].Snapshot.Data, []byte("state")) {
		t.Fatalf("to a follower needing entry 2 (compacted):\n%s\nwant the snapshot at 4", describeMsgs(msgs))
	}
	labPropose(t, r, "y")
	if got := msgsOfType(takeMsgs(r), pb.MessageType_MsgAppend); len(got) != 1 || got[0].To != 3 {
		t.Errorf("while the snapshot is in flight, appends:\n%s\nwant one, to 3 only", describeMsgs(got))
	}
	labAck(t, r, 2, 4)
	got := msgsOfType(takeMsgs(r), pb.MessageType_MsgAppend)
	if len(got) != 1 || got[0].To != 2 || got[0].Index != 4 || len(got[0].Entries) != 2 {
		t.Errorf("after 2 acknowledged the snapshot:\n%s\nwant an append of entries 5-6 to 2", describeMsgs(got))
	}
}

// A snapshot that is not ready yet is asked for again later.
func TestSnapRetriedWhenUnavailable2C(t *testing.T) {
	ms := NewMemoryStorage()
	slow := &labSlowStorage{MemoryStorage: ms, busy: 2}
	r := labCompactedLeader(t, slow, ms)
	r.Prs[2].Next = 2
	for i := 0; i < 2; i++ {
		if r.sendAppend(2) {
			t.Fatalf("attempt %d: sendAppend reported a message while the storage had no snapshot", i+1)
		}
		if msgs := takeMsgs(r); len(msgs) != 0 {
			t.Fatalf("attempt %d sent:\n%s", i+1, describeMsgs(msgs))
		}
	}
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHeartbeatResponse, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if msgs := takeMsgs(r); len(msgs) != 1 || msgs[0].MsgType != pb.MessageType_MsgSnapshot {
		t.Errorf("third attempt (on a heartbeat answer):\n%s\nwant the snapshot", describeMsgs(msgs))
	}
}

// A snapshot unanswered for an election timeout is presumed lost.
func TestSnapResentWhenLost2C(t *testing.T) {
	ms := NewMemoryStorage()
	r := labCompactedLeader(t, ms, ms)
	r.Prs[2].Next = 2
	r.sendAppend(2)
	takeMsgs(r)
	sent := 0
	for i := 0; i < 2*r.electionTimeout; i++ {
		r.tick()
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHeartbeatResponse, From: 2, To: 1, Term: 1}); err != nil {
			t.Fatal(err)
		}
		sent += len(msgsOfType(takeMsgs(r), pb.MessageType_MsgSnapshot))
	}
	if sent < 1 || sent > 2 {
		t.Errorf("in %d ticks with heartbeat answers but no acknowledgment, %d snapshots sent, want 1 or 2 (one per election timeout)",
			2*r.electionTimeout, sent)
	}
}

// A follower restores a newer snapshot: log, commit, membership; the
// snapshot goes to the application in the next Ready, once.
func TestSnapFollowerRestores2C(t *testing.T) {
	s := NewMemoryStorage()
	rn := labRawNode(t, 2, []uint64{1, 2}, s)
	snap := pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: 10, Term: 3, ConfState: &pb.ConfState{Nodes: []uint64{1, 2, 3}}}}
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgSnapshot, From: 1, To: 2, Term: 3, Snapshot: &snap}); err != nil {
		t.Fatal(err)
	}
	r := rn.Raft
	if r.RaftLog.LastIndex() != 10 || r.RaftLog.committed != 10 || mustTerm(r.RaftLog.Term(10)) != 3 || !reflect.DeepEqual(nodes(r), []uint64{1, 2, 3}) {
		t.Fatalf("after the snapshot: last %d commit %d peers %v, want 10 10 [1 2 3]", r.RaftLog.LastIndex(), r.RaftLog.committed, nodes(r))
	}
	rd := rn.Ready()
	if !reflect.DeepEqual(rd.Snapshot, snap) || len(rd.CommittedEntries) != 0 {
		t.Fatalf("Ready snapshot %+v committed %v, want the snapshot and no entries", rd.Snapshot, rd.CommittedEntries)
	}
	want := pb.Message{MsgType: pb.MessageType_MsgAppendResponse, From: 2, To: 1, Term: 3, Index: 10}
	if len(rd.Messages) != 1 || !reflect.DeepEqual(rd.Messages[0], want) {
		t.Errorf("answer:\n%s\nwant %s", describeMsgs(rd.Messages), describeMsg(want))
	}
	labHandle(t, rn, s, rd)
	if rn.HasReady() {
		t.Errorf("the snapshot is still pending after Advance: %+v", rn.Ready())
	}
	if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgAppend, From: 1, To: 2, Term: 3, Index: 10, LogTerm: 3, Commit: 11,
		Entries: []*pb.Entry{{Term: 3, Index: 11}}}); err != nil {
		t.Fatal(err)
	}
	if rd := rn.Ready(); describeEntries(rd.CommittedEntries) != "[3/11]" {
		t.Errorf("after the snapshot, committed entries %s, want [3/11]", describeEntries(rd.CommittedEntries))
	}
}

// A snapshot the follower already has (at or below its commit, or a late
// copy of what its log holds) changes nothing and is answered with the
// commit index.
func TestSnapOldSnapshotIgnored2C(t *testing.T) {
	tests := []struct {
		index, term uint64
		wCommit     uint64
	}{
		{2, 1, 3}, // below commit
		{4, 2, 4}, // the log holds (4, term 2): commit moves, entries after it stay
	}
	for i, tt := range tests {
		r := labFollower(t, 2, 1, 1, 2, 2, 2)
		r.RaftLog.committed = 3
		before := describeEntries(r.RaftLog.allEntries())
		snap := pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: tt.index, Term: tt.term, ConfState: &pb.ConfState{Nodes: []uint64{1, 2}}}}
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgSnapshot, From: 2, To: 1, Term: 2, Snapshot: &snap}); err != nil {
			t.Fatal(err)
		}
		if got := describeEntries(r.RaftLog.allEntries()); got != before || r.RaftLog.pendingSnapshot != nil {
			t.Errorf("#%d: log %s pending %v, want %s and no pending snapshot", i, got, r.RaftLog.pendingSnapshot, before)
		}
		if r.RaftLog.committed != tt.wCommit || len(r.Prs) != 3 {
			t.Errorf("#%d: commit %d peers %v, want commit %d and the membership kept", i, r.RaftLog.committed, nodes(r), tt.wCommit)
		}
		msgs := takeMsgs(r)
		if len(msgs) != 1 || msgs[0].Reject || msgs[0].Index != tt.wCommit {
			t.Errorf("#%d: answer:\n%s\nwant acceptance at %d", i, describeMsgs(msgs), tt.wCommit)
		}
	}
}

// A follower that compacted its log past a snapshot's index and then
// receives that snapshot (a late or duplicated copy) ignores it: its log,
// commit and applied index never go back, and no Ready hands the snapshot
// to the application.
func TestSnapOldSnapshotAfterCompaction2C(t *testing.T) {
	for _, old := range []struct{ index, term uint64 }{
		{5, 1}, // compacted away: the follower cannot tell its term any more
		{8, 2}, // the follower's own snapshot point
		{9, 2}, // in the log, and committed
	} {
		s := NewMemoryStorage()
		cs := &pb.ConfState{Nodes: []uint64{1, 2}}
		if err := s.ApplySnapshot(pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 8, Term: 2, ConfState: cs}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Append([]pb.Entry{{Index: 9, Term: 2}, {Index: 10, Term: 2}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHardState(pb.HardState{Term: 2, Commit: 10}); err != nil {
			t.Fatal(err)
		}
		cfg := labConfig(1, nil, 10, 1, s)
		cfg.Applied = 10
		rn, err := NewRawNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l := rn.Raft.RaftLog
		before := ltoa(l)
		snap := pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: old.index, Term: old.term, ConfState: cs}}
		if err := rn.Step(pb.Message{MsgType: pb.MessageType_MsgSnapshot, From: 2, To: 1, Term: 2, Snapshot: &snap}); err != nil {
			t.Fatal(err)
		}
		if d := diffu(before, ltoa(l)); d != "" || l.pendingSnapshot != nil {
			t.Errorf("snapshot (%d, term %d) to a follower compacted to 8 with commit 10: the log changed (pending snapshot %v):\n%s",
				old.index, old.term, l.pendingSnapshot != nil, d)
		}
		if l.committed != 10 || l.applied != 10 || l.LastIndex() != 10 {
			t.Errorf("snapshot (%d, term %d): commit %d applied %d last %d, want 10, 10, 10: they never go back",
				old.index, old.term, l.committed, l.applied, l.LastIndex())
		}
		rd := rn.Ready()
		if !IsEmptySnap(&rd.Snapshot) || len(rd.CommittedEntries) > 0 {
			t.Errorf("snapshot (%d, term %d): the Ready hands the application snapshot %d and %d committed entries, want neither",
				old.index, old.term, rd.Snapshot.GetMetadata().GetIndex(), len(rd.CommittedEntries))
		}
		answers := msgsOfType(rd.Messages, pb.MessageType_MsgAppendResponse)
		if len(answers) != 1 || answers[0].Reject || answers[0].Index < 10 {
			t.Errorf("snapshot (%d, term %d): answer:\n%s\nwant one acceptance at 10 or later", old.index, old.term, describeMsgs(answers))
		}
	}
}

// End to end: a node cut off while the others compact their logs catches
// up through a snapshot and applies the same state.
func TestSnapCatchUpEndToEnd2C(t *testing.T) {
	c := newSimCluster(3, 11, 10, 1, 5)
	snaps := 0
	c.trace = func(line string) {
		if strings.Contains(line, " MsgSnapshot ") {
			snaps++
		}
	}
	if err := c.nodes[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.process(c.nodes[1])
	c.deliverAll()
	c.isolate(3)
	for i := 0; i < 30; i++ {
		if err := c.propose(1, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		c.deliverAll()
	}
	c.compact(1)
	c.compact(2)
	c.heal()
	for i := 0; i < 5; i++ {
		c.tickAll()
		c.deliverAll()
	}
	c.check()
	if c.failure != "" {
		t.Fatal(c.report())
	}
	if snaps == 0 {
		t.Errorf("node 3 caught up without a snapshot, though the entries it lacked were compacted")
	}
	if a, b := c.nodes[1].app, c.nodes[3].app; a.index != b.index || a.hash != b.hash {
		t.Errorf("node 3 applied up to %d, node 1 up to %d:\n%s", b.index, a.index, c.describeNodes())
	}
}
