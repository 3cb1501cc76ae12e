package engine_util

import (
	"os"

	"github.com/Connor1996/badger"
	"github.com/Connor1996/badger/options"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
)

// Memory budget of one badger instance.
//
// Badger's defaults are tuned for one large database per machine: every
// SST loaded whole into RAM, a 1 GiB block cache, five 64 MiB memtables. A
// TinyKV test cluster opens two databases per store and up to five stores
// per process, and with the defaults students watched a test process grow
// from 2 to 12 GiB. The options below keep one instance's own memory to
// roughly its memtables (the active one, up to two being flushed and one
// allocated ahead, 8 MiB each and touched only as they fill) + block cache
// (8 MiB) + index and bloom filters of the tables, whatever the data size:
// SSTs are memory-mapped instead of loaded, so their pages belong to the
// OS page cache and are reclaimable. Measured: the heaviest 2B and 2C
// cluster tests (5 stores, 10 databases) peak at 525 MB RSS with 8 MiB
// memtables, 770 MB with 16 MiB. The memtable size also caps one badger
// transaction (15% of it, about 1.2 MiB); WriteBatch splits larger batches.
const (
	memTableSize   = 8 << 20
	numMemTables   = 2
	blockCacheSize = 8 << 20
	levelOneSize   = 64 << 20
	valueLogSize   = 64 << 20
)

// badgerOptions are the options of every TinyKV badger instance.
//
// Values are kept in the LSM tree (ValueThreshold 0), the value log being
// only the write-ahead log; writes are synced so that an acknowledged write
// survives a crash of the process or of the machine (CreateKVDB and
// CreateRaftDB sync them themselves, see sync.go).
func badgerOptions(path string) badger.Options {
	opts := badger.DefaultOptions
	opts.Dir = path
	opts.ValueDir = path
	opts.SyncWrites = true
	opts.ValueThreshold = 0
	opts.TableLoadingMode = options.MemoryMap
	opts.ValueLogLoadingMode = options.FileIO
	opts.MaxTableSize = memTableSize
	opts.NumMemtables = numMemTables
	opts.NumLevelZeroTables = 3
	opts.NumLevelZeroTablesStall = 8
	opts.MaxCacheSize = blockCacheSize
	opts.LevelOneSize = levelOneSize
	opts.ValueLogFileSize = valueLogSize
	opts.NumCompactors = 1
	opts.MaxSubCompaction = 1
	opts.TableBuilderOptions.Compression = options.None
	return opts
}

// CreateDB opens (creating it when missing) the badger instance in path.
// Note for -race runs: badger.Open sets a process-wide log level that
// databases already open read without a lock, so opening one database
// while others run is reported as a race inside badger (a benign one).
// raft tells whether it is a store's raft engine (raftdb) or its kv engine;
// both use the same options, the flag names the engine in errors.
func CreateDB(path string, raft bool) (*badger.DB, error) {
	if err := os.MkdirAll(path, os.ModePerm); err != nil {
		return nil, errors.Annotatef(err, "create directory %s", path)
	}
	db, err := badger.Open(badgerOptions(path))
	if err != nil {
		return nil, errors.Annotatef(err, "open %s engine in %s", engineKind(raft), path)
	}
	metrics.EngineOpened(db, raft)
	return db, nil
}

func engineKind(raft bool) string {
	if raft {
		return "raft"
	}
	return "kv"
}
