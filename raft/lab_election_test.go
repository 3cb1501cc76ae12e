package raft

// Election rules (Raft figure 2 and §5.2), one test per rule.

import (
	"reflect"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// labBecome puts r in state st the way an election would.
func labBecome(r *Raft, st StateType) {
	switch st {
	case StateFollower:
		r.becomeFollower(r.Term+1, None)
	case StateCandidate:
		r.becomeCandidate()
	case StateLeader:
		r.becomeCandidate()
		r.becomeLeader()
	}
	takeMsgs(r)
}

func TestRuleRestartKeepsTermAndVote2AA(t *testing.T) {
	s := labStorage(t, labEnts(1, 2)...)
	if err := s.SetHardState(pb.HardState{Term: 3, Vote: 2, Commit: 1}); err != nil {
		t.Fatal(err)
	}
	r := labRaft(1, []uint64{1, 2, 3}, s)
	if r.State != StateFollower || r.Term != 3 || r.Vote != 2 || r.Lead != None || r.RaftLog.committed != 1 {
		t.Fatalf("after restart: state %s term %d vote %d lead %d commit %d, want StateFollower term 3 vote 2 lead 0 commit 1",
			r.State, r.Term, r.Vote, r.Lead, r.RaftLog.committed)
	}
}

// A message of a higher term turns any node into a follower of that term;
// the sender becomes the leader only if it says so (append, heartbeat,
// snapshot).
func TestRuleHigherTermMakesFollower2AA(t *testing.T) {
	types := map[pb.MessageType]uint64{
		pb.MessageType_MsgAppend:              2,
		pb.MessageType_MsgHeartbeat:           2,
		pb.MessageType_MsgSnapshot:            2,
		pb.MessageType_MsgRequestVote:         None,
		pb.MessageType_MsgRequestVoteResponse: None,
		pb.MessageType_MsgAppendResponse:      None,
		pb.MessageType_MsgHeartbeatResponse:   None,
	}
	for _, st := range []StateType{StateFollower, StateCandidate, StateLeader} {
		for mt, wantLead := range types {
			r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
			labBecome(r, st)
			term := r.Term + 3
			m := pb.Message{MsgType: mt, From: 2, To: 1, Term: term}
			if mt == pb.MessageType_MsgSnapshot {
				m.Snapshot = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 1, ConfState: &pb.ConfState{Nodes: []uint64{1, 2, 3}}}}
			}
			if err := r.Step(m); err != nil {
				t.Fatalf("%s stepping %s: %v", st, mt, err)
			}
			if r.State != StateFollower || r.Term != term || r.Lead != wantLead {
				t.Errorf("%s after %s of term %d: state %s term %d lead %d, want StateFollower term %d lead %d",
					st, mt, term, r.State, r.Term, r.Lead, term, wantLead)
			}
		}
	}
}

// A message of a lower term changes nothing; a stale request (vote,
// append, heartbeat, snapshot) gets an answer that carries the current
// term, so that its sender learns it.
func TestRuleStaleTermIgnored2AA(t *testing.T) {
	types := []pb.MessageType{
		pb.MessageType_MsgAppend, pb.MessageType_MsgHeartbeat, pb.MessageType_MsgSnapshot,
		pb.MessageType_MsgRequestVote, pb.MessageType_MsgRequestVoteResponse,
		pb.MessageType_MsgAppendResponse, pb.MessageType_MsgHeartbeatResponse, pb.MessageType_MsgTimeoutNow,
	}
	for _, st := range []StateType{StateFollower, StateCandidate, StateLeader} {
		for _, mt := range types {
			r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
			r.Term = 5
			labBecome(r, st)
			before := ltoa(r.RaftLog)
			term, vote, lead := r.Term, r.Vote, r.Lead
			m := pb.Message{MsgType: mt, From: 2, To: 1, Term: 2, Entries: []*pb.Entry{{Index: 1, Term: 2}}, Commit: 1}
			if err := r.Step(m); err != nil {
				t.Fatalf("%s stepping %s: %v", st, mt, err)
			}
			if r.State != st || r.Term != term || r.Vote != vote || r.Lead != lead {
				t.Errorf("%s after stale %s: state %s term %d vote %d lead %d, want %s %d %d %d",
					st, mt, r.State, r.Term, r.Vote, r.Lead, st, term, vote, lead)
			}
			if d := diffu(before, ltoa(r.RaftLog)); d != "" {
				t.Errorf("%s: stale %s changed the log:\n%s", st, mt, d)
			}
			answers := map[pb.MessageType]pb.MessageType{
				pb.MessageType_MsgRequestVote: pb.MessageType_MsgRequestVoteResponse,
				pb.MessageType_MsgHeartbeat:   pb.MessageType_MsgHeartbeatResponse,
				pb.MessageType_MsgAppend:      pb.MessageType_MsgAppendResponse,
				pb.MessageType_MsgSnapshot:    pb.MessageType_MsgAppendResponse,
			}
			msgs := takeMsgs(r)
			answer, isRequest := answers[mt]
			if !isRequest {
				if len(msgs) != 0 {
					t.Errorf("%s: stale %s was answered:\n%s", st, mt, describeMsgs(msgs))
				}
				continue
			}
			if len(msgs) != 1 || msgs[0].MsgType != answer || msgs[0].Term != term || msgs[0].To != 2 {
				t.Errorf("%s: answer to a stale %s:\n%s\nwant one %s of term %d to 2", st, mt, describeMsgs(msgs), answer, term)
			}
		}
	}
}

// The election timeout is drawn from [et, 2et) at every timer reset, from
// a source that replays with the same seed and differs between nodes.
func TestRuleElectionTimeoutRandomized2AA(t *testing.T) {
	const et = 10
	timeouts := func(id uint64, seed int64) []int {
		cfg := labConfig(id, []uint64{1, 2, 3}, et, 1, NewMemoryStorage())
		cfg.Seed = seed
		r := newRaft(cfg)
		var got []int
		for round := 0; round < 300; round++ {
			r.becomeFollower(r.Term+1, None)
			ticks := 0
			for len(takeMsgs(r)) == 0 {
				r.tick()
				ticks++
				if ticks > 2*et {
					t.Fatalf("no election after %d ticks, want one within [%d, %d)", ticks, et, 2*et)
				}
			}
			got = append(got, ticks)
		}
		return got
	}
	_, seed := labRand(t)
	a := timeouts(1, seed)
	seen := make(map[int]bool)
	for _, ticks := range a {
		if ticks < et || ticks >= 2*et {
			t.Fatalf("election after %d ticks, want within [%d, %d)", ticks, et, 2*et)
		}
		seen[ticks] = true
	}
	if len(seen) != et {
		t.Errorf("300 timeouts took %d distinct values, want all %d of [%d, %d)", len(seen), et, et, 2*et)
	}
	if b := timeouts(1, seed); !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed drew different timeouts: not replayable")
	}
	if c := timeouts(2, seed); reflect.DeepEqual(a, c) {
		t.Errorf("nodes 1 and 2 drew the same timeouts from one seed: they would always collide")
	}
}

// On timeout a follower becomes candidate of the next term, votes for
// itself and asks every other member, giving its last log index and term.
func TestRuleCandidateAsksForVotes2AA(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, labStorage(t, labEnts(1, 2)...))
	r.Term = 2
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	if r.State != StateCandidate || r.Term != 3 || r.Vote != 1 || !r.votes[1] {
		t.Fatalf("after MsgHup: state %s term %d vote %d votes %v, want StateCandidate term 3 vote 1 with its own vote",
			r.State, r.Term, r.Vote, r.votes)
	}
	want := []pb.Message{
		{MsgType: pb.MessageType_MsgRequestVote, From: 1, To: 2, Term: 3, Index: 2, LogTerm: 2},
		{MsgType: pb.MessageType_MsgRequestVote, From: 1, To: 3, Term: 3, Index: 2, LogTerm: 2},
	}
	if got := takeMsgs(r); !reflect.DeepEqual(got, want) {
		t.Errorf("vote requests:\n%s\nwant:\n%s", describeMsgs(got), describeMsgs(want))
	}
}

// One vote per term: a second candidate of the same term is refused, the
// same candidate asking again is granted again.
func TestRuleOneVotePerTerm2AA(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
	ask := func(from uint64) bool {
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: from, To: 1, Term: 1}); err != nil {
			t.Fatal(err)
		}
		msgs := takeMsgs(r)
		if len(msgs) != 1 || msgs[0].MsgType != pb.MessageType_MsgRequestVoteResponse || msgs[0].To != from {
			t.Fatalf("answer to a vote request of %d:\n%s\nwant one MsgRequestVoteResponse to it", from, describeMsgs(msgs))
		}
		return !msgs[0].Reject
	}
	if !ask(2) {
		t.Fatal("a fresh follower refused its first vote of the term")
	}
	if ask(3) {
		t.Error("a second candidate of the same term got the vote too")
	}
	if !ask(2) {
		t.Error("the candidate it voted for was refused when asking again (a retry)")
	}
	if r.Vote != 2 {
		t.Errorf("vote = %d, want 2", r.Vote)
	}
}

// A node that moves to a higher term, on any message of that term, has not
// voted in it yet: its vote of the old term does not carry over. (A message
// from the leader of the new term is left out: a node that knows the leader
// of its term votes for nobody else.)
func TestRuleVoteAfterTermChange2AA(t *testing.T) {
	carriers := []pb.MessageType{
		pb.MessageType_MsgRequestVote,
		pb.MessageType_MsgRequestVoteResponse,
		pb.MessageType_MsgAppendResponse,
		pb.MessageType_MsgHeartbeatResponse,
	}
	for _, st := range []StateType{StateFollower, StateCandidate, StateLeader} {
		for _, mt := range carriers {
			// One entry in the log, so that 2's vote request below (with an
			// empty log) is refused and leaves the new term's vote free.
			r := labRaft(1, []uint64{1, 2, 3}, labStorage(t, labEnts(1)...))
			labBecome(r, st)
			if st == StateFollower {
				// The follower votes for 2 in its term.
				if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 2, To: 1, Term: r.Term, LogTerm: 1, Index: 1}); err != nil {
					t.Fatal(err)
				}
				takeMsgs(r)
			}
			oldTerm, oldVote := r.Term, r.Vote
			if oldVote == None {
				t.Fatalf("%s at term %d: no vote to carry over (vote %d); the test needs one", st, oldTerm, oldVote)
			}
			term := oldTerm + 2
			// 2 brings the new term (asking for a vote, its log is behind);
			// 3 asks for the vote of that term.
			if err := r.Step(pb.Message{MsgType: mt, From: 2, To: 1, Term: term}); err != nil {
				t.Fatalf("%s stepping %s of term %d: %v", st, mt, term, err)
			}
			takeMsgs(r)
			if r.Term != term {
				t.Fatalf("%s after %s of term %d: term %d, want %d", st, mt, term, r.Term, term)
			}
			vote := pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 3, To: 1, Term: term,
				LogTerm: term, Index: r.RaftLog.LastIndex() + 1}
			if err := r.Step(vote); err != nil {
				t.Fatal(err)
			}
			msgs := msgsOfType(takeMsgs(r), pb.MessageType_MsgRequestVoteResponse)
			if len(msgs) != 1 || msgs[0].To != 3 || msgs[0].Reject || r.Vote != 3 {
				t.Errorf("%s that voted for %d in term %d, moved to term %d by a %s from 2, asked by 3 (log up to date) for its vote in term %d:\n"+
					"answers:\n%s\nvote %d; want one granted MsgRequestVoteResponse to 3 and vote 3 (the old term's vote does not count in the new term)",
					st, oldVote, oldTerm, term, mt, term, describeMsgs(msgs), r.Vote)
			}
		}
	}
}

// A follower that knows the leader of the term does not vote for another
// candidate of that term.
func TestRuleNoVoteWhileLeaderKnown2AA(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
	r.becomeFollower(2, 3)
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 2, To: 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	if msgs := takeMsgs(r); len(msgs) != 1 || !msgs[0].Reject {
		t.Errorf("answer while following leader 3 of the same term:\n%s\nwant one rejection", describeMsgs(msgs))
	}
}

func TestRuleMajorityOfVotesWins2AA(t *testing.T) {
	r := labRaft(1, labIDs(5), NewMemoryStorage())
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	takeMsgs(r)
	grant := func(from uint64, reject bool) {
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, From: from, To: 1, Term: 1, Reject: reject}); err != nil {
			t.Fatal(err)
		}
	}
	grant(2, false)
	grant(2, false) // a duplicate counts once
	grant(6, false) // not a member: does not count
	grant(3, true)
	if r.State != StateCandidate {
		t.Fatalf("with 2 of 5 votes (a duplicate and a non-member ignored): state %s, want StateCandidate", r.State)
	}
	grant(4, false)
	if r.State != StateLeader || r.Lead != 1 {
		t.Fatalf("with 3 of 5 votes: state %s lead %d, want StateLeader lead 1", r.State, r.Lead)
	}
}

func TestRuleMajorityOfRejectionsEndsElection2AA(t *testing.T) {
	r := labRaft(1, labIDs(5), NewMemoryStorage())
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{2, 3} {
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, From: from, To: 1, Term: 1, Reject: true}); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != StateCandidate {
		t.Fatalf("after 2 of 5 rejections: state %s, want StateCandidate", r.State)
	}
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, From: 4, To: 1, Term: 1, Reject: true}); err != nil {
		t.Fatal(err)
	}
	if r.State != StateFollower || r.Term != 1 {
		t.Errorf("after 3 of 5 rejections: state %s term %d, want StateFollower term 1", r.State, r.Term)
	}
}

// A candidate that hears from a leader of its own term steps down.
func TestRuleCandidateYieldsToLeader2AA(t *testing.T) {
	for _, mt := range []pb.MessageType{pb.MessageType_MsgHeartbeat, pb.MessageType_MsgAppend} {
		r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
		labBecome(r, StateCandidate)
		if err := r.Step(pb.Message{MsgType: mt, From: 3, To: 1, Term: r.Term}); err != nil {
			t.Fatal(err)
		}
		if r.State != StateFollower || r.Lead != 3 || r.Term != 1 {
			t.Errorf("candidate after %s of its term: state %s lead %d term %d, want StateFollower lead 3 term 1", mt, r.State, r.Lead, r.Term)
		}
	}
}

// A leader sends every heartbeatTimeout ticks a heartbeat carrying only
// its term to every other member.
func TestRuleLeaderSendsHeartbeats2AA(t *testing.T) {
	r := newRaft(labConfig(1, []uint64{1, 2, 3}, 10, 3, NewMemoryStorage()))
	labBecome(r, StateLeader)
	for i := 0; i < 2; i++ {
		r.tick()
		if msgs := takeMsgs(r); len(msgs) != 0 {
			t.Fatalf("tick %d of a heartbeat interval of 3 sent:\n%s", i+1, describeMsgs(msgs))
		}
	}
	r.tick()
	want := []pb.Message{
		{MsgType: pb.MessageType_MsgHeartbeat, From: 1, To: 2, Term: 1},
		{MsgType: pb.MessageType_MsgHeartbeat, From: 1, To: 3, Term: 1},
	}
	if got := takeMsgs(r); !reflect.DeepEqual(got, want) {
		t.Errorf("after 3 ticks:\n%s\nwant exactly:\n%s", describeMsgs(got), describeMsgs(want))
	}
}

// A follower that keeps hearing from its leader never campaigns.
func TestRuleLeaderContactResetsTimer2AA(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
	r.becomeFollower(1, 2)
	for i := 0; i < 100; i++ {
		r.tick()
		if i%5 == 0 {
			if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHeartbeat, From: 2, To: 1, Term: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if votes := msgsOfType(takeMsgs(r), pb.MessageType_MsgRequestVote); len(votes) > 0 {
			t.Fatalf("a follower heard from its leader every 5 ticks (election timeout 10) but campaigned at tick %d", i+1)
		}
	}
}

// Granting a vote restarts the election timer (figure 2: a follower
// campaigns when the timeout passes "without receiving AppendEntries from
// the current leader or granting vote to a candidate").
func TestRuleVoteGrantRestartsTimer2AA(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, NewMemoryStorage())
	r.becomeFollower(2, None)
	for i := 0; i < r.randomizedElectionTimeout-1; i++ {
		r.tick()
	}
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVote, From: 2, To: 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	if msgs := takeMsgs(r); len(msgs) != 1 || msgs[0].Reject {
		t.Fatalf("a follower of term 2 without vote or leader, asked by 2:\n%s\nwant one granted vote", describeMsgs(msgs))
	}
	for i := 0; i < r.electionTimeout-1; i++ {
		r.tick()
		if votes := msgsOfType(takeMsgs(r), pb.MessageType_MsgRequestVote); len(votes) > 0 {
			t.Fatalf("a follower campaigned %d ticks after granting its vote (election timeout %d): granting a vote restarts the timer",
				i+1, r.electionTimeout)
		}
	}
}

// A node that is not in its own membership never campaigns.
func TestRuleNonMemberNeverCampaigns2AA(t *testing.T) {
	r := labRaft(1, []uint64{2, 3}, NewMemoryStorage())
	for i := 0; i < 50; i++ {
		r.tick()
	}
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	if msgs := takeMsgs(r); r.State != StateFollower || r.Term != 0 || len(msgs) != 0 {
		t.Errorf("a non-member after 50 ticks and a MsgHup: state %s term %d messages:\n%s\nwant a silent follower of term 0",
			r.State, r.Term, describeMsgs(msgs))
	}
}

func TestRuleSingleNodeElectsItself2AA(t *testing.T) {
	r := labRaft(1, []uint64{1}, NewMemoryStorage())
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	if r.State != StateLeader || r.Term != 1 {
		t.Errorf("single node after MsgHup: state %s term %d, want StateLeader term 1", r.State, r.Term)
	}
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil || r.Term != 1 || r.State != StateLeader {
		t.Errorf("a leader given MsgHup: term %d state %s err %v, want it to stay leader of term 1", r.Term, r.State, err)
	}
}

// A new leader appends an empty entry of its term and sends it to everyone
// at once.
func TestRuleNewLeaderAppendsNoop2AB(t *testing.T) {
	r := labRaft(1, []uint64{1, 2, 3}, labStorage(t, labEnts(1)...))
	r.Term = 1
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup}); err != nil {
		t.Fatal(err)
	}
	takeMsgs(r)
	if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, From: 2, To: 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	if r.State != StateLeader {
		t.Fatalf("state %s, want StateLeader", r.State)
	}
	noop := pb.Entry{Term: 2, Index: 2}
	if ents := r.RaftLog.allEntries(); len(ents) != 2 || !reflect.DeepEqual(ents[1], noop) {
		t.Fatalf("log of the new leader: %s, want a no-op %s at the end", describeEntries(ents), describeEntry(noop))
	}
	apps := msgsOfType(takeMsgs(r), pb.MessageType_MsgAppend)
	if len(apps) != 2 {
		t.Fatalf("the new leader sent %d appends, want one to each of 2 followers", len(apps))
	}
	for _, m := range apps {
		if m.Index != 1 || m.LogTerm != 1 || len(m.Entries) != 1 || !reflect.DeepEqual(*m.Entries[0], noop) {
			t.Errorf("append %s, want the no-op after entry 1/1", describeMsg(m))
		}
	}
}

func TestRuleInvalidConfigRejected2AC(t *testing.T) {
	bad := []*Config{
		{ID: 0, ElectionTick: 10, HeartbeatTick: 1, Storage: NewMemoryStorage()},
		{ID: 1, ElectionTick: 10, HeartbeatTick: 0, Storage: NewMemoryStorage()},
		{ID: 1, ElectionTick: 1, HeartbeatTick: 1, Storage: NewMemoryStorage()},
		{ID: 1, ElectionTick: 10, HeartbeatTick: 1},
	}
	for i, cfg := range bad {
		if rn, err := NewRawNode(cfg); err == nil || rn != nil {
			t.Errorf("#%d: NewRawNode(%+v) = %v, %v; want an error", i, *cfg, rn, err)
		}
	}
	if err := (&Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: NewMemoryStorage()}).validate(); err != nil {
		t.Errorf("a valid config was refused: %v", err)
	}
}
