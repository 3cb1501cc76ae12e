package mvcc

import (
	"bytes"
	"encoding/binary"

	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/codec"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
)

// TsMax is the largest timestamp: a read at TsMax sees every committed write.
const TsMax uint64 = ^uint64(0)

// tsShift is the number of logical bits below the physical part of a
// timestamp.
const tsShift = 18

// MvccTxn groups the reads and the writes of one request of one transaction.
// Reads go to a snapshot of the storage; writes are collected (Writes) and
// applied by the caller in one batch, so a request that fails half way
// changes nothing. Reads never see the txn's own pending writes.
type MvccTxn struct {
	StartTS uint64
	Reader  storage.StorageReader
	writes  []storage.Modify
}

// NewMvccTxn starts a txn at startTs that reads from reader.
func NewMvccTxn(reader storage.StorageReader, startTs uint64) *MvccTxn {
	return &MvccTxn{
		Reader:  reader,
		StartTS: startTs,
	}
}

// Writes returns all changes added to this transaction, in the order they
// were added.
func (txn *MvccTxn) Writes() []storage.Modify {
	return txn.writes
}

func (txn *MvccTxn) put(cf string, key []byte, value []byte) {
	txn.writes = append(txn.writes, storage.Modify{Data: storage.Put{Cf: cf, Key: key, Value: value}})
}

func (txn *MvccTxn) delete(cf string, key []byte) {
	txn.writes = append(txn.writes, storage.Modify{Data: storage.Delete{Cf: cf, Key: key}})
}

// PutWrite records a write at key and ts.
func (txn *MvccTxn) PutWrite(key []byte, ts uint64, write *Write) {
	// Your Code Here (4A).
	//lab:begin 4A
	txn.put(engine_util.CfWrite, EncodeKey(key, ts), write.ToBytes())
	//lab:end
}

// GetLock returns a lock if key is locked. It will return (nil, nil) if there is no lock on key, and (nil, err)
// if an error occurs during lookup.
func (txn *MvccTxn) GetLock(key []byte) (*Lock, error) {
	// Your Code Here (4A).
	//lab:begin 4A
	value, err := txn.Reader.GetCF(engine_util.CfLock, key)
	if err != nil || value == nil {
		return nil, err
	}
	return ParseLock(value)
	//lab:else
	//	return nil, nil
	//lab:end
}

// PutLock adds a key/lock to this transaction.
func (txn *MvccTxn) PutLock(key []byte, lock *Lock) {
	// Your Code Here (4A).
	//lab:begin 4A
	txn.put(engine_util.CfLock, key, lock.ToBytes())
	//lab:end
}

// DeleteLock adds a delete lock to this transaction.
func (txn *MvccTxn) DeleteLock(key []byte) {
	// Your Code Here (4A).
	//lab:begin 4A
	txn.delete(engine_util.CfLock, key)
	//lab:end
}

// GetValue finds the value for key, valid at the start timestamp of this transaction.
// I.e., the most recent value committed before the start of this transaction.
// A key whose newest visible write is a delete, or that has none, has no value (nil, nil).
// Rollback records are not writes of a value and are passed over.
func (txn *MvccTxn) GetValue(key []byte) ([]byte, error) {
	// Your Code Here (4A).
	//lab:begin 4A
	write, err := txn.visibleWrite(key)
	if err != nil || write == nil || write.Kind != WriteKindPut {
		return nil, err
	}
	return txn.Reader.GetCF(engine_util.CfDefault, EncodeKey(key, write.StartTS))
	//lab:else
	//	return nil, nil
	//lab:end
}

//lab:begin 4A

// visibleWrite is the newest Put or Delete of key committed at or before
// StartTS, or nil.
func (txn *MvccTxn) visibleWrite(key []byte) (*Write, error) {
	iter := txn.Reader.IterCF(engine_util.CfWrite)
	defer iter.Close()
	versions := newVersionWalk(iter, key, txn.StartTS)
	for ; versions.valid(); versions.next() {
		write, _, err := versions.write()
		if err != nil {
			return nil, err
		}
		if write.Kind != WriteKindRollback {
			return write, nil
		}
	}
	return nil, nil
}

//lab:end

// PutValue adds a key/value write to this transaction.
func (txn *MvccTxn) PutValue(key []byte, value []byte) {
	// Your Code Here (4A).
	//lab:begin 4A
	txn.put(engine_util.CfDefault, EncodeKey(key, txn.StartTS), value)
	//lab:end
}

// DeleteValue removes a key/value pair in this transaction.
func (txn *MvccTxn) DeleteValue(key []byte) {
	// Your Code Here (4A).
	//lab:begin 4A
	txn.delete(engine_util.CfDefault, EncodeKey(key, txn.StartTS))
	//lab:end
}

// CurrentWrite searches for a write with this transaction's start timestamp. It returns a Write from the DB and that
// write's commit timestamp, or an error. (nil, 0, nil) means there is none: the transaction has neither committed
// nor been rolled back on key.
func (txn *MvccTxn) CurrentWrite(key []byte) (*Write, uint64, error) {
	// Your Code Here (4A).
	//lab:begin 4A
	iter := txn.Reader.IterCF(engine_util.CfWrite)
	defer iter.Close()
	// A commit ts is never below its start ts, so only versions at or above
	// StartTS can belong to this transaction; they sort first.
	for versions := newVersionWalk(iter, key, TsMax); versions.valid(); versions.next() {
		write, commitTs, err := versions.write()
		if err != nil {
			return nil, 0, err
		}
		if commitTs < txn.StartTS {
			break
		}
		if write.StartTS == txn.StartTS {
			return write, commitTs, nil
		}
	}
	return nil, 0, nil
	//lab:else
	//	return nil, 0, nil
	//lab:end
}

// MostRecentWrite finds the most recent write with the given key. It returns a Write from the DB and that
// write's commit timestamp, or an error. (nil, 0, nil) means the key has never been written.
func (txn *MvccTxn) MostRecentWrite(key []byte) (*Write, uint64, error) {
	// Your Code Here (4A).
	//lab:begin 4A
	iter := txn.Reader.IterCF(engine_util.CfWrite)
	defer iter.Close()
	versions := newVersionWalk(iter, key, TsMax)
	if !versions.valid() {
		return nil, 0, nil
	}
	return versions.write()
	//lab:else
	//	return nil, 0, nil
	//lab:end
}

//lab:begin 4A

// versionWalk visits the records of one user key in the write column
// family, newest first, starting at a given ts. It seeks once and never
// leaves the key.
type versionWalk struct {
	iter    engine_util.DBIterator
	userKey []byte // codec.EncodeBytes of the user key
}

func newVersionWalk(iter engine_util.DBIterator, key []byte, fromTs uint64) *versionWalk {
	iter.Seek(EncodeKey(key, fromTs))
	return &versionWalk{iter: iter, userKey: codec.EncodeBytes(key)}
}

// valid reports whether the iterator is on a version of the key.
func (w *versionWalk) valid() bool {
	if !w.iter.Valid() {
		return false
	}
	key := w.iter.Item().Key()
	return len(key) == len(w.userKey)+8 && bytes.HasPrefix(key, w.userKey)
}

func (w *versionWalk) next() { w.iter.Next() }

// write decodes the current record and its commit ts.
func (w *versionWalk) write() (*Write, uint64, error) {
	item := w.iter.Item()
	value, err := item.Value()
	if err != nil {
		return nil, 0, err
	}
	write, err := ParseWrite(value)
	if err != nil {
		return nil, 0, err
	}
	return write, decodeTimestamp(item.Key()), nil
}

//lab:end

// EncodeKey encodes a user key and appends an encoded timestamp to a key. Keys and timestamps are encoded so that
// timestamped keys are sorted first by key (ascending), then by timestamp (descending). The encoding is based on
// https://github.com/facebook/mysql-5.6/wiki/MyRocks-record-format#memcomparable-format.
func EncodeKey(key []byte, ts uint64) []byte {
	encoded := codec.EncodeBytes(key)
	return binary.BigEndian.AppendUint64(encoded, ^ts)
}

// DecodeUserKey takes a key + timestamp and returns the key part. It returns
// nil for bytes that EncodeKey did not make.
func DecodeUserKey(key []byte) []byte {
	userKey, _, ok := decodeKey(key)
	if !ok {
		return nil
	}
	return userKey
}

// decodeTimestamp takes a key + timestamp and returns the timestamp part.
func decodeTimestamp(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return ^binary.BigEndian.Uint64(key[len(key)-8:])
}

// decodeKey splits an encoded key into user key and ts; ok is false when
// key is not the output of EncodeKey.
func decodeKey(key []byte) (userKey []byte, ts uint64, ok bool) {
	rest, userKey, err := codec.DecodeBytes(key)
	if err != nil || len(rest) != 8 {
		return nil, 0, false
	}
	return userKey, decodeTimestamp(key), true
}

// PhysicalTime returns the physical time part of the timestamp, in
// milliseconds; the low 18 bits are a logical counter.
func PhysicalTime(ts uint64) uint64 {
	return ts >> tsShift
}
