package test_raftstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// MockTransport is the network between the stores of a test cluster: a
// message sent by one store is handed to the router of the store it is
// addressed to, unless a filter drops it; a Delayer filter may hold it back.
// A snapshot message travels with its files: they are streamed from the
// sender's snapshot directory to the receiver's before the message is
// delivered, as the real snap runner does.
type MockTransport struct {
	mu       sync.RWMutex
	filters  []Filter
	routers  map[uint64]message.RaftRouter
	snapMgrs map[uint64]*snap.SnapManager

	// pending counts the delayed messages not delivered yet; closed stops
	// their delivery when the cluster shuts down.
	pending sync.WaitGroup
	closed  atomic.Bool

	stats transportStats
	// checks watches the messages for what a store must never do, unless
	// checksOff (a benchmark that prices the store without them).
	checks    *invariants
	checksOff atomic.Bool
	// crashes cuts off crashed stores and fires armed crashes (crash.go).
	crashes crashSwitch
}

// transportStats counts what went through the network.
type transportStats struct {
	sent, delivered, dropped, delayed, bytes atomic.Int64
	snapshots, snapshotBytes, snapshotErrs   atomic.Int64

	mu          sync.Mutex
	snapshotsTo map[uint64]int
}

// NewMockTransport makes a network with no store on it.
func NewMockTransport() *MockTransport {
	return &MockTransport{
		routers:  make(map[uint64]message.RaftRouter),
		snapMgrs: make(map[uint64]*snap.SnapManager),
		stats:    transportStats{snapshotsTo: make(map[uint64]int)},
		checks:   newInvariants(),
	}
}

// WatchEngines lets the network check what a store acknowledges against
// what its engines hold.
func (t *MockTransport) WatchEngines(storeID uint64, engines *engine_util.Engines) {
	t.checks.setEngines(storeID, engines)
}

// Violations lists what the stores did that they must never do.
func (t *MockTransport) Violations() []string { return t.checks.list() }

// AddStore connects a running store.
func (t *MockTransport) AddStore(storeID uint64, router message.RaftRouter, snapMgr *snap.SnapManager) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.routers[storeID] = router
	t.snapMgrs[storeID] = snapMgr
}

// RemoveStore disconnects a store: messages to it are lost from now on.
func (t *MockTransport) RemoveStore(storeID uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.routers, storeID)
	delete(t.snapMgrs, storeID)
}

// AddFilter adds a filter; it applies to every message sent from now on.
func (t *MockTransport) AddFilter(filter Filter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.filters = append(t.filters, filter)
}

// ClearFilters removes every filter: the network is reliable again.
func (t *MockTransport) ClearFilters() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.filters = nil
}

// Send passes msg through the filters and delivers it. A message dropped by
// a filter is lost silently, as on a real network; an error means the
// receiving store is not running or a snapshot could not be copied.
func (t *MockTransport) Send(msg *raft_serverpb.RaftMessage) error {
	t.stats.sent.Add(1)
	if t.crashes.cut(msg) || (!t.checksOff.Load() && !t.checks.onSend(msg)) {
		t.stats.dropped.Add(1)
		return nil
	}
	filters, deliver, delay := t.judge(msg)
	if !deliver {
		t.stats.dropped.Add(1)
		return nil
	}
	if msg.GetMessage().GetMsgType() == eraftpb.MessageType_MsgSnapshot {
		if err := t.carrySnapshot(msg); err != nil {
			t.stats.snapshotErrs.Add(1)
			return err
		}
	}
	if delay > 0 {
		t.deliverLater(msg, delay)
	} else if err := t.deliver(msg); err != nil {
		return err
	}
	for _, f := range filters {
		f.After()
	}
	return nil
}

// judge asks the filters whether msg goes through and how long it waits.
func (t *MockTransport) judge(msg *raft_serverpb.RaftMessage) ([]Filter, bool, time.Duration) {
	t.mu.RLock()
	filters := t.filters
	t.mu.RUnlock()
	var delay time.Duration
	for _, f := range filters {
		if !f.Before(msg) {
			return nil, false, 0
		}
		if d, ok := f.(Delayer); ok {
			if dd := d.Delay(msg); dd > delay {
				delay = dd
			}
		}
	}
	return filters, true, delay
}

func (t *MockTransport) deliverLater(msg *raft_serverpb.RaftMessage, delay time.Duration) {
	toStore := msg.GetToPeer().GetStoreId()
	if !t.checks.delayStarted(toStore) {
		t.stats.dropped.Add(1)
		return
	}
	t.stats.delayed.Add(1)
	t.pending.Add(1)
	time.AfterFunc(delay, func() {
		defer t.pending.Done()
		defer t.checks.delayEnded(toStore)
		if !t.closed.Load() {
			// The sender has moved on; a lost delayed message is a lost message.
			_ = t.deliver(msg)
		}
	})
}

// deliver hands msg to the receiving store's router. The lock is not held
// while the router works: a router that blocks must not stop the others.
func (t *MockTransport) deliver(msg *raft_serverpb.RaftMessage) error {
	toStore := msg.GetToPeer().GetStoreId()
	if t.crashes.isDead(toStore) {
		t.stats.dropped.Add(1)
		return nil
	}
	t.mu.RLock()
	router := t.routers[toStore]
	t.mu.RUnlock()
	if router == nil {
		return fmt.Errorf("store %d is not running: message %s to peer %d of region %d lost",
			toStore, msg.GetMessage().GetMsgType(), msg.GetToPeer().GetId(), msg.GetRegionId())
	}
	if err := router.SendRaftMessage(msg); err != nil {
		return err
	}
	t.stats.delivered.Add(1)
	t.stats.bytes.Add(int64(msg.Size()))
	t.crashes.delivered(msg)
	return nil
}

// carrySnapshot copies the files of msg's snapshot to the receiving store.
func (t *MockTransport) carrySnapshot(msg *raft_serverpb.RaftMessage) error {
	fromStore, toStore := msg.GetFromPeer().GetStoreId(), msg.GetToPeer().GetStoreId()
	t.mu.RLock()
	from, to := t.snapMgrs[fromStore], t.snapMgrs[toStore]
	t.mu.RUnlock()
	if from == nil || to == nil {
		return fmt.Errorf("snapshot of region %d from store %d to store %d: a store is not running",
			msg.GetRegionId(), fromStore, toStore)
	}
	size, err := copySnapshot(from, to, msg)
	if err != nil {
		return fmt.Errorf("snapshot of region %d from store %d to store %d: %v", msg.GetRegionId(), fromStore, toStore, err)
	}
	t.stats.snapshots.Add(1)
	t.stats.snapshotBytes.Add(int64(size))
	t.stats.mu.Lock()
	t.stats.snapshotsTo[toStore]++
	t.stats.mu.Unlock()
	return nil
}

// close stops the delivery of delayed messages and waits for their timers.
func (t *MockTransport) close() {
	t.closed.Store(true)
	t.pending.Wait()
}

// SnapshotsSentTo is the number of snapshots delivered to storeID so far.
func (t *MockTransport) SnapshotsSentTo(storeID uint64) int {
	t.stats.mu.Lock()
	defer t.stats.mu.Unlock()
	return t.stats.snapshotsTo[storeID]
}

// Snapshots is the number of snapshots delivered so far.
func (t *MockTransport) Snapshots() int64 { return t.stats.snapshots.Load() }

// summary is one line of statistics.
func (t *MockTransport) summary() string {
	s := &t.stats
	return fmt.Sprintf("messages=%d bytes=%d dropped=%d delayed=%d snapshots=%d snapshot_bytes=%d",
		s.delivered.Load(), s.bytes.Load()+s.snapshotBytes.Load(), s.dropped.Load(), s.delayed.Load(),
		s.snapshots.Load(), s.snapshotBytes.Load())
}
