package message

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// pending reads tinykv_raft_pending_proposals from the default registry.
func pending(t *testing.T) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "tinykv_raft_pending_proposals" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("tinykv_raft_pending_proposals is not registered")
	return 0
}

func TestPendingProposalsFollowCallbacks(t *testing.T) {
	base := pending(t)
	ok, failed, lost := NewCallback(), NewCallback(), NewCallback()
	for _, cb := range []*Callback{ok, failed, lost} {
		cb.Proposed()
	}
	ok.Proposed() // a second call is the same proposal
	if got := pending(t) - base; got != 3 {
		t.Fatalf("pending proposals moved by %v after proposing three commands (one of them twice), want 3", got)
	}
	ok.Done(&raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{}})
	failed.Done(&raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{Error: &errorpb.Error{Message: "stale"}}})
	ok.Done(nil) // answered twice: a bug, counted once
	if got := pending(t) - base; got != 1 {
		t.Fatalf("pending proposals moved by %v with one of three commands unanswered (one answered twice), want 1", got)
	}
	NewCallback().Done(nil) // never proposed: not counted
	if got := pending(t) - base; got != 1 {
		t.Fatalf("pending proposals moved by %v after answering a command that never went to raft, want still 1", got)
	}
	lost.Done(nil)
	if got := pending(t) - base; got != 0 {
		t.Fatalf("pending proposals moved by %v after every command was answered, want 0", got)
	}
}
