package test_raftstore

import (
	"fmt"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// Filter decides the fate of the raft messages between stores: the mock
// network asks every filter of the cluster about each message.
type Filter interface {
	// Before returns true to deliver msg, false to drop it.
	Before(msg *raft_serverpb.RaftMessage) bool
	// After is called once a message that every filter let through has
	// been handed to the receiving store.
	After()
}

// Delayer is a Filter that may also hold a message back: the message is
// delivered Delay(msg) later instead of at once, so messages sent one after
// the other can arrive in the other order. Among several delayers the
// longest delay wins.
type Delayer interface {
	Filter
	Delay(msg *raft_serverpb.RaftMessage) time.Duration
}

// randomFilter is a filter that draws random numbers; AddFilter gives it
// the cluster's seeded generator so that a seed replays its choices.
type randomFilter interface {
	setRand(r *lockedRand)
}

// validFilter is a filter whose settings can be wrong; AddFilter checks them.
type validFilter interface {
	validate() error
}

// PartitionFilter cuts the network between two groups of stores: every
// message from a store of s1 to a store of s2, or back, is dropped.
// Messages inside a group, and to stores of neither group, go through.
type PartitionFilter struct {
	s1 []uint64
	s2 []uint64
}

// NewPartitionFilter cuts s1 from s2.
func NewPartitionFilter(s1, s2 []uint64) *PartitionFilter {
	return &PartitionFilter{s1: s1, s2: s2}
}

func containsStore(stores []uint64, storeID uint64) bool {
	for _, id := range stores {
		if id == storeID {
			return true
		}
	}
	return false
}

// Before drops the messages that cross the cut.
func (f *PartitionFilter) Before(msg *raft_serverpb.RaftMessage) bool {
	from, to := msg.GetFromPeer().GetStoreId(), msg.GetToPeer().GetStoreId()
	crosses := (containsStore(f.s1, from) && containsStore(f.s2, to)) ||
		(containsStore(f.s2, from) && containsStore(f.s1, to))
	return !crosses
}

// After does nothing.
func (f *PartitionFilter) After() {}

func (f *PartitionFilter) String() string {
	return fmt.Sprintf("partition %v | %v", f.s1, f.s2)
}

// dropFilterRate is the share of messages DropFilter drops.
const dropFilterRate = 0.1

// DropFilter is the unreliable network: it drops about 10% of the messages
// at random.
type DropFilter struct {
	rng *lockedRand
}

// Before drops about one message in ten.
func (f *DropFilter) Before(msg *raft_serverpb.RaftMessage) bool {
	return randOrDefault(f.rng).Float64() >= dropFilterRate
}

// After does nothing.
func (f *DropFilter) After() {}

func (f *DropFilter) setRand(r *lockedRand) { f.rng = r }

func (f *DropFilter) String() string { return "drop 10%" }

// DropFractionFilter drops the given fraction of the messages at random
// (0 drops none, 1 drops all).
type DropFractionFilter struct {
	Fraction float64
	rng      *lockedRand
}

// Before drops a message with probability Fraction.
func (f *DropFractionFilter) Before(msg *raft_serverpb.RaftMessage) bool {
	return randOrDefault(f.rng).Float64() >= f.Fraction
}

// After does nothing.
func (f *DropFractionFilter) After() {}

func (f *DropFractionFilter) setRand(r *lockedRand) { f.rng = r }

func (f *DropFractionFilter) validate() error {
	if f.Fraction < 0 || f.Fraction > 1 {
		return fmt.Errorf("DropFractionFilter: fraction %v is outside [0, 1]", f.Fraction)
	}
	return nil
}

func (f *DropFractionFilter) String() string {
	return fmt.Sprintf("drop %.0f%%", f.Fraction*100)
}

// DelayFilter delays every message by a random time in [0, MaxDelay), which
// also reorders them. It drops nothing.
type DelayFilter struct {
	MaxDelay time.Duration
	rng      *lockedRand
}

// Before lets every message through (Delay holds it back).
func (f *DelayFilter) Before(msg *raft_serverpb.RaftMessage) bool { return true }

// After does nothing.
func (f *DelayFilter) After() {}

// Delay draws the message's delay.
func (f *DelayFilter) Delay(msg *raft_serverpb.RaftMessage) time.Duration {
	if f.MaxDelay <= 0 {
		return 0
	}
	return time.Duration(randOrDefault(f.rng).Int63n(int64(f.MaxDelay)))
}

func (f *DelayFilter) setRand(r *lockedRand) { f.rng = r }

func (f *DelayFilter) validate() error {
	if f.MaxDelay < 0 {
		return fmt.Errorf("DelayFilter: negative max delay %v", f.MaxDelay)
	}
	return nil
}

func (f *DelayFilter) String() string { return fmt.Sprintf("delay < %v", f.MaxDelay) }

func randOrDefault(r *lockedRand) *lockedRand {
	if r == nil {
		return defaultRand
	}
	return r
}
