package raft

// MemoryStorage: the dummy entry at the snapshot, compaction, snapshots,
// appends that truncate, and errors for bad requests.

import (
	"reflect"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// labStorageAt returns a storage whose snapshot is at (3, 3) with entries
// 4 and 5 of terms 4 and 5.
func labStorageAt(t *testing.T) *MemoryStorage {
	s := NewMemoryStorage()
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 3, Term: 3, ConfState: &pb.ConfState{Nodes: []uint64{1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]pb.Entry{{Index: 4, Term: 4}, {Index: 5, Term: 5}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMemStorageReads(t *testing.T) {
	s := labStorageAt(t)
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 4 || last != 5 {
		t.Errorf("first %d last %d, want 4 and 5", first, last)
	}
	terms := []struct {
		i    uint64
		term uint64
		err  error
	}{{2, 0, ErrCompacted}, {3, 3, nil}, {5, 5, nil}, {6, 0, ErrUnavailable}}
	for _, tt := range terms {
		if term, err := s.Term(tt.i); term != tt.term || err != tt.err {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", tt.i, term, err, tt.term, tt.err)
		}
	}
	if _, err := s.Entries(3, 5); err != ErrCompacted {
		t.Errorf("Entries(3, 5): %v, want ErrCompacted", err)
	}
	if _, err := s.Entries(4, 7); err != ErrUnavailable {
		t.Errorf("Entries(4, 7): %v, want ErrUnavailable", err)
	}
	if _, err := s.Entries(5, 4); err == nil {
		t.Error("Entries(5, 4) of an inverted range gave no error")
	}
	ents, err := s.Entries(4, 5)
	if err != nil || describeEntries(ents) != "[4/4]" {
		t.Fatalf("Entries(4, 5) = %s, %v", describeEntries(ents), err)
	}
	_ = append(ents, pb.Entry{Index: 99, Term: 99})
	if term, _ := s.Term(5); term != 5 {
		t.Errorf("appending to a slice returned by Entries changed the storage (term of 5 is %d)", term)
	}
	hs, cs, err := s.InitialState()
	if err != nil || !IsEmptyHardState(hs) || !reflect.DeepEqual(cs.Nodes, []uint64{1}) {
		t.Errorf("InitialState = %+v, %+v, %v", hs, cs, err)
	}
}

func TestMemStorageAppend(t *testing.T) {
	tests := []struct {
		ents  []pb.Entry
		want  string
		isErr bool
	}{
		{[]pb.Entry{{Index: 6, Term: 5}}, "[3/3 4/4 5/5 5/6]", false},
		{[]pb.Entry{{Index: 5, Term: 6}, {Index: 6, Term: 6}}, "[3/3 4/4 6/5 6/6]", false},
		{[]pb.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 3}, {Index: 4, Term: 6}}, "[3/3 6/4]", false},
		{[]pb.Entry{{Index: 1, Term: 1}}, "[3/3 4/4 5/5]", false},
		{[]pb.Entry{{Index: 7, Term: 5}}, "[3/3 4/4 5/5]", true},
		{[]pb.Entry{{Index: 6, Term: 5}, {Index: 8, Term: 5}}, "[3/3 4/4 5/5]", true},
	}
	for i, tt := range tests {
		s := labStorageAt(t)
		err := s.Append(tt.ents)
		if (err != nil) != tt.isErr {
			t.Errorf("#%d: Append(%s) error %v, want error: %v", i, describeEntries(tt.ents), err, tt.isErr)
		}
		if got := describeEntries(s.ents); got != tt.want {
			t.Errorf("#%d: after Append(%s): %s, want %s", i, describeEntries(tt.ents), got, tt.want)
		}
	}
}

func TestMemStorageSnapshotAndCompact(t *testing.T) {
	s := labStorageAt(t)
	if _, err := s.CreateSnapshot(3, nil, nil); err != ErrSnapOutOfDate {
		t.Errorf("CreateSnapshot at the current snapshot: %v, want ErrSnapOutOfDate", err)
	}
	if _, err := s.CreateSnapshot(9, nil, nil); err == nil {
		t.Error("CreateSnapshot after the last index gave no error")
	}
	snap, err := s.CreateSnapshot(4, &pb.ConfState{Nodes: []uint64{1, 2}}, []byte("d"))
	want := pb.Snapshot{Data: []byte("d"), Metadata: &pb.SnapshotMetadata{Index: 4, Term: 4, ConfState: &pb.ConfState{Nodes: []uint64{1, 2}}}}
	if err != nil || !reflect.DeepEqual(snap, want) {
		t.Fatalf("CreateSnapshot(4) = %+v, %v; want %+v", snap, err, want)
	}
	if err := s.Compact(3); err != ErrCompacted {
		t.Errorf("Compact(3): %v, want ErrCompacted", err)
	}
	if err := s.Compact(9); err == nil {
		t.Error("Compact after the last index gave no error")
	}
	if err := s.Compact(4); err != nil || describeEntries(s.ents) != "[4/4 5/5]" {
		t.Errorf("Compact(4): %v, entries %s, want [4/4 5/5] (the dummy at 4)", err, describeEntries(s.ents))
	}
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 4}}); err != ErrSnapOutOfDate {
		t.Errorf("ApplySnapshot of an old snapshot: %v, want ErrSnapOutOfDate", err)
	}
	if err := s.ApplySnapshot(pb.Snapshot{}); err == nil {
		t.Error("ApplySnapshot without metadata gave no error")
	}
	if err := s.ApplySnapshot(pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 10, Term: 7}}); err != nil || describeEntries(s.ents) != "[7/10]" {
		t.Errorf("ApplySnapshot(10): %v, entries %s, want only the dummy [7/10]", err, describeEntries(s.ents))
	}
}
