package engine_util

import (
	"os"
	"testing"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/metrics"
)

func openSyncTestDB(t *testing.T, open func(string) (*badger.DB, error)) *badger.DB {
	t.Helper()
	dir, err := os.MkdirTemp("", "tinykv-sync-test")
	if err != nil {
		t.Fatal(err)
	}
	db, err := open(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		os.RemoveAll(dir)
	})
	return db
}

// The engines of a store (CreateKVDB, CreateRaftDB) sync every write but
// those of DeferSync batches, which count as unsynced until a sync (SyncDB
// or any synced write) covers them.
func TestDeferSyncCountsUntilSynced(t *testing.T) {
	engines := []struct {
		name  string
		open  func(string) (*badger.DB, error)
		syncs func() uint64
	}{
		{"kv", CreateKVDB, func() uint64 { return metrics.ReadWritePath().KVSync.Count }},
		{"raft", CreateRaftDB, func() uint64 { return metrics.ReadWritePath().RaftSync.Count }},
	}
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) { testDeferSync(t, openSyncTestDB(t, engine.open), engine.syncs) })
	}
}

func testDeferSync(t *testing.T, db *badger.DB, syncCount func() uint64) {
	var applyWB, otherWB WriteBatch
	applyWB.DeferSync()
	write := func(wb *WriteBatch, key string) {
		t.Helper()
		wb.SetCF(CfDefault, []byte(key), []byte("v"))
		if err := wb.WriteToDB(db); err != nil {
			t.Fatalf("write %s: %v", key, err)
		}
		wb.Reset()
	}
	expect := func(step string, want int64) {
		t.Helper()
		if got := UnsyncedBatches(db); got != want {
			t.Fatalf("after %s: expected %d unsynced batches, got %d", step, want, got)
		}
	}
	syncs := syncCount()

	write(&applyWB, "a")
	write(&applyWB, "b") // DeferSync lasts across Reset
	expect("two deferred batches", 2)
	write(&otherWB, "c")
	expect("a synced batch", 0)
	write(&applyWB, "d")
	if err := SyncDB(db); err != nil {
		t.Fatal(err)
	}
	expect("SyncDB", 0)
	applyWB.MustSync()
	write(&applyWB, "e")
	expect("a deferred batch told MustSync", 0)
	write(&applyWB, "f") // Reset cleared MustSync
	expect("MustSync cleared by Reset", 1)
	if err := PutCF(db, CfDefault, []byte("g"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	expect("PutCF", 0)
	if got := syncCount() - syncs; got != 4 {
		t.Errorf("expected 4 fsyncs of the engine (synced batch, SyncDB, MustSync, PutCF), got %d", got)
	}
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		if _, err := GetCF(db, CfDefault, []byte(key)); err != nil {
			t.Errorf("key %s written, read back: %v", key, err)
		}
	}
}

// An engine of CreateDB syncs every write in badger: nothing is deferred.
func TestSyncedEngineNeverDefers(t *testing.T) {
	db := openSyncTestDB(t, func(dir string) (*badger.DB, error) { return CreateDB(dir, true) })
	var wb WriteBatch
	wb.DeferSync()
	wb.SetCF(CfDefault, []byte("a"), []byte("v"))
	if err := wb.WriteToDB(db); err != nil {
		t.Fatal(err)
	}
	if got := UnsyncedBatches(db); got != 0 {
		t.Errorf("expected no unsynced batch on a synced engine, got %d", got)
	}
	if err := SyncDB(db); err != nil {
		t.Errorf("SyncDB of a synced engine: %v", err)
	}
}
