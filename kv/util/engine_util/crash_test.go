package engine_util

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

// writeAll puts key through every write path of the package that puts,
// and deletes the key "old" of CfWrite through every one that deletes.
func writeAll(db *badger.DB, key string) []error {
	wb := new(WriteBatch)
	wb.SetCF(CfDefault, []byte(key), []byte("lost"))
	old := []byte("old")
	return []error{
		wb.WriteToDB(db),
		PutCF(db, CfLock, []byte(key), []byte("lost")),
		PutMeta(db, []byte("meta_"+key), &eraftpb.Entry{Index: 1}),
		DeleteCF(db, CfWrite, old),
		DeleteKeys(db, [][]byte{KeyWithCF(CfWrite, old)}),
		DeleteRange(db, old, []byte("old\x00")),
	}
}

// mustNotHold fails unless none of the keys writeAll puts is in db.
func mustNotHold(t *testing.T, db *badger.DB, key string) {
	t.Helper()
	for _, cf := range []string{CfDefault, CfLock} {
		if v, err := GetCF(db, cf, []byte(key)); err != badger.ErrKeyNotFound {
			t.Errorf("key %q of cf %s written after the crash reads as %q, %v: the write reached the database", key, cf, v, err)
		}
	}
	if err := GetMeta(db, []byte("meta_"+key), new(eraftpb.Entry)); err != badger.ErrKeyNotFound {
		t.Errorf("meta key of %q written after the crash: %v, want ErrKeyNotFound (the write reached the database)", key, err)
	}
}

// A crashed database: writes hang, then are dropped with success; a
// revived one takes writes again; other databases never notice.
func TestCrashHangsThenDropsWrites(t *testing.T) {
	db, other := openTestDB(t), openTestDB(t)
	if err := PutCF(db, CfWrite, []byte("old"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	Crash(db)
	defer Revive(db)

	done := make(chan []error, 1)
	go func() { done <- writeAll(db, "k") }()
	select {
	case errs := <-done:
		t.Fatalf("a write to a crashed database returned before the crash was released (errors %v): it must hang", errs)
	case <-time.After(100 * time.Millisecond):
	}
	if err := PutCF(other, CfDefault, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("a write to a database that did not crash: %v", err)
	}

	ReleaseCrashed(db)
	select {
	case errs := <-done:
		for i, err := range errs {
			if err != nil {
				t.Errorf("write path %d on a released crashed database: %v, want a silent success", i, err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writes hung on a crashed database did not return within 5s of ReleaseCrashed")
	}
	for i, err := range writeAll(db, "k2") {
		if err != nil {
			t.Errorf("write path %d after ReleaseCrashed: %v, want a silent success", i, err)
		}
	}
	mustNotHold(t, db, "k")
	mustNotHold(t, db, "k2")
	if v, err := GetCF(db, CfWrite, []byte("old")); err != nil || string(v) != "kept" {
		t.Errorf("key written before the crash reads as %q, %v; want \"kept\" (the deletes after the crash must be dropped)", v, err)
	}

	Revive(db)
	if DropWrite(db) {
		t.Fatal("DropWrite on a revived database: true, want false")
	}
	if err := PutCF(db, CfDefault, []byte("k3"), []byte("v3")); err != nil {
		t.Fatal(err)
	}
	if v, err := GetCF(db, CfDefault, []byte("k3")); err != nil || string(v) != "v3" {
		t.Errorf("a write after Revive reads as %q, %v; want v3", v, err)
	}
}

// Revive alone also ends the writes hung on a crash (dropped).
func TestReviveReleasesHungWrites(t *testing.T) {
	db := openTestDB(t)
	Crash(db)
	done := make(chan error, 1)
	go func() { done <- PutCF(db, CfDefault, []byte("k"), []byte("v")) }()
	time.Sleep(20 * time.Millisecond)
	Revive(db)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hung write after Revive: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write hung on a crash did not return within 5s of Revive")
	}
}

// CrashBeforeWrite: the writes before the nth go through, the nth calls
// the crash and is lost with everything after it.
func TestCrashBeforeWrite(t *testing.T) {
	kv, raft := openTestDB(t), openTestDB(t)
	defer Revive(kv, raft)
	fired := make(chan struct{})
	CrashBeforeWrite(3, func() {
		Crash(kv, raft)
		close(fired)
	}, kv, raft)
	for i, db := range []*badger.DB{kv, raft} {
		wrote := make(chan error, 1)
		go func() { wrote <- PutCF(db, CfDefault, []byte("before"), []byte("kept")) }()
		select {
		case err := <-wrote:
			if err != nil {
				t.Fatalf("write %d, before the crash: %v", i+1, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d of a crash armed at write 3 hung for 5s: the crash came too early", i+1)
		}
	}
	done := make(chan error, 1)
	go func() { done <- PutCF(kv, CfDefault, []byte("at"), []byte("lost")) }()
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("the third write did not call the crash within 5s")
	}
	select {
	case err := <-done:
		t.Fatalf("the write that crashed returned (%v) before the crash was released: it must hang", err)
	case <-time.After(50 * time.Millisecond):
	}
	ReleaseCrashed(kv, raft)
	if err := <-done; err != nil {
		t.Fatalf("the write that crashed, released: %v, want a silent success", err)
	}
	for i, db := range []*badger.DB{kv, raft} {
		if v, err := GetCF(db, CfDefault, []byte("before")); err != nil || string(v) != "kept" {
			t.Errorf("write %d, before the crash, reads as %q, %v; want \"kept\"", i+1, v, err)
		}
	}
	if v, err := GetCF(kv, CfDefault, []byte("at")); err != badger.ErrKeyNotFound {
		t.Errorf("the write that crashed reads as %q, %v: it reached the database", v, err)
	}
}

// A dead process syncs nothing: SyncDB of a crashed engine hangs, then
// returns without syncing (the OnSync hook does not run).
func TestCrashDropsSyncs(t *testing.T) {
	db, err := CreateKVDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var syncs atomic.Int64
	if !OnSync(db, func() { syncs.Add(1) }) {
		t.Fatal("OnSync refused an engine of CreateKVDB")
	}
	if err := SyncDB(db); err != nil || syncs.Load() != 1 {
		t.Fatalf("SyncDB before the crash: %v, %d syncs; want nil, 1", err, syncs.Load())
	}
	Crash(db)
	defer Revive(db)
	done := make(chan error, 1)
	go func() { done <- SyncDB(db) }()
	select {
	case err := <-done:
		t.Fatalf("SyncDB of a crashed engine returned (%v) before the crash was released: it must hang", err)
	case <-time.After(50 * time.Millisecond):
	}
	ReleaseCrashed(db)
	if err := <-done; err != nil {
		t.Fatalf("SyncDB of a released crashed engine: %v, want a silent success", err)
	}
	if n := syncs.Load(); n != 1 {
		t.Errorf("SyncDB after the crash synced (%d syncs, want 1): a dead process syncs nothing", n)
	}
}

// BenchmarkDropWrite prices the crash switch on the write path: alone (no
// database crashed: production, one atomic load) and while another
// database is crashed (the running stores of a crash test).
func BenchmarkDropWrite(b *testing.B) {
	db, err := CreateDB(b.TempDir(), false)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	run := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if DropWrite(db) {
				b.Fatal("a write to a database that did not crash is dropped")
			}
		}
	}
	b.Run("none-crashed", run)
	other, err := CreateDB(b.TempDir(), false)
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	Crash(other)
	defer Revive(other)
	b.Run("another-crashed", run)
}
