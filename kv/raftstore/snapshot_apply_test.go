package raftstore

import (
	"io"
	"sync"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/runner"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// snapshotSite is a store's engines with a running region worker.
type snapshotSite struct {
	engines *engine_util.Engines
	mgr     *snap.SnapManager
	worker  *worker.Worker
}

func newSnapshotSite(t *testing.T) *snapshotSite {
	t.Helper()
	engines := util.NewTestEngines()
	mgr := snap.NewSnapManager(t.TempDir())
	if err := mgr.Init(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	w := worker.NewWorker("region", &wg)
	w.Start(runner.NewRegionTaskHandler(engines, mgr))
	t.Cleanup(func() {
		w.Stop()
		wg.Wait()
		if err := engines.Destroy(); err != nil {
			t.Errorf("destroy engines: %v", err)
		}
	})
	return &snapshotSite{engines: engines, mgr: mgr, worker: w}
}

// generateSnapshot has the site's region worker build a snapshot of region 1.
func (s *snapshotSite) generateSnapshot(t *testing.T) *eraftpb.Snapshot {
	t.Helper()
	ch := make(chan *eraftpb.Snapshot, 1)
	s.worker.Sender() <- &runner.RegionTaskGen{RegionId: 1, Notifier: ch}
	snapshot := <-ch
	if snapshot == nil {
		t.Fatal("the region worker failed to generate a snapshot")
	}
	return snapshot
}

// copySnapshotFiles streams the snapshot's files from one site to another,
// as the snap worker does over the network.
func copySnapshotFiles(t *testing.T, from, to *snapshotSite, snapshot *eraftpb.Snapshot) {
	t.Helper()
	key := snap.SnapKeyFromRegionSnap(1, snapshot)
	src, err := from.mgr.GetSnapshotForSending(key)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := to.mgr.GetSnapshotForReceiving(key, snapshot.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatalf("copy snapshot: %v", err)
	}
	if err := dst.Save(); err != nil {
		t.Fatalf("save received snapshot: %v", err)
	}
}

// TestCrashDuringSnapshotApplyRecovers2C stops a store after it accepted a
// snapshot (states written, region marked Applying) but before the data
// was ingested; reopened, the region is still Applying, and finishing the
// apply gives exactly the snapshot's data, old data of the range gone.
func TestCrashDuringSnapshotApplyRecovers2C(t *testing.T) {
	leader, follower := newSnapshotSite(t), newSnapshotSite(t)
	region, err := PrepareBootstrap(leader.engines, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := engine_util.PutCF(leader.engines.Kv, engine_util.CfDefault, []byte(k), []byte("v-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := engine_util.PutCF(follower.engines.Kv, engine_util.CfDefault, []byte("stale"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	snapshot := leader.generateSnapshot(t)
	copySnapshotFiles(t, leader, follower, snapshot)

	// The follower's peer was created by a message: it knows only the region id.
	empty := &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{}}
	ps, err := NewPeerStorage(follower.engines, empty, follower.worker.Sender(), "follower")
	if err != nil {
		t.Fatal(err)
	}
	kvWB, raftWB := new(engine_util.WriteBatch), new(engine_util.WriteBatch)
	if _, err := ps.ApplySnapshot(snapshot, kvWB, raftWB); err != nil {
		t.Fatalf("ApplySnapshot: %v", err)
	}
	if err := ps.Engines.WriteKV(kvWB); err != nil {
		t.Fatal(err)
	}
	// The crash: raftdb is not written, and the data is not ingested.

	state, err := meta.GetRegionLocalState(follower.engines.Kv, 1)
	if err != nil || state.State != PeerStateApplying {
		t.Fatalf("after the crash the region state is %v (%v), want Applying", state.GetState(), err)
	}
	reopened, err := NewPeerStorage(follower.engines, state.Region, follower.worker.Sender(), "follower")
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	if last, _ := reopened.LastIndex(); last != snapshot.Metadata.Index {
		t.Fatalf("reopened log ends at %d, want the snapshot index %d", last, snapshot.Metadata.Index)
	}
	if err := reopened.applySnapshotData(snapshot.Metadata); err != nil {
		t.Fatalf("finishing the interrupted apply: %v", err)
	}
	for _, k := range []string{"a", "b", "c"} {
		got, err := engine_util.GetCF(follower.engines.Kv, engine_util.CfDefault, []byte(k))
		if err != nil || string(got) != "v-"+k {
			t.Errorf("key %q after recovery = %q, %v; want %q", k, got, err, "v-"+k)
		}
	}
	if _, err := engine_util.GetCF(follower.engines.Kv, engine_util.CfDefault, []byte("stale")); err == nil {
		t.Error("data of the region from before the snapshot survived the apply")
	}
	state, _ = meta.GetRegionLocalState(follower.engines.Kv, 1)
	if state.State != 0 || len(state.Region.Peers) != len(region.Peers) {
		t.Fatalf("after recovery the region state is %v with %d peers, want Normal with %d",
			state.State, len(state.Region.Peers), len(region.Peers))
	}
}
