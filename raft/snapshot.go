package raft

import (
	"github.com/tinykv-lab/tinykv/log"
	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// sendSnapshot sends the peer a snapshot, for its Next entry is compacted.
// A snapshot received from a leader and not applied yet is the newest
// thing this node has; otherwise the storage makes one, which may take a
// while (ErrSnapshotTemporarilyUnavailable): the next heartbeat answer or
// append tries again. Reports whether a message was sent.
func (r *Raft) sendSnapshot(to uint64, pr *Progress) bool {
	// Your Code Here (2C).
	//lab:begin 2C
	var snap pb.Snapshot
	if p := r.RaftLog.pendingSnapshot; p != nil {
		snap = *p
	} else {
		var err error
		snap, err = r.RaftLog.storage.Snapshot()
		if err == ErrSnapshotTemporarilyUnavailable {
			log.Debugf("[snap] peer=%d term=%d snapshot for %d is not ready yet", r.id, r.Term, to)
			return false
		}
		if err != nil {
			log.Errorf("[snap] peer=%d term=%d cannot get a snapshot for %d: %v", r.id, r.Term, to, err)
			return false
		}
	}
	if IsEmptySnap(&snap) {
		log.Warnf("[snap] peer=%d term=%d needs a snapshot for %d (next %d) but the storage has none",
			r.id, r.Term, to, pr.Next)
		return false
	}
	index := snap.Metadata.Index
	pr.pendingSnapshot, pr.snapshotElapsed = index, 0
	pr.Next = index + 1
	log.Infof("[snap] peer=%d term=%d sent snapshot at index %d term %d to %d", r.id, r.Term, index, snap.Metadata.Term, to)
	r.send(pb.Message{MsgType: pb.MessageType_MsgSnapshot, To: to, Snapshot: &snap})
	return true
	//lab:else
	//	return false
	//lab:end
}

// waitingForSnapshot reports whether a snapshot sent to the peer is still
// unacknowledged: entries sent meanwhile would follow a log it lacks.
func (pr *Progress) waitingForSnapshot() bool {
	// Your Code Here (2C).
	//lab:begin 2C
	return pr.pendingSnapshot != 0
	//lab:else
	//	return false
	//lab:end
}

// snapshotAcknowledged ends the wait for a snapshot once the peer's log
// reaches it.
func (r *Raft) snapshotAcknowledged(pr *Progress) {
	// Your Code Here (2C).
	//lab:begin 2C
	if pr.pendingSnapshot != 0 && pr.Match >= pr.pendingSnapshot {
		pr.pendingSnapshot = 0
	}
	//lab:end
}

// tickSnapshotWaits gives up on snapshots unanswered for an election
// timeout (lost on the way, or refused): the peer gets a new one.
func (r *Raft) tickSnapshotWaits() {
	// Your Code Here (2C).
	//lab:begin 2C
	for id, pr := range r.Prs {
		if pr.pendingSnapshot == 0 {
			continue
		}
		pr.snapshotElapsed++
		if pr.snapshotElapsed >= r.electionTimeout {
			log.Infof("[snap] peer=%d term=%d snapshot at index %d to %d unanswered, will send again", r.id, r.Term, pr.pendingSnapshot, id)
			pr.pendingSnapshot = 0
			pr.Next = pr.Match + 1
		}
	}
	//lab:end
}
