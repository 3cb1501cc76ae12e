package raft

// Safety under chaos: 3 to 5 nodes under random ticks, deliveries (out of
// order), drops, duplicates, partitions, crashes and restarts, proposals,
// log compaction (and, for 3A, leader transfers and membership changes).
// After every step the cluster checks: at most one leader per term, log
// matching, leader completeness, committed entries never change, every
// node applies the same entries. At the end the network heals and the
// cluster must make progress again.
//
// The seed corpus runs with every `go test`; `go test -fuzz` explores more:
//
//	go test ./raft -run '^$' -fuzz FuzzClusterSafety3A -fuzztime 60s

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

const (
	simMaxOps = 3000
	// Rounds of ticks allowed for progress once failures stop. Without
	// pre-vote, a member that missed a conf change (it does not know one of
	// the members) can keep outrunning the only candidate it could elect
	// for many elections before the random timeouts let the candidate win.
	simConvergeRuns = 1000
	// a run is a few milliseconds; one that takes seconds is stuck
	simRunBudget = 10 * time.Second
)

type simOp int

const (
	simDeliver simOp = iota
	simDeliverAll
	simTickAll
	simTickOne
	simPropose
	simDrop
	simDuplicate
	simPartition
	simCrash
	simCompact
	simTransferOp
	simReconfigOp
)

// simOpTable maps an op byte to an action; repeated actions are the
// frequent ones (the network mostly works, failures are rarer).
var simOpTable = []simOp{
	simDeliver, simDeliver, simDeliver, simDeliver, simDeliver, simDeliver, simDeliver, simDeliver, simDeliver, simDeliver,
	simDeliverAll, simDeliverAll, simDeliverAll,
	simTickAll, simTickAll, simTickAll, simTickAll, simTickAll,
	simTickOne,
	simPropose, simPropose, simPropose, simPropose, simPropose,
	simDrop, simDuplicate, simPartition, simCrash,
	simCompact, simCompact,
	simTransferOp, simReconfigOp,
}

// runSimOps builds a cluster from seed and applies ops, checking the
// invariants after each. The cluster keeps the first violation.
func runSimOps(seed int64, ops []byte, reconfig bool) *simCluster {
	rng := rand.New(rand.NewSource(seed))
	c := newSimCluster(3+rng.Intn(3), seed, 6, 2, 5)
	nextID := uint64(len(c.nodes) + 1)
	start := time.Now()
	for step, op := range ops {
		if step >= simMaxOps {
			break
		}
		switch simOpTable[int(op)%len(simOpTable)] {
		case simDeliver:
			if len(c.queue) > 0 {
				c.deliver(rng.Intn(min(len(c.queue), 4)))
			}
		case simDeliverAll:
			c.deliverAll()
		case simTickAll:
			c.tickAll()
		case simTickOne:
			c.tick(simPick(c, rng))
		case simPropose:
			if lead := c.leader(); lead != nil {
				_ = c.propose(lead.id, []byte(fmt.Sprintf("p%d", step)))
			} else {
				_ = c.propose(simPick(c, rng), []byte(fmt.Sprintf("q%d", step)))
			}
		case simDrop:
			if len(c.queue) > 0 {
				i := rng.Intn(len(c.queue))
				c.queue = append(c.queue[:i], c.queue[i+1:]...)
			}
		case simDuplicate:
			if len(c.queue) > 0 {
				c.send(c.queue[rng.Intn(len(c.queue))].Message)
			}
		case simPartition:
			simPartitionOrHeal(c, rng)
		case simCrash:
			simCrashOrRestart(c, rng)
		case simCompact:
			c.compact(simPick(c, rng))
		case simTransferOp:
			if reconfig {
				simTransfer(c, rng)
			}
		case simReconfigOp:
			if reconfig {
				nextID = simReconfigure(c, rng, nextID)
			}
		}
		c.check()
		if time.Since(start) > simRunBudget {
			c.fail("the run is too slow: %d steps took more than %v", step, simRunBudget)
		}
		if c.failure != "" {
			c.failure = fmt.Sprintf("step %d: %s", step, c.failure)
			break
		}
	}
	return c
}

// simPick returns a random node id (maybe down or removed).
func simPick(c *simCluster, rng *rand.Rand) uint64 {
	ids := sortedKeys(c.nodes)
	return ids[rng.Intn(len(ids))]
}

func simPartitionOrHeal(c *simCluster, rng *rand.Rand) {
	if len(c.cut) > 0 {
		c.note("heal")
		c.heal()
		return
	}
	var a, b []uint64
	for _, id := range sortedKeys(c.nodes) {
		if rng.Intn(2) == 0 {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	c.note("partition %v | %v", a, b)
	c.partition(a, b)
}

func simCrashOrRestart(c *simCluster, rng *rand.Rand) {
	id := simPick(c, rng)
	if c.nodes[id].down {
		c.restart(id)
		return
	}
	down := 0
	for _, n := range c.nodes {
		if n.down {
			down++
		}
	}
	// Keep a majority of the initial nodes up most of the time.
	if down < len(c.nodes)/2 {
		c.crash(id)
	}
}

func simTransfer(c *simCluster, rng *rand.Rand) {
	lead := c.leader()
	if lead == nil {
		return
	}
	members := nodes(lead.rn.Raft)
	target := members[rng.Intn(len(members))]
	c.note("%d asked to transfer leadership to %d", lead.id, target)
	lead.rn.TransferLeader(target)
	c.process(lead)
}

// simReconfigure proposes adding a new node or removing a member (keeping
// 2 to 5 members, and creating at most 8 nodes in all); new ids are never
// reused.
func simReconfigure(c *simCluster, rng *rand.Rand, nextID uint64) uint64 {
	lead := c.leader()
	if lead == nil {
		return nextID
	}
	members := nodes(lead.rn.Raft)
	var cc pb.ConfChange
	if len(members) < 5 && len(c.nodes) < 8 && (len(members) <= 2 || rng.Intn(2) == 0) {
		cc = pb.ConfChange{ChangeType: pb.ConfChangeType_AddNode, NodeId: nextID}
		c.addNode(nextID)
		nextID++
	} else if len(members) > 2 {
		cc = pb.ConfChange{ChangeType: pb.ConfChangeType_RemoveNode, NodeId: members[rng.Intn(len(members))]}
	} else {
		return nextID
	}
	c.note("%d proposes %s %d", lead.id, cc.ChangeType, cc.NodeId)
	_ = c.proposeConfChange(lead.id, cc)
	return nextID
}

// simOps returns n random op bytes from seed (the seed corpus).
func simOps(seed int64, n int) []byte {
	rng := rand.New(rand.NewSource(seed))
	ops := make([]byte, n)
	rng.Read(ops)
	return ops
}

func fuzzCluster(f *testing.F, reconfig bool) {
	for seed := int64(1); seed <= 6; seed++ {
		f.Add(seed, simOps(seed, 1500))
	}
	f.Fuzz(func(t *testing.T, seed int64, ops []byte) {
		checkSimRun(t, seed, ops, reconfig)
	})
}

func checkSimRun(t *testing.T, seed int64, ops []byte, reconfig bool) {
	c := runSimOps(seed, ops, reconfig)
	if c.failure != "" {
		t.Fatalf("cluster seed %d, %d ops: safety violated: %s", seed, len(ops), c.report())
	}
	if stuck := c.converge(simConvergeRuns); stuck != "" {
		t.Fatalf("cluster seed %d, %d ops: %s\n%s", seed, len(ops), stuck, c.report())
	}
}

func FuzzClusterSafety2C(f *testing.F) { fuzzCluster(f, false) }

func FuzzClusterSafety3A(f *testing.F) { fuzzCluster(f, true) }

// TestSimRandomRuns2C runs a few random histories from a fresh seed (print
// on failure, replay with RAFT_SEED).
func TestSimRandomRuns2C(t *testing.T) {
	rng, _ := labRand(t)
	for i := 0; i < 12; i++ {
		seed := rng.Int63()
		checkSimRun(t, seed, simOps(seed, 1500), false)
	}
}

func TestSimRandomRuns3A(t *testing.T) {
	rng, _ := labRand(t)
	for i := 0; i < 12; i++ {
		seed := rng.Int63()
		checkSimRun(t, seed, simOps(seed, 1500), true)
	}
}
