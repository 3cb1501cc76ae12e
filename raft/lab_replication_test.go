package raft

// Log replication rules (Raft figure 2 and §5.3, §5.4), one test per rule.

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// labFollower returns node 1 of {1,2,3}, a follower of leader 2 in term
// term, whose log has entries of the given terms.
func labFollower(t *testing.T, term uint64, terms ...uint64) *Raft {
	r := labRaft(1, []uint64{1, 2, 3}, labStorage(t, labEnts(terms...)...))
	r.becomeFollower(term, 2)
	return r
}

// labAppend steps an append from leader 2 and returns the single answer.
func labAppend(t *testing.T, r *Raft, m pb.Message) pb.Message {
	t.Helper()
	m.MsgType, m.From, m.To = pb.MessageType_MsgAppend, 2, 1
	if m.Term == 0 {
		m.Term = r.Term
	}
	if err := r.Step(m); err != nil {
		t.Fatal(err)
	}
	msgs := takeMsgs(r)
	if len(msgs) != 1 || msgs[0].MsgType != pb.MessageType_MsgAppendResponse {
		t.Fatalf("answer to %s:\n%s\nwant one MsgAppendResponse", describeMsg(m), describeMsgs(msgs))
	}
	return msgs[0]
}

func labEntryPtrs(ents ...pb.Entry) []*pb.Entry {
	out := make([]*pb.Entry, len(ents))
	for i := range ents {
		out[i] = &ents[i]
	}
	return out
}

// A follower accepts an append only if it holds the entry before the new
// ones (index and term); it answers with the index its log now matches up
// to (not its last index).
func TestRuleAppendConsistencyCheck2AB(t *testing.T) {
	tests := []struct {
		prevIndex, prevTerm uint64
		ents                []pb.Entry
		wReject             bool
		wIndex              uint64
	}{
		{0, 0, nil, false, 0},
		{2, 1, nil, false, 2},
		{3, 2, nil, false, 3},
		{1, 1, []pb.Entry{{Index: 2, Term: 1}}, false, 2}, // the follower has more, matching: answer 2, not 3
		{3, 1, nil, true, 0},                              // term mismatch at 3
		{4, 2, nil, true, 0},                              // no entry 4
	}
	for i, tt := range tests {
		r := labFollower(t, 2, 1, 1, 2)
		resp := labAppend(t, r, pb.Message{Index: tt.prevIndex, LogTerm: tt.prevTerm, Entries: labEntryPtrs(tt.ents...)})
		if resp.Reject != tt.wReject || (!tt.wReject && resp.Index != tt.wIndex) {
			t.Errorf("#%d: append after (%d, term %d) answered %s, want reject=%v index=%d",
				i, tt.prevIndex, tt.prevTerm, describeMsg(resp), tt.wReject, tt.wIndex)
		}
		if got := describeEntries(r.RaftLog.allEntries()); got != "[1/1 1/2 2/3]" {
			t.Errorf("#%d: the log changed to %s", i, got)
		}
	}
}

// A conflicting suffix is cut and replaced; the replaced entries become
// unstable again.
func TestRuleConflictingSuffixReplaced2AB(t *testing.T) {
	r := labFollower(t, 3, 1, 1, 2, 2)
	resp := labAppend(t, r, pb.Message{Index: 2, LogTerm: 1, Commit: 2, Entries: labEntryPtrs(pb.Entry{Index: 3, Term: 3})})
	if resp.Reject || resp.Index != 3 {
		t.Fatalf("answer %s, want acceptance up to 3", describeMsg(resp))
	}
	if got := describeEntries(r.RaftLog.allEntries()); got != "[1/1 1/2 3/3]" {
		t.Errorf("log %s, want [1/1 1/2 3/3]: entries 3 and 4 of term 2 replaced", got)
	}
	if got := describeEntries(r.RaftLog.unstableEntries()); got != "[3/3]" {
		t.Errorf("unstable %s, want [3/3]", got)
	}
	if r.RaftLog.stabled != 2 || r.RaftLog.committed != 2 {
		t.Errorf("stabled %d committed %d, want 2 and 2", r.RaftLog.stabled, r.RaftLog.committed)
	}
}

// An append that brings nothing new (a late or duplicated one) must not
// cut the entries after it.
func TestRuleOldAppendKeepsLaterEntries2AB(t *testing.T) {
	r := labFollower(t, 2, 1, 2, 2, 2)
	resp := labAppend(t, r, pb.Message{Index: 1, LogTerm: 1, Entries: labEntryPtrs(pb.Entry{Index: 2, Term: 2})})
	if resp.Reject || resp.Index != 2 {
		t.Errorf("answer %s, want acceptance up to 2", describeMsg(resp))
	}
	if got := describeEntries(r.RaftLog.allEntries()); got != "[1/1 2/2 2/3 2/4]" {
		t.Errorf("log %s, want it untouched [1/1 2/2 2/3 2/4]", got)
	}
}

// A follower's commit index becomes min(leader's commit, index of the last
// new entry) and never goes back.
func TestRuleFollowerCommit2AB(t *testing.T) {
	r := labFollower(t, 2, 1, 1, 2, 2)
	labAppend(t, r, pb.Message{Index: 2, LogTerm: 1, Commit: 10})
	if r.RaftLog.committed != 2 {
		t.Errorf("append after 2 with leader commit 10: commit %d, want 2 (entries after 2 are not known to match)", r.RaftLog.committed)
	}
	labAppend(t, r, pb.Message{Index: 3, LogTerm: 2, Commit: 3})
	if r.RaftLog.committed != 3 {
		t.Errorf("commit %d, want 3", r.RaftLog.committed)
	}
	labAppend(t, r, pb.Message{Index: 3, LogTerm: 2, Commit: 1})
	if r.RaftLog.committed != 3 {
		t.Errorf("an append with an older commit lowered it to %d, want 3", r.RaftLog.committed)
	}
}

// labLeader returns node 1 as leader of term 1 among peers, its no-op
// acknowledged by all, messages cleared.
func labLeader(t *testing.T, peers []uint64) *Raft {
	r := labRaft(1, peers, NewMemoryStorage())
	labBecome(r, StateLeader)
	for _, id := range peers[1:] {
		labAck(t, r, id, 1)
	}
	takeMsgs(r)
	return r
}

func labAck(t *testing.T, r *Raft, from, index uint64) {
	t.Helper()
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, From: from, To: r.id, Term: r.Term, Index: index}); err != nil {
		t.Fatal(err)
	}
}

func labPropose(t *testing.T, r *Raft, data string) {
	t.Helper()
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgPropose, Entries: []*pb.Entry{{Data: []byte(data)}}}); err != nil {
		t.Fatalf("proposal: %v", err)
	}
}

// An append from the leader restarts the follower's election timer, like a
// heartbeat: a leader busy replicating is not a dead one.
func TestRuleAppendRestartsTimer2AB(t *testing.T) {
	r := labFollower(t, 1)
	for i := 0; i < r.randomizedElectionTimeout-1; i++ {
		r.tick()
	}
	if answer := labAppend(t, r, pb.Message{Commit: 0}); answer.Reject {
		t.Fatalf("an empty append after (0, 0) was rejected: %s", describeMsg(answer))
	}
	for i := 0; i < r.electionTimeout-1; i++ {
		r.tick()
		if votes := msgsOfType(takeMsgs(r), pb.MessageType_MsgRequestVote); len(votes) > 0 {
			t.Fatalf("a follower campaigned %d ticks after an append of its leader (election timeout %d): an append restarts the timer",
				i+1, r.electionTimeout)
		}
	}
}

// A follower's Match only grows: an answer that arrives late (reordered by
// the network) does not move it back.
func TestRuleMatchNeverGoesBack2AB(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	for i := 0; i < 3; i++ {
		labPropose(t, r, "x")
	}
	labAck(t, r, 2, 4)
	labAck(t, r, 2, 2) // the answer to an earlier append, delivered late
	takeMsgs(r)
	if pr := r.Prs[2]; pr.Match != 4 || pr.Next != 5 {
		t.Errorf("after answers 4, then 2 (late): Match %d Next %d, want Match 4 Next 5", pr.Match, pr.Next)
	}
	if r.RaftLog.committed != 4 {
		t.Errorf("commit %d, want 4 (entry 4 is on 1 and 2)", r.RaftLog.committed)
	}
}

// The leader appends a proposal with its term and sends it to every
// follower, with the entry before it and its commit index.
func TestRuleProposalReplicated2AB(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labPropose(t, r, "x")
	want := pb.Entry{Term: 1, Index: 2, Data: []byte("x")}
	if ents := r.RaftLog.allEntries(); !reflect.DeepEqual(ents[len(ents)-1], want) {
		t.Errorf("last entry %s, want %s", describeEntry(ents[len(ents)-1]), describeEntry(want))
	}
	wantMsgs := []pb.Message{
		{MsgType: pb.MessageType_MsgAppend, From: 1, To: 2, Term: 1, Index: 1, LogTerm: 1, Commit: 1, Entries: []*pb.Entry{&want}},
		{MsgType: pb.MessageType_MsgAppend, From: 1, To: 3, Term: 1, Index: 1, LogTerm: 1, Commit: 1, Entries: []*pb.Entry{&want}},
	}
	if got := takeMsgs(r); !reflect.DeepEqual(got, wantMsgs) {
		t.Errorf("messages:\n%s\nwant:\n%s", describeMsgs(got), describeMsgs(wantMsgs))
	}
	if r.Prs[1].Match != 2 || r.Prs[1].Next != 3 {
		t.Errorf("leader's own progress %+v, want Match 2 Next 3", *r.Prs[1])
	}
}

// A single node is its own majority: what it appends is committed at once.
func TestRuleSingleNodeCommitsAtOnce2AB(t *testing.T) {
	r := labRaft(1, []uint64{1}, NewMemoryStorage())
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	labPropose(t, r, "x")
	if r.RaftLog.committed != 2 || len(r.msgs) != 0 {
		t.Errorf("single node after its no-op and one proposal: commit %d, %d messages; want commit 2 and none",
			r.RaftLog.committed, len(r.msgs))
	}
}

// An entry is committed once a majority stores it (half is not enough).
func TestRuleCommitByMajority2AB(t *testing.T) {
	for _, size := range []int{4, 5} {
		r := labLeader(t, labIDs(size))
		labPropose(t, r, "x")
		labAck(t, r, 2, 2)
		if r.RaftLog.committed != 1 {
			t.Errorf("with 2 of %d copies: commit %d, want 1", size, r.RaftLog.committed)
		}
		labAck(t, r, uint64(size), 2)
		if r.RaftLog.committed != 2 {
			t.Errorf("with 3 of %d copies: commit %d, want 2", size, r.RaftLog.committed)
		}
	}
}

// A vote goes only to a candidate whose log is at least as up to date:
// a later last term wins; with the same last term, the longer log wins.
func TestRuleVoteNeedsUpToDateLog2AB(t *testing.T) {
	tests := []struct {
		index, logTerm uint64
		grant          bool
	}{
		{3, 2, true},  // same last entry
		{4, 2, true},  // same last term, longer
		{2, 2, false}, // same last term, shorter
		{1, 3, true},  // later last term, however short
		{9, 1, false}, // earlier last term, however long
	}
	for i, tt := range tests {
		r := labRaft(1, []uint64{1, 2, 3}, labStorage(t, labEnts(1, 1, 2)...))
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 2, To: 1, Term: 3, Index: tt.index, LogTerm: tt.logTerm}); err != nil {
			t.Fatal(err)
		}
		msgs := takeMsgs(r)
		if len(msgs) != 1 || msgs[0].Reject == tt.grant {
			t.Errorf("#%d: voter with last entry (term 2, index 3), candidate with (term %d, index %d):\n%s\nwant granted=%v",
				i, tt.logTerm, tt.index, describeMsgs(msgs), tt.grant)
		}
	}
}

// Figure 8: a leader does not commit an entry of an earlier term by
// counting copies; it commits it with the first entry of its own term.
func TestRuleCommitOnlyCurrentTerm2AB(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, labStorage(t, labEnts(1, 2)...))
	r.Term = 3
	labBecome(r, StateLeader) // term 4, no-op at 3
	labAck(t, r, 2, 2)
	if r.RaftLog.committed != 0 {
		t.Fatalf("entries 1-2 of older terms on a majority: commit %d, want 0", r.RaftLog.committed)
	}
	labAck(t, r, 2, 3)
	if r.RaftLog.committed != 3 {
		t.Errorf("no-op of term 4 on a majority: commit %d, want 3 (with everything before it)", r.RaftLog.committed)
	}
}

// When the commit index moves, every follower gets an append carrying it.
func TestRuleCommitBroadcast2AB(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labPropose(t, r, "x")
	takeMsgs(r)
	labAck(t, r, 2, 2)
	msgs := takeMsgs(r)
	for _, to := range []uint64{2, 3} {
		found := false
		for _, m := range msgs {
			found = found || (m.To == to && m.MsgType == pb.MessageType_MsgAppend && m.Commit == 2)
		}
		if !found {
			t.Errorf("after committing 2, no append with commit 2 to %d:\n%s", to, describeMsgs(msgs))
		}
	}
	labAck(t, r, 3, 2)
	if msgs := takeMsgs(r); len(msgs) != 0 {
		t.Errorf("an acknowledgment that moves nothing sent:\n%s", describeMsgs(msgs))
	}
}

// A heartbeat carries no commit index and cannot move a follower's: the
// follower's log may not match the leader's.
func TestRuleHeartbeatDoesNotCommit2AB(t *testing.T) {
	lead := labLeader(t, []uint64{1, 2, 3})
	if err := lead.Step(pb.Message{MsgType: pb.MessageType_MsgBeat}); err != nil {
		t.Fatal(err)
	}
	for _, m := range takeMsgs(lead) {
		if m.Commit != 0 || m.Index != 0 || m.LogTerm != 0 || len(m.Entries) != 0 {
			t.Errorf("heartbeat of a leader with commit %d: %+v, want only the term", lead.RaftLog.committed, m)
		}
	}
	r := labFollower(t, 2, 1, 1)
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 2}); err != nil {
		t.Fatal(err)
	}
	if r.RaftLog.committed != 0 {
		t.Errorf("a heartbeat moved the commit index to %d", r.RaftLog.committed)
	}
	want := []pb.Message{{MsgType: pb.MessageType_MsgHeartbeatResponse, From: 1, To: 2, Term: 2}}
	if got := takeMsgs(r); !reflect.DeepEqual(got, want) {
		t.Errorf("answer:\n%s\nwant:\n%s", describeMsgs(got), describeMsgs(want))
	}
}

// A heartbeat answer from a follower that lags makes the leader send it
// what it lacks; from an up-to-date follower, nothing. A follower whose
// log is complete but whose commit index is behind (it lost the append
// that announced the commit) gets an append too, which carries the commit.
func TestRuleHeartbeatResponseCatchesUp2AB(t *testing.T) {
	r := labLeader(t, []uint64{1, 2, 3})
	labPropose(t, r, "x")
	takeMsgs(r) // lost
	labAck(t, r, 3, 2)
	takeMsgs(r)
	committed := r.RaftLog.committed
	answers := []pb.Message{
		{MsgType: pb.MessageType_MsgHeartbeatResponse, From: 2, To: 1, Term: 1, Commit: committed - 1},
		{MsgType: pb.MessageType_MsgHeartbeatResponse, From: 3, To: 1, Term: 1, Commit: committed},
	}
	for _, m := range answers {
		if err := r.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	msgs := takeMsgs(r)
	if len(msgs) != 1 || msgs[0].To != 2 || msgs[0].MsgType != pb.MessageType_MsgAppend {
		t.Errorf("after heartbeat answers of lagging 2 and up-to-date 3:\n%s\nwant one append to 2", describeMsgs(msgs))
	}
	// 3 has every entry but did not learn the last commit.
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHeartbeatResponse, From: 3, To: 1, Term: 1, Commit: committed - 1}); err != nil {
		t.Fatal(err)
	}
	msgs = takeMsgs(r)
	if len(msgs) != 1 || msgs[0].To != 3 || msgs[0].MsgType != pb.MessageType_MsgAppend || msgs[0].Commit != committed {
		t.Errorf("after a heartbeat answer of 3 behind in commit:\n%s\nwant one append to 3 with commit %d", describeMsgs(msgs), committed)
	}
}

// Rejections carry a hint that lets the leader skip a whole term of
// divergent entries per round trip, instead of one entry.
func TestRuleRejectBackoffIsFast2AB(t *testing.T) {
	// The follower has 50 entries of term 2 the leader never had; the
	// leader has 50 entries of term 3 after the common entry 1.
	followerTerms := append([]uint64{1}, make([]uint64, 50)...)
	leaderTerms := append([]uint64{1}, make([]uint64, 50)...)
	for i := 1; i <= 50; i++ {
		followerTerms[i], leaderTerms[i] = 2, 3
	}
	lead := labRaft(1, []uint64{1, 2}, labStorage(t, labEnts(leaderTerms...)...))
	lead.Term = 3
	labBecome(lead, StateLeader)
	follower := labRaft(2, []uint64{1, 2}, labStorage(t, labEnts(followerTerms...)...))
	follower.becomeFollower(4, 1)
	lead.sendAppend(2)
	rounds := 0
	for msgs := msgsOfType(takeMsgs(lead), pb.MessageType_MsgAppend); len(msgs) > 0; rounds++ {
		if rounds > 4 {
			t.Fatalf("the logs still differ after %d round trips, want at most 4", rounds)
		}
		if err := follower.Step(msgs[len(msgs)-1]); err != nil {
			t.Fatal(err)
		}
		for _, resp := range takeMsgs(follower) {
			if err := lead.Step(resp); err != nil {
				t.Fatal(err)
			}
		}
		msgs = msgsOfType(takeMsgs(lead), pb.MessageType_MsgAppend)
		if lead.Prs[2].Match == lead.RaftLog.LastIndex() {
			break
		}
	}
	if d := diffu(describeEntries(lead.RaftLog.allEntries()), describeEntries(follower.RaftLog.allEntries())); d != "" {
		t.Errorf("logs differ after %d round trips:\n%s", rounds, d)
	}
}

func TestRuleProposalDroppedOffLeader2AB(t *testing.T) {
	for _, st := range []StateType{StateFollower, StateCandidate} {
		r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
		labBecome(r, st)
		err := r.Step(pb.Message{MsgType: pb.MessageType_MsgPropose, Entries: []*pb.Entry{{Data: []byte("x")}}})
		if !errors.Is(err, ErrProposalDropped) {
			t.Errorf("%s: proposal returned %v, want ErrProposalDropped", st, err)
		}
		if n := len(r.RaftLog.allEntries()); n != 0 || len(r.msgs) != 0 {
			t.Errorf("%s: a dropped proposal left %d entries and %d messages", st, n, len(r.msgs))
		}
	}
}

// End to end over a simulated network: every node applies the same
// proposals in the same order, including one that crashed and restarted.
func TestRuleReplicationEndToEnd2AC(t *testing.T) {
	c := newSimCluster(3, 7, 10, 1, 0)
	if err := c.nodes[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.process(c.nodes[1])
	c.deliverAll()
	for i := 0; i < 20; i++ {
		if i == 10 {
			c.crash(3)
		}
		if err := c.propose(1, []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
		c.deliverAll()
		c.check()
	}
	c.restart(3)
	for i := 0; i < 3; i++ {
		c.tickAll()
		c.deliverAll()
	}
	c.check()
	if c.failure != "" {
		t.Fatal(c.report())
	}
	for _, id := range []uint64{1, 2, 3} {
		if n := c.nodes[id]; n.app.index != 21 || n.app.hash != c.applied[21] {
			t.Errorf("node %d applied up to %d, want all 21 entries:\n%s", id, n.app.index, c.describeNodes())
		}
	}
}
