package runner

import (
	"bytes"

	"github.com/Connor1996/badger"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/log"
)

// RaftLogGCTask deletes the raft log entries [StartIdx, EndIdx) of a
// region from the raft engine, once a compact-log command made them useless.
// KvEngine, when set, is synced first: kvdb may not have its applies of
// those entries on disk yet (apply batches defer their sync), and without
// the entries a crash could not redo them.
type RaftLogGCTask struct {
	KvEngine   *badger.DB
	RaftEngine *badger.DB
	RegionID   uint64
	StartIdx   uint64
	EndIdx     uint64
}

// raftLogGcTaskRes is the number of entries one task deleted.
type raftLogGcTaskRes uint64

// raftLogGCTaskHandler runs RaftLogGCTasks on the raftlog-gc worker.
type raftLogGCTaskHandler struct {
	// taskResCh, when set, receives the result of every task (tests use it).
	taskResCh chan<- raftLogGcTaskRes
}

// NewRaftLogGCTaskHandler makes the handler of the raftlog-gc worker.
func NewRaftLogGCTaskHandler() *raftLogGCTaskHandler {
	return &raftLogGCTaskHandler{}
}

// gcBatchSize bounds the deletes of one write: a long log is removed in
// several small transactions instead of one that badger would refuse.
const gcBatchSize = 1024

// Handle deletes the entries of a RaftLogGCTask that still exist and
// reports how many it deleted.
func (r *raftLogGCTaskHandler) Handle(t worker.Task) {
	task, ok := t.(*RaftLogGCTask)
	if !ok {
		log.Errorf("[gc] raftlog-gc worker got a task of unexpected type %T", t)
		return
	}
	deleted, err := uint64(0), engine_util.SyncDB(task.KvEngine)
	if err == nil {
		deleted, err = gcRaftLog(task.RaftEngine, task.RegionID, task.StartIdx, task.EndIdx)
	}
	if err != nil {
		log.Errorf("[gc] region=%d deleting raft log [%d, %d) failed after %d entries: %v",
			task.RegionID, task.StartIdx, task.EndIdx, deleted, err)
	} else {
		log.Debugf("[gc] region=%d deleted %d raft log entries in [%d, %d)",
			task.RegionID, deleted, task.StartIdx, task.EndIdx)
	}
	metrics.RaftLogGCed(deleted)
	if r.taskResCh != nil {
		r.taskResCh <- raftLogGcTaskRes(deleted)
	}
}

// gcRaftLog deletes the log keys of regionID in [startIdx, endIdx) that
// exist, in batches, and returns how many it deleted.
func gcRaftLog(raftDB *badger.DB, regionID, startIdx, endIdx uint64) (uint64, error) {
	if raftDB == nil {
		return 0, errors.New("no raft engine")
	}
	if startIdx >= endIdx {
		return 0, nil
	}
	next, end := meta.RaftLogKey(regionID, startIdx), meta.RaftLogKey(regionID, endIdx)
	var deleted uint64
	for {
		keys, err := existingKeys(raftDB, next, end, gcBatchSize)
		if err != nil || len(keys) == 0 {
			return deleted, err
		}
		if err := engine_util.DeleteKeys(raftDB, keys); err != nil {
			return deleted, errors.Annotate(err, "delete raft log batch")
		}
		deleted += uint64(len(keys))
		next = append(keys[len(keys)-1], 0)
	}
}

// existingKeys lists up to limit keys in [start, end).
func existingKeys(db *badger.DB, start, end []byte, limit int) ([][]byte, error) {
	var keys [][]byte
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(start); it.Valid() && len(keys) < limit; it.Next() {
			key := it.Item().Key()
			if bytes.Compare(key, end) >= 0 {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys, errors.Annotate(err, "list raft log keys")
}
