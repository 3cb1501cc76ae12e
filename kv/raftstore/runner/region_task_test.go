package runner

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// regionTestStore is one store's engines, snap manager and region worker.
type regionTestStore struct {
	engines *engine_util.Engines
	mgr     *snap.SnapManager
	sched   chan<- worker.Task
}

func newRegionTestStore(t *testing.T) *regionTestStore {
	engines := util.NewTestEngines()
	mgr := snap.NewSnapManager(t.TempDir())
	if err := mgr.Init(); err != nil {
		t.Fatalf("init snap manager: %v", err)
	}
	wg := new(sync.WaitGroup)
	w := worker.NewWorker("region-test", wg)
	w.Start(NewRegionTaskHandler(engines, mgr))
	t.Cleanup(func() {
		w.Stop()
		wg.Wait()
		_ = engines.Destroy()
	})
	return &regionTestStore{engines: engines, mgr: mgr, sched: w.Sender()}
}

var regionTestRegion = &metapb.Region{
	Id:          11,
	StartKey:    []byte("k"),
	EndKey:      []byte("n"),
	RegionEpoch: &metapb.RegionEpoch{ConfVer: 2, Version: 3},
	Peers:       []*metapb.Peer{{Id: 12, StoreId: 1}, {Id: 13, StoreId: 2}},
}

// putRegionState writes the region's apply and region states.
func (s *regionTestStore) putRegionState(t *testing.T, applied, truncIdx, truncTerm uint64, state rspb.PeerState) {
	wb := new(engine_util.WriteBatch)
	err := wb.SetMeta(meta.ApplyStateKey(regionTestRegion.Id), &rspb.RaftApplyState{
		AppliedIndex:   applied,
		TruncatedState: &rspb.RaftTruncatedState{Index: truncIdx, Term: truncTerm},
	})
	if err == nil {
		err = wb.SetMeta(meta.RegionStateKey(regionTestRegion.Id), &rspb.RegionLocalState{Region: regionTestRegion, State: state})
	}
	if err == nil {
		err = wb.WriteToDB(s.engines.Kv)
	}
	if err != nil {
		t.Fatalf("write region states: %v", err)
	}
}

func (s *regionTestStore) putData(t *testing.T, value string, keys ...string) {
	wb := new(engine_util.WriteBatch)
	for i, key := range keys {
		wb.SetCF(engine_util.CFs[i%len(engine_util.CFs)], []byte(key), []byte(value+key))
	}
	if err := wb.WriteToDB(s.engines.Kv); err != nil {
		t.Fatalf("write data: %v", err)
	}
}

// dump lists every user pair as "cf/key=value", sorted.
func (s *regionTestStore) dump(t *testing.T) []string {
	var pairs []string
	err := s.engines.Kv.View(func(txn *badger.Txn) error {
		for _, cf := range engine_util.CFs {
			it := engine_util.NewCFIterator(cf, txn)
			for it.Seek(nil); it.Valid(); it.Next() {
				value, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				pairs = append(pairs, fmt.Sprintf("%s/%s=%s", cf, it.Item().Key(), value))
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dump data: %v", err)
	}
	sort.Strings(pairs)
	return pairs
}

func (s *regionTestStore) generate(t *testing.T) *eraftpb.Snapshot {
	notifier := make(chan *eraftpb.Snapshot, 1)
	s.sched <- &RegionTaskGen{RegionId: regionTestRegion.Id, Notifier: notifier}
	select {
	case snapshot := <-notifier:
		return snapshot
	case <-time.After(30 * time.Second):
		t.Fatalf("the region worker did not answer a RegionTaskGen")
		return nil
	}
}

func (s *regionTestStore) apply(t *testing.T, md *eraftpb.SnapshotMetadata, start, end []byte) bool {
	notifier := make(chan bool, 1)
	s.sched <- &RegionTaskApply{RegionId: regionTestRegion.Id, Notifier: notifier, SnapMeta: md, StartKey: start, EndKey: end}
	select {
	case ok := <-notifier:
		return ok
	case <-time.After(30 * time.Second):
		t.Fatalf("the region worker did not answer a RegionTaskApply")
		return false
	}
}

// transferSnapshot copies a generated snapshot from one store to another,
// as the snap runners do.
func transferSnapshot(t *testing.T, from, to *regionTestStore, snapshot *eraftpb.Snapshot) {
	key := snap.SnapKeyFromRegionSnap(regionTestRegion.Id, snapshot)
	sending, err := from.mgr.GetSnapshotForSending(key)
	if err != nil {
		t.Fatalf("open for sending: %v", err)
	}
	defer sending.Close()
	receiving, err := to.mgr.GetSnapshotForReceiving(key, snapshot.Data)
	if err != nil {
		t.Fatalf("open for receiving: %v", err)
	}
	defer receiving.Close()
	if _, err := io.Copy(receiving, sending); err != nil {
		t.Fatalf("copy snapshot: %v", err)
	}
	if err := receiving.Save(); err != nil {
		t.Fatalf("save snapshot: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestRegionWorkerGeneratesAppliesAndDestroys(t *testing.T) {
	leader, follower := newRegionTestStore(t), newRegionTestStore(t)
	leader.putRegionState(t, 20, 20, 7, rspb.PeerState_Normal)
	leader.putData(t, "new-", "k1", "k2", "k3", "l1", "l2", "m9", "a-outside", "z-outside")
	follower.putData(t, "old-", "k1", "k4", "m0", "a", "z")

	snapshot := leader.generate(t)
	if snapshot == nil {
		t.Fatalf("generation failed")
	}
	md := snapshot.GetMetadata()
	if md.Index != 20 || md.Term != 7 || fmt.Sprint(md.ConfState.Nodes) != "[12 13]" {
		t.Errorf("expected metadata index 20, term 7, nodes [12 13], got %v", md)
	}
	snapData := new(rspb.RaftSnapshotData)
	if err := snapData.Unmarshal(snapshot.Data); err != nil || snapData.Region.GetId() != regionTestRegion.Id || len(snapData.Meta.GetCfFiles()) != 3 {
		t.Fatalf("snapshot data: expected region %d and a meta of 3 files, got %v (err %v)", regionTestRegion.Id, snapData, err)
	}

	transferSnapshot(t, leader, follower, snapshot)
	if !follower.apply(t, md, regionTestRegion.StartKey, regionTestRegion.EndKey) {
		t.Fatalf("apply failed")
	}
	// Outside the region the follower keeps its own data; inside it has
	// exactly the leader's.
	want := []string{"default/a=old-a", "default/k1=new-k1", "default/l1=new-l1", "lock/k3=new-k3",
		"lock/m9=new-m9", "write/k2=new-k2", "write/l2=new-l2", "write/z=old-z"}
	if got := follower.dump(t); !equalStrings(got, want) {
		t.Errorf("after apply:\nexpected %v\ngot      %v", want, got)
	}

	follower.sched <- &RegionTaskDestroy{RegionId: regionTestRegion.Id, StartKey: regionTestRegion.StartKey, EndKey: regionTestRegion.EndKey}
	follower.waitIdle(t)
	if got := follower.dump(t); !equalStrings(got, []string{"default/a=old-a", "write/z=old-z"}) {
		t.Errorf("after destroy: expected only the keys outside the region, got %v", got)
	}
}

// waitIdle waits until the worker handled every task queued before: tasks
// run in order, and a generation is always answered (with nil here, where
// the store has no region state).
func (s *regionTestStore) waitIdle(t *testing.T) {
	s.generate(t)
}

func TestRegionWorkerReportsFailedGenerationsAndRecovers(t *testing.T) {
	store := newRegionTestStore(t)
	if snapshot := store.generate(t); snapshot != nil {
		t.Fatalf("region without states: expected a failed generation (nil), got %v", snapshot.Metadata)
	}
	store.putRegionState(t, 30, 20, 7, rspb.PeerState_Tombstone)
	if snapshot := store.generate(t); snapshot != nil {
		t.Fatalf("tombstone region: expected a failed generation (nil), got %v", snapshot.Metadata)
	}
	store.putRegionState(t, 30, 20, 7, rspb.PeerState_Normal)
	if snapshot := store.generate(t); snapshot != nil {
		t.Fatalf("applied entry 30 missing from the raft log: expected a failed generation (nil), got %v", snapshot.Metadata)
	}
	if err := engine_util.PutMeta(store.engines.Raft, meta.RaftLogKey(regionTestRegion.Id, 30), &eraftpb.Entry{Index: 30, Term: 8}); err != nil {
		t.Fatal(err)
	}
	snapshot := store.generate(t)
	if snapshot == nil || snapshot.Metadata.Index != 30 || snapshot.Metadata.Term != 8 {
		t.Fatalf("retry once the entry is there: expected a snapshot at term 8, index 30, got %v", snapshot)
	}
	if sending, receiving := store.mgr.Stats(); sending != 0 || receiving != 0 || store.mgr.HasRegistered(snap.SnapKeyFromRegionSnap(regionTestRegion.Id, snapshot)) {
		t.Errorf("generation left the snapshot registered")
	}
}

func TestRegionWorkerApplyWithoutFilesKeepsData(t *testing.T) {
	store := newRegionTestStore(t)
	store.putData(t, "old-", "k1", "l1")
	md := &eraftpb.SnapshotMetadata{Index: 40, Term: 9}
	if store.apply(t, md, regionTestRegion.StartKey, regionTestRegion.EndKey) {
		t.Fatalf("apply of a snapshot that was never received succeeded")
	}
	if got := store.dump(t); !equalStrings(got, []string{"default/k1=old-k1", "write/l1=old-l1"}) {
		t.Errorf("a failed apply changed the data: %v", got)
	}
	if store.apply(t, nil, nil, nil) {
		t.Errorf("apply without metadata succeeded")
	}
}

func TestRegionWorkerGeneratesWhenTheTruncatedTermIsZero(t *testing.T) {
	// Course fixtures write apply states whose truncated state has no term.
	store := newRegionTestStore(t)
	store.putRegionState(t, 10, 10, 0, rspb.PeerState_Normal)
	store.putData(t, "v-", "k1")
	snapshot := store.generate(t)
	if snapshot == nil || snapshot.Metadata.Index != 10 || snapshot.Metadata.Term != 0 {
		t.Fatalf("expected a snapshot at index 10, term 0, got %v", snapshot)
	}
}
