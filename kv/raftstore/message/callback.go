package message

import (
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// Callback carries the answer to one proposed command back to the
// proposer. Done is called exactly once; WaitResp blocks until then.
type Callback struct {
	Resp *raft_cmdpb.RaftCmdResponse
	// Txn is the read transaction answering a Snap command; the receiver
	// discards it.
	Txn  *badger.Txn
	done chan struct{}
	// proposed is when the command went to raft (zero if it did not).
	proposed time.Time
}

// NewCallback makes a callback to wait on.
func NewCallback() *Callback {
	return &Callback{done: make(chan struct{}, 1)}
}

// Done answers the command. A nil callback is ignored (some commands, like
// compact log, have nobody waiting).
func (cb *Callback) Done(resp *raft_cmdpb.RaftCmdResponse) {
	if cb == nil {
		return
	}
	if resp != nil {
		cb.Resp = resp
	}
	select {
	case cb.done <- struct{}{}:
	default:
		// Answered twice: a bug, but one that must not stall the raft worker.
		return
	}
	if !cb.proposed.IsZero() {
		metrics.ProposalAnswered(time.Since(cb.proposed), cb.Resp.GetHeader().GetError() == nil)
	}
}

// Proposed records that the command goes to raft now, for the store's
// propose-to-apply latency and its count of commands waiting for an answer.
func (cb *Callback) Proposed() {
	if cb != nil && cb.proposed.IsZero() {
		cb.proposed = time.Now()
		metrics.ProposalPending()
	}
}

// WaitResp waits for the answer.
func (cb *Callback) WaitResp() *raft_cmdpb.RaftCmdResponse {
	<-cb.done
	return cb.Resp
}

// WaitRespWithTimeout waits for the answer at most timeout; nil means none came.
func (cb *Callback) WaitRespWithTimeout(timeout time.Duration) *raft_cmdpb.RaftCmdResponse {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-cb.done:
		return cb.Resp
	case <-timer.C:
		return nil
	}
}
