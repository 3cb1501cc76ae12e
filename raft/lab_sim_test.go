package raft

// simCluster: RawNodes driven in one goroutine over a simulated network
// that can drop, reorder, duplicate and partition messages, with crashes and
// restarts from what each node persisted. It plays the application's part
// of the Ready loop (persist to a MemoryStorage, send, apply, Advance) and
// checks Raft's safety invariants whenever asked. Used by the multi-node
// tests, the scenario files, the fuzz target and the benchmark.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// simApp is a node's state machine: a hash chained over every applied
// entry, so two nodes agree on the hash at an index only if they applied the
// same entries up to it. Membership is part of it.
type simApp struct {
	index   uint64
	hash    uint64
	members []uint64
}

func (a simApp) encode() []byte {
	buf := make([]byte, 16)
	binary.BigEndian.PutUint64(buf, a.index)
	binary.BigEndian.PutUint64(buf[8:], a.hash)
	return buf
}

type simNode struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	app     simApp
	// down: crashed (restart brings it back from storage). removed: it
	// applied its own removal and was destroyed, as the raftstore does.
	down, removed bool
	// the members it starts with when its storage has no ConfState
	bootPeers []uint64
	// highest term and commit seen since the node (re)started
	maxTerm, maxCommit uint64
}

func (n *simNode) live() bool { return !n.down && !n.removed }

type simCommitted struct {
	term, dataHash uint64
	entryType      pb.EntryType
	// the term of the node that first saw it committed: every leader of a
	// later term must hold the entry (Leader Completeness)
	seenInTerm uint64
}

// simMsg is a message in flight, numbered in the order it was sent.
type simMsg struct {
	seq int
	pb.Message
}

type simEvent struct {
	text string
	msg  *pb.Message
}

// Bounds on a simulation's work. A wrong solution must fail a test, never
// take the machine down: Readys that hand out the same messages again make
// the messages in flight multiply with every delivery. Correct runs stay
// far below each bound (the deepest queue of the suite is about a hundred
// messages).
const (
	simMaxReadyRounds   = 10      // Readys in a row without new input (ticks or messages)
	simMaxReadyMsgs     = 1000    // messages in one Ready
	simMaxEntriesPerMsg = 10000   // entries in one message
	simMaxInFlight      = 10000   // messages in flight at once
	simMaxDeliveries    = 1000000 // messages delivered over a cluster's life
)

// simMultiplyHint names the likely cause when messages multiply.
const simMultiplyHint = "messages keep multiplying: does Ready return messages that were already handed out (Ready must clear them)?"

type simCluster struct {
	seed                int64
	election, heartbeat int
	bootIndex           uint64
	nodes               map[uint64]*simNode
	queue               []simMsg
	sent                int // messages sent so far: the next one's seq
	cut                 map[[2]uint64]bool
	// trace, when set, receives a line per delivered message and role change.
	trace func(string)

	// what the invariant checks remember
	leaders   map[uint64]uint64 // term -> leader
	committed map[uint64]simCommitted
	applied   map[uint64]uint64 // index -> state machine hash after it
	failure   string
	recent    []simEvent
	delivered int
}

// newSimCluster starts n nodes (ids 1..n). With bootIndex 0 they start
// empty with the member list in their Config; otherwise each storage holds a
// bootstrap snapshot at (bootIndex, bootIndex) with the members in its
// ConfState, as a raftstore region starts (nodes added later need one).
func newSimCluster(n int, seed int64, election, heartbeat int, bootIndex uint64) *simCluster {
	c := &simCluster{
		seed: seed, election: election, heartbeat: heartbeat, bootIndex: bootIndex,
		nodes:     make(map[uint64]*simNode),
		cut:       make(map[[2]uint64]bool),
		leaders:   make(map[uint64]uint64),
		committed: make(map[uint64]simCommitted),
		applied:   make(map[uint64]uint64),
	}
	ids := labIDs(n)
	for _, id := range ids {
		s := NewMemoryStorage()
		node := &simNode{id: id, storage: s, app: simApp{members: ids}}
		if bootIndex > 0 {
			node.app.index = bootIndex
			snap := pb.Snapshot{Data: node.app.encode(), Metadata: &pb.SnapshotMetadata{
				Index: bootIndex, Term: bootIndex, ConfState: &pb.ConfState{Nodes: ids}}}
			c.must(s.ApplySnapshot(snap))
			c.must(s.SetHardState(pb.HardState{Term: bootIndex, Commit: bootIndex}))
		} else {
			node.bootPeers = ids
		}
		c.nodes[id] = node
		c.start(node)
	}
	return c
}

func (c *simCluster) must(err error) {
	if err != nil && c.failure == "" {
		c.fail("storage error: %v", err)
	}
}

// start (re)creates the node's RawNode from its storage; the state machine
// restarts from the storage's snapshot.
func (c *simCluster) start(n *simNode) {
	snap, err := n.storage.Snapshot()
	c.must(err)
	applied := uint64(0)
	n.app = simApp{members: n.bootPeers}
	if !IsEmptySnap(&snap) {
		applied = snap.Metadata.Index
		n.app = simApp{index: applied, hash: binary.BigEndian.Uint64(snap.Data[8:]), members: snap.Metadata.ConfState.GetNodes()}
	}
	cfg := &Config{ID: n.id, peers: n.bootPeers, ElectionTick: c.election, HeartbeatTick: c.heartbeat,
		Storage: n.storage, Applied: applied, Seed: c.seed}
	rn, err := NewRawNode(cfg)
	if err != nil {
		c.fail("node %d cannot start: %v", n.id, err)
		return
	}
	n.rn, n.down = rn, false
	n.maxTerm, n.maxCommit = rn.Raft.Term, rn.Raft.RaftLog.committed
	c.process(n)
}

// addNode creates an empty node that is not a member yet: it waits for the
// leader to reach it (a snapshot, then entries), as a new raftstore peer.
func (c *simCluster) addNode(id uint64) *simNode {
	n := &simNode{id: id, storage: NewMemoryStorage()}
	c.nodes[id] = n
	c.start(n)
	return n
}

func (c *simCluster) note(format string, args ...interface{}) {
	text := fmt.Sprintf(format, args...)
	c.remember(simEvent{text: text})
	if c.trace != nil {
		c.trace(text)
	}
}

func (c *simCluster) remember(e simEvent) {
	const keep = 60
	if len(c.recent) == keep {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:keep-1]
	}
	c.recent = append(c.recent, e)
}

func (c *simCluster) fail(format string, args ...interface{}) {
	if c.failure == "" {
		c.failure = fmt.Sprintf(format, args...)
	}
}

// report describes the first violation and the events before it.
func (c *simCluster) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nlast events (oldest first):\n", c.failure)
	for _, e := range c.recent {
		if e.msg != nil {
			fmt.Fprintf(&b, "  deliver %s\n", describeMsg(*e.msg))
		} else {
			fmt.Fprintf(&b, "  %s\n", e.text)
		}
	}
	b.WriteString(c.describeNodes())
	return b.String()
}

func (c *simCluster) describeNodes() string {
	var b strings.Builder
	for _, id := range sortedKeys(c.nodes) {
		fmt.Fprintf(&b, "%s\n", c.describeNode(c.nodes[id]))
	}
	return b.String()
}

func (c *simCluster) describeNode(n *simNode) string {
	switch {
	case n.removed:
		return fmt.Sprintf("%d: removed", n.id)
	case n.down:
		return fmt.Sprintf("%d: down", n.id)
	}
	r := n.rn.Raft
	return fmt.Sprintf("%d: %s term=%d vote=%d lead=%d last=%d commit=%d applied=%d peers=%v",
		n.id, r.State, r.Term, r.Vote, r.Lead, r.RaftLog.LastIndex(), r.RaftLog.committed, n.app.index, nodes(r))
}

// process plays the application's part of the Ready loop for n. After a
// failure the simulation does nothing more: the test reports it at once.
func (c *simCluster) process(n *simNode) {
	for round := 0; c.failure == "" && n.live() && n.rn.HasReady(); round++ {
		rd := n.rn.Ready()
		if round == simMaxReadyRounds {
			if len(rd.Messages) > 0 {
				c.fail("node %d still hands out messages after %d Readys in a row with no new tick or message (%d in the last): %s",
					n.id, round, len(rd.Messages), simMultiplyHint)
			} else {
				c.fail("node %d still has a Ready after %d rounds of Ready and Advance: Advance does not record what was handled", n.id, round)
			}
			return
		}
		if len(rd.Messages) > simMaxReadyMsgs {
			c.fail("node %d handed out %d messages in one Ready (limit %d): %s", n.id, len(rd.Messages), simMaxReadyMsgs, simMultiplyHint)
			return
		}
		if rd.SoftState != nil {
			c.note("%d is %s (lead %d) at term %d", n.id, rd.RaftState, rd.Lead, n.rn.Raft.Term)
		}
		if !IsEmptySnap(&rd.Snapshot) {
			c.must(n.storage.ApplySnapshot(rd.Snapshot))
		}
		c.must(n.storage.Append(rd.Entries))
		if !IsEmptyHardState(rd.HardState) {
			c.must(n.storage.SetHardState(rd.HardState))
		}
		for _, m := range rd.Messages {
			c.send(m)
		}
		if !IsEmptySnap(&rd.Snapshot) {
			c.applySnapshot(n, rd.Snapshot)
		}
		for _, e := range rd.CommittedEntries {
			c.applyEntry(n, e)
		}
		n.rn.Advance(rd)
	}
}

func (c *simCluster) applySnapshot(n *simNode, snap pb.Snapshot) {
	meta := snap.Metadata
	if meta.Index <= n.app.index {
		c.fail("node %d was handed snapshot %d but already applied %d", n.id, meta.Index, n.app.index)
	}
	n.app = simApp{index: meta.Index, hash: binary.BigEndian.Uint64(snap.Data[8:]), members: meta.ConfState.GetNodes()}
	c.recordApplied(n)
}

func (c *simCluster) applyEntry(n *simNode, e pb.Entry) {
	if e.Index != n.app.index+1 {
		c.fail("node %d applied entry %d after %d", n.id, e.Index, n.app.index)
	}
	h := fnv.New64a()
	var buf [25]byte
	binary.BigEndian.PutUint64(buf[:], n.app.hash)
	binary.BigEndian.PutUint64(buf[8:], e.Index)
	binary.BigEndian.PutUint64(buf[16:], e.Term)
	buf[24] = byte(e.EntryType)
	h.Write(buf[:])
	h.Write(e.Data)
	n.app.index, n.app.hash = e.Index, h.Sum64()
	c.recordApplied(n)
	if e.EntryType != pb.EntryType_EntryConfChange {
		return
	}
	var cc pb.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		c.fail("node %d applied a conf change it cannot decode: %v", n.id, err)
		return
	}
	n.app.members = n.rn.ApplyConfChange(cc).Nodes
	if cc.ChangeType == pb.ConfChangeType_RemoveNode && cc.NodeId == n.id {
		c.note("%d removed itself and is destroyed", n.id)
		n.removed = true
	}
}

// recordApplied checks State Machine Safety: every node has the same state
// after applying index i.
func (c *simCluster) recordApplied(n *simNode) {
	if h, ok := c.applied[n.app.index]; ok {
		if h != n.app.hash {
			c.fail("state machines diverge: node %d's state after index %d differs from another node's", n.id, n.app.index)
		}
		return
	}
	c.applied[n.app.index] = n.app.hash
}

func (c *simCluster) send(m pb.Message) {
	if c.failure != "" {
		return
	}
	if len(m.Entries) > simMaxEntriesPerMsg {
		c.fail("node %d sent a %s with %d entries (limit %d): entries keep multiplying: are entries appended twice, or messages merged again?",
			m.From, m.MsgType, len(m.Entries), simMaxEntriesPerMsg)
		return
	}
	if len(c.queue) >= simMaxInFlight {
		c.fail("%d messages in flight (limit %d): %s", len(c.queue), simMaxInFlight, simMultiplyHint)
		return
	}
	if m.To == m.From {
		c.fail("node %d sent a %s to itself", m.From, m.MsgType)
	}
	if IsLocalMsg(m.MsgType) {
		c.fail("node %d sent local message %s over the network", m.From, m.MsgType)
	}
	if c.cut[[2]uint64{m.From, m.To}] {
		return
	}
	c.queue = append(c.queue, simMsg{seq: c.sent, Message: m})
	c.sent++
}

// deliver hands the i-th message in flight to its destination, unless a
// partition or a crash is in the way.
func (c *simCluster) deliver(i int) {
	if c.failure != "" {
		c.queue = nil
		return
	}
	if c.delivered >= simMaxDeliveries {
		c.fail("the cluster delivered %d messages (limit %d) and still has %d in flight: %s",
			c.delivered, simMaxDeliveries, len(c.queue), simMultiplyHint)
		c.queue = nil
		return
	}
	m := c.queue[i].Message
	c.queue = append(c.queue[:i], c.queue[i+1:]...)
	to := c.nodes[m.To]
	if to == nil || !to.live() || c.cut[[2]uint64{m.From, m.To}] {
		return
	}
	c.delivered++
	c.remember(simEvent{msg: &m})
	if c.trace != nil {
		c.trace(describeMsg(m))
	}
	_ = to.rn.Step(m)
	c.process(to)
}

// deliverAll delivers until no message is in flight; reports false when
// the messages never stop (a livelock).
func (c *simCluster) deliverAll() bool {
	for steps := 0; len(c.queue) > 0; steps++ {
		if c.failure != "" {
			c.queue = nil
			return false
		}
		if steps > 200000 {
			c.fail("messages never stop: %d still in flight", len(c.queue))
			return false
		}
		c.deliver(0)
	}
	return true
}

func (c *simCluster) tick(id uint64) {
	if n := c.nodes[id]; c.failure == "" && n != nil && n.live() {
		n.rn.Tick()
		c.process(n)
	}
}

func (c *simCluster) tickAll() {
	for _, id := range sortedKeys(c.nodes) {
		c.tick(id)
	}
}

func (c *simCluster) crash(id uint64) {
	if n := c.nodes[id]; n != nil && n.live() {
		c.note("%d crashes", id)
		n.down, n.rn = true, nil
	}
}

func (c *simCluster) restart(id uint64) {
	if n := c.nodes[id]; n != nil && n.down {
		c.note("%d restarts", id)
		c.start(n)
	}
}

// partition cuts every link between the two groups.
func (c *simCluster) partition(a, b []uint64) {
	for _, x := range a {
		for _, y := range b {
			c.cut[[2]uint64{x, y}] = true
			c.cut[[2]uint64{y, x}] = true
		}
	}
}

func (c *simCluster) isolate(id uint64) {
	var others []uint64
	for other := range c.nodes {
		if other != id {
			others = append(others, other)
		}
	}
	c.partition([]uint64{id}, others)
}

func (c *simCluster) heal() { c.cut = make(map[[2]uint64]bool) }

// leader returns a live leader of the highest term, or nil.
func (c *simCluster) leader() *simNode {
	var best *simNode
	for _, id := range sortedKeys(c.nodes) {
		n := c.nodes[id]
		if n.live() && n.rn.Raft.State == StateLeader && (best == nil || n.rn.Raft.Term > best.rn.Raft.Term) {
			best = n
		}
	}
	return best
}

// errSimFailed answers calls into a cluster that already failed.
func (c *simCluster) errSimFailed() error {
	return fmt.Errorf("the simulation stopped: %s", c.failure)
}

func (c *simCluster) propose(id uint64, data []byte) error {
	if c.failure != "" {
		return c.errSimFailed()
	}
	n := c.nodes[id]
	if n == nil || !n.live() {
		return ErrProposalDropped
	}
	err := n.rn.Propose(data)
	c.process(n)
	return err
}

func (c *simCluster) proposeConfChange(id uint64, cc pb.ConfChange) error {
	if c.failure != "" {
		return c.errSimFailed()
	}
	n := c.nodes[id]
	if n == nil || !n.live() {
		return ErrProposalDropped
	}
	err := n.rn.ProposeConfChange(cc)
	c.process(n)
	return err
}

// compact takes a snapshot of n's state machine and compacts its log up to
// the applied index, as the raftstore's log GC does.
func (c *simCluster) compact(id uint64) {
	n := c.nodes[id]
	if n == nil || !n.live() {
		return
	}
	snap, err := n.storage.Snapshot()
	c.must(err)
	if n.app.index <= snap.GetMetadata().GetIndex() {
		return
	}
	_, err = n.storage.CreateSnapshot(n.app.index, &pb.ConfState{Nodes: n.app.members}, n.app.encode())
	c.must(err)
	c.must(n.storage.Compact(n.app.index))
	c.note("%d compacts its log up to %d", id, n.app.index)
	c.process(n)
}

// check verifies the safety invariants on the current state; the first
// violation is kept in c.failure.
func (c *simCluster) check() {
	var live []*simNode
	for _, id := range sortedKeys(c.nodes) {
		if n := c.nodes[id]; n.live() {
			live = append(live, n)
			c.checkNode(n)
		}
	}
	for _, n := range live {
		if n.rn.Raft.State == StateLeader {
			c.checkLeaderCompleteness(n)
		}
	}
	for i := 0; i < len(live); i++ {
		for j := i + 1; j < len(live); j++ {
			c.checkLogMatching(live[i], live[j])
		}
	}
}

func (c *simCluster) checkNode(n *simNode) {
	r := n.rn.Raft
	l := r.RaftLog
	if l.applied > l.committed || l.committed > l.LastIndex() {
		c.fail("node %d: want applied %d <= committed %d <= last index %d", n.id, l.applied, l.committed, l.LastIndex())
	}
	if r.Term < n.maxTerm {
		c.fail("node %d: term went back from %d to %d", n.id, n.maxTerm, r.Term)
	}
	if l.committed < n.maxCommit {
		c.fail("node %d: commit index went back from %d to %d", n.id, n.maxCommit, l.committed)
	}
	n.maxTerm, n.maxCommit = r.Term, l.committed
	if r.State == StateLeader {
		if other, ok := c.leaders[r.Term]; ok && other != n.id {
			c.fail("two leaders in term %d: %d and %d", r.Term, other, n.id)
		}
		c.leaders[r.Term] = n.id
	}
	first := labFirstIndex(l)
	for i := first; i <= l.committed; i++ {
		e := l.entries[i-first]
		got := simCommitted{term: e.Term, dataHash: simDataHash(e.Data), entryType: e.EntryType}
		want, ok := c.committed[i]
		if !ok {
			got.seenInTerm = r.Term
			c.committed[i] = got
			continue
		}
		if want.term != got.term || want.dataHash != got.dataHash || want.entryType != got.entryType {
			c.fail("committed entry %d changed: node %d has term %d, it was committed with term %d", i, n.id, got.term, want.term)
		}
	}
}

// checkLeaderCompleteness: a leader holds every entry committed in an
// earlier term.
func (c *simCluster) checkLeaderCompleteness(n *simNode) {
	r := n.rn.Raft
	l := r.RaftLog
	for i, rec := range c.committed {
		if rec.seenInTerm >= r.Term || i < labFirstIndex(l) {
			continue
		}
		if i > l.LastIndex() {
			c.fail("leader %d of term %d lacks committed entry %d (last index %d)", n.id, r.Term, i, l.LastIndex())
			return
		}
		if term, _ := l.Term(i); term != rec.term {
			c.fail("leader %d of term %d holds term %d at committed index %d, committed with term %d", n.id, r.Term, term, i, rec.term)
			return
		}
	}
}

// checkLogMatching: if two logs hold an entry with the same index and
// term, they are identical up to it.
func (c *simCluster) checkLogMatching(a, b *simNode) {
	la, lb := a.rn.Raft.RaftLog, b.rn.Raft.RaftLog
	fa, fb := labFirstIndex(la), labFirstIndex(lb)
	lo := max(fa, fb)
	hi := min(la.LastIndex(), lb.LastIndex())
	for i := hi; i >= lo && i > 0; i-- {
		ea, eb := la.entries[i-fa], lb.entries[i-fb]
		if ea.Term != eb.Term {
			continue
		}
		for j := lo; j <= i; j++ {
			x, y := la.entries[j-fa], lb.entries[j-fb]
			if x.Term != y.Term || x.EntryType != y.EntryType || !bytes.Equal(x.Data, y.Data) {
				c.fail("log matching broken: nodes %d and %d agree on entry %d (term %d) but differ at %d: %s vs %s",
					a.id, b.id, i, ea.Term, j, describeEntry(x), describeEntry(y))
				return
			}
		}
		return
	}
}

// labFirstIndex is the index of l.entries[0] (or of the entry that will
// come first, when the log holds none after a snapshot).
func labFirstIndex(l *RaftLog) uint64 {
	if len(l.entries) > 0 {
		return l.entries[0].Index
	}
	return l.LastIndex() + 1
}

func simDataHash(data []byte) uint64 {
	h := fnv.New64a()
	h.Write(data)
	return h.Sum64()
}

// converge heals the network, restarts crashed nodes and runs the cluster
// until a leader is elected and a new proposal is applied by every member:
// liveness once failures stop. It returns a description of what is stuck,
// or "".
func (c *simCluster) converge(maxRounds int) string {
	c.heal()
	for _, id := range sortedKeys(c.nodes) {
		c.restart(id)
	}
	probe := []byte(fmt.Sprintf("probe-%d", c.delivered))
	var probeIndex uint64
	for round := 0; round < maxRounds && c.failure == ""; round++ {
		c.collectStalePeers()
		c.tickAll()
		if !c.deliverAll() {
			break
		}
		lead := c.leader()
		if lead == nil {
			continue
		}
		if probeIndex == 0 || lead.rn.Raft.RaftLog.LastIndex() < probeIndex {
			if c.propose(lead.id, probe) == nil {
				probeIndex = lead.rn.Raft.RaftLog.LastIndex()
			}
			continue
		}
		if c.allApplied(lead, probeIndex) {
			return ""
		}
	}
	if c.failure != "" {
		return c.failure
	}
	return fmt.Sprintf("no progress after %d rounds of ticks once the network healed (probe at index %d)\n%s",
		maxRounds, probeIndex, c.describeNodes())
}

// collectStalePeers destroys the nodes that are not members of the newest
// configuration any node applied, as the raftstore's stale peer GC does: a
// removed node that never learned of its removal would campaign forever
// and disrupt the members with its ever higher terms.
func (c *simCluster) collectStalePeers() {
	var newest *simNode
	for _, id := range sortedKeys(c.nodes) {
		if n := c.nodes[id]; n.live() && (newest == nil || n.app.index > newest.app.index) {
			newest = n
		}
	}
	if newest == nil {
		return
	}
	member := make(map[uint64]bool)
	for _, id := range newest.app.members {
		member[id] = true
	}
	for _, id := range sortedKeys(c.nodes) {
		// A node waiting to be added is no member in its own eyes and stays quiet.
		if n := c.nodes[id]; n.live() && !member[id] && n.rn.Raft.Prs[id] != nil {
			c.note("%d is not a member of the newest configuration %v and is collected", id, newest.app.members)
			n.removed = true
		}
	}
}

// allApplied reports whether every live member (as the leader sees the
// membership) applied up to index.
func (c *simCluster) allApplied(lead *simNode, index uint64) bool {
	for _, id := range nodes(lead.rn.Raft) {
		n := c.nodes[id]
		if n == nil || !n.live() || n.app.index < index {
			return false
		}
	}
	return true
}

// members returns the membership as the leader sees it (every node when
// there is no leader).
func (c *simCluster) members() []uint64 {
	if lead := c.leader(); lead != nil {
		return nodes(lead.rn.Raft)
	}
	return sortedKeys(c.nodes)
}
