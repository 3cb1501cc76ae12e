package raft

import (
	"github.com/tinykv-lab/tinykv/log"
	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// hup handles MsgHup: the election timer fired (or the application asked
// for an election).
func (r *Raft) hup() {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if r.State == StateLeader {
		return
	}
	r.campaign()
	//lab:end
}

// campaign starts an election: become a candidate of the next term, vote
// for itself and ask every other member for its vote.
func (r *Raft) campaign() {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if !r.isMember() {
		log.Debugf("[elect] peer=%d term=%d is not a member and does not campaign", r.id, r.Term)
		return
	}
	r.becomeCandidate()
	if r.tallyVotes() {
		// A single-node cluster: our own vote is a majority.
		r.becomeLeader()
		return
	}
	lastIndex, lastTerm := r.RaftLog.LastIndex(), r.RaftLog.lastTerm()
	for _, id := range r.peers() {
		r.send(pb.Message{MsgType: pb.MessageType_MsgRequestVote, To: id, Index: lastIndex, LogTerm: lastTerm})
	}
	//lab:end
}

// handleRequestVote answers a vote request of the current term (Step has
// already applied the term rules). One vote per term, and only for a
// candidate whose log is at least as up to date as ours (§5.4.1).
func (r *Raft) handleRequestVote(m pb.Message) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	canVote := r.Vote == m.From || (r.Vote == None && r.Lead == None)
	grant := canVote && r.RaftLog.isUpToDate(m.Index, m.LogTerm)
	if grant {
		r.Vote = m.From
		r.electionElapsed = 0
	}
	log.Debugf("[vote] peer=%d term=%d vote for %d (log %d/%d, ours %d/%d): granted=%v",
		r.id, r.Term, m.From, m.LogTerm, m.Index, r.RaftLog.lastTerm(), r.RaftLog.LastIndex(), grant)
	r.send(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, To: m.From, Reject: !grant})
	//lab:end
}

// handleVoteResponse counts a vote (only the first answer of each member
// counts): a majority of grants wins the election, a majority of
// rejections ends it.
func (r *Raft) handleVoteResponse(m pb.Message) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if _, ok := r.votes[m.From]; !ok {
		r.votes[m.From] = !m.Reject
	}
	if r.tallyVotes() {
		r.becomeLeader()
		r.bcastAppend()
		return
	}
	if r.lostElection() {
		log.Infof("[elect] peer=%d term=%d lost the election", r.id, r.Term)
		r.becomeFollower(r.Term, None)
	}
	//lab:end
}

//lab:begin 2AA

// tallyVotes reports whether a majority of the members granted their vote.
func (r *Raft) tallyVotes() bool {
	return r.countVotes(true) > len(r.Prs)/2
}

// lostElection reports whether a majority of the members rejected us.
func (r *Raft) lostElection() bool {
	return r.countVotes(false) > len(r.Prs)/2
}

// countVotes counts the members whose answer was granted.
func (r *Raft) countVotes(granted bool) int {
	n := 0
	for id := range r.Prs {
		if v, ok := r.votes[id]; ok && v == granted {
			n++
		}
	}
	return n
}

//lab:end
