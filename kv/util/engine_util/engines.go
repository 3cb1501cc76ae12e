package engine_util

import (
	"os"

	"github.com/Connor1996/badger"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
)

// Engines are the two badger instances of one store: Kv holds user data and
// apply/region states, Raft holds raft logs and raft states.
type Engines struct {
	Kv       *badger.DB
	KvPath   string
	Raft     *badger.DB
	RaftPath string
}

// NewEngines bundles two opened databases with their directories.
func NewEngines(kvEngine, raftEngine *badger.DB, kvPath, raftPath string) *Engines {
	return &Engines{
		Kv:       kvEngine,
		KvPath:   kvPath,
		Raft:     raftEngine,
		RaftPath: raftPath,
	}
}

// WriteKV writes wb to the kv engine atomically.
func (en *Engines) WriteKV(wb *WriteBatch) error {
	return wb.WriteToDB(en.Kv)
}

// WriteRaft writes wb to the raft engine atomically.
func (en *Engines) WriteRaft(wb *WriteBatch) error {
	return wb.WriteToDB(en.Raft)
}

// Close closes both engines; it returns the first error and still closes the
// other. What this package and badger's metrics keep of the two databases
// is dropped with them, and so are the table mappings badger leaves (see
// releaseTableMappings).
func (en *Engines) Close() error {
	metrics.EngineClosed(en.Kv)
	metrics.EngineClosed(en.Raft)
	kvErr := closeDB(en.Kv, en.KvPath)
	raftErr := closeDB(en.Raft, en.RaftPath)
	if kvErr != nil {
		return errors.Annotate(kvErr, "close kv engine")
	}
	if raftErr != nil {
		return errors.Annotate(raftErr, "close raft engine")
	}
	return nil
}

// closeDB closes the database open in dir and drops what this package and
// badger keep of it once closed.
func closeDB(db *badger.DB, dir string) error {
	err := db.Close()
	forgetSyncer(db)
	forgetBadgerMetrics(dir)
	if err != nil {
		return err
	}
	return releaseTableMappings(dir)
}

// Destroy closes both engines and removes their directories.
func (en *Engines) Destroy() error {
	if err := en.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(en.KvPath); err != nil {
		return errors.Annotate(err, "remove kv engine directory")
	}
	if err := os.RemoveAll(en.RaftPath); err != nil {
		return errors.Annotate(err, "remove raft engine directory")
	}
	return nil
}
