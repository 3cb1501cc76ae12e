package test_raftstore

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// Crashing a store at a chosen instant.
//
// StopServer stops a store the polite way: the Ready it is handling is
// saved and its messages sent, its workers finish their tasks. A crash
// cuts the store off at one instant instead, as if its process died there:
//
//   - its engine writes (raftdb and kvdb, every write path, workers
//     included) hang from that instant, and are dropped once the store's
//     goroutines are let go to be stopped (engine_util.Crash);
//   - the messages it sends, and the messages sent to it, are dropped;
//   - the answers it gives to commands are not taken: a client waiting for
//     one sees no answer, as if the process died before answering;
//   - its heartbeats to the scheduler are dropped.
//
// Then the store is stopped; its engines hold exactly what reached them
// before the crash. StartServer restarts it from there.
//
// Three ways to crash a store:
//
//	cluster.CrashServer(3) // now (at a random moment: call it after a seeded sleep)
//
//	cluster.CrashServerBeforeWrite(3, n) // just before its nth engine write from now
//
//	crash := cluster.CrashServerAfter(2, AfterAck(2, regionID, PutOf(key)))
//	cluster.MustPut(key, value) // store 2 acknowledges key's entry and dies
//	if !crash.Wait(5 * time.Second) { ... the trigger never fired ... }
//	cluster.StartServer(2)
//
// CrashServer hits the store wherever its goroutines are (each hangs at
// its next engine write), which no seed replays. CrashServerBeforeWrite
// with n drawn from the cluster's generator picks a random point of the
// store's own work that the seed replays (what the other stores do in the
// meantime still depends on timing); the writes of both engines count,
// the workers' included.
//
// Store 0 in CrashServerAfter, AfterSent and AfterAck stands for any
// store: the one that sent the message the trigger picks crashes
// (Crash.StoreID tells which).
//
// A trigger watches the messages the network delivers and fires right
// after the one it picks; the crash happens before the sender's next step
// (MockTransport.Send returns only after it), so "right after store 2 sent
// its append response" means before store 2 does anything else, such as
// saving a Ready it should have saved before sending.
//
// What the model covers and does not: see engine_util.Crash. Files written
// outside the engines (snapshots in the snap directory) are not undone;
// badger's own background work (flushes, compactions) goes on; the engines
// stay open across the restart, as with StopServer.

// CrashTrigger looks at each message the network delivers (in delivery
// order; calls are serialised) and returns true for the one right after
// which the armed store crashes. It is called until it fires once.
type CrashTrigger func(msg *raft_serverpb.RaftMessage) bool

// Crash is a crash armed with CrashServerAfter or CrashServerBeforeWrite.
type Crash struct {
	// storeID is the store to crash; 0 until the crash when any store may.
	storeID uint64
	trigger CrashTrigger
	// engines are the engines of the cluster's stores (fixed after Start).
	engines map[uint64]*engine_util.Engines
	// fired is closed at the instant of the crash, done once the store is
	// stopped.
	fired, done chan struct{}
	// at is the message after which the store crashed (nil for a crash
	// before a write).
	at *raft_serverpb.RaftMessage
}

// Wait waits at most timeout for the crash to happen and the store to be
// stopped; false means the trigger did not fire in time (the crash stays
// armed).
func (cr *Crash) Wait(timeout time.Duration) bool {
	select {
	case <-cr.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Fired tells whether the crash has happened (the store may still be
// stopping).
func (cr *Crash) Fired() bool {
	select {
	case <-cr.fired:
		return true
	default:
		return false
	}
}

// Message is the message after which the store crashed (nil before, and
// for a crash before a write).
func (cr *Crash) Message() *raft_serverpb.RaftMessage {
	if !cr.Fired() {
		return nil
	}
	return cr.at
}

// StoreID is the store that crashes (0 while any store may and none has).
func (cr *Crash) StoreID() uint64 {
	if !cr.Fired() {
		return 0
	}
	return cr.storeID
}

// CrashServer crashes a running store now and returns once it is stopped.
func (c *Cluster) CrashServer(storeID uint64) {
	c.checkRunning("CrashServer")
	sim := c.nodeSimulator("CrashServer")
	if sim.node(storeID) == nil {
		failNow("cluster %s: CrashServer: store %d is not running", c.label(), storeID)
	}
	log.Infof("[msg] store=%d the test crashes the store", storeID)
	sim.crashNow(storeID, c.engines[storeID])
	sim.finishCrash(storeID, c.engines[storeID])
}

// CrashServerAfter arms a crash of a store (0: of the sender of the
// message the trigger picks): it happens right after the delivery of that
// message, and the store is then stopped in the background (Wait for it
// before StartServer). Several crashes may be armed.
func (c *Cluster) CrashServerAfter(storeID uint64, trigger CrashTrigger) *Crash {
	c.checkRunning("CrashServerAfter")
	sim := c.nodeSimulator("CrashServerAfter")
	if storeID != 0 && c.engines[storeID] == nil {
		failNow("cluster %s: CrashServerAfter: no store %d (stores are 1..%d)", c.label(), storeID, c.count)
	}
	cr := &Crash{
		storeID: storeID,
		engines: c.engines,
		trigger: trigger,
		fired:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	log.Infof("[msg] store=%d the test arms a crash of the store", storeID)
	sim.trans.crashes.arm(cr)
	return cr
}

// CrashServerBeforeWrite arms a crash of a store just before its nth
// engine write (n >= 1, counting the writes to both its engines from now):
// that write and everything after it is lost. The store is then stopped in
// the background (Wait for it before StartServer). One such crash may be
// armed per store at a time (a second one, before the first fires, is
// refused).
func (c *Cluster) CrashServerBeforeWrite(storeID uint64, n int64) *Crash {
	c.checkRunning("CrashServerBeforeWrite")
	sim := c.nodeSimulator("CrashServerBeforeWrite")
	engines := c.engines[storeID]
	if engines == nil {
		failNow("cluster %s: CrashServerBeforeWrite: no store %d (stores are 1..%d)", c.label(), storeID, c.count)
	}
	if n < 1 {
		failNow("cluster %s: CrashServerBeforeWrite: write %d: writes count from 1", c.label(), n)
	}
	cr := &Crash{
		storeID: storeID,
		engines: c.engines,
		fired:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	log.Infof("[msg] store=%d the test arms a crash of the store before its write %d from now", storeID, n)
	if !sim.trans.crashes.armWrites(cr) {
		failNow("cluster %s: CrashServerBeforeWrite: a crash of store %d before a write is armed already", c.label(), storeID)
	}
	engine_util.CrashBeforeWrite(n, func() { sim.fireCrash(cr) }, engines.Kv, engines.Raft)
	return cr
}

func (c *Cluster) nodeSimulator(what string) *NodeSimulator {
	sim, ok := c.simulator.(*NodeSimulator)
	if !ok {
		failNow("cluster %s: %s needs the in-process simulator", c.label(), what)
	}
	return sim
}

// AfterSent fires right after storeID (0: any store) delivers a message
// of regionID (0: any region) that pick accepts.
func AfterSent(storeID, regionID uint64, pick func(m *eraftpb.Message) bool) CrashTrigger {
	return func(msg *raft_serverpb.RaftMessage) bool {
		return (storeID == 0 || msg.GetFromPeer().GetStoreId() == storeID) &&
			(regionID == 0 || msg.GetRegionId() == regionID) && pick(msg.GetMessage())
	}
}

// AfterAck fires right after storeID (0: any store) delivers an append
// response of regionID (0: any region) that acknowledges an entry match
// accepts, the entry having reached the store after the trigger was armed.
func AfterAck(storeID, regionID uint64, match func(e *eraftpb.Entry) bool) CrashTrigger {
	// index is the index of the matching entry in each store that got it.
	index := make(map[uint64]uint64)
	return func(msg *raft_serverpb.RaftMessage) bool {
		if regionID != 0 && msg.GetRegionId() != regionID {
			return false
		}
		m := msg.GetMessage()
		switch m.GetMsgType() {
		case eraftpb.MessageType_MsgAppend:
			to := msg.GetToPeer().GetStoreId()
			if (storeID != 0 && to != storeID) || index[to] != 0 {
				return false
			}
			for _, e := range m.GetEntries() {
				if match(e) {
					index[to] = e.GetIndex()
					break
				}
			}
		case eraftpb.MessageType_MsgAppendResponse:
			from := msg.GetFromPeer().GetStoreId()
			return (storeID == 0 || from == storeID) && index[from] != 0 && !m.GetReject() && m.GetIndex() >= index[from]
		}
		return false
	}
}

// PutOf matches a log entry whose command puts key (in any column family).
func PutOf(key []byte) func(e *eraftpb.Entry) bool {
	return func(e *eraftpb.Entry) bool {
		if e.GetEntryType() != eraftpb.EntryType_EntryNormal || len(e.GetData()) == 0 {
			return false
		}
		var cmd raft_cmdpb.RaftCmdRequest
		if err := proto.Unmarshal(e.GetData(), &cmd); err != nil {
			return false
		}
		for _, req := range cmd.GetRequests() {
			if req.GetCmdType() == raft_cmdpb.CmdType_Put && bytes.Equal(req.GetPut().GetKey(), key) {
				return true
			}
		}
		return false
	}
}

// crashSwitch is the network's part of crashes: the armed triggers and the
// dead stores, whose messages it drops.
type crashSwitch struct {
	// active counts armed crashes and dead stores; while it is 0 the
	// network does not take the lock.
	active atomic.Int32
	mu     sync.Mutex
	armed  []*Crash
	dead   map[uint64]bool
	// armedWrites are the crashes armed on engine writes.
	armedWrites []*Crash
	// fired are the crashes that happened, to wait for their stores to stop.
	fired []*Crash
	// onFire performs a crash a trigger picked (set by the simulator).
	onFire func(cr *Crash)
}

// armWrites records a crash armed on a store's writes, to disarm it at
// shutdown; false when one of that store is armed and has not fired.
func (s *crashSwitch) armWrites(cr *Crash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pending []*Crash
	for _, other := range s.armedWrites {
		if other.Fired() {
			continue
		}
		if other.storeID == cr.storeID {
			return false
		}
		pending = append(pending, other)
	}
	s.armedWrites = append(pending, cr)
	return true
}

func (s *crashSwitch) arm(cr *Crash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = append(s.armed, cr)
	s.active.Add(1)
}

// kill marks a store dead: its messages are dropped from now on.
func (s *crashSwitch) kill(storeID uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead == nil {
		s.dead = make(map[uint64]bool)
	}
	if !s.dead[storeID] {
		s.dead[storeID] = true
		s.active.Add(1)
	}
}

// revive forgets that a store is dead (it has been stopped).
func (s *crashSwitch) revive(storeID uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead[storeID] {
		delete(s.dead, storeID)
		s.active.Add(-1)
	}
}

func (s *crashSwitch) isDead(storeID uint64) bool {
	if s.active.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead[storeID]
}

// cut tells whether msg comes from or goes to a dead store.
func (s *crashSwitch) cut(msg *raft_serverpb.RaftMessage) bool {
	if s.active.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead[msg.GetFromPeer().GetStoreId()] || s.dead[msg.GetToPeer().GetStoreId()]
}

// delivered shows msg to the armed triggers and crashes the stores whose
// trigger fires.
func (s *crashSwitch) delivered(msg *raft_serverpb.RaftMessage) {
	if s.active.Load() == 0 {
		return
	}
	s.mu.Lock()
	var fired []*Crash
	kept := s.armed[:0]
	for _, cr := range s.armed {
		if s.dead[cr.storeID] || !cr.trigger(msg) {
			kept = append(kept, cr)
			continue
		}
		if cr.storeID == 0 {
			cr.storeID = msg.GetFromPeer().GetStoreId()
		}
		cr.at = msg
		fired = append(fired, cr)
		s.active.Add(-1)
	}
	s.armed = kept
	onFire := s.onFire
	s.mu.Unlock()
	for _, cr := range fired {
		onFire(cr)
	}
}

// disarm drops the crashes that never fired (the cluster shuts down).
func (s *crashSwitch) disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active.Add(-int32(len(s.armed)))
	s.armed = nil
	for _, cr := range s.armedWrites {
		if !cr.Fired() {
			engines := cr.engines[cr.storeID]
			engine_util.Revive(engines.Kv, engines.Raft)
		}
	}
	s.armedWrites = nil
}

// addFired records a crash that happened.
func (s *crashSwitch) addFired(cr *Crash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fired = append(s.fired, cr)
}

// waitStopped waits until every store that crashed on a trigger is stopped.
func (s *crashSwitch) waitStopped() {
	s.mu.Lock()
	fired := append([]*Crash(nil), s.fired...)
	s.mu.Unlock()
	for _, cr := range fired {
		<-cr.done
	}
}

// fireCrash performs a crash a trigger picked: the store dies at once (on
// the goroutine that delivered the message, before its sender goes on, or
// that was about to write) and is stopped in the background.
func (s *NodeSimulator) fireCrash(cr *Crash) {
	if cr.at != nil {
		log.Infof("[msg] store=%d crashes right after %s from store %d to store %d of region %d",
			cr.storeID, cr.at.GetMessage().GetMsgType(), cr.at.GetFromPeer().GetStoreId(), cr.at.GetToPeer().GetStoreId(), cr.at.GetRegionId())
	} else {
		log.Infof("[msg] store=%d crashes before an engine write", cr.storeID)
	}
	engines := cr.engines[cr.storeID]
	s.trans.crashes.addFired(cr)
	s.crashNow(cr.storeID, engines)
	close(cr.fired)
	go func() {
		defer close(cr.done)
		s.finishCrash(cr.storeID, engines)
	}()
}

// crashNow is the instant of a crash: from here nothing the store does
// reaches the outside. Answers are cut first and the engines last, so that
// nothing acknowledged or sent can rest on a write that was dropped.
func (s *NodeSimulator) crashNow(storeID uint64, engines *engine_util.Engines) {
	s.waitMu.Lock()
	s.crashed[storeID] = s.incarnation[storeID]
	s.waitMu.Unlock()
	s.trans.crashes.kill(storeID)
	engine_util.Crash(engines.Kv, engines.Raft)
}

// finishCrash lets the dead store's goroutines run to their end, their
// writes dropped, stops the store, and lets writes reach its engines again.
func (s *NodeSimulator) finishCrash(storeID uint64, engines *engine_util.Engines) {
	engine_util.ReleaseCrashed(engines.Kv, engines.Raft)
	s.stopIfRunning(storeID)
	engine_util.Revive(engines.Kv, engines.Raft)
	s.trans.crashes.revive(storeID)
}

// answerLost tells whether an answer from storeID, to a command sent to
// the given incarnation of it, must be ignored: that incarnation crashed.
func (s *NodeSimulator) answerLost(storeID uint64, incarnation int) bool {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	crashed, ok := s.crashed[storeID]
	return ok && crashed == incarnation
}

// crashAwareScheduler is the scheduler as the stores see it: the
// heartbeats of a dead store are lost.
type crashAwareScheduler struct {
	scheduler_client.Client
	dead func(storeID uint64) bool
}

// StoreHeartbeat drops the heartbeat of a dead store.
func (c *crashAwareScheduler) StoreHeartbeat(ctx context.Context, stats *schedulerpb.StoreStats) error {
	if c.dead(stats.GetStoreId()) {
		return nil
	}
	return c.Client.StoreHeartbeat(ctx, stats)
}

// RegionHeartbeat drops the heartbeat of a region led by a dead store.
func (c *crashAwareScheduler) RegionHeartbeat(req *schedulerpb.RegionHeartbeatRequest) error {
	if c.dead(req.GetLeader().GetStoreId()) {
		return nil
	}
	return c.Client.RegionHeartbeat(req)
}
