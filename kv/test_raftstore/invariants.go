package test_raftstore

import (
	"fmt"
	"sync"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// The mock network watches the stores' messages for what a store must
// never do, and records it as a violation that fails the test at the next
// harness helper and at Shutdown:
//   - acknowledge what it has not persisted: when a follower's append
//     response or a granted vote is sent, the sender's raftdb must already
//     hold the entries and the term (and vote) it acknowledges;
//   - send the same message over and over (a Ready that hands out messages
//     already handed out): past repeatLimit copies within a second, or
//     past maxInFlight delayed messages towards one store, the network
//     stops delivering and the test fails instead of exhausting memory;
//   - disagree on a committed entry: the term of every committed index the
//     leaders announce is recorded, and two different terms for one index
//     break log matching (the record also lets tests check truncated terms);
//   - lead a term that another peer leads: the peers that send what only
//     a leader sends (append, heartbeat, snapshot) are recorded per term,
//     and two of them in one term break election safety.

const (
	// repeatLimit is how many identical messages a store may send within
	// repeatWindow (heartbeats repeat ten times a second).
	repeatLimit  = 1000
	repeatWindow = time.Second
	// maxInFlight bounds the delayed messages waiting for one store.
	maxInFlight = 20000
)

// msgFingerprint identifies identical messages.
type msgFingerprint struct {
	from, to, region             uint64
	msgType                      eraftpb.MessageType
	term, index, logTerm, commit uint64
	entries                      int
	reject                       bool
}

type invariants struct {
	mu         sync.Mutex
	engines    map[uint64]*engine_util.Engines
	violations []string
	flooded    bool

	windowStart time.Time
	repeats     map[msgFingerprint]int
	inFlight    map[uint64]int

	// committed[region][index] is the term of the committed entry at index.
	committed map[uint64]map[uint64]uint64
	// leaders[region][term] are the peers that sent what only a leader
	// sends (append, heartbeat, snapshot) in that term, in order, once each.
	leaders map[uint64]map[uint64][]uint64
}

func newInvariants() *invariants {
	return &invariants{
		engines:   make(map[uint64]*engine_util.Engines),
		repeats:   make(map[msgFingerprint]int),
		inFlight:  make(map[uint64]int),
		committed: make(map[uint64]map[uint64]uint64),
		leaders:   make(map[uint64]map[uint64][]uint64),
	}
}

func (v *invariants) violate(format string, args ...interface{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.violateLocked(format, args...)
}

func (v *invariants) violateLocked(format string, args ...interface{}) {
	if len(v.violations) < 20 {
		v.violations = append(v.violations, fmt.Sprintf(format, args...))
	}
}

func (v *invariants) list() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.violations...)
}

func (v *invariants) setEngines(storeID uint64, engines *engine_util.Engines) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.engines[storeID] = engines
}

// onSend checks a message as its store sends it; false means the network
// has stopped delivering (the stores flood it).
func (v *invariants) onSend(msg *raft_serverpb.RaftMessage) bool {
	if !v.countRepeat(msg) {
		return false
	}
	m := msg.GetMessage()
	switch m.GetMsgType() {
	case eraftpb.MessageType_MsgAppendResponse:
		if !m.Reject {
			v.checkPersisted(msg, "an append response", false)
		}
	case eraftpb.MessageType_MsgRequestVoteResponse:
		if !m.Reject {
			v.checkPersisted(msg, "a granted vote", true)
		}
	case eraftpb.MessageType_MsgAppend:
		v.recordLeader(msg)
		v.recordCommitted(msg)
	case eraftpb.MessageType_MsgHeartbeat, eraftpb.MessageType_MsgSnapshot:
		v.recordLeader(msg)
	}
	return true
}

func (v *invariants) countRepeat(msg *raft_serverpb.RaftMessage) bool {
	m := msg.GetMessage()
	key := msgFingerprint{
		from: msg.GetFromPeer().GetId(), to: msg.GetToPeer().GetId(), region: msg.RegionId,
		msgType: m.GetMsgType(), term: m.GetTerm(), index: m.GetIndex(), logTerm: m.GetLogTerm(),
		commit: m.GetCommit(), entries: len(m.GetEntries()), reject: m.GetReject(),
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.flooded {
		return false
	}
	if now := time.Now(); now.Sub(v.windowStart) > repeatWindow {
		v.windowStart = now
		v.repeats = make(map[msgFingerprint]int)
	}
	v.repeats[key]++
	if v.repeats[key] > repeatLimit {
		v.flooded = true
		v.violateLocked("messages keep multiplying: store %d sent the same %s (term %d, index %d) from peer %d to peer %d of region %d "+
			"more than %d times within %v; does Ready return messages that were already handed out? The network stopped delivering",
			msg.GetFromPeer().GetStoreId(), m.GetMsgType(), m.GetTerm(), m.GetIndex(), key.from, key.to, msg.RegionId, repeatLimit, repeatWindow)
		return false
	}
	return true
}

// delayStarted counts a delayed message towards its store; false when too
// many wait already.
func (v *invariants) delayStarted(storeID uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inFlight[storeID] >= maxInFlight {
		if !v.flooded {
			v.flooded = true
			v.violateLocked("more than %d delayed messages wait for store %d: the stores send faster than any network drains "+
				"(does Ready return messages that were already handed out?); the network stopped delivering", maxInFlight, storeID)
		}
		return false
	}
	v.inFlight[storeID]++
	return true
}

func (v *invariants) delayEnded(storeID uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inFlight[storeID]--
}

// checkPersisted checks that the sender's raftdb holds what msg
// acknowledges: its term (and, for a vote, the vote), and for an append
// response the entries up to the index it claims to match.
func (v *invariants) checkPersisted(msg *raft_serverpb.RaftMessage, what string, vote bool) {
	storeID := msg.GetFromPeer().GetStoreId()
	v.mu.Lock()
	engines := v.engines[storeID]
	v.mu.Unlock()
	if engines == nil {
		return
	}
	m := msg.GetMessage()
	state, err := meta.GetRaftLocalState(engines.Raft, msg.RegionId)
	if err != nil {
		if err != badger.ErrKeyNotFound {
			return // the engine is closing
		}
		v.violate("store %d sent %s of region %d (peer %d, term %d, index %d) before persisting any raft state: "+
			"a store must save a Ready's entries and hard state before sending its messages",
			storeID, what, msg.RegionId, m.GetFrom(), m.GetTerm(), m.GetIndex())
		return
	}
	hs := state.GetHardState()
	var problem string
	switch {
	case hs.GetTerm() < m.GetTerm():
		problem = fmt.Sprintf("raftdb holds term %d", hs.GetTerm())
	case vote && hs.GetTerm() == m.GetTerm() && hs.GetVote() != m.GetTo():
		problem = fmt.Sprintf("raftdb holds the vote for %d in that term", hs.GetVote())
	case !vote && state.GetLastIndex() < m.GetIndex() && truncatedIndex(engines, msg.RegionId) < m.GetIndex():
		problem = fmt.Sprintf("raftdb holds the log up to index %d only", state.GetLastIndex())
	default:
		return
	}
	v.violate("store %d sent %s of region %d (peer %d, term %d, index %d) but %s: "+
		"a store must save a Ready's entries and hard state before sending its messages (a crash would lose what it acknowledged)",
		storeID, what, msg.RegionId, m.GetFrom(), m.GetTerm(), m.GetIndex(), problem)
}

func truncatedIndex(engines *engine_util.Engines, regionID uint64) uint64 {
	state, err := meta.GetApplyState(engines.Kv, regionID)
	if err != nil {
		return 0
	}
	return state.GetTruncatedState().GetIndex()
}

// recordCommitted learns committed terms from a leader's append: the entry
// before the appended ones and the appended ones, when at or below the
// leader's commit index, are committed.
func (v *invariants) recordCommitted(msg *raft_serverpb.RaftMessage) {
	m := msg.GetMessage()
	v.mu.Lock()
	defer v.mu.Unlock()
	terms := v.committed[msg.RegionId]
	if terms == nil {
		terms = make(map[uint64]uint64)
		v.committed[msg.RegionId] = terms
	}
	record := func(index, term uint64) {
		if index == 0 || index > m.GetCommit() {
			return
		}
		if old, ok := terms[index]; ok && old != term {
			v.violateLocked("region %d: committed index %d has term %d, but a leader (peer %d, term %d) now says its committed entry there has term %d: "+
				"two different entries committed at one index", msg.RegionId, index, old, m.GetFrom(), m.GetTerm(), term)
			return
		}
		terms[index] = term
	}
	record(m.GetIndex(), m.GetLogTerm())
	for _, e := range m.GetEntries() {
		record(e.GetIndex(), e.GetTerm())
	}
}

// committedTerm is the term of the committed entry at index of the region,
// if a leader announced it.
func (v *invariants) committedTerm(regionID, index uint64) (uint64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	term, ok := v.committed[regionID][index]
	return term, ok
}

// recordLeader notes the sender of a leader's message as a leader of the
// message's term; a second leader of the term is a violation.
func (v *invariants) recordLeader(msg *raft_serverpb.RaftMessage) {
	m := msg.GetMessage()
	v.mu.Lock()
	defer v.mu.Unlock()
	terms := v.leaders[msg.RegionId]
	if terms == nil {
		terms = make(map[uint64][]uint64)
		v.leaders[msg.RegionId] = terms
	}
	leaders := terms[m.GetTerm()]
	for _, peer := range leaders {
		if peer == m.GetFrom() {
			return
		}
	}
	if len(leaders) > 0 {
		v.violateLocked("region %d: peer %d (store %d) leads term %d, which peer %d leads already: two leaders in one term. "+
			"A peer voted twice in that term: does a store forget a vote it granted (the vote must be saved with the hard state before it is sent)?",
			msg.RegionId, m.GetFrom(), msg.GetFromPeer().GetStoreId(), m.GetTerm(), leaders[0])
	}
	terms[m.GetTerm()] = append(leaders, m.GetFrom())
}

// leadersOf lists the peers seen leading the region in term (more than one
// breaks election safety).
func (v *invariants) leadersOf(regionID, term uint64) []uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]uint64(nil), v.leaders[regionID][term]...)
}

// latestLeader is the peer seen leading the region in the highest term so
// far, and that term (0, 0 before any).
func (v *invariants) latestLeader(regionID uint64) (peer, term uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for t, peers := range v.leaders[regionID] {
		if t > term {
			peer, term = peers[0], t
		}
	}
	return peer, term
}
