package engine_util

import (
	"time"

	"github.com/Connor1996/badger"
	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/metrics"
)

// WriteBatch collects puts and deletes and writes them to one engine in a
// single badger transaction: all of them or none.
type WriteBatch struct {
	entries       []batchEntry
	size          int
	safePoint     int
	safePointSize int
	// deferSync and mustSync choose whether a write to an engine of
	// CreateKVDB or CreateRaftDB waits for the disk (see DeferSync).
	deferSync, mustSync bool
}

// batchEntry is one put, or one delete when isDelete is set (a put of an
// empty value stays a put).
type batchEntry struct {
	key, value []byte
	isDelete   bool
}

// Len is the number of puts and deletes in the batch.
func (wb *WriteBatch) Len() int {
	return len(wb.entries)
}

// Size is the approximate number of bytes the batch writes.
func (wb *WriteBatch) Size() int {
	return wb.size
}

func (wb *WriteBatch) add(key, val []byte, isDelete bool) {
	wb.entries = append(wb.entries, batchEntry{key: key, value: val, isDelete: isDelete})
	wb.size += len(key) + len(val)
}

// SetCF puts key = val into column family cf.
func (wb *WriteBatch) SetCF(cf string, key, val []byte) {
	wb.add(KeyWithCF(cf, key), val, false)
}

// DeleteCF deletes key from column family cf.
func (wb *WriteBatch) DeleteCF(cf string, key []byte) {
	wb.add(KeyWithCF(cf, key), nil, true)
}

// SetMeta puts the encoded msg under the meta key.
func (wb *WriteBatch) SetMeta(key []byte, msg proto.Message) error {
	val, err := proto.Marshal(msg)
	if err != nil {
		return errors.Annotatef(err, "encode meta %x", key)
	}
	wb.add(key, val, false)
	return nil
}

// DeleteMeta deletes the meta key.
func (wb *WriteBatch) DeleteMeta(key []byte) {
	wb.add(key, nil, true)
}

// SetSafePoint remembers the current content; RollbackToSafePoint drops
// everything added after it (used to undo one command that failed halfway).
func (wb *WriteBatch) SetSafePoint() {
	wb.safePoint = len(wb.entries)
	wb.safePointSize = wb.size
}

// RollbackToSafePoint drops the entries added since the last SetSafePoint.
func (wb *WriteBatch) RollbackToSafePoint() {
	wb.entries = wb.entries[:wb.safePoint]
	wb.size = wb.safePointSize
}

// DeferSync lets the writes of this batch to an engine opened by CreateKVDB
// or CreateRaftDB return before they are on disk; the next SyncDB or synced
// write makes them durable. Only a batch whose loss in a crash is harmless
// may do this: the raftstore's apply batches, which the raft log replays,
// and a raft state that only moves the commit index (see sync.go). It
// lasts across Reset; MustSync overrides it for one write.
func (wb *WriteBatch) DeferSync() { wb.deferSync = true }

// MustSync makes the next write of the batch wait for the disk even if
// DeferSync was called (the batch holds something the raft log cannot
// rebuild alone, like a split or a membership change); Reset clears it.
func (wb *WriteBatch) MustSync() { wb.mustSync = true }

// WriteToDB writes the batch to db in order. An empty batch writes nothing.
//
// A batch normally fits one badger transaction and is atomic. One larger
// than badger's transaction limit (a few MiB, see db.go) is written in
// several transactions, in order. The raftstore relies on that order: it
// puts the state record that makes a batch count (raft state, apply state)
// last, so a crash in the middle leaves writes that no state refers to yet,
// and replaying the log writes them again.
//
// A write to a database crashed by a test is dropped (see Crash).
func (wb *WriteBatch) WriteToDB(db *badger.DB) error {
	if len(wb.entries) == 0 || DropWrite(db) {
		return nil
	}
	txn := db.NewTransaction(true)
	for _, entry := range wb.entries {
		err := entry.writeTo(txn)
		if err == badger.ErrTxnTooBig {
			if err = txn.Commit(); err != nil {
				return errors.Annotatef(err, "write part of a batch of %d entries", len(wb.entries))
			}
			txn = db.NewTransaction(true)
			err = entry.writeTo(txn)
		}
		if err != nil {
			txn.Discard()
			return errors.Annotatef(err, "write batch of %d entries", len(wb.entries))
		}
	}
	start := time.Now()
	err := txn.Commit()
	if err == nil {
		err = syncAfterWrite(db, wb.deferSync && !wb.mustSync)
	}
	metrics.EngineWritten(db, time.Since(start))
	return errors.Annotatef(err, "write batch of %d entries", len(wb.entries))
}

func (e *batchEntry) writeTo(txn *badger.Txn) error {
	if e.isDelete {
		return txn.Delete(e.key)
	}
	return txn.Set(e.key, e.value)
}

// MustWriteToDB is WriteToDB for callers that cannot go on after a failed
// write (the raftstore: a half-persisted state machine would be worse).
func (wb *WriteBatch) MustWriteToDB(db *badger.DB) {
	if err := wb.WriteToDB(db); err != nil {
		panic(err)
	}
}

// Reset empties the batch so it can be reused.
func (wb *WriteBatch) Reset() {
	wb.entries = wb.entries[:0]
	wb.size = 0
	wb.safePoint = 0
	wb.safePointSize = 0
	wb.mustSync = false
}
