package engine_util

import (
	"sync"
	"sync/atomic"

	"github.com/Connor1996/badger"
)

// Simulated crashes, for tests that crash a store inside the test process.
//
// A process that dies writes nothing more, but a store stopped in-process
// finishes what it was doing: the Ready being handled is saved, the
// workers' tasks complete. To model the death of the process at one
// instant, a test crashes the store's engines at that instant:
//
//	engine_util.Crash(kv, raft)          // the process dies: writes hang
//	engine_util.ReleaseCrashed(kv, raft) // hung and later writes are dropped
//	... stop the store's goroutines ...
//	engine_util.Revive(kv, raft)         // the store restarts over them
//
// or, to die at a chosen point of the store's own work, just before its
// nth write: engine_util.CrashBeforeWrite(n, die, kv, raft), with die
// calling Crash(kv, raft).
//
// After Crash every write through this package to those databases
// (WriteBatch.WriteToDB, PutCF, DeleteCF, PutMeta, DeleteKeys, DeleteRange),
// every fsync (SyncDB, and the sync after a synced write: see
// SyncDropped), and every write path outside it that asks DropWrite first
// (snapshot ingestion) waits, so the goroutine that wrote makes no
// progress, as in a dead process. ReleaseCrashed lets those writes return,
// and the later ones at once, reporting success and writing nothing: the
// dead store's goroutines can then run to their end and be stopped, and
// what they did after the crash never reaches the engines. (An error would
// not do: a process cannot see its own death, and the raftstore panics on
// a failed write.) Revive lets writes through again.
//
// What this models: the process dying at that instant, with every write
// that badger accepted before it surviving (badger syncs its writes; the
// engines' deferred batches survive too, as they do in the page cache
// when only the process dies). What it does not model by itself: losing
// writes that were accepted but not yet on disk (a machine crash);
// test_raftstore's durableStates does that for the deferred batches
// (apply batches, raft states that only move the commit index), and since
// no sync happens after the crash, what it recorded at the last sync is
// what a power loss at the crash would leave. Nor a write torn inside one
// badger transaction, nor files written outside the engines (snapshot
// files in the snap directory). Reads are not affected.
//
// The crash state is per database and costs production code one atomic
// load per write.

// crashGate is the state of one crashed database: writes wait until
// released is closed, then they are dropped. Or, before the crash, of a
// database whose crash is armed: writes count down, and the one that
// reaches zero calls fire instead of writing.
type crashGate struct {
	released chan struct{}
	once     sync.Once

	countdown *atomic.Int64
	fire      func()
}

func (g *crashGate) release() {
	g.once.Do(func() { close(g.released) })
}

var (
	// crashMu serialises the changes of crashed, which is replaced whole
	// (copy on write) so that writers read it with one atomic load.
	crashMu sync.Mutex
	// crashed maps each crashed database to its gate; nil when none is.
	crashed atomic.Pointer[map[*badger.DB]*crashGate]
)

// Crash makes every later write to dbs hang without writing, as if the
// process owning them had died at this instant. A database already crashed
// stays as it is; one whose crash was armed crashes now.
func Crash(dbs ...*badger.DB) {
	updateCrashed(func(m map[*badger.DB]*crashGate) {
		for _, db := range dbs {
			if g := m[db]; g == nil || g.countdown != nil {
				m[db] = &crashGate{released: make(chan struct{})}
			}
		}
	})
}

// CrashBeforeWrite arms a crash at a write: the nth write (n >= 1) to any
// of dbs from now on calls crash, on the writing goroutine, and is then
// treated as a write to a crashed database. crash is expected to call
// Crash(dbs...) (with whatever else the process's death cuts off); writes
// to dbs made by other goroutines while it runs go through. Revive
// disarms.
func CrashBeforeWrite(n int64, crash func(), dbs ...*badger.DB) {
	countdown := new(atomic.Int64)
	countdown.Store(n)
	var once sync.Once
	fire := func() { once.Do(crash) }
	updateCrashed(func(m map[*badger.DB]*crashGate) {
		for _, db := range dbs {
			if m[db] == nil {
				m[db] = &crashGate{countdown: countdown, fire: fire}
			}
		}
	})
}

// ReleaseCrashed lets the writes hung on crashed dbs return, and makes the
// later ones return at once: all report success and write nothing. A
// database that is not crashed is left alone.
func ReleaseCrashed(dbs ...*badger.DB) {
	if m := crashed.Load(); m != nil {
		for _, db := range dbs {
			if g := (*m)[db]; g != nil && g.released != nil {
				g.release()
			}
		}
	}
}

// Revive ends the crash of dbs, or disarms it: writes reach them again.
// Writes still hung from the crash are dropped.
func Revive(dbs ...*badger.DB) {
	updateCrashed(func(m map[*badger.DB]*crashGate) {
		for _, db := range dbs {
			if g := m[db]; g != nil {
				if g.released != nil {
					g.release()
				}
				delete(m, db)
			}
		}
	})
}

// updateCrashed applies change to a copy of the crashed map and publishes it.
func updateCrashed(change func(map[*badger.DB]*crashGate)) {
	crashMu.Lock()
	defer crashMu.Unlock()
	next := make(map[*badger.DB]*crashGate)
	if m := crashed.Load(); m != nil {
		for db, g := range *m {
			next[db] = g
		}
	}
	change(next)
	if len(next) == 0 {
		crashed.Store(nil)
		return
	}
	crashed.Store(&next)
}

// DropWrite is asked by a write path before it writes to db. It returns
// false at once when db is not crashed (always, outside crash tests). When
// db is crashed it waits until the crash is released and returns true: the
// caller must then skip the write and report success.
func DropWrite(db *badger.DB) bool {
	m := crashed.Load()
	if m == nil {
		return false
	}
	g := (*m)[db]
	if g == nil {
		return false
	}
	if g.countdown != nil {
		if g.countdown.Add(-1) != 0 {
			return false
		}
		g.fire()
		return DropWrite(db)
	}
	<-g.released
	return true
}

// SyncDropped is DropWrite for an fsync: a dead process syncs nothing, so
// a sync of a crashed db waits like a write and then is skipped (what was
// unsynced at the crash stays unsynced). It does not count towards
// CrashBeforeWrite.
func SyncDropped(db *badger.DB) bool {
	m := crashed.Load()
	if m == nil {
		return false
	}
	g := (*m)[db]
	if g == nil || g.released == nil {
		return false
	}
	<-g.released
	return true
}
