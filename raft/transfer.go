package raft

import (
	"github.com/tinykv-lab/tinykv/log"
	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// Leader transfer (Raft thesis §3.10): the leader brings the transferee's
// log up to date, then tells it to campaign at once (MsgTimeoutNow). The
// transferee wins because its log is as up to date as any. Meanwhile the
// leader takes no proposals, so the target stays still; if the transfer
// does not finish within an election timeout the leader gives up.

// handleTransferLeader handles MsgTransferLeader on the leader; m.From is
// the transferee.
func (r *Raft) handleTransferLeader(m pb.Message) {
	// Your Code Here (3A).
	//lab:begin 3A
	transferee := m.From
	if transferee == r.id {
		if r.leadTransferee != None {
			r.abortLeaderTransfer("asked to keep the leadership")
		}
		return
	}
	pr, ok := r.Prs[transferee]
	if !ok {
		log.Infof("[transfer] peer=%d term=%d ignored a transfer to %d, which is not a member", r.id, r.Term, transferee)
		return
	}
	if r.leadTransferee == transferee {
		// Already on its way; do not restart the timer.
		return
	}
	r.leadTransferee = transferee
	r.electionElapsed = 0
	log.Infof("[transfer] peer=%d term=%d transferring leadership to %d (match %d, last %d)",
		r.id, r.Term, transferee, pr.Match, r.RaftLog.LastIndex())
	if pr.Match == r.RaftLog.LastIndex() {
		r.sendTimeoutNow(transferee)
		return
	}
	r.sendAppend(transferee)
	//lab:end
}

// forwardTransferLeader passes a transfer request that reached a follower
// on to the leader it knows (if any).
func (r *Raft) forwardTransferLeader(m pb.Message) {
	// Your Code Here (3A).
	//lab:begin 3A
	if r.Lead == None {
		log.Debugf("[transfer] peer=%d term=%d dropped a transfer to %d: no leader known", r.id, r.Term, m.From)
		return
	}
	m.To = r.Lead
	m.Term = r.Term
	r.msgs = append(r.msgs, m)
	//lab:end
}

// sendTimeoutNow tells the transferee, whose log is now up to date, to
// campaign at once.
func (r *Raft) sendTimeoutNow(to uint64) {
	// Your Code Here (3A).
	//lab:begin 3A
	log.Infof("[transfer] peer=%d term=%d %d is up to date, asking it to campaign", r.id, r.Term, to)
	r.send(pb.Message{MsgType: pb.MessageType_MsgTimeoutNow, To: to})
	//lab:end
}

// handleTimeoutNow makes a follower campaign whatever its timer says.
func (r *Raft) handleTimeoutNow(m pb.Message) {
	// Your Code Here (3A).
	//lab:begin 3A
	log.Infof("[transfer] peer=%d term=%d asked by %d to campaign now", r.id, r.Term, m.From)
	r.campaign()
	//lab:end
}

// abortLeaderTransfer gives the transfer up; the leader takes proposals again.
func (r *Raft) abortLeaderTransfer(why string) {
	// Your Code Here (3A).
	//lab:begin 3A
	log.Infof("[transfer] peer=%d term=%d gave up transferring leadership to %d: %s", r.id, r.Term, r.leadTransferee, why)
	r.leadTransferee = None
	//lab:end
}
