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
	// queued, appended and committed time the other stages of the write
	// path for the metrics (zero until reached): when the router took the
	// command, when the leader had its entry in its raft log on disk, and
	// when the leader knew the entry committed.
	queued, appended, committed time.Time
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
		now := time.Now()
		ok := cb.Resp.GetHeader().GetError() == nil
		metrics.ProposalAnswered(now.Sub(cb.proposed), ok)
		if ok && !cb.committed.IsZero() {
			metrics.WriteStages(cb.appended.Sub(cb.proposed), cb.committed.Sub(cb.appended), now.Sub(cb.committed))
		}
	}
}

// Queued records that the router queued the command for the raft worker.
func (cb *Callback) Queued() {
	if cb != nil {
		cb.queued = time.Now()
	}
}

// Appended records that the command's entry is in the leader's raft log
// (at now), Committed that its commit is; only the first call counts.
func (cb *Callback) Appended(now time.Time) {
	if cb != nil && cb.appended.IsZero() {
		cb.appended = now
	}
}

// Committed: see Appended. An entry committed is appended too.
func (cb *Callback) Committed(now time.Time) {
	if cb != nil && cb.committed.IsZero() {
		cb.committed = now
		if cb.appended.IsZero() {
			cb.appended = now
		}
	}
}

// Proposed records that the command goes to raft now, for the store's
// propose-to-apply latency and its count of commands waiting for an answer.
func (cb *Callback) Proposed() {
	if cb != nil && cb.proposed.IsZero() {
		cb.proposed = time.Now()
		metrics.ProposalPending()
		if !cb.queued.IsZero() {
			metrics.CommandQueued(cb.proposed.Sub(cb.queued))
		}
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
