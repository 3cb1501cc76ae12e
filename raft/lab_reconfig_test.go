package raft

// Leader transfer and membership change (project 3A).

import (
	"errors"
	"reflect"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// labTransfer asks r (the leader, or a follower that forwards) to hand
// leadership to transferee.
func labTransfer(t *testing.T, r *Raft, transferee uint64) {
	t.Helper()
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgTransferLeader, From: transferee, To: r.id}); err != nil {
		t.Fatal(err)
	}
}

// An up-to-date transferee is told at once to campaign; the old leader
// stays leader until it hears a higher term.
func TestLeadTransferToUpToDatePeer3A(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labTransfer(t, r, 2)
	want := []pb.Message{{MsgType: pb.MessageType_MsgTimeoutNow, From: 1, To: 2, Term: 1}}
	if got := takeMsgs(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("transfer to up-to-date 2:\n%s\nwant:\n%s", describeMsgs(got), describeMsgs(want))
	}
	if r.State != StateLeader || r.leadTransferee != 2 {
		t.Errorf("after MsgTimeoutNow: state %s transferee %d, want still leader, transferring to 2", r.State, r.leadTransferee)
	}
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 2, To: 1, Term: 2, Index: 1, LogTerm: 1}); err != nil {
		t.Fatal(err)
	}
	if r.State != StateFollower || r.leadTransferee != None {
		t.Errorf("after the transferee's vote request: state %s transferee %d, want a follower with no transfer", r.State, r.leadTransferee)
	}
}

// A lagging transferee is first brought up to date; meanwhile proposals
// are refused.
func TestLeadTransferCatchesUpFirst3A(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labPropose(t, r, "x")
	takeMsgs(r)
	labTransfer(t, r, 3)
	msgs := takeMsgs(r)
	if len(msgs) != 1 || msgs[0].MsgType != pb.MessageType_MsgAppend || msgs[0].To != 3 {
		t.Fatalf("transfer to lagging 3:\n%s\nwant an append to 3", describeMsgs(msgs))
	}
	err := r.Step(pb.Message{MsgType: pb.MessageType_MsgPropose, Entries: []*pb.Entry{{Data: []byte("y")}}})
	if !errors.Is(err, ErrProposalDropped) || r.RaftLog.LastIndex() != 2 {
		t.Errorf("proposal during a transfer: %v, last index %d; want ErrProposalDropped and no new entry", err, r.RaftLog.LastIndex())
	}
	labAck(t, r, 3, 2)
	if got := msgsOfType(takeMsgs(r), pb.MessageType_MsgTimeoutNow); len(got) != 1 || got[0].To != 3 {
		t.Errorf("after 3 caught up:\n%s\nwant MsgTimeoutNow to 3", describeMsgs(got))
	}
}

// A transfer that does not finish within an election timeout is given up.
func TestLeadTransferAbortsAfterTimeout3A(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labTransfer(t, r, 3)
	for i := 0; i < r.electionTimeout-1; i++ {
		r.tick()
		labTransfer(t, r, 3) // asking again does not restart the clock
	}
	if r.leadTransferee != 3 {
		t.Fatalf("transfer given up after %d ticks, before the election timeout %d", r.electionTimeout-1, r.electionTimeout)
	}
	r.tick()
	if r.leadTransferee != None || r.State != StateLeader {
		t.Fatalf("after an election timeout: transferee %d state %s, want no transfer and still leader", r.leadTransferee, r.State)
	}
	labPropose(t, r, "z")
}

// Transfers to itself, to a non-member, or a second one to another node.
func TestLeadTransferRequests3A(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labTransfer(t, r, 9)
	if r.leadTransferee != None || len(takeMsgs(r)) != 0 {
		t.Errorf("transfer to non-member 9 started (transferee %d)", r.leadTransferee)
	}
	labPropose(t, r, "x")
	takeMsgs(r)
	labTransfer(t, r, 2)
	labTransfer(t, r, 3)
	if r.leadTransferee != 3 {
		t.Errorf("a second transfer to 3 did not replace the one to 2: transferee %d", r.leadTransferee)
	}
	labTransfer(t, r, 1)
	if r.leadTransferee != None || r.State != StateLeader {
		t.Errorf("transfer to itself: transferee %d state %s, want the pending transfer cancelled", r.leadTransferee, r.State)
	}
}

// A follower forwards a transfer request to the leader it knows.
func TestLeadTransferForwardedByFollower3A(t *testing.T) {
	r := labFollower(t, 4, 1)
	labTransfer(t, r, 1)
	want := []pb.Message{{MsgType: pb.MessageType_MsgTransferLeader, From: 1, To: 2, Term: 4}}
	if got := takeMsgs(r); !reflect.DeepEqual(got, want) {
		t.Errorf("forwarded:\n%s\nwant:\n%s", describeMsgs(got), describeMsgs(want))
	}
	// A follower that knows no leader has nobody to forward to.
	lost := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
	lost.becomeFollower(4, None)
	labTransfer(t, lost, 3)
	if got := takeMsgs(lost); len(got) != 0 {
		t.Errorf("a follower without a leader forwarded a transfer:\n%s\nwant nothing sent", describeMsgs(got))
	}
}

// MsgTimeoutNow makes a member campaign at once, whatever its timer; a
// non-member ignores it.
func TestLeadTransferTimeoutNow3A(t *testing.T) {
	r := labFollower(t, 2, 1)
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgTimeoutNow, From: 2, To: 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	if r.State != StateCandidate || r.Term != 3 || len(msgsOfType(takeMsgs(r), pb.MessageType_MsgRequestVote)) != 2 {
		t.Errorf("after MsgTimeoutNow: state %s term %d, want a candidate of term 3 asking 2 and 3", r.State, r.Term)
	}
	outsider := labRaft(4, []uint64{1, 2, 3}, NewMemoryStorage())
	if err := outsider.Step(pb.Message{MsgType: pb.MessageType_MsgTimeoutNow, From: 2, To: 4, Term: 2}); err != nil {
		t.Fatal(err)
	}
	if outsider.State != StateFollower || len(takeMsgs(outsider)) != 0 {
		t.Errorf("a non-member campaigned on MsgTimeoutNow: state %s", outsider.State)
	}
}

func labConfChange(t *testing.T, cc pb.ConfChange) *pb.Entry {
	data, err := cc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Entry{EntryType: pb.EntryType_EntryConfChange, Data: data}
}

// One conf change at a time: while one is not applied, another becomes an
// empty entry.
func TestConfChangeOneAtATime3A(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	propose := func(node uint64) pb.Entry {
		cc := labConfChange(t, pb.ConfChange{ChangeType: pb.ConfChangeType_AddNode, NodeId: node})
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgPropose, Entries: []*pb.Entry{cc}}); err != nil {
			t.Fatal(err)
		}
		ents := r.RaftLog.allEntries()
		return ents[len(ents)-1]
	}
	if e := propose(4); e.EntryType != pb.EntryType_EntryConfChange || r.PendingConfIndex != e.Index {
		t.Fatalf("first conf change became %s (pending index %d)", describeEntry(e), r.PendingConfIndex)
	}
	if e := propose(5); e.EntryType != pb.EntryType_EntryNormal || len(e.Data) != 0 {
		t.Errorf("a second conf change while the first is unapplied became %s, want an empty normal entry", describeEntry(e))
	}
	r.RaftLog.committed = r.RaftLog.LastIndex()
	r.RaftLog.applied = r.RaftLog.committed
	if e := propose(5); e.EntryType != pb.EntryType_EntryConfChange {
		t.Errorf("a conf change after the first was applied became %s", describeEntry(e))
	}
}

// A new leader does not know whether its log hides an unapplied conf
// change: it waits until everything it has is applied.
func TestConfChangeNewLeaderWaits3A(t *testing.T) {
	r := labRaft(1, []uint64{1, 2}, labStorage(t, labEnts(1, 1)...))
	r.Term = 1
	labBecome(r, StateLeader)
	if r.PendingConfIndex != 2 {
		t.Errorf("new leader with last index 2: PendingConfIndex %d, want 2", r.PendingConfIndex)
	}
}

// Removing a node shrinks the quorum: what waited for it commits.
func TestConfChangeRemovalCommits3A(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labPropose(t, r, "x")
	takeMsgs(r)
	r.removeNode(3)
	r.removeNode(2)
	if r.RaftLog.committed != 2 {
		t.Errorf("alone after removing 2 and 3: commit %d, want 2", r.RaftLog.committed)
	}
	if !reflect.DeepEqual(nodes(r), []uint64{1}) {
		t.Errorf("members %v, want [1]", nodes(r))
	}
	r.addNode(4)
	r.addNode(4)
	if !reflect.DeepEqual(nodes(r), []uint64{1, 4}) || r.Prs[4].Next != 3 {
		t.Errorf("after adding 4 twice: members %v next %d, want [1 4] and next 3", nodes(r), r.Prs[4].Next)
	}
	// Adding a member again (a conf change applied twice) keeps its progress.
	labAck(t, r, 4, 2)
	r.addNode(4)
	if pr := r.Prs[4]; pr.Match != 2 || pr.Next != 3 {
		t.Errorf("after 4 matched 2 and was added again: Match %d Next %d, want Match 2 Next 3 (its progress kept)", pr.Match, pr.Next)
	}
}

// End to end: add a node (it catches up through the bootstrap snapshot and
// the log), remove another, transfer leadership to the new one.
func TestConfChangeEndToEnd3A(t *testing.T) {
	c := newSimCluster(3, 5, 10, 1, 5)
	step := func(what string) {
		for i := 0; i < 3; i++ {
			c.tickAll()
			c.deliverAll()
		}
		c.check()
		if c.failure != "" {
			t.Fatalf("%s: %s", what, c.report())
		}
	}
	if err := c.nodes[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.process(c.nodes[1])
	step("election")
	c.addNode(4)
	if err := c.proposeConfChange(1, pb.ConfChange{ChangeType: pb.ConfChangeType_AddNode, NodeId: 4}); err != nil {
		t.Fatal(err)
	}
	step("adding 4")
	if err := c.proposeConfChange(1, pb.ConfChange{ChangeType: pb.ConfChangeType_RemoveNode, NodeId: 2}); err != nil {
		t.Fatal(err)
	}
	step("removing 2")
	c.nodes[1].rn.TransferLeader(4)
	c.process(c.nodes[1])
	step("transfer to 4")
	lead := c.leader()
	if lead == nil || lead.id != 4 || !reflect.DeepEqual(nodes(lead.rn.Raft), []uint64{1, 3, 4}) {
		t.Fatalf("want node 4 leading members [1 3 4]:\n%s", c.describeNodes())
	}
	if !c.nodes[2].removed {
		t.Errorf("node 2 did not apply its own removal")
	}
	if err := c.propose(4, []byte("after")); err != nil {
		t.Fatal(err)
	}
	step("a proposal to the new leader")
	if !c.allApplied(lead, lead.rn.Raft.RaftLog.LastIndex()) {
		t.Errorf("members did not all apply the last entry:\n%s", c.describeNodes())
	}
}
