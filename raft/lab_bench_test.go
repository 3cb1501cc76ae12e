package raft

// Throughput of a 3-node group in one goroutine: MemoryStorage, messages
// handed from node to node in memory, no sleeping. Run it with
//
//	go test ./raft -run '^$' -bench BenchmarkRaft3Nodes -benchtime 200000x
//
// It prints one line:
//
//	raft: nodes=3 entry_bytes=128 committed_per_sec=N allocs_per_entry=M

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

const (
	benchEntryBytes = 128
	// proposals made between two rounds of Ready handling, as a busy
	// raftstore collects many per Ready
	benchBatch = 64
	// the application compacts its log every so many applied entries
	benchCompactEvery = 4096
)

type benchNode struct {
	rn      *RawNode
	storage *MemoryStorage
	applied uint64
}

type benchGroup struct {
	nodes map[uint64]*benchNode
	inbox []pb.Message
}

func newBenchGroup(b *testing.B, n int) *benchGroup {
	g := &benchGroup{nodes: make(map[uint64]*benchNode)}
	ids := labIDs(n)
	for _, id := range ids {
		s := NewMemoryStorage()
		rn, err := NewRawNode(labConfig(id, ids, 10, 1, s))
		if err != nil {
			b.Fatal(err)
		}
		g.nodes[id] = &benchNode{rn: rn, storage: s}
	}
	if err := g.nodes[1].rn.Campaign(); err != nil {
		b.Fatal(err)
	}
	g.pump(b)
	if g.nodes[1].rn.Raft.State != StateLeader {
		b.Fatalf("node 1 did not win the election")
	}
	return g
}

// pump handles Readys and delivers messages until the group is quiet,
// within the simulator's bounds (see simMaxInFlight).
func (g *benchGroup) pump(b *testing.B) {
	for {
		busy := false
		for id := uint64(1); id <= uint64(len(g.nodes)); id++ {
			n := g.nodes[id]
			for round := 0; n.rn.HasReady(); round++ {
				if round == simMaxReadyRounds {
					b.Fatalf("node %d still has a Ready after %d rounds of Ready and Advance: %s", id, round, simMultiplyHint)
				}
				busy = true
				g.handle(b, n, n.rn.Ready())
			}
		}
		if len(g.inbox) == 0 && !busy {
			return
		}
		if len(g.inbox) > simMaxInFlight {
			b.Fatalf("%d messages in flight (limit %d): %s", len(g.inbox), simMaxInFlight, simMultiplyHint)
		}
		inbox := g.inbox
		g.inbox = nil
		for _, m := range inbox {
			if err := g.nodes[m.To].rn.Step(m); err != nil {
				b.Fatalf("step %s: %v", describeMsg(m), err)
			}
		}
	}
}

func (g *benchGroup) handle(b *testing.B, n *benchNode, rd Ready) {
	if err := n.storage.Append(rd.Entries); err != nil {
		b.Fatal(err)
	}
	if !IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			b.Fatal(err)
		}
	}
	g.inbox = append(g.inbox, rd.Messages...)
	if k := len(rd.CommittedEntries); k > 0 {
		n.applied = rd.CommittedEntries[k-1].Index
	}
	n.rn.Advance(rd)
	if first, _ := n.storage.FirstIndex(); n.applied >= first+benchCompactEvery {
		if err := n.storage.Compact(n.applied); err != nil {
			b.Fatal(err)
		}
	}
}

func (g *benchGroup) minApplied() uint64 {
	least := ^uint64(0)
	for _, n := range g.nodes {
		least = min(least, n.applied)
	}
	return least
}

func BenchmarkRaft3Nodes(b *testing.B) {
	g := newBenchGroup(b, 3)
	leader := g.nodes[1].rn
	data := make([]byte, benchEntryBytes)
	target := leader.Raft.RaftLog.LastIndex() + uint64(b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for proposed := 0; proposed < b.N; {
		for i := 0; i < benchBatch && proposed < b.N; i++ {
			if err := leader.Propose(data); err != nil {
				b.Fatal(err)
			}
			proposed++
		}
		g.pump(b)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if got := g.minApplied(); got < target {
		b.Fatalf("applied on all nodes up to %d, want %d", got, target)
	}
	perSec := float64(b.N) / elapsed.Seconds()
	allocs := float64(after.Mallocs-before.Mallocs) / float64(b.N)
	b.ReportMetric(perSec, "entries/s")
	b.ReportMetric(allocs, "allocs/entry")
	if benchFinalRun(b, elapsed) {
		fmt.Printf("\nraft: nodes=3 entry_bytes=%d committed_per_sec=%.0f allocs_per_entry=%.1f\n", benchEntryBytes, perSec, allocs)
	}
}

// benchFinalRun reports whether this is the last run of the benchmark
// (the testing package grows b.N until a run lasts -benchtime, or runs
// exactly N times for -benchtime Nx), so the summary line prints once.
func benchFinalRun(b *testing.B, elapsed time.Duration) bool {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return true
	}
	v := f.Value.String()
	if n, ok := strings.CutSuffix(v, "x"); ok {
		want, err := strconv.Atoi(n)
		return err != nil || b.N == want
	}
	d, err := time.ParseDuration(v)
	return err != nil || elapsed >= d
}
