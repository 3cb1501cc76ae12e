package raft

import (
	"github.com/tinykv-lab/tinykv/log"
	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// RaftLog is a node's log. Every entry that is not compacted lives in
// memory, in entries; the persisted part is also in storage.
//
//	 snapshot/compacted  |          entries (in memory)                |
//	---------------------+----------------------------------------------+
//	                  first-1   applied  <=  committed      stabled    last
//	                     |         |            |              |         |
//	 ....................|xxxxxxxxx|xxxxxxxxxxxx|xxxxxxxxxxxxxx|xxxxxxxxx|
//	                     |<- applied ->|<- to apply ->|
//	                                           persisted up to stabled ->|<- not yet
//
// Invariants: applied <= committed <= last index; entries[i] has index
// first+i; committed entries never change.
type RaftLog struct {
	// storage holds what was persisted (by the application, from Readys).
	storage Storage

	// committed is the highest index known to be stored on a quorum.
	committed uint64

	// applied is the highest index the application has applied to its
	// state machine. applied <= committed.
	applied uint64

	// stabled is the highest index persisted to storage; entries after it
	// are handed to the application in the next Ready.
	stabled uint64

	// entries are all entries not compacted, in index order.
	entries []pb.Entry

	// pendingSnapshot is a snapshot received from the leader and not yet
	// handed to the application (through Ready) and applied.
	pendingSnapshot *pb.Snapshot

	// Your Data Here (2AA).
	//lab:begin 2AA
	// snapIndex and snapTerm name the last entry before entries: the end of
	// the compacted prefix or of the pending snapshot (0 and 0 for a new log).
	snapIndex, snapTerm uint64
	//lab:end
}

// newLog returns a log holding every entry of storage, committed and
// applied up to the storage's snapshot, stable up to its last entry.
func newLog(storage Storage) *RaftLog {
	// Your Code Here (2AA).
	//lab:begin 2AA
	first, err := storage.FirstIndex()
	if err != nil {
		log.Panicf("[persist] cannot read the first index of the log storage: %v", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		log.Panicf("[persist] cannot read the last index of the log storage: %v", err)
	}
	snapTerm, err := storage.Term(first - 1)
	if err != nil {
		log.Panicf("[persist] cannot read the term of the snapshot at index %d: %v", first-1, err)
	}
	l := &RaftLog{
		storage:   storage,
		committed: first - 1,
		applied:   first - 1,
		stabled:   last,
		snapIndex: first - 1,
		snapTerm:  snapTerm,
	}
	if first <= last {
		ents, err := storage.Entries(first, last+1)
		if err != nil {
			log.Panicf("[persist] cannot read the stored entries [%d, %d]: %v", first, last, err)
		}
		// Copy: the log appends to its slice, the storage owns its own.
		l.entries = append(make([]pb.Entry, 0, len(ents)), ents...)
	}
	return l
	//lab:else
	//	return nil
	//lab:end
}

// maybeCompact drops from memory the entries the storage has compacted
// (after the application took a snapshot or truncated its log).
func (l *RaftLog) maybeCompact() {
	// Your Code Here (2C).
	//lab:begin 2C
	first, err := l.storage.FirstIndex()
	if err != nil {
		return
	}
	compactTo := first - 1
	if compactTo <= l.snapIndex || compactTo > l.LastIndex() {
		return
	}
	term := l.entries[compactTo-l.firstIndex()].Term
	// A new slice, so the memory of the dropped entries can be freed.
	l.entries = append([]pb.Entry(nil), l.entries[compactTo-l.snapIndex:]...)
	l.snapIndex, l.snapTerm = compactTo, term
	//lab:end
}

// allEntries returns all entries not compacted. The caller must not modify
// them.
func (l *RaftLog) allEntries() []pb.Entry {
	// Your Code Here (2AA).
	//lab:begin 2AA
	return l.slice(l.firstIndex(), l.LastIndex()+1)
	//lab:else
	//	return nil
	//lab:end
}

// unstableEntries returns the entries not yet persisted (after stabled).
func (l *RaftLog) unstableEntries() []pb.Entry {
	// Your Code Here (2AA).
	//lab:begin 2AA
	return l.slice(l.stabled+1, l.LastIndex()+1)
	//lab:else
	//	return nil
	//lab:end
}

// nextEnts returns the entries committed and not yet applied (nil if none).
func (l *RaftLog) nextEnts() (ents []pb.Entry) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	lo := max(l.applied+1, l.firstIndex())
	if lo > l.committed {
		return nil
	}
	return l.slice(lo, l.committed+1)
	//lab:else
	//	return nil
	//lab:end
}

// LastIndex returns the index of the last entry (of the snapshot if the
// log holds no entries).
func (l *RaftLog) LastIndex() uint64 {
	// Your Code Here (2AA).
	//lab:begin 2AA
	return l.snapIndex + uint64(len(l.entries))
	//lab:else
	//	return 0
	//lab:end
}

// Term returns the term of the entry at index i: ErrCompacted before the
// snapshot index, ErrUnavailable after the last index.
func (l *RaftLog) Term(i uint64) (uint64, error) {
	// Your Code Here (2AA).
	//lab:begin 2AA
	switch {
	case i < l.snapIndex:
		return 0, ErrCompacted
	case i == l.snapIndex:
		return l.snapTerm, nil
	case i > l.LastIndex():
		return 0, ErrUnavailable
	}
	return l.entries[i-l.firstIndex()].Term, nil
	//lab:else
	//	return 0, nil
	//lab:end
}

//lab:begin 2AA

// firstIndex is the index of entries[0] (or where it will be).
func (l *RaftLog) firstIndex() uint64 {
	return l.snapIndex + 1
}

// lastTerm is the term of the last entry.
func (l *RaftLog) lastTerm() uint64 {
	t, _ := l.Term(l.LastIndex())
	return t
}

// slice returns the entries in [lo, hi), which must lie in
// [firstIndex, LastIndex+1]. Its capacity ends at hi, so a caller's
// append cannot write into the log.
func (l *RaftLog) slice(lo, hi uint64) []pb.Entry {
	first := l.firstIndex()
	return l.entries[lo-first : hi-first : hi-first]
}

// matchTerm reports whether the entry at index i has term t.
func (l *RaftLog) matchTerm(i, t uint64) bool {
	term, err := l.Term(i)
	return err == nil && term == t
}

// isUpToDate reports whether a log ending at (index, term) is at least as
// up to date as this one (Raft §5.4.1): a later last term wins, and with
// equal last terms the longer log wins.
func (l *RaftLog) isUpToDate(index, term uint64) bool {
	last := l.lastTerm()
	return term > last || (term == last && index >= l.LastIndex())
}

// commitTo raises committed to i (never lowers it).
func (l *RaftLog) commitTo(i uint64) {
	if i <= l.committed {
		return
	}
	if i > l.LastIndex() {
		log.Panicf("[commit] commit index %d is after the last index %d: the log is corrupt or was truncated", i, l.LastIndex())
	}
	l.committed = i
}

// appendNew appends an entry at the end of the log (the leader's own
// proposals) and returns the new last index.
func (l *RaftLog) appendNew(e pb.Entry) uint64 {
	l.entries = append(l.entries, e)
	return l.LastIndex()
}

//lab:end

//lab:begin 2AB

// maybeAppend is the receiver side of an append: if the log has the entry
// (prevIndex, prevTerm) it takes ents after it, truncating a conflicting
// suffix, raises committed to min(commit, last new index) and returns the
// last new index and true. Otherwise it changes nothing and returns false.
func (l *RaftLog) maybeAppend(prevIndex, prevTerm, commit uint64, ents []*pb.Entry) (uint64, bool) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, false
	}
	lastNew := prevIndex + uint64(len(ents))
	if i := l.findConflict(ents); i >= 0 {
		l.truncateAndAppend(ents[i:])
	}
	l.commitTo(min(commit, lastNew))
	return lastNew, true
}

// findConflict returns the position in ents of the first entry that the
// log lacks or holds with another term, or -1 when the log has them all.
// Entries at or before the snapshot are committed, so they always match.
func (l *RaftLog) findConflict(ents []*pb.Entry) int {
	for i, e := range ents {
		if e.Index <= l.snapIndex {
			continue
		}
		if !l.matchTerm(e.Index, e.Term) {
			if e.Index <= l.committed {
				log.Panicf("[append] entry %d (term %d) conflicts with a committed entry (committed %d)", e.Index, e.Term, l.committed)
			}
			return i
		}
	}
	return -1
}

// truncateAndAppend drops every entry from ents[0].Index on and appends
// copies of ents.
func (l *RaftLog) truncateAndAppend(ents []*pb.Entry) {
	from := ents[0].Index
	if from <= l.LastIndex() {
		keep := from - l.firstIndex()
		// Cut the capacity too: appending then allocates a new array, so
		// entries already handed out (in messages, in a Ready) never change.
		l.entries = l.entries[:keep:keep]
		l.stabled = min(l.stabled, from-1)
	}
	for _, e := range ents {
		l.entries = append(l.entries, pb.Entry{EntryType: e.EntryType, Term: e.Term, Index: e.Index, Data: e.Data})
	}
}

// rejectHint answers an append whose (prevIndex, prevTerm) the log does
// not have: it returns an index at which the leader should probe next and
// the term there. Entries with a term above prevTerm cannot match the
// leader's (its entries up to prevIndex have terms <= prevTerm), so the
// hint skips them all at once.
func (l *RaftLog) rejectHint(prevIndex, prevTerm uint64) (uint64, uint64) {
	if prevIndex == 0 {
		return 0, 0
	}
	hint := min(prevIndex-1, l.LastIndex())
	for hint > l.committed {
		if t, err := l.Term(hint); err != nil || t <= prevTerm {
			break
		}
		hint--
	}
	term, _ := l.Term(hint)
	return hint, term
}

//lab:end

//lab:begin 2AC

// stableTo records that ents (handed out by a Ready) are persisted. Those
// replaced in the log meanwhile do not count: their replacements are not
// persisted yet.
func (l *RaftLog) stableTo(ents []pb.Entry) {
	for i := len(ents) - 1; i >= 0; i-- {
		if e := ents[i]; l.matchTerm(e.Index, e.Term) {
			l.stabled = max(l.stabled, e.Index)
			return
		}
	}
}

// appliedTo records that the application applied entries up to i.
func (l *RaftLog) appliedTo(i uint64) {
	if i <= l.applied {
		return
	}
	if i > l.committed {
		log.Panicf("[apply] applied index %d is after the commit index %d", i, l.committed)
	}
	l.applied = i
}

//lab:end

//lab:begin 2C

// restore throws the log away and restarts it from snap: everything up to
// its index is committed, applied (by the snapshot) and persisted (the
// snapshot itself is persisted from the next Ready).
func (l *RaftLog) restore(snap *pb.Snapshot) {
	meta := snap.Metadata
	l.entries = nil
	l.snapIndex, l.snapTerm = meta.Index, meta.Term
	l.committed, l.applied, l.stabled = meta.Index, meta.Index, meta.Index
	l.pendingSnapshot = snap
}

//lab:end

// snapshotApplied records that the application applied the snapshot at
// index; a newer pending snapshot stays pending.
func (l *RaftLog) snapshotApplied(index uint64) {
	// Your Code Here (2C).
	//lab:begin 2C
	if l.pendingSnapshot != nil && l.pendingSnapshot.Metadata.Index == index {
		l.pendingSnapshot = nil
	}
	//lab:end
}
