package raft

// Shared helpers of this package's own tests. Course test files may be
// dropped next to these, so every name here is distinct from theirs.

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// labSeed returns the seed of a randomized test: RAFT_SEED when set, else
// a fresh one. On failure the test prints it, so the run can be replayed
// with RAFT_SEED=<seed> go test ./raft -run <test>.
func labSeed(t testing.TB) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("RAFT_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("RAFT_SEED=%q is not an integer", s)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with RAFT_SEED=%d go test ./raft -run '^%s$'", seed, seed, t.Name())
		}
	})
	return seed
}

// labConfig returns the configuration of node id in a cluster of peers,
// with election and heartbeat ticks and a fixed seed.
func labConfig(id uint64, peers []uint64, election, heartbeat int, s Storage) *Config {
	return &Config{ID: id, peers: peers, ElectionTick: election, HeartbeatTick: heartbeat, Storage: s, Seed: 1}
}

// labRaft returns node id of a cluster of peers on s (election 10, heartbeat 1).
func labRaft(id uint64, peers []uint64, s Storage) *Raft {
	return newRaft(labConfig(id, peers, 10, 1, s))
}

// labStorage returns a MemoryStorage holding ents (indexes from 1).
func labStorage(t testing.TB, ents ...pb.Entry) *MemoryStorage {
	s := NewMemoryStorage()
	if err := s.Append(ents); err != nil {
		t.Fatalf("cannot prepare the storage: %v", err)
	}
	return s
}

// labEnts returns entries at indexes 1.. with the given terms.
func labEnts(terms ...uint64) []pb.Entry {
	ents := make([]pb.Entry, len(terms))
	for i, term := range terms {
		ents[i] = pb.Entry{Index: uint64(i + 1), Term: term}
	}
	return ents
}

// takeMsgs returns and clears the messages r queued.
func takeMsgs(r *Raft) []pb.Message {
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// msgsOfType keeps the messages of type t.
func msgsOfType(msgs []pb.Message, t pb.MessageType) []pb.Message {
	var out []pb.Message
	for _, m := range msgs {
		if m.MsgType == t {
			out = append(out, m)
		}
	}
	return out
}

// describeMsgs prints messages one per line, for failure messages.
func describeMsgs(msgs []pb.Message) string {
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		lines[i] = "  " + describeMsg(m)
	}
	return strings.Join(lines, "\n")
}

// describeMsg prints a message in the scenario files' notation, e.g.
// "1->2 MsgAppend term=1 index=0 logterm=0 commit=0 entries=[1/1 1/2:"x"]"
// (entries as term/index, with their data).
func describeMsg(m pb.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s term=%d", m.From, m.To, m.MsgType, m.Term)
	switch m.MsgType {
	case pb.MessageType_MsgRequestVote:
		fmt.Fprintf(&b, " index=%d logterm=%d", m.Index, m.LogTerm)
	case pb.MessageType_MsgAppend:
		fmt.Fprintf(&b, " index=%d logterm=%d commit=%d entries=%s", m.Index, m.LogTerm, m.Commit, describeEntryPtrs(m.Entries))
	case pb.MessageType_MsgAppendResponse:
		if m.Reject {
			fmt.Fprintf(&b, " reject hint=%d/%d", m.LogTerm, m.Index)
		} else {
			fmt.Fprintf(&b, " index=%d", m.Index)
		}
	case pb.MessageType_MsgRequestVoteResponse:
		if m.Reject {
			b.WriteString(" reject")
		} else {
			b.WriteString(" granted")
		}
	case pb.MessageType_MsgSnapshot:
		meta := m.GetSnapshot().GetMetadata()
		fmt.Fprintf(&b, " snapshot=%d/%d nodes=%v", meta.GetTerm(), meta.GetIndex(), meta.GetConfState().GetNodes())
	}
	return b.String()
}

func describeEntryPtrs(ents []*pb.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		parts[i] = describeEntry(*e)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeEntries(ents []pb.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		parts[i] = describeEntry(e)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// describeEntry prints term/index, then the data of a normal entry or the
// change of a conf change entry.
func describeEntry(e pb.Entry) string {
	s := fmt.Sprintf("%d/%d", e.Term, e.Index)
	switch {
	case e.EntryType == pb.EntryType_EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return s + ":conf?"
		}
		if cc.ChangeType == pb.ConfChangeType_AddNode {
			return fmt.Sprintf("%s:add-%d", s, cc.NodeId)
		}
		return fmt.Sprintf("%s:remove-%d", s, cc.NodeId)
	case len(e.Data) > 0:
		return fmt.Sprintf("%s:%q", s, e.Data)
	}
	return s
}

// labIDs returns 1..n.
func labIDs(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// labRand returns a random source for a test, seeded by labSeed.
func labRand(t testing.TB) (*rand.Rand, int64) {
	seed := labSeed(t)
	return rand.New(rand.NewSource(seed)), seed
}
