package raft

import (
	"errors"
	"math/rand"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/log"
	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// None is a placeholder node ID used when there is no leader or no vote.
const None uint64 = 0

// StateType is the role of a node.
type StateType uint64

const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	numStates
)

var stateNames = [numStates]string{"StateFollower", "StateCandidate", "StateLeader"}

func (st StateType) String() string {
	if st >= numStates {
		return "StateUnknown"
	}
	return stateNames[st]
}

// ErrProposalDropped is returned by Step for a proposal that the node
// cannot take: it is not the leader, is not a member, or is handing its
// leadership over. The caller may retry elsewhere or later.
var ErrProposalDropped = errors.New("raft proposal dropped")

// Config contains the parameters to start a raft node.
type Config struct {
	// ID is the identity of the local node. It cannot be 0.
	ID uint64

	// peers contains the IDs of all nodes (including self) in the cluster.
	// It is set only when starting a new cluster (tests do); a restarting
	// node, or one created by the raftstore, takes its members from the
	// ConfState of its Storage instead.
	peers []uint64

	// ElectionTick is the number of Node.Tick calls that must pass between
	// elections: a follower that hears from no leader for ElectionTick
	// ticks (plus a random part, up to ElectionTick more) campaigns. It must
	// be greater than HeartbeatTick; about 10*HeartbeatTick keeps needless
	// elections rare.
	ElectionTick int
	// HeartbeatTick is the number of Node.Tick calls between heartbeats of
	// a leader.
	HeartbeatTick int

	// Storage is the node's persisted state: raft reads entries, the
	// HardState and snapshots from it; the application writes to it.
	Storage Storage
	// Applied is the index of the last entry applied to the state machine
	// (set it when restarting): committed entries up to it are not handed
	// out again.
	Applied uint64

	// Seed seeds the randomized election timeouts. The node mixes its ID
	// in, so every node of a test cluster can share one seed and a run can
	// be replayed exactly. 0 picks a seed at random.
	Seed int64
}

func (c *Config) validate() error {
	if c.ID == None {
		return errors.New("raft: cannot use none as id")
	}
	if c.HeartbeatTick <= 0 {
		return errors.New("raft: heartbeat tick must be greater than 0")
	}
	if c.ElectionTick <= c.HeartbeatTick {
		return errors.New("raft: election tick must be greater than heartbeat tick")
	}
	if c.Storage == nil {
		return errors.New("raft: storage cannot be nil")
	}
	return nil
}

// Raft is the state machine of one node. It does no I/O: Step and tick
// change its state and queue messages in msgs; the RawNode hands those, and
// what must be persisted or applied, to the application in a Ready.
type Raft struct {
	id uint64

	// Term is the current term; Vote is whom this node voted for in it
	// (None if nobody). Both are persisted (HardState).
	Term uint64
	Vote uint64

	// the log
	RaftLog *RaftLog

	// Prs has one Progress per member, this node included. Only a leader
	// uses Match and Next; for everyone the keys are the membership.
	Prs map[uint64]*Progress

	// this node's role
	State StateType

	// votes received in the current election: true for granted, false for
	// rejected.
	votes map[uint64]bool

	// messages to send, taken by the next Ready
	msgs []pb.Message

	// the leader of the current term, None if unknown
	Lead uint64

	// heartbeat interval of a leader, in ticks
	heartbeatTimeout int
	// base election timeout, in ticks
	electionTimeout int
	// the election timeout in force, drawn from
	// [electionTimeout, 2*electionTimeout) whenever the timer restarts, so
	// that nodes rarely time out together
	randomizedElectionTimeout int
	// ticks since the last heartbeat (leader only)
	heartbeatElapsed int
	// ticks since the election timer restarted: since the last message of
	// the current leader, or a granted vote (follower); since the election
	// started (candidate); since the last periodic check (leader).
	electionElapsed int

	// the source of randomizedElectionTimeout (see Config.Seed)
	rand *rand.Rand

	// leadTransferee is the node the leader is handing its leadership to,
	// None if no transfer is going on (Raft thesis §3.10; project 3A).
	leadTransferee uint64

	// Only one conf change may be pending (in the log, not yet applied) at
	// a time: PendingConfIndex is the index of the latest conf change entry
	// the leader appended (or, for a new leader, its last index), and a
	// leader accepts a new conf change only once applied >= PendingConfIndex
	// (project 3A).
	PendingConfIndex uint64

	// Your Data Here (2AA).
	//lab:begin 2AA
	// scratch space reused on the hot path, so a proposal allocates little
	peerBuf, matchBuf []uint64
	//lab:end
}

// newRaft returns a raft node in the follower state, restored from c.Storage.
func newRaft(c *Config) *Raft {
	if err := c.validate(); err != nil {
		panic(err.Error())
	}
	// Your Code Here (2AA).
	//lab:begin 2AA
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		log.Panicf("[persist] peer=%d cannot read the initial state: %v", c.ID, err)
	}
	peers := c.peers
	if len(peers) == 0 {
		peers = cs.Nodes
	}
	r := &Raft{
		id:               c.ID,
		RaftLog:          newLog(c.Storage),
		Prs:              make(map[uint64]*Progress, len(peers)),
		votes:            make(map[uint64]bool),
		heartbeatTimeout: c.HeartbeatTick,
		electionTimeout:  c.ElectionTick,
		rand:             newElectionRand(c.Seed, c.ID),
	}
	for _, id := range peers {
		r.Prs[id] = &Progress{Next: r.RaftLog.LastIndex() + 1}
	}
	r.loadHardState(hs)
	if c.Applied > r.RaftLog.committed {
		log.Panicf("[persist] peer=%d applied index %d is after the commit index %d", c.ID, c.Applied, r.RaftLog.committed)
	}
	r.RaftLog.applied = max(r.RaftLog.applied, c.Applied)
	r.becomeFollower(r.Term, None)
	log.Infof("[elect] peer=%d term=%d started: peers=%v last index=%d commit=%d applied=%d",
		r.id, r.Term, nodes(r), r.RaftLog.LastIndex(), r.RaftLog.committed, r.RaftLog.applied)
	return r
	//lab:else
	//	return nil
	//lab:end
}

// resetRandomizedElectionTimeout draws a new election timeout from
// [electionTimeout, 2*electionTimeout).
func (r *Raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.Intn(r.electionTimeout)
}

var (
	seedMu     sync.Mutex
	seedSource = rand.New(rand.NewSource(time.Now().UnixNano()))
)

// newElectionRand returns the source of a node's election timeouts: seeded
// by seed and id (so nodes sharing a seed still draw different timeouts),
// or at random when seed is 0.
func newElectionRand(seed int64, id uint64) *rand.Rand {
	if seed == 0 {
		seedMu.Lock()
		seed = seedSource.Int63()
		seedMu.Unlock()
	}
	// splitmix64 scrambles the id so that nearby ids give unrelated streams.
	z := uint64(seed) + id*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return rand.New(rand.NewSource(int64(z ^ (z >> 31))))
}

// sendAppend sends an append RPC with the entries the peer lacks (maybe
// none) and the current commit index to the given peer; when those entries
// are compacted it sends a snapshot instead. Returns true if a message was
// sent.
func (r *Raft) sendAppend(to uint64) bool {
	// Your Code Here (2AB).
	//lab:begin 2AB
	pr := r.Prs[to]
	if pr == nil || to == r.id {
		return false
	}
	if pr.waitingForSnapshot() {
		return false
	}
	last := r.RaftLog.LastIndex()
	if pr.Next == 0 || pr.Next > last+1 {
		pr.Next = last + 1
	}
	prevIndex := pr.Next - 1
	prevTerm, err := r.RaftLog.Term(prevIndex)
	if err != nil {
		// Compacted: only a snapshot can bring the peer this far.
		return r.sendSnapshot(to, pr)
	}
	var ents []*pb.Entry
	if pr.Next <= last {
		window := r.RaftLog.slice(pr.Next, last+1)
		ents = make([]*pb.Entry, len(window))
		for i := range window {
			// The log never changes an entry in place, so pointing at it is safe.
			ents[i] = &window[i]
		}
		pr.Next = last + 1
	}
	r.send(pb.Message{
		MsgType: pb.MessageType_MsgAppend,
		To:      to,
		Index:   prevIndex,
		LogTerm: prevTerm,
		Entries: ents,
		Commit:  r.RaftLog.committed,
	})
	return true
	//lab:else
	//	return false
	//lab:end
}

// sendHeartbeat queues a heartbeat to the given peer: a MsgHeartbeat that
// carries only the term (no entries, no commit index).
func (r *Raft) sendHeartbeat(to uint64) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	r.send(pb.Message{MsgType: pb.MessageType_MsgHeartbeat, To: to})
	//lab:end
}

// tick advances the node's logical clock by one tick: a follower or
// candidate whose election timeout passed steps itself a MsgHup, a leader
// whose heartbeat timeout passed steps itself a MsgBeat.
func (r *Raft) tick() {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if r.State == StateLeader {
		r.tickLeader()
		return
	}
	r.electionElapsed++
	if r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgHup, From: r.id, To: r.id}); err != nil {
			log.Debugf("[tick] peer=%d term=%d election timeout not handled: %v", r.id, r.Term, err)
		}
	}
	//lab:end
}

// becomeFollower makes the node a follower of term whose leader is lead
// (None if unknown). Moving to a new term clears the vote: no vote has been
// cast in it yet. The election timer restarts with a new random timeout.
func (r *Raft) becomeFollower(term uint64, lead uint64) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	r.reset(term)
	r.State = StateFollower
	r.Lead = lead
	log.Debugf("[elect] peer=%d term=%d became follower of %d", r.id, r.Term, lead)
	//lab:end
}

// becomeCandidate starts the next term as a candidate that votes for
// itself. It only changes state: the vote requests are sent by the MsgHup
// handling (tests call it and expect no messages).
func (r *Raft) becomeCandidate() {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if r.State == StateLeader {
		log.Panicf("[elect] peer=%d term=%d invalid transition: leader -> candidate", r.id, r.Term)
	}
	r.reset(r.Term + 1)
	r.State = StateCandidate
	r.Vote = r.id
	r.votes[r.id] = true
	log.Infof("[elect] peer=%d term=%d became candidate", r.id, r.Term)
	//lab:end
}

// becomeLeader makes a candidate the leader of its term: every follower's
// Next starts after the leader's last index, and the leader appends an
// empty (no-op) entry of its term, which commits everything before it once
// a majority holds it. It sends nothing: the caller that won the election
// does (tests call it and then count messages).
func (r *Raft) becomeLeader() {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if r.State == StateFollower {
		log.Panicf("[elect] peer=%d term=%d invalid transition: follower -> leader", r.id, r.Term)
	}
	r.reset(r.Term)
	r.State = StateLeader
	r.Lead = r.id
	last := r.RaftLog.LastIndex()
	for _, pr := range r.Prs {
		*pr = Progress{Next: last + 1}
	}
	// An uncommitted conf change may hide in the log: wait until all of it
	// is applied before accepting another.
	r.PendingConfIndex = last
	// The no-op of the new term: committing it commits everything before.
	r.RaftLog.appendNew(pb.Entry{Term: r.Term, Index: last + 1})
	if pr := r.Prs[r.id]; pr != nil {
		pr.Match, pr.Next = last+1, last+2
	}
	r.maybeCommit()
	log.Infof("[elect] peer=%d term=%d became leader at index %d", r.id, r.Term, last+1)
	//lab:end
}

// Step handles one message (see MessageType in eraftpb.proto). First the
// term rules every message obeys: a higher term makes the node a follower of
// that term, a lower term makes the message stale (answered, otherwise
// ignored); local messages (MsgHup, MsgBeat, MsgPropose) carry no term.
// Then the message goes to its handler for the node's role. A proposal to a
// node that is not the leader returns ErrProposalDropped.
func (r *Raft) Step(m pb.Message) error {
	// Your Code Here (2AA).
	//lab:begin 2AA
	if !r.stepTerm(m) {
		return nil
	}
	switch m.MsgType {
	case pb.MessageType_MsgHup:
		r.hup()
		return nil
	case pb.MessageType_MsgRequestVote:
		r.handleRequestVote(m)
		return nil
	}
	switch r.State {
	case StateFollower:
		return r.stepFollower(m)
	case StateCandidate:
		return r.stepCandidate(m)
	default:
		return r.stepLeader(m)
	}
	//lab:else
	//	return nil
	//lab:end
}

// handleAppendEntries answers the leader's MsgAppend: accept it only if the
// log holds the entry just before the new ones (m.Index, m.LogTerm); then
// drop a conflicting suffix, append what is missing, commit up to
// min(m.Commit, the last new entry), and answer with the index now matched.
// Otherwise reject, with a hint that lets the leader back off fast.
func (r *Raft) handleAppendEntries(m pb.Message) {
	// Your Code Here (2AB).
	//lab:begin 2AB
	r.Lead = m.From
	r.electionElapsed = 0
	if m.Index < r.RaftLog.committed {
		// Old news: everything up to our commit index matches the leader.
		r.send(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, To: m.From, Index: r.RaftLog.committed})
		return
	}
	if lastNew, ok := r.RaftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, To: m.From, Index: lastNew})
		return
	}
	hintIndex, hintTerm := r.RaftLog.rejectHint(m.Index, m.LogTerm)
	log.Debugf("[append] peer=%d term=%d rejected append after (%d, term %d) from %d: hint (%d, term %d)",
		r.id, r.Term, m.Index, m.LogTerm, m.From, hintIndex, hintTerm)
	r.send(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, To: m.From, Reject: true, Index: hintIndex, LogTerm: hintTerm})
	//lab:end
}

// handleHeartbeat answers the leader's MsgHeartbeat: the leader of the term
// is alive (the election timer restarts); the answer lets the leader catch
// up a follower that lags.
func (r *Raft) handleHeartbeat(m pb.Message) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	r.Lead = m.From
	r.electionElapsed = 0
	// The reply tells the leader how far this node committed: heartbeats
	// carry no commit index, so a follower that missed the append which
	// announced the last commit learns it from the append this triggers.
	r.send(pb.Message{MsgType: pb.MessageType_MsgHeartbeatResponse, To: m.From, Commit: r.RaftLog.committed})
	//lab:end
}

// handleSnapshot takes the leader's MsgSnapshot: one at or below the commit
// index (a late or duplicated copy) changes nothing and is answered with the
// commit index; otherwise the log restarts at the snapshot's index and term,
// the membership comes from its ConfState, and the next Ready hands the
// snapshot to the application.
func (r *Raft) handleSnapshot(m pb.Message) {
	// Your Code Here (2C).
	//lab:begin 2C
	r.Lead = m.From
	r.electionElapsed = 0
	if m.Snapshot == nil || m.Snapshot.Metadata == nil {
		log.Warnf("[snap] peer=%d term=%d ignored a snapshot message without metadata from %d", r.id, r.Term, m.From)
		return
	}
	meta := m.Snapshot.Metadata
	if meta.Index <= r.RaftLog.committed || r.RaftLog.matchTerm(meta.Index, meta.Term) {
		// We have all of it already (it may be a late copy): keep the log,
		// which may go further and was acknowledged, and only learn that
		// the snapshot's entries are committed.
		r.RaftLog.commitTo(meta.Index)
		r.send(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, To: m.From, Index: r.RaftLog.committed})
		return
	}
	r.RaftLog.restore(m.Snapshot)
	r.Prs = make(map[uint64]*Progress)
	for _, id := range meta.GetConfState().GetNodes() {
		r.Prs[id] = &Progress{Next: meta.Index + 1}
	}
	log.Infof("[snap] peer=%d term=%d restored snapshot at index %d term %d, peers %v",
		r.id, r.Term, meta.Index, meta.Term, nodes(r))
	if m.From != None {
		// (A snapshot handed in locally, by tests, has no sender to answer.)
		r.send(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, To: m.From, Index: r.RaftLog.LastIndex()})
	}
	//lab:end
}

// addNode adds a member (nothing when it is one already); a leader starts
// its Progress after its last index.
func (r *Raft) addNode(id uint64) {
	// Your Code Here (3A).
	//lab:begin 3A
	if _, ok := r.Prs[id]; ok {
		return
	}
	r.Prs[id] = &Progress{Next: r.RaftLog.LastIndex() + 1}
	log.Infof("[conf] peer=%d term=%d added node %d, peers %v", r.id, r.Term, id, nodes(r))
	//lab:end
}

// removeNode removes a member (nothing when it is none). A leader may then
// commit what waited for the removed node's answer, and gives up a transfer
// to it.
func (r *Raft) removeNode(id uint64) {
	// Your Code Here (3A).
	//lab:begin 3A
	if _, ok := r.Prs[id]; !ok {
		return
	}
	delete(r.Prs, id)
	delete(r.votes, id)
	log.Infof("[conf] peer=%d term=%d removed node %d, peers %v", r.id, r.Term, id, nodes(r))
	if r.State != StateLeader {
		return
	}
	if r.leadTransferee == id {
		r.abortLeaderTransfer("the transferee was removed")
	}
	// A smaller quorum may commit what waited for the removed node.
	if r.maybeCommit() {
		r.bcastAppend()
	}
	//lab:end
}

//lab:begin 2AA

// send queues m, filling in the sender and (for messages other than local
// ones) the current term.
func (r *Raft) send(m pb.Message) {
	m.From = r.id
	if m.Term == 0 {
		m.Term = r.Term
	}
	r.msgs = append(r.msgs, m)
}

// reset starts a new role in term: the vote is kept only within the same
// term; timers, votes and a pending transfer are cleared.
func (r *Raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.Lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.votes = make(map[uint64]bool)
	r.leadTransferee = None
}

// loadHardState restores term, vote and commit index persisted earlier.
func (r *Raft) loadHardState(hs pb.HardState) {
	if hs.Commit > r.RaftLog.LastIndex() {
		log.Panicf("[persist] peer=%d commit index %d is after the last index %d: the log lost entries",
			r.id, hs.Commit, r.RaftLog.LastIndex())
	}
	r.Term = hs.Term
	r.Vote = hs.Vote
	r.RaftLog.commitTo(hs.Commit)
}

// stepTerm applies the term rules every message obeys before its own
// handling (Raft figure 2, "all servers"): a higher term turns this node
// into a follower of that term, a lower term makes the message stale. It
// reports whether the message should be handled further.
func (r *Raft) stepTerm(m pb.Message) bool {
	switch {
	case m.Term == 0:
		// A local message (MsgHup, MsgBeat, MsgPropose): no term.
		return true
	case m.Term > r.Term:
		lead := None
		switch m.MsgType {
		case pb.MessageType_MsgAppend, pb.MessageType_MsgHeartbeat, pb.MessageType_MsgSnapshot:
			lead = m.From
		}
		log.Debugf("[msg] peer=%d term=%d received %s of higher term %d from %d", r.id, r.Term, m.MsgType, m.Term, m.From)
		r.becomeFollower(m.Term, lead)
		return true
	case m.Term < r.Term:
		r.answerStale(m)
		log.Debugf("[msg] peer=%d term=%d ignored %s of stale term %d from %d", r.id, r.Term, m.MsgType, m.Term, m.From)
		return false
	}
	return true
}

// answerStale rejects a request of a stale term (figure 2: "reply false if
// term < currentTerm"), so that its sender learns the current term. Without
// it, a leader or candidate whose term fell behind would keep talking in
// vain to a node that never answers: a new member that learned a higher
// term from a removed node would never get its first append.
func (r *Raft) answerStale(m pb.Message) {
	if m.From == None {
		return
	}
	switch m.MsgType {
	case pb.MessageType_MsgRequestVote:
		r.send(pb.Message{MsgType: pb.MessageType_MsgRequestVoteResponse, To: m.From, Reject: true})
	case pb.MessageType_MsgHeartbeat:
		r.send(pb.Message{MsgType: pb.MessageType_MsgHeartbeatResponse, To: m.From})
	case pb.MessageType_MsgAppend, pb.MessageType_MsgSnapshot:
		r.send(pb.Message{MsgType: pb.MessageType_MsgAppendResponse, To: m.From, Reject: true})
	}
}

// isMember reports whether this node is in its own membership: a node that
// is not (removed, or not yet added) never campaigns.
func (r *Raft) isMember() bool {
	_, ok := r.Prs[r.id]
	return ok
}

func (r *Raft) stepFollower(m pb.Message) error {
	switch m.MsgType {
	case pb.MessageType_MsgPropose:
		return ErrProposalDropped
	case pb.MessageType_MsgAppend:
		r.handleAppendEntries(m)
	case pb.MessageType_MsgHeartbeat:
		r.handleHeartbeat(m)
	case pb.MessageType_MsgSnapshot:
		r.handleSnapshot(m)
	case pb.MessageType_MsgTransferLeader:
		r.forwardTransferLeader(m)
	case pb.MessageType_MsgTimeoutNow:
		r.handleTimeoutNow(m)
	}
	return nil
}

func (r *Raft) stepCandidate(m pb.Message) error {
	switch m.MsgType {
	case pb.MessageType_MsgPropose:
		return ErrProposalDropped
	case pb.MessageType_MsgAppend, pb.MessageType_MsgHeartbeat, pb.MessageType_MsgSnapshot:
		// A leader of our term exists: we lost this election.
		r.becomeFollower(r.Term, m.From)
		return r.stepFollower(m)
	case pb.MessageType_MsgRequestVoteResponse:
		r.handleVoteResponse(m)
	}
	return nil
}

func (r *Raft) stepLeader(m pb.Message) error {
	switch m.MsgType {
	case pb.MessageType_MsgBeat:
		r.bcastHeartbeat()
	case pb.MessageType_MsgPropose:
		return r.propose(m.Entries)
	case pb.MessageType_MsgAppendResponse:
		r.handleAppendResponse(m)
	case pb.MessageType_MsgHeartbeatResponse:
		r.handleHeartbeatResponse(m)
	case pb.MessageType_MsgTransferLeader:
		r.handleTransferLeader(m)
	}
	return nil
}

// tickLeader advances a leader's clocks: a heartbeat every heartbeatTimeout
// ticks, periodic checks every electionTimeout ticks.
func (r *Raft) tickLeader() {
	r.heartbeatElapsed++
	r.electionElapsed++
	r.tickSnapshotWaits()
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.leadTransferee != None {
			r.abortLeaderTransfer("it did not finish within an election timeout")
		}
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		if err := r.Step(pb.Message{MsgType: pb.MessageType_MsgBeat, From: r.id, To: r.id}); err != nil {
			log.Debugf("[heartbeat] peer=%d term=%d heartbeat not sent: %v", r.id, r.Term, err)
		}
	}
}

// bcastHeartbeat sends a heartbeat to every other member.
func (r *Raft) bcastHeartbeat() {
	for _, id := range r.peers() {
		r.sendHeartbeat(id)
	}
}

// peers returns the other members, in increasing order so that runs replay
// exactly. The slice is reused by the next call: do not keep it.
func (r *Raft) peers() []uint64 {
	ids := r.peerBuf[:0]
	for id := range r.Prs {
		if id != r.id {
			ids = append(ids, id)
		}
	}
	sortIDs(ids)
	r.peerBuf = ids
	return ids
}

// sortIDs sorts a handful of ids in increasing order, without allocating.
func sortIDs(ids []uint64) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

//lab:end

//lab:begin 2AC

// softState returns the volatile state a Ready reports when it changes.
func (r *Raft) softState() SoftState {
	return SoftState{Lead: r.Lead, RaftState: r.State}
}

// hardState returns the state that must be persisted before messages are
// sent.
func (r *Raft) hardState() pb.HardState {
	return pb.HardState{Term: r.Term, Vote: r.Vote, Commit: r.RaftLog.committed}
}

//lab:end
