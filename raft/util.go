package raft

import (
	"fmt"
	"sort"
	"strings"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// IsEmptyHardState reports whether st is the zero HardState: a Ready uses it
// to say "nothing to persist".
func IsEmptyHardState(st pb.HardState) bool {
	return isHardStateEqual(st, pb.HardState{})
}

// IsEmptySnap reports whether sp carries no snapshot (nil, no metadata, or
// index 0): a Ready uses it to say "no snapshot to apply".
func IsEmptySnap(sp *pb.Snapshot) bool {
	if sp == nil || sp.Metadata == nil {
		return true
	}
	return sp.Metadata.Index == 0
}

func isHardStateEqual(a, b pb.HardState) bool {
	return a.Term == b.Term && a.Vote == b.Vote && a.Commit == b.Commit
}

// IsLocalMsg reports whether a message of this type is generated inside a
// node and must never arrive over the network.
func IsLocalMsg(msgt pb.MessageType) bool {
	return msgt == pb.MessageType_MsgHup || msgt == pb.MessageType_MsgBeat
}

// IsResponseMsg reports whether a message of this type answers a request.
func IsResponseMsg(msgt pb.MessageType) bool {
	switch msgt {
	case pb.MessageType_MsgAppendResponse, pb.MessageType_MsgRequestVoteResponse, pb.MessageType_MsgHeartbeatResponse:
		return true
	}
	return false
}

// nodes returns the ids in r.Prs in increasing order (never nil).
func nodes(r *Raft) []uint64 {
	ids := make([]uint64, 0, len(r.Prs))
	for id := range r.Prs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// mustTerm unwraps the result of RaftLog.Term, panicking on an error. For
// tests, where an error means the test itself is wrong.
func mustTerm(term uint64, err error) uint64 {
	if err != nil {
		panic(err)
	}
	return term
}

// ltoa prints a log for comparison in tests: committed, applied and every
// entry kept in memory, and nothing else (logs reached by different paths
// compare equal when they hold the same entries).
func ltoa(l *RaftLog) string {
	var b strings.Builder
	fmt.Fprintf(&b, "committed: %d\n", l.committed)
	fmt.Fprintf(&b, "applied:   %d\n", l.applied)
	for i, e := range l.entries {
		fmt.Fprintf(&b, "entry %d: %+v\n", i, e)
	}
	return b.String()
}

// diffu compares two multi-line texts: "" when equal, otherwise a line diff
// in which "-" lines are only in a, "+" lines only in b and "  " lines in both.
func diffu(a, b string) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j] is the length of the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	out.WriteString("--- a\n+++ b\n")
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&out, "  %s\n", x[i])
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&out, "+ %s\n", y[j])
			j++
		default:
			fmt.Fprintf(&out, "- %s\n", x[i])
			i++
		}
	}
	return out.String()
}
