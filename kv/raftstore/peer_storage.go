package raftstore

import (
	"bytes"
	"fmt"
	"time"

	"github.com/Connor1996/badger"
	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/raft"
)

// PeerStateApplying marks, in a RegionLocalState, a region whose snapshot
// was accepted (raft and apply states already moved to it) but whose data
// is not ingested yet. A store that restarts in this state applies the
// snapshot again. The protocol leaves the value 1 of PeerState free for it.
const PeerStateApplying raft_serverpb.PeerState = 1

// snapStateType says what a peer's storage is doing with snapshots.
type snapStateType int

const (
	// snapStateRelax: nothing in progress.
	snapStateRelax snapStateType = iota
	// snapStateGenerating: the region worker is building a snapshot to send.
	snapStateGenerating
	// snapStateApplying: the region worker is ingesting a received snapshot.
	snapStateApplying
)

// snapState is the snapshot work in progress; receiver delivers the
// generated snapshot (nil when generation failed).
type snapState struct {
	stateType snapStateType
	receiver  chan *eraftpb.Snapshot
}

// maxSnapGenAttempts bounds how often one peer retries a failing snapshot
// generation before it pauses (it starts over at the next request of raft).
const maxSnapGenAttempts = 5

// PeerStorage is the raft.Storage of one peer: its raft log and hard state
// in raftdb, its apply state and region in kvdb. It keeps the three states
// in memory; raft reads entries through it.
type PeerStorage struct {
	// region is the current region of the peer.
	region *metapb.Region
	// raftState is the persisted RaftLocalState: hard state and last log index/term.
	raftState *raft_serverpb.RaftLocalState
	// applyState is the persisted RaftApplyState: applied index and truncated log.
	applyState *raft_serverpb.RaftApplyState

	snapState   snapState
	regionSched chan<- worker.Task
	// genSched, when set, takes snapshot generation off the region worker,
	// so that applying a snapshot never waits behind building one.
	genSched     chan<- worker.Task
	snapGenTries int

	// Engines are the store's two databases.
	Engines *engine_util.Engines
	// Tag names the peer in logs.
	Tag string
}

var _ raft.Storage = new(PeerStorage)

// NewPeerStorage loads the peer's states from the engines, creating the
// initial ones when the region is new on this store. regionSched may be nil
// (tests that never generate or apply snapshots).
func NewPeerStorage(engines *engine_util.Engines, region *metapb.Region, regionSched chan<- worker.Task, tag string) (*PeerStorage, error) {
	log.Debugf("[persist] %s opening storage for %s", tag, region.String())
	raftState, err := meta.InitRaftLocalState(engines.Raft, region)
	if err != nil {
		return nil, err
	}
	applyState, err := meta.InitApplyState(engines.Kv, region)
	if err != nil {
		return nil, err
	}
	recoverInterruptedSnapshot(raftState, applyState)
	if raftState.LastIndex < applyState.AppliedIndex {
		return nil, errors.Errorf("%s unexpected raft log index: last index %d < applied index %d",
			tag, raftState.LastIndex, applyState.AppliedIndex)
	}
	// A leader applies the entries it knows committed before it writes the
	// Ready that records the new commit index (HandleRaftReady); after a
	// crash in between, what it applied was committed all the same.
	if hs := raftState.GetHardState(); hs != nil && hs.Commit < applyState.AppliedIndex {
		hs.Commit = applyState.AppliedIndex
	}
	return &PeerStorage{
		Engines:     engines,
		region:      region,
		Tag:         tag,
		raftState:   raftState,
		applyState:  applyState,
		regionSched: regionSched,
	}, nil
}

// recoverInterruptedSnapshot repairs the raft state of a store that crashed
// while accepting a snapshot: the apply state (kvdb, written first) already
// points at the snapshot, the raft state (raftdb) does not. The snapshot's
// index and term, kept as the truncated state, are then the last of the log.
func recoverInterruptedSnapshot(raftState *raft_serverpb.RaftLocalState, applyState *raft_serverpb.RaftApplyState) {
	truncated := applyState.TruncatedState
	if raftState.LastIndex >= truncated.Index {
		return
	}
	raftState.LastIndex = truncated.Index
	raftState.LastTerm = truncated.Term
	if raftState.HardState == nil {
		raftState.HardState = new(eraftpb.HardState)
	}
	if raftState.HardState.Commit < truncated.Index {
		raftState.HardState.Commit = truncated.Index
	}
	if raftState.HardState.Term < truncated.Term {
		raftState.HardState.Term = truncated.Term
	}
}

// InitialState implements raft.Storage.
func (ps *PeerStorage) InitialState() (eraftpb.HardState, eraftpb.ConfState, error) {
	raftState := ps.raftState
	if raft.IsEmptyHardState(*raftState.HardState) {
		if ps.isInitialized() {
			return eraftpb.HardState{}, eraftpb.ConfState{}, errors.Errorf("%s initialized region has an empty hard state", ps.Tag)
		}
		return eraftpb.HardState{}, eraftpb.ConfState{}, nil
	}
	return *raftState.HardState, util.ConfStateFromRegion(ps.region), nil
}

// Entries implements raft.Storage: the entries in [low, high).
func (ps *PeerStorage) Entries(low, high uint64) ([]eraftpb.Entry, error) {
	if err := ps.checkRange(low, high); err != nil || low == high {
		return nil, err
	}
	buf := make([]eraftpb.Entry, 0, high-low)
	regionID := ps.region.Id
	txn := ps.Engines.Raft.NewTransaction(false)
	defer txn.Discard()
	startKey := meta.RaftLogKey(regionID, low)
	endKey := meta.RaftLogKey(regionID, high)
	iter := txn.NewIterator(badger.DefaultIteratorOptions)
	defer iter.Close()
	nextIndex := low
	for iter.Seek(startKey); iter.Valid(); iter.Next() {
		item := iter.Item()
		if bytes.Compare(item.Key(), endKey) >= 0 {
			break
		}
		val, err := item.Value()
		if err != nil {
			return nil, err
		}
		var entry eraftpb.Entry
		if err := entry.Unmarshal(val); err != nil {
			return nil, err
		}
		// A hole in the log means it was compacted under us.
		if entry.Index != nextIndex {
			break
		}
		nextIndex++
		buf = append(buf, entry)
	}
	if len(buf) == int(high-low) {
		return buf, nil
	}
	return nil, raft.ErrUnavailable
}

// Term implements raft.Storage: the term of the entry at idx; the truncated
// index answers with the truncated term.
func (ps *PeerStorage) Term(idx uint64) (uint64, error) {
	if idx == ps.truncatedIndex() {
		return ps.truncatedTerm(), nil
	}
	if err := ps.checkRange(idx, idx+1); err != nil {
		return 0, err
	}
	if ps.truncatedTerm() == ps.raftState.LastTerm || idx == ps.raftState.LastIndex {
		return ps.raftState.LastTerm, nil
	}
	var entry eraftpb.Entry
	if err := engine_util.GetMeta(ps.Engines.Raft, meta.RaftLogKey(ps.region.Id, idx), &entry); err != nil {
		return 0, err
	}
	return entry.Term, nil
}

// LastIndex implements raft.Storage.
func (ps *PeerStorage) LastIndex() (uint64, error) {
	return ps.raftState.LastIndex, nil
}

// FirstIndex implements raft.Storage: the first index still in the log.
func (ps *PeerStorage) FirstIndex() (uint64, error) {
	return ps.truncatedIndex() + 1, nil
}

// Snapshot implements raft.Storage. Building a snapshot takes time, so the
// first call asks the region worker for one and answers
// ErrSnapshotTemporarilyUnavailable; raft asks again later and gets it once
// it is ready. A failed or stale snapshot starts a new generation.
func (ps *PeerStorage) Snapshot() (eraftpb.Snapshot, error) {
	var snapshot eraftpb.Snapshot
	if ps.snapState.stateType == snapStateGenerating {
		select {
		case s := <-ps.snapState.receiver:
			if s != nil {
				snapshot = *s
			}
		default:
			return snapshot, raft.ErrSnapshotTemporarilyUnavailable
		}
		ps.snapState.stateType = snapStateRelax
		if snapshot.GetMetadata() != nil && ps.validateSnap(&snapshot) {
			ps.snapGenTries = 0
			return snapshot, nil
		}
		log.Warnf("[snap] %s generating a snapshot failed (attempt %d), retrying", ps.Tag, ps.snapGenTries)
	}
	if ps.snapGenTries >= maxSnapGenAttempts {
		// Give the region worker a rest; raft asks again at its next heartbeat.
		ps.snapGenTries = 0
		return snapshot, raft.ErrSnapshotTemporarilyUnavailable
	}
	ps.requestSnapshot()
	return snapshot, raft.ErrSnapshotTemporarilyUnavailable
}

// requestSnapshot asks the region worker to build a snapshot of the region.
func (ps *PeerStorage) requestSnapshot() {
	if ps.regionSched == nil {
		return
	}
	log.Infof("[snap] %s requesting a snapshot", ps.Tag)
	ps.snapGenTries++
	ch := make(chan *eraftpb.Snapshot, 1)
	ps.snapState = snapState{stateType: snapStateGenerating, receiver: ch}
	sched := ps.regionSched
	if ps.genSched != nil {
		sched = ps.genSched
	}
	sched <- &runner.RegionTaskGen{RegionId: ps.region.GetId(), Notifier: ch}
}

// validateSnap rejects a generated snapshot that is older than the log
// (the log was compacted past it while it was built) or unreadable.
func (ps *PeerStorage) validateSnap(snap *eraftpb.Snapshot) bool {
	idx := snap.GetMetadata().GetIndex()
	if idx < ps.truncatedIndex() {
		log.Infof("[snap] %s snapshot is stale: index %d < truncated index %d", ps.Tag, idx, ps.truncatedIndex())
		return false
	}
	var snapData raft_serverpb.RaftSnapshotData
	if err := proto.UnmarshalMerge(snap.GetData(), &snapData); err != nil {
		log.Errorf("[snap] %s snapshot data is corrupted: %v", ps.Tag, err)
		return false
	}
	return true
}

func (ps *PeerStorage) checkRange(low, high uint64) error {
	if low > high {
		return errors.Errorf("low %d is greater than high %d", low, high)
	} else if low <= ps.truncatedIndex() {
		return raft.ErrCompacted
	} else if high > ps.raftState.LastIndex+1 {
		return raft.ErrUnavailable
	}
	return nil
}

func (ps *PeerStorage) truncatedIndex() uint64 {
	return ps.applyState.TruncatedState.Index
}

func (ps *PeerStorage) truncatedTerm() uint64 {
	return ps.applyState.TruncatedState.Term
}

// AppliedIndex is the index of the last entry applied to kvdb.
func (ps *PeerStorage) AppliedIndex() uint64 {
	return ps.applyState.AppliedIndex
}

// Region is the peer's current region.
func (ps *PeerStorage) Region() *metapb.Region {
	return ps.region
}

// SetRegion replaces the peer's region (after a conf change or a split).
func (ps *PeerStorage) SetRegion(region *metapb.Region) {
	ps.region = region
}

func (ps *PeerStorage) isInitialized() bool {
	return len(ps.region.Peers) > 0
}

// clearMeta deletes the region's raft log, raft state, apply state and
// region state; the caller writes the batches.
func (ps *PeerStorage) clearMeta(kvWB, raftWB *engine_util.WriteBatch) error {
	return ClearMeta(ps.Engines, kvWB, raftWB, ps.region.Id, ps.raftState.LastIndex)
}

// clearExtraData deletes the data of the old region range that the new
// region (from a snapshot) no longer covers.
func (ps *PeerStorage) clearExtraData(newRegion *metapb.Region) {
	oldStartKey, oldEndKey := ps.region.GetStartKey(), ps.region.GetEndKey()
	newStartKey, newEndKey := newRegion.GetStartKey(), newRegion.GetEndKey()
	if bytes.Compare(oldStartKey, newStartKey) < 0 {
		ps.clearRange(newRegion.Id, oldStartKey, newStartKey)
	}
	if bytes.Compare(newEndKey, oldEndKey) < 0 || (len(oldEndKey) == 0 && len(newEndKey) != 0) {
		ps.clearRange(newRegion.Id, newEndKey, oldEndKey)
	}
}

// ClearMeta deletes every raft log entry of the region (up to lastIndex and
// any stale ones before the first), the raft state, the apply state and the
// region state.
func ClearMeta(engines *engine_util.Engines, kvWB, raftWB *engine_util.WriteBatch, regionID uint64, lastIndex uint64) error {
	start := time.Now()
	kvWB.DeleteMeta(meta.RegionStateKey(regionID))
	kvWB.DeleteMeta(meta.ApplyStateKey(regionID))

	firstIndex := lastIndex + 1
	beginLogKey := meta.RaftLogKey(regionID, 0)
	endLogKey := meta.RaftLogKey(regionID, firstIndex)
	err := engines.Raft.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		it.Seek(beginLogKey)
		if it.Valid() && bytes.Compare(it.Item().Key(), endLogKey) < 0 {
			logIdx, err1 := meta.RaftLogIndex(it.Item().Key())
			if err1 != nil {
				return err1
			}
			firstIndex = logIdx
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := firstIndex; i <= lastIndex; i++ {
		raftWB.DeleteMeta(meta.RaftLogKey(regionID, i))
	}
	raftWB.DeleteMeta(meta.RaftStateKey(regionID))
	log.Infof("[persist] region=%d cleared states and %d log entries in %v",
		regionID, lastIndex+1-firstIndex, time.Since(start))
	return nil
}

// Append puts entries into raftWB, deletes stored entries after the new
// last index (a new leader overwrote them) and updates raftState's last
// index and term in memory; the caller persists raftState.
func (ps *PeerStorage) Append(entries []eraftpb.Entry, raftWB *engine_util.WriteBatch) error {
	// Your Code Here (2B).
	//lab:begin 2B
	if len(entries) == 0 {
		return nil
	}
	regionID := ps.region.Id
	for i := range entries {
		if err := raftWB.SetMeta(meta.RaftLogKey(regionID, entries[i].Index), &entries[i]); err != nil {
			return err
		}
	}
	last := entries[len(entries)-1]
	for i := last.Index + 1; i <= ps.raftState.LastIndex; i++ {
		raftWB.DeleteMeta(meta.RaftLogKey(regionID, i))
	}
	ps.raftState.LastIndex = last.Index
	ps.raftState.LastTerm = last.Term
	//lab:end
	return nil
}

// ApplySnapshot makes the peer's states those of the snapshot: it puts the
// new raft, apply and region states into the batches, clears the old log,
// and marks the region as applying; the data itself is ingested by the
// region worker (see applySnapshotData) once the batches are written.
func (ps *PeerStorage) ApplySnapshot(snapshot *eraftpb.Snapshot, kvWB *engine_util.WriteBatch, raftWB *engine_util.WriteBatch) (*ApplySnapResult, error) {
	log.Infof("[snap] %v begin to apply snapshot", ps.Tag)
	snapData := new(raft_serverpb.RaftSnapshotData)
	if err := snapData.Unmarshal(snapshot.Data); err != nil {
		return nil, err
	}

	// Hint: clear the old log and states (ps.clearMeta) and the data the new
	// region no longer covers (ps.clearExtraData), then put the snapshot's
	// raft, apply and region (Applying) states into the batches and the
	// in-memory states. The region worker ingests the data once the batches
	// are written (applySnapshotData, called after SaveReadyState).
	// Your Code Here (2C).
	//lab:begin 2C
	if ps.isInitialized() {
		if err := ps.clearMeta(kvWB, raftWB); err != nil {
			return nil, err
		}
		ps.clearExtraData(snapData.Region)
	}
	index, term := snapshot.Metadata.Index, snapshot.Metadata.Term
	ps.raftState.LastIndex = index
	ps.raftState.LastTerm = term
	ps.applyState.AppliedIndex = index
	ps.applyState.TruncatedState = &raft_serverpb.RaftTruncatedState{Index: index, Term: term}
	if err := kvWB.SetMeta(meta.ApplyStateKey(snapData.Region.Id), ps.applyState); err != nil {
		return nil, err
	}
	meta.WriteRegionState(kvWB, snapData.Region, PeerStateApplying)
	result := &ApplySnapResult{PrevRegion: ps.region, Region: snapData.Region}
	ps.region = snapData.Region
	ps.snapState = snapState{stateType: snapStateApplying}
	return result, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// applySnapshotData has the region worker delete the region's old data
// and ingest the snapshot files, waits for it, and marks the region Normal.
// The raft worker waits here: the peer must not apply anything newer
// before its data is in place.
func (ps *PeerStorage) applySnapshotData(snapMeta *eraftpb.SnapshotMetadata) error {
	if ps.regionSched == nil {
		return errors.Errorf("%s cannot apply a snapshot without a region worker", ps.Tag)
	}
	done := make(chan bool, 1)
	ps.regionSched <- &runner.RegionTaskApply{
		RegionId: ps.region.Id,
		Notifier: done,
		SnapMeta: snapMeta,
		StartKey: ps.region.GetStartKey(),
		EndKey:   ps.region.GetEndKey(),
	}
	if ok := <-done; !ok {
		return errors.Errorf("%s the region worker failed to apply snapshot %d/%d", ps.Tag, snapMeta.Term, snapMeta.Index)
	}
	kvWB := new(engine_util.WriteBatch)
	meta.WriteRegionState(kvWB, ps.region, raft_serverpb.PeerState_Normal)
	if err := kvWB.WriteToDB(ps.Engines.Kv); err != nil {
		return err
	}
	ps.snapState = snapState{stateType: snapStateRelax}
	log.Infof("[snap] %s applied snapshot at index %d term %d", ps.Tag, snapMeta.Index, snapMeta.Term)
	return nil
}

// SaveReadyState persists what a Ready asks for: a snapshot (new states,
// data ingested), the new log entries, and the hard state. Log entries and
// raft state go to raftdb in one write batch.
func (ps *PeerStorage) SaveReadyState(ready *raft.Ready) (*ApplySnapResult, error) {
	// Hint: you may call `Append()` and `ApplySnapshot()` in this function
	// Your Code Here (2B/2C).
	//lab:begin 2B
	kvWB, raftWB := new(engine_util.WriteBatch), new(engine_util.WriteBatch)
	var result *ApplySnapResult
	//lab:end
	//lab:begin 2C
	if !raft.IsEmptySnap(&ready.Snapshot) {
		var err error
		if result, err = ps.ApplySnapshot(&ready.Snapshot, kvWB, raftWB); err != nil {
			return nil, err
		}
	}
	//lab:end
	//lab:begin 2B
	if err := ps.Append(ready.Entries, raftWB); err != nil {
		return nil, err
	}
	// Optional speed-up (doc.go): a raft state that moves only the commit
	// index need not wait for the disk; raft learns a lost one again.
	sameTermAndVote := raft.IsEmptyHardState(ready.HardState) ||
		ready.HardState.Term == ps.raftState.HardState.GetTerm() && ready.HardState.Vote == ps.raftState.HardState.GetVote()
	if len(ready.Entries) == 0 && raft.IsEmptySnap(&ready.Snapshot) && sameTermAndVote {
		raftWB.DeferSync()
	}
	if !raft.IsEmptyHardState(ready.HardState) {
		ps.raftState.HardState = &ready.HardState
	}
	if err := raftWB.SetMeta(meta.RaftStateKey(ps.region.Id), ps.raftState); err != nil {
		return nil, err
	}
	// kvdb first: after a crash between the two writes, NewPeerStorage
	// repairs the raft state from the apply state (recoverInterruptedSnapshot).
	if err := kvWB.WriteToDB(ps.Engines.Kv); err != nil {
		return nil, err
	}
	if err := raftWB.WriteToDB(ps.Engines.Raft); err != nil {
		return nil, err
	}
	//lab:end
	//lab:begin 2C
	if result != nil {
		if err := ps.applySnapshotData(ready.Snapshot.Metadata); err != nil {
			return nil, err
		}
	}
	//lab:end
	//lab:begin 2B
	return result, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// ApplySnapResult tells the peer that a snapshot replaced its region.
type ApplySnapResult struct {
	PrevRegion *metapb.Region
	Region     *metapb.Region
}

// ClearData schedules the deletion of the region's data (the peer is destroyed).
func (ps *PeerStorage) ClearData() {
	ps.clearRange(ps.region.GetId(), ps.region.GetStartKey(), ps.region.GetEndKey())
}

func (ps *PeerStorage) clearRange(regionID uint64, start, end []byte) {
	if ps.regionSched == nil {
		return
	}
	ps.regionSched <- &runner.RegionTaskDestroy{
		RegionId: regionID,
		StartKey: start,
		EndKey:   end,
	}
}

// String names the storage in logs.
func (ps *PeerStorage) String() string {
	return fmt.Sprintf("%s region %d", ps.Tag, ps.region.GetId())
}
