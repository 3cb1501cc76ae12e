package runner

import (
	"testing"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/util"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

func gcWriteLog(t *testing.T, db *badger.DB, regionID uint64, from, to uint64) {
	wb := new(engine_util.WriteBatch)
	for i := from; i < to; i++ {
		if err := wb.SetMeta(meta.RaftLogKey(regionID, i), &eraftpb.Entry{Index: i, Term: 5, Data: []byte("entry")}); err != nil {
			t.Fatal(err)
		}
		if wb.Len() == 1000 {
			if err := wb.WriteToDB(db); err != nil {
				t.Fatalf("write raft log: %v", err)
			}
			wb.Reset()
		}
	}
	if err := wb.WriteToDB(db); err != nil {
		t.Fatalf("write raft log: %v", err)
	}
}

// gcLogPresence lists, for each index in [from, to), whether its entry exists.
func gcLogPresence(t *testing.T, db *badger.DB, regionID, from, to uint64) []bool {
	present := make([]bool, 0, to-from)
	err := db.View(func(txn *badger.Txn) error {
		for i := from; i < to; i++ {
			_, err := txn.Get(meta.RaftLogKey(regionID, i))
			if err != nil && err != badger.ErrKeyNotFound {
				return err
			}
			present = append(present, err == nil)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read raft log: %v", err)
	}
	return present
}

func TestRaftLogGCDeletesExactlyTheRangeAndCountsWhatExisted(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	const region, neighbour = 3, 4
	gcWriteLog(t, engines.Raft, region, 0, 3000)
	gcWriteLog(t, engines.Raft, neighbour, 0, 50)
	resCh := make(chan raftLogGcTaskRes, 1)
	handler := &raftLogGCTaskHandler{taskResCh: resCh}

	steps := []struct {
		start, end uint64
		deleted    uint64
	}{
		{0, 10, 10},
		{0, 50, 40},      // [0, 10) is already gone
		{50, 50, 0},      // empty range
		{60, 40, 0},      // reversed range
		{50, 2600, 2550}, // more than one batch
		{2600, 5000, 400},
	}
	for _, step := range steps {
		handler.Handle(&RaftLogGCTask{RaftEngine: engines.Raft, RegionID: region, StartIdx: step.start, EndIdx: step.end})
		if got := <-resCh; uint64(got) != step.deleted {
			t.Errorf("GC [%d, %d): expected %d entries deleted, got %d", step.start, step.end, step.deleted, got)
		}
	}
	for i, present := range gcLogPresence(t, engines.Raft, region, 0, 3000) {
		if present {
			t.Errorf("entry %d of region %d survived the GC of [0, 5000)", i, region)
		}
	}
	for i, present := range gcLogPresence(t, engines.Raft, neighbour, 0, 50) {
		if !present {
			t.Errorf("entry %d of region %d was deleted by the GC of region %d", i, neighbour, region)
		}
	}
}

func TestRaftLogGCWithoutResultChannelDoesNotBlock(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	gcWriteLog(t, engines.Raft, 1, 5, 20)
	NewRaftLogGCTaskHandler().Handle(&RaftLogGCTask{RaftEngine: engines.Raft, RegionID: 1, StartIdx: 5, EndIdx: 15})
	presence := gcLogPresence(t, engines.Raft, 1, 5, 20)
	for i, present := range presence {
		if want := i >= 10; present != want {
			t.Errorf("entry %d: expected present=%v after GC of [5, 15), got %v", i+5, want, present)
		}
	}
}

// The kv engine defers the sync of its apply batches; the GC must make them
// durable before it deletes the entries a replay would need to redo them.
func TestRaftLogGCSyncsTheKvEngineFirst(t *testing.T) {
	engines := util.NewTestEngines()
	t.Cleanup(func() { _ = engines.Destroy() })
	gcWriteLog(t, engines.Raft, 1, 5, 20)
	wb := new(engine_util.WriteBatch)
	wb.DeferSync()
	wb.SetCF(engine_util.CfDefault, []byte("k"), []byte("applied from entry 9"))
	if err := wb.WriteToDB(engines.Kv); err != nil {
		t.Fatal(err)
	}
	if n := engine_util.UnsyncedBatches(engines.Kv); n != 1 {
		t.Fatalf("expected the apply batch not synced yet, got %d unsynced batches", n)
	}
	NewRaftLogGCTaskHandler().Handle(&RaftLogGCTask{KvEngine: engines.Kv, RaftEngine: engines.Raft, RegionID: 1, StartIdx: 5, EndIdx: 15})
	if n := engine_util.UnsyncedBatches(engines.Kv); n != 0 {
		t.Errorf("raft log [5, 15) deleted while %d apply batch(es) of the kv engine were not synced", n)
	}
	if present := gcLogPresence(t, engines.Raft, 1, 5, 15); present[0] || present[9] {
		t.Errorf("expected [5, 15) deleted, presence %v", present)
	}
}
