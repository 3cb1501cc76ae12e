package engine_util

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/Connor1996/badger"
	"github.com/Connor1996/badger/fileutil"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
)

// The engines of a raftstore (CreateKVDB, CreateRaftDB) leave syncing to
// us instead of badger: badger writes every commit to its value log (the
// write-ahead log, in the OS page cache once the commit returns) and we
// fsync that log ourselves after each write, except after a write batch
// marked DeferSync, which the next sync covers. Two kinds of batch may wait:
//   - the raftstore's apply batches to kvdb: what they write can be rebuilt
//     from the raft log, which is synced, as long as the log is kept until
//     a sync made the batches durable (the raft-log GC syncs before it
//     deletes);
//   - a raft state to raftdb that only moves the commit index (no entries,
//     no new term or vote): raft learns it again from the leader, and a
//     store that restarts with its commit below its applied index raises it.
//
// The value log is one file at a time; badger fsyncs a file before it
// starts the next one, so syncing the current file makes every earlier
// commit durable.

// deferredEngines maps every engine opened by CreateKVDB or CreateRaftDB
// to its syncer.
var deferredEngines sync.Map // weak.Pointer[badger.DB] -> *engineSyncer

// engineSyncer fsyncs the value log of one engine.
type engineSyncer struct {
	dir string
	// kind is "kv" or "raft", for errors.
	kind string
	// unsynced counts the DeferSync batches written since the last sync.
	unsynced atomic.Int64
	// mu makes syncs one at a time, so that each covers what it counted.
	mu sync.Mutex
	// onSync, when set, runs at the start of every sync (see OnSync).
	onSync atomic.Pointer[func()]
}

func syncerOf(db *badger.DB) *engineSyncer {
	if s, ok := deferredEngines.Load(weak.Make(db)); ok {
		return s.(*engineSyncer)
	}
	return nil
}

// forgetSyncer drops the syncer of a closed engine. The cleanup registered
// by CreateKVDB and CreateRaftDB cannot do it while an OnSync hook holds
// the engine: the registry would keep the closed engine, memtables
// included, for good.
func forgetSyncer(db *badger.DB) { deferredEngines.Delete(weak.Make(db)) }

// CreateKVDB opens (creating it when missing) the kv engine of a raftstore
// in path. Its writes are durable when they return, as with CreateDB,
// except those of write batches marked DeferSync, which become durable at
// the next SyncDB or synced write.
func CreateKVDB(path string) (*badger.DB, error) { return openSyncedByUs(path, false) }

// CreateRaftDB opens (creating it when missing) the raft engine of a
// raftstore in path, with the same guarantee as CreateKVDB.
func CreateRaftDB(path string) (*badger.DB, error) { return openSyncedByUs(path, true) }

func openSyncedByUs(path string, raft bool) (*badger.DB, error) {
	kind := engineKind(raft)
	if err := os.MkdirAll(path, os.ModePerm); err != nil {
		return nil, errors.Annotatef(err, "create directory %s", path)
	}
	opts := badgerOptions(path)
	opts.SyncWrites = false
	db, err := badger.Open(opts)
	if err != nil {
		return nil, errors.Annotatef(err, "open %s engine in %s", kind, path)
	}
	key := weak.Make(db)
	deferredEngines.Store(key, &engineSyncer{dir: path, kind: kind})
	runtime.AddCleanup(db, func(key weak.Pointer[badger.DB]) { deferredEngines.Delete(key) }, key)
	metrics.EngineOpened(db, raft)
	return db, nil
}

// SyncDB makes every write to db so far durable. It costs nothing on an
// engine that syncs each write itself (CreateDB).
func SyncDB(db *badger.DB) error {
	if db == nil {
		return nil
	}
	s := syncerOf(db)
	if s == nil {
		return nil
	}
	return s.sync(db)
}

// OnSync has f run at the start of every sync of db, which must be an
// engine of CreateKVDB or CreateRaftDB (it reports whether it is): what f
// reads of db is durable once the sync returns. Tests use it to model what
// a power loss would leave of the engine.
func OnSync(db *badger.DB, f func()) bool {
	s := syncerOf(db)
	if s == nil {
		return false
	}
	s.onSync.Store(&f)
	return true
}

// UnsyncedBatches is the number of DeferSync batches written to db since its
// last sync (always 0 on an engine opened by CreateDB, which syncs each).
func UnsyncedBatches(db *badger.DB) int64 {
	if s := syncerOf(db); s != nil {
		return s.unsynced.Load()
	}
	return 0
}

// syncAfterWrite makes a write that just returned durable, unless deferred.
func syncAfterWrite(db *badger.DB, deferred bool) error {
	s := syncerOf(db)
	if s == nil {
		return nil
	}
	if deferred {
		s.unsynced.Add(1)
		return nil
	}
	return s.sync(db)
}

func (s *engineSyncer) sync(db *badger.DB) error {
	if SyncDropped(db) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Batches counted before the fsync are covered by it.
	covered := s.unsynced.Load()
	if f := s.onSync.Load(); f != nil {
		(*f)()
	}
	start := time.Now()
	// The file badger writes now holds the last commit, or badger moved on
	// to a new file after syncing the one that holds it.
	// fsync acts on the file, whichever descriptor asks.
	fid := uint32(db.GetVLogOffset() >> 32)
	f, err := os.Open(filepath.Join(s.dir, fmt.Sprintf("%06d.vlog", fid)))
	if os.IsNotExist(err) {
		// badger is starting file fid: it synced the file before, which
		// holds every write that returned before this sync began.
		s.unsynced.Add(-covered)
		return nil
	}
	if err != nil {
		return errors.Annotatef(err, "sync %s engine in %s", s.kind, s.dir)
	}
	err = fileutil.Fdatasync(f)
	f.Close()
	if err != nil {
		return errors.Annotatef(err, "sync %s engine in %s (value log %d)", s.kind, s.dir, fid)
	}
	s.unsynced.Add(-covered)
	metrics.EngineSynced(s.kind == "raft", time.Since(start))
	return nil
}
