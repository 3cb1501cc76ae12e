package raft

import (
	"github.com/tinykv-lab/tinykv/log"
	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// propose handles MsgPropose on the leader: append the entries to the
// log and send them out.
func (r *Raft) propose(ents []*pb.Entry) error {
	// Your Code Here (2AB).
	//lab:begin 2AB
	if r.leadTransferee != None {
		log.Debugf("[propose] peer=%d term=%d dropped a proposal: transferring leadership to %d", r.id, r.Term, r.leadTransferee)
		return ErrProposalDropped
	}
	if !r.isMember() {
		return ErrProposalDropped
	}
	if len(ents) == 0 {
		return nil
	}
	r.appendEntries(ents)
	r.bcastAppend()
	return nil
	//lab:else
	//	return ErrProposalDropped
	//lab:end
}

//lab:begin 2AB

// appendEntries appends entries of the current term to the leader's log.
// A conf change is refused (turned into an empty entry) while another one
// is not yet applied.
func (r *Raft) appendEntries(ents []*pb.Entry) {
	last := r.RaftLog.LastIndex()
	for _, e := range ents {
		last++
		ent := pb.Entry{EntryType: e.EntryType, Term: r.Term, Index: last, Data: e.Data}
		if e.EntryType == pb.EntryType_EntryConfChange {
			if r.PendingConfIndex > r.RaftLog.applied {
				log.Infof("[conf] peer=%d term=%d refused a conf change: the one at index %d is not applied yet (applied %d)",
					r.id, r.Term, r.PendingConfIndex, r.RaftLog.applied)
				ent = pb.Entry{Term: r.Term, Index: last}
			} else {
				r.PendingConfIndex = last
			}
		}
		r.RaftLog.appendNew(ent)
	}
	if pr := r.Prs[r.id]; pr != nil {
		pr.Match, pr.Next = last, last+1
	}
	r.maybeCommit()
}

//lab:end

// bcastAppend sends every other member what it lacks, with the commit
// index.
func (r *Raft) bcastAppend() {
	// Your Code Here (2AB).
	//lab:begin 2AB
	for _, id := range r.peers() {
		r.sendAppend(id)
	}
	//lab:end
}

// maybeCommit raises the commit index to the highest index stored on a
// majority, if that entry is of the current term: entries of earlier terms
// are committed only indirectly (Raft §5.4.2, figure 8). Reports whether
// the commit index moved.
func (r *Raft) maybeCommit() bool {
	// Your Code Here (2AB).
	//lab:begin 2AB
	if len(r.Prs) == 0 {
		return false
	}
	matches := r.matchBuf[:0]
	for _, pr := range r.Prs {
		matches = append(matches, pr.Match)
	}
	r.matchBuf = matches
	sortIDs(matches)
	// Sorted low to high, a majority holds every index up to this one.
	n := matches[(len(matches)-1)/2]
	if n <= r.RaftLog.committed || !r.RaftLog.matchTerm(n, r.Term) {
		return false
	}
	r.RaftLog.commitTo(n)
	if log.Enabled(log.LevelDebug) {
		log.Debugf("[commit] peer=%d term=%d committed up to %d", r.id, r.Term, n)
	}
	return true
	//lab:else
	//	return false
	//lab:end
}

// handleAppendResponse updates the peer's progress from its answer to an
// append: on success the commit index may move; on rejection the leader
// backs off and sends again.
func (r *Raft) handleAppendResponse(m pb.Message) {
	// Your Code Here (2AB).
	//lab:begin 2AB
	pr := r.Prs[m.From]
	if pr == nil {
		return
	}
	if m.Reject {
		r.handleAppendReject(m, pr)
		return
	}
	last := r.RaftLog.LastIndex()
	if m.Index > last {
		log.Warnf("[append] peer=%d term=%d ignored an answer from %d claiming index %d after our last index %d",
			r.id, r.Term, m.From, m.Index, last)
		return
	}
	if m.Index > pr.Match {
		pr.Match = m.Index
	}
	pr.Next = max(pr.Next, pr.Match+1)
	r.snapshotAcknowledged(pr)
	if r.maybeCommit() {
		r.bcastAppend()
	} else if pr.Next <= last {
		r.sendAppend(m.From)
	}
	if m.From == r.leadTransferee && pr.Match == r.RaftLog.LastIndex() {
		r.sendTimeoutNow(m.From)
	}
	//lab:end
}

//lab:begin 2AB

// handleAppendReject moves Next back after a rejection. The follower's hint
// (m.Index, m.LogTerm) is the highest entry that may still match; our
// entries with a term above the hint's cannot, so they are skipped too. Next
// always moves back by at least one, and never to Match or below.
func (r *Raft) handleAppendReject(m pb.Message, pr *Progress) {
	if pr.waitingForSnapshot() || m.Index < pr.Match {
		// An answer to an append sent before the snapshot (wait for the
		// snapshot), or an old one: the peer holds Match already.
		return
	}
	next := m.Index + 1
	for next-1 > pr.Match {
		if t, err := r.RaftLog.Term(next - 1); err != nil || t <= m.LogTerm {
			break
		}
		next--
	}
	if next >= pr.Next && pr.Next > 0 {
		next = pr.Next - 1
	}
	pr.Next = max(next, pr.Match+1)
	log.Debugf("[append] peer=%d term=%d peer %d rejected, hint (%d, term %d): next=%d",
		r.id, r.Term, m.From, m.Index, m.LogTerm, pr.Next)
	r.sendAppend(m.From)
}

//lab:end

// handleHeartbeatResponse catches up a follower that lags behind: the
// heartbeat carries no entries, its answer tells the peer is reachable.
func (r *Raft) handleHeartbeatResponse(m pb.Message) {
	// Your Code Here (2AB).
	//lab:begin 2AB
	pr := r.Prs[m.From]
	if pr != nil && (pr.Match < r.RaftLog.LastIndex() || m.Commit < r.RaftLog.committed) {
		r.sendAppend(m.From)
	}
	//lab:end
}
