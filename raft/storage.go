package raft

import (
	"errors"
	"fmt"
	"sync"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// ErrCompacted is returned by Storage.Entries and Storage.Term when the
// requested index lies before the first available entry: the log was
// compacted into a snapshot.
var ErrCompacted = errors.New("requested index is unavailable due to compaction")

// ErrSnapOutOfDate is returned by MemoryStorage.ApplySnapshot and
// CreateSnapshot for a snapshot older than the one already held.
var ErrSnapOutOfDate = errors.New("requested index is older than the existing snapshot")

// ErrUnavailable is returned by Storage.Entries and Storage.Term when the
// requested index lies after the last stored entry.
var ErrUnavailable = errors.New("requested entry at index is unavailable")

// ErrSnapshotTemporarilyUnavailable is returned by Storage.Snapshot while
// the snapshot is still being built; raft asks again later.
var ErrSnapshotTemporarilyUnavailable = errors.New("snapshot is temporarily unavailable")

// Storage is what raft reads its persisted state from. The application
// writes to it (entries, HardState, snapshots from each Ready) and raft only
// reads. Every method may be called from raft at any time, so an
// implementation must answer from state that is already persisted.
type Storage interface {
	// InitialState returns the persisted HardState and the membership
	// (ConfState) of the last snapshot.
	InitialState() (pb.HardState, pb.ConfState, error)
	// Entries returns the entries with indexes in [lo, hi).
	Entries(lo, hi uint64) ([]pb.Entry, error)
	// Term returns the term of entry i, which must be in
	// [FirstIndex()-1, LastIndex()]: the term of the entry just before
	// FirstIndex is kept so that the first append can be checked.
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry.
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry that may be read
	// (older ones were compacted into the snapshot).
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot. While one is being
	// built it returns ErrSnapshotTemporarilyUnavailable.
	Snapshot() (pb.Snapshot, error)
}

// MemoryStorage is a Storage kept in memory, for tests and for the
// examples in doc.go. ents[0] is a dummy entry at the index and term of the
// snapshot (0 and 0 for a new log), so ents[i] has index ents[0].Index+i.
type MemoryStorage struct {
	// Guards every field: raft reads while the application writes.
	sync.Mutex

	hardState pb.HardState
	snapshot  pb.Snapshot
	ents      []pb.Entry
}

// NewMemoryStorage returns an empty storage: no entries, a zero HardState
// and an empty snapshot.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{
		ents:     make([]pb.Entry, 1),
		snapshot: pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{}}},
	}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (pb.HardState, pb.ConfState, error) {
	ms.Lock()
	defer ms.Unlock()
	var cs pb.ConfState
	if c := ms.snapshot.GetMetadata().GetConfState(); c != nil {
		cs.Nodes = c.Nodes
	}
	return ms.hardState, cs, nil
}

// SetHardState saves the current HardState.
func (ms *MemoryStorage) SetHardState(st pb.HardState) error {
	ms.Lock()
	defer ms.Unlock()
	ms.hardState = st
	return nil
}

// Entries implements Storage. The returned slice must not be modified.
func (ms *MemoryStorage) Entries(lo, hi uint64) ([]pb.Entry, error) {
	ms.Lock()
	defer ms.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if lo > hi {
		return nil, fmt.Errorf("raft: invalid range of entries [%d, %d)", lo, hi)
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	// The cap keeps a caller's append from writing into ms.ents.
	return ms.ents[lo-offset : hi-offset : hi-offset], nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.Lock()
	defer ms.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.Lock()
	defer ms.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.Lock()
	defer ms.Unlock()
	return ms.firstIndex(), nil
}

func (ms *MemoryStorage) firstIndex() uint64 {
	return ms.ents[0].Index + 1
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (pb.Snapshot, error) {
	ms.Lock()
	defer ms.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the whole content of the storage by snap: the log
// restarts after the snapshot's index.
func (ms *MemoryStorage) ApplySnapshot(snap pb.Snapshot) error {
	if snap.Metadata == nil {
		return errors.New("raft: snapshot without metadata")
	}
	ms.Lock()
	defer ms.Unlock()
	if ms.snapshot.GetMetadata().GetIndex() >= snap.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []pb.Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine at applied index
// i, with membership cs (kept as it was when nil) and data, and returns it.
// The log is left alone: call Compact to drop the entries it covers.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (pb.Snapshot, error) {
	ms.Lock()
	defer ms.Unlock()
	if i <= ms.snapshot.GetMetadata().GetIndex() {
		return pb.Snapshot{}, ErrSnapOutOfDate
	}
	if i > ms.lastIndex() {
		return pb.Snapshot{}, fmt.Errorf("raft: snapshot index %d is after the last index %d", i, ms.lastIndex())
	}
	if cs == nil {
		cs = ms.snapshot.GetMetadata().GetConfState()
	}
	ms.snapshot = pb.Snapshot{
		Data: data,
		Metadata: &pb.SnapshotMetadata{
			Index:     i,
			Term:      ms.ents[i-ms.ents[0].Index].Term,
			ConfState: cs,
		},
	}
	return ms.snapshot, nil
}

// Compact drops the entries before compactIndex; the entry at compactIndex
// becomes the dummy entry. The application must not compact past the
// applied index.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.Lock()
	defer ms.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("raft: compact index %d is after the last index %d", compactIndex, ms.lastIndex())
	}
	i := compactIndex - offset
	// A new slice, so that the compacted entries can be freed and slices
	// handed out earlier keep their content.
	ents := make([]pb.Entry, 1, uint64(len(ms.ents))-i)
	ents[0].Index = ms.ents[i].Index
	ents[0].Term = ms.ents[i].Term
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// Append stores entries after the existing ones. Entries already compacted
// are skipped; an entry at an index that is already stored replaces it and
// everything after it (a follower's log being corrected by a new leader).
// The entries must be contiguous and must not leave a gap.
func (ms *MemoryStorage) Append(entries []pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.Lock()
	defer ms.Unlock()
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("raft: entries to append are not contiguous: index %d follows %d", entries[i].Index, entries[i-1].Index)
		}
	}
	first := ms.firstIndex()
	last := entries[len(entries)-1].Index
	if last < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case offset < uint64(len(ms.ents)):
		// Copy the kept prefix: slices handed out by Entries must not change.
		kept := make([]pb.Entry, offset, offset+uint64(len(entries)))
		copy(kept, ms.ents[:offset])
		ms.ents = append(kept, entries...)
	case offset == uint64(len(ms.ents)):
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("raft: missing log entries: last stored index %d, appending from %d", ms.lastIndex(), entries[0].Index)
	}
	return nil
}
