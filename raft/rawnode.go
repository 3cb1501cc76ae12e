package raft

import (
	"errors"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// ErrStepLocalMsg is returned when a local message (MsgHup, MsgBeat)
// arrives over the network.
var ErrStepLocalMsg = errors.New("raft: cannot step raft local message")

// ErrStepPeerNotFound is returned when a response arrives from a node that
// is not a member.
var ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")

// SoftState is volatile state: it need not be persisted, but the
// application may want to know when it changes (a new leader, a new role).
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is everything a node needs done by the application before it can
// go on. Handle it in this order: persist the snapshot, Entries and
// HardState; then send Messages; then apply the snapshot and
// CommittedEntries to the state machine; then call Advance.
type Ready struct {
	// SoftState is nil when it did not change since the last Ready.
	*SoftState

	// HardState must be persisted before Messages are sent. It is empty
	// (IsEmptyHardState) when it did not change.
	pb.HardState

	// Entries must be persisted before Messages are sent. An entry may
	// replace one at the same index persisted earlier (and everything
	// after it).
	Entries []pb.Entry

	// Snapshot, unless empty (IsEmptySnap), must be persisted and applied
	// to the state machine: it replaces the log before its index.
	Snapshot pb.Snapshot

	// CommittedEntries are to be applied to the state machine, in order.
	// They have been persisted before (in this Ready or an earlier one).
	CommittedEntries []pb.Entry

	// Messages are to be sent once Entries and HardState are persisted.
	Messages []pb.Message
}

// RawNode wraps a Raft for the application: it turns calls into messages,
// and gathers in a Ready what the application must persist, send and
// apply. It is not safe for concurrent use.
type RawNode struct {
	Raft *Raft
	// Your Data Here (2AC).
	//lab:begin 2AC
	// What the last Ready reported (or the state at start): a Ready only
	// carries soft and hard state that changed since.
	prevSoftSt SoftState
	prevHardSt pb.HardState
	//lab:end
}

// NewRawNode validates config and returns a RawNode around a new Raft. The
// soft and hard state it starts with count as reported: the first Ready
// carries them only if they change.
func NewRawNode(config *Config) (*RawNode, error) {
	// Your Code Here (2AC).
	//lab:begin 2AC
	if err := config.validate(); err != nil {
		return nil, err
	}
	r := newRaft(config)
	return &RawNode{Raft: r, prevSoftSt: r.softState(), prevHardSt: r.hardState()}, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// Tick advances the internal logical clock by a single tick.
func (rn *RawNode) Tick() {
	rn.Raft.tick()
}

// Campaign causes this RawNode to transition to candidate state.
func (rn *RawNode) Campaign() error {
	return rn.Raft.Step(pb.Message{
		MsgType: pb.MessageType_MsgHup,
	})
}

// Propose proposes data be appended to the raft log.
func (rn *RawNode) Propose(data []byte) error {
	ent := pb.Entry{Data: data}
	return rn.Raft.Step(pb.Message{
		MsgType: pb.MessageType_MsgPropose,
		From:    rn.Raft.id,
		Entries: []*pb.Entry{&ent}})
}

// ProposeConfChange proposes a config change.
func (rn *RawNode) ProposeConfChange(cc pb.ConfChange) error {
	data, err := cc.Marshal()
	if err != nil {
		return err
	}
	ent := pb.Entry{EntryType: pb.EntryType_EntryConfChange, Data: data}
	return rn.Raft.Step(pb.Message{
		MsgType: pb.MessageType_MsgPropose,
		Entries: []*pb.Entry{&ent},
	})
}

// ApplyConfChange applies a config change to the local node, once its
// entry is committed, and returns the new membership.
func (rn *RawNode) ApplyConfChange(cc pb.ConfChange) *pb.ConfState {
	if cc.NodeId == None {
		return &pb.ConfState{Nodes: nodes(rn.Raft)}
	}
	switch cc.ChangeType {
	case pb.ConfChangeType_AddNode:
		rn.Raft.addNode(cc.NodeId)
	case pb.ConfChangeType_RemoveNode:
		rn.Raft.removeNode(cc.NodeId)
	}
	return &pb.ConfState{Nodes: nodes(rn.Raft)}
}

// Step advances the state machine using the given message.
func (rn *RawNode) Step(m pb.Message) error {
	// ignore unexpected local messages receiving over network
	if IsLocalMsg(m.MsgType) {
		return ErrStepLocalMsg
	}
	if pr := rn.Raft.Prs[m.From]; pr != nil || !IsResponseMsg(m.MsgType) {
		return rn.Raft.Step(m)
	}
	return ErrStepPeerNotFound
}

// Ready returns what the application must do now (see Ready). The
// messages and the soft state change it reports are handed over: the next
// Ready does not repeat them.
func (rn *RawNode) Ready() Ready {
	// Your Code Here (2AC).
	//lab:begin 2AC
	r := rn.Raft
	rd := Ready{
		Entries:          r.RaftLog.unstableEntries(),
		CommittedEntries: r.RaftLog.nextEnts(),
	}
	if len(r.msgs) > 0 {
		rd.Messages = coalesceAppends(r.msgs)
		r.msgs = nil
	}
	if st := r.softState(); st != rn.prevSoftSt {
		rd.SoftState = &st
		rn.prevSoftSt = st
	}
	if hs := r.hardState(); !isHardStateEqual(hs, rn.prevHardSt) {
		rd.HardState = hs
	}
	if snap := r.RaftLog.pendingSnapshot; snap != nil {
		rd.Snapshot = *snap
	}
	return rd
	//lab:else
	//	return Ready{}
	//lab:end
}

//lab:begin 2AC

// coalesceAppends merges consecutive appends to the same peer: every
// proposal sends its entry at once, and a batch of proposals between two
// Readys would otherwise cost a message, and an answer, per entry. Two
// appends merge when the second continues the first; the merged one carries
// the later commit index. Messages to one peer keep their order.
func coalesceAppends(msgs []pb.Message) []pb.Message {
	out := msgs[:0]
	// lastTo[peer] is the position in out of the last message to peer.
	lastTo := make(map[uint64]int, 4)
	for _, m := range msgs {
		if i, ok := lastTo[m.To]; ok && continuesAppend(out[i], m) {
			out[i].Entries = append(out[i].Entries, m.Entries...)
			out[i].Commit = m.Commit
			continue
		}
		lastTo[m.To] = len(out)
		out = append(out, m)
	}
	return out
}

// continuesAppend reports whether append b starts right where append a ends.
func continuesAppend(a, b pb.Message) bool {
	if a.MsgType != pb.MessageType_MsgAppend || b.MsgType != pb.MessageType_MsgAppend || a.Term != b.Term {
		return false
	}
	lastIndex, lastTerm := a.Index, a.LogTerm
	if n := len(a.Entries); n > 0 {
		lastIndex, lastTerm = a.Entries[n-1].Index, a.Entries[n-1].Term
	}
	return b.Index == lastIndex && b.LogTerm == lastTerm
}

//lab:end

// HasReady reports whether Ready would return anything to do: changed soft
// or hard state, entries to persist or apply, a snapshot or messages.
func (rn *RawNode) HasReady() bool {
	// Your Code Here (2AC).
	//lab:begin 2AC
	r := rn.Raft
	if r.softState() != rn.prevSoftSt {
		return true
	}
	if hs := r.hardState(); !IsEmptyHardState(hs) && !isHardStateEqual(hs, rn.prevHardSt) {
		return true
	}
	l := r.RaftLog
	return len(r.msgs) > 0 || l.pendingSnapshot != nil || l.stabled < l.LastIndex() ||
		max(l.applied+1, l.firstIndex()) <= l.committed
	//lab:else
	//	return false
	//lab:end
}

// Advance records that the application handled rd: its entries are
// persisted, its committed entries and snapshot applied, and its hard state
// saved. The next Ready starts after them.
func (rn *RawNode) Advance(rd Ready) {
	// Your Code Here (2AC).
	//lab:begin 2AC
	l := rn.Raft.RaftLog
	if !IsEmptyHardState(rd.HardState) {
		rn.prevHardSt = rd.HardState
	}
	if !IsEmptySnap(&rd.Snapshot) {
		l.snapshotApplied(rd.Snapshot.Metadata.Index)
	}
	l.stableTo(rd.Entries)
	if n := len(rd.CommittedEntries); n > 0 {
		l.appliedTo(rd.CommittedEntries[n-1].Index)
	}
	l.maybeCompact()
	//lab:end
}

// GetProgress return the Progress of this node and its peers, if this
// node is leader.
func (rn *RawNode) GetProgress() map[uint64]Progress {
	prs := make(map[uint64]Progress)
	if rn.Raft.State == StateLeader {
		for id, p := range rn.Raft.Prs {
			prs[id] = *p
		}
	}
	return prs
}

// TransferLeader tries to transfer leadership to the given transferee.
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.Raft.Step(pb.Message{MsgType: pb.MessageType_MsgTransferLeader, From: transferee})
}
