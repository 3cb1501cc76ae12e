package raftstore

import (
	"testing"

	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/raft"
)

// openStorageForTest bootstraps region 1 (one peer on store 1) in fresh
// engines and opens its PeerStorage; the engines are destroyed after the test.
func openStorageForTest(t *testing.T) (*PeerStorage, *engine_util.Engines) {
	t.Helper()
	engines := util.NewTestEngines()
	t.Cleanup(func() {
		if err := engines.Destroy(); err != nil {
			t.Errorf("destroy engines: %v", err)
		}
	})
	region, err := PrepareBootstrap(engines, 1, 1, 1)
	if err != nil {
		t.Fatalf("PrepareBootstrap: %v", err)
	}
	ps, err := NewPeerStorage(engines, region, nil, "test")
	if err != nil {
		t.Fatalf("NewPeerStorage: %v", err)
	}
	return ps, engines
}

// appendAndPersist appends entries (index, term) and persists them with the raft state.
func appendAndPersist(t *testing.T, ps *PeerStorage, entries ...eraftpb.Entry) {
	t.Helper()
	raftWB := new(engine_util.WriteBatch)
	if err := ps.Append(entries, raftWB); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := raftWB.SetMeta(meta.RaftStateKey(ps.region.Id), ps.raftState); err != nil {
		t.Fatal(err)
	}
	raftWB.MustWriteToDB(ps.Engines.Raft)
}

func entry(index, term uint64) eraftpb.Entry {
	return eraftpb.Entry{Index: index, Term: term, Data: []byte{byte(index)}}
}

func TestPeerStorageStartsAtInitialIndex(t *testing.T) {
	ps, _ := openStorageForTest(t)
	first, _ := ps.FirstIndex()
	last, _ := ps.LastIndex()
	if first != meta.RaftInitLogIndex+1 || last != meta.RaftInitLogIndex {
		t.Fatalf("bootstrapped storage has first %d last %d, want %d and %d", first, last, meta.RaftInitLogIndex+1, meta.RaftInitLogIndex)
	}
	term, err := ps.Term(meta.RaftInitLogIndex)
	if err != nil || term != meta.RaftInitLogTerm {
		t.Fatalf("Term(truncated index) = %d, %v; want %d", term, err, meta.RaftInitLogTerm)
	}
	if _, err := ps.Term(meta.RaftInitLogIndex - 1); err != raft.ErrCompacted {
		t.Fatalf("Term below the truncated index = %v, want ErrCompacted", err)
	}
}

func TestPeerStorageEntriesAndTerms2B(t *testing.T) {
	ps, _ := openStorageForTest(t)
	appendAndPersist(t, ps, entry(6, 6), entry(7, 6), entry(8, 7))
	got, err := ps.Entries(6, 9)
	if err != nil || len(got) != 3 || got[0].Index != 6 || got[2].Term != 7 {
		t.Fatalf("Entries(6, 9) = %v, %v; want entries 6..8", got, err)
	}
	if _, err := ps.Entries(5, 7); err != raft.ErrCompacted {
		t.Fatalf("Entries(5, 7) error = %v, want ErrCompacted", err)
	}
	if _, err := ps.Entries(6, 10); err != raft.ErrUnavailable {
		t.Fatalf("Entries past the last index error = %v, want ErrUnavailable", err)
	}
	if _, err := ps.Term(9); err != raft.ErrUnavailable {
		t.Fatalf("Term past the last index error = %v, want ErrUnavailable", err)
	}
	for idx, want := range map[uint64]uint64{6: 6, 7: 6, 8: 7} {
		if term, err := ps.Term(idx); err != nil || term != want {
			t.Errorf("Term(%d) = %d, %v; want %d", idx, term, err, want)
		}
	}
}

func TestPeerStorageAppendTruncatesConflictingTail2B(t *testing.T) {
	ps, engines := openStorageForTest(t)
	appendAndPersist(t, ps, entry(6, 6), entry(7, 6), entry(8, 6), entry(9, 6))
	// A new leader overwrites from index 7 with a shorter log.
	appendAndPersist(t, ps, entry(7, 8))
	if last, _ := ps.LastIndex(); last != 7 {
		t.Fatalf("last index after overwrite = %d, want 7", last)
	}
	for _, idx := range []uint64{8, 9} {
		if _, err := meta.GetRaftEntry(engines.Raft, 1, idx); err == nil {
			t.Errorf("entry %d of the overwritten tail is still stored", idx)
		}
	}
	if term, _ := ps.Term(7); term != 8 {
		t.Fatalf("term of the overwritten entry 7 = %d, want 8", term)
	}
}

func TestPeerStorageRestartKeepsLog2B(t *testing.T) {
	ps, engines := openStorageForTest(t)
	appendAndPersist(t, ps, entry(6, 6), entry(7, 7))
	reopened, err := NewPeerStorage(engines, ps.region, nil, "test")
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if last, _ := reopened.LastIndex(); last != 7 {
		t.Fatalf("last index after restart = %d, want 7", last)
	}
	if got, err := reopened.Entries(6, 8); err != nil || len(got) != 2 {
		t.Fatalf("entries after restart = %v, %v", got, err)
	}
}

// A leader may apply entries before it persists the commit index that
// covers them; the restarted peer must not start with commit < applied
// (raft refuses that).
func TestPeerStorageRestartRaisesCommitToApplied2B(t *testing.T) {
	ps, engines := openStorageForTest(t)
	appendAndPersist(t, ps, entry(6, 6), entry(7, 6))
	ps.applyState.AppliedIndex = 7
	if err := engine_util.PutMeta(engines.Kv, meta.ApplyStateKey(1), ps.applyState); err != nil {
		t.Fatal(err)
	}
	reopened, err := NewPeerStorage(engines, ps.region, nil, "test")
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	hs, _, err := reopened.InitialState()
	if err != nil || hs.Commit != 7 {
		t.Fatalf("after applying up to 7 with commit %d on disk: initial commit %d (%v), want 7",
			ps.raftState.HardState.Commit, hs.Commit, err)
	}
}

func TestRecoverInterruptedSnapshotMovesLogToSnapshot(t *testing.T) {
	ps, engines := openStorageForTest(t)
	// Crash after kvdb took a snapshot at (20, 9) but before raftdb did.
	ps.applyState.AppliedIndex = 20
	ps.applyState.TruncatedState.Index, ps.applyState.TruncatedState.Term = 20, 9
	if err := engine_util.PutMeta(engines.Kv, meta.ApplyStateKey(1), ps.applyState); err != nil {
		t.Fatal(err)
	}
	reopened, err := NewPeerStorage(engines, ps.region, nil, "test")
	if err != nil {
		t.Fatalf("reopen after interrupted snapshot: %v", err)
	}
	last, _ := reopened.LastIndex()
	term, _ := reopened.Term(last)
	if last != 20 || term != 9 || reopened.raftState.HardState.Commit < 20 {
		t.Fatalf("recovered log ends at %d term %d commit %d; want 20, 9, >= 20",
			last, term, reopened.raftState.HardState.Commit)
	}
}

func TestBootstrapStoreRefusesNonEmptyEngines(t *testing.T) {
	engines := util.NewTestEngines()
	defer engines.Destroy()
	if err := BootstrapStore(engines, 1, 1); err != nil {
		t.Fatalf("first BootstrapStore: %v", err)
	}
	if err := BootstrapStore(engines, 1, 1); err == nil {
		t.Fatal("BootstrapStore of a store with data succeeded, want an error")
	}
	region, err := PrepareBootstrap(engines, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := ClearPrepareBootstrap(engines, region.Id); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.GetRegionLocalState(engines.Kv, region.Id); err == nil {
		t.Fatal("region state survived ClearPrepareBootstrap")
	}
}

func TestRegionErrorsMapToProtocol(t *testing.T) {
	region := &metapb.Region{Id: 3, StartKey: []byte("a"), EndKey: []byte("m")}
	cases := map[string]error{
		"not_leader":        &util.ErrNotLeader{RegionId: 3},
		"region_not_found":  &util.ErrRegionNotFound{RegionId: 3},
		"key_not_in_region": &util.ErrKeyNotInRegion{Key: []byte("z"), Region: region},
		"epoch_not_match":   &util.ErrEpochNotMatch{Regions: []*metapb.Region{region}},
		"stale_command":     &util.ErrStaleCommand{},
		"store_not_match":   &util.ErrStoreNotMatch{RequestStoreId: 1, ActualStoreId: 2},
	}
	for field, err := range cases {
		pb := util.RaftstoreErrToPbError(err)
		set := map[string]bool{
			"not_leader":        pb.NotLeader != nil,
			"region_not_found":  pb.RegionNotFound != nil,
			"key_not_in_region": pb.KeyNotInRegion != nil,
			"epoch_not_match":   pb.EpochNotMatch != nil,
			"stale_command":     pb.StaleCommand != nil,
			"store_not_match":   pb.StoreNotMatch != nil,
		}
		for name, isSet := range set {
			if isSet != (name == field) {
				t.Errorf("%T mapped to %v: field %s set=%v", err, pb, name, isSet)
			}
		}
	}
}

func TestKeyAndEpochChecks(t *testing.T) {
	region := &metapb.Region{Id: 1, StartKey: []byte("b"), EndKey: []byte("d"),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 2, Version: 3}}
	for key, inside := range map[string]bool{"a": false, "b": true, "c": true, "d": false} {
		if got := util.CheckKeyInRegion([]byte(key), region) == nil; got != inside {
			t.Errorf("CheckKeyInRegion(%q) inside=%v, want %v", key, got, inside)
		}
	}
	stale := &metapb.RegionEpoch{ConfVer: 2, Version: 2}
	if !util.IsEpochStale(stale, region.RegionEpoch) || util.IsEpochStale(region.RegionEpoch, stale) {
		t.Fatal("IsEpochStale does not order epochs by version")
	}
}
