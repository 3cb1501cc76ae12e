package engine_util

import (
	"bytes"

	"github.com/Connor1996/badger"
	"github.com/golang/protobuf/proto"
	"github.com/pingcap/errors"
)

// KeyWithCF is the badger key of key in column family cf: cf + "_" + key.
func KeyWithCF(cf string, key []byte) []byte {
	prefixed := make([]byte, 0, len(cf)+1+len(key))
	prefixed = append(prefixed, cf...)
	prefixed = append(prefixed, '_')
	return append(prefixed, key...)
}

// GetCF reads key of column family cf; a missing key is badger.ErrKeyNotFound.
func GetCF(db *badger.DB, cf string, key []byte) (val []byte, err error) {
	err = db.View(func(txn *badger.Txn) error {
		val, err = GetCFFromTxn(txn, cf, key)
		return err
	})
	return
}

// GetCFFromTxn reads key of column family cf inside txn; a missing key is
// badger.ErrKeyNotFound. The value of a key that exists is never nil (an
// empty value is an empty slice): readers report a missing key as nil.
func GetCFFromTxn(txn *badger.Txn, cf string, key []byte) (val []byte, err error) {
	item, err := txn.Get(KeyWithCF(cf, key))
	if err != nil {
		return nil, err
	}
	val, err = item.ValueCopy(nil)
	if err == nil && val == nil {
		val = []byte{}
	}
	return val, err
}

// PutCF writes one key of column family cf.
func PutCF(engine *badger.DB, cf string, key []byte, val []byte) error {
	if DropWrite(engine) {
		return nil
	}
	return synced(engine, engine.Update(func(txn *badger.Txn) error {
		return txn.Set(KeyWithCF(cf, key), val)
	}))
}

// DeleteCF deletes one key of column family cf.
func DeleteCF(engine *badger.DB, cf string, key []byte) error {
	if DropWrite(engine) {
		return nil
	}
	return synced(engine, engine.Update(func(txn *badger.Txn) error {
		return txn.Delete(KeyWithCF(cf, key))
	}))
}

// GetMeta decodes the meta key into msg; a missing key is badger.ErrKeyNotFound.
func GetMeta(engine *badger.DB, key []byte, msg proto.Message) error {
	return engine.View(func(txn *badger.Txn) error {
		return GetMetaFromTxn(txn, key, msg)
	})
}

// GetMetaFromTxn decodes the meta key into msg inside txn.
func GetMetaFromTxn(txn *badger.Txn, key []byte, msg proto.Message) error {
	item, err := txn.Get(key)
	if err != nil {
		return err
	}
	val, err := item.Value()
	if err != nil {
		return err
	}
	return proto.Unmarshal(val, msg)
}

// PutMeta encodes msg under the meta key.
func PutMeta(engine *badger.DB, key []byte, msg proto.Message) error {
	val, err := proto.Marshal(msg)
	if err != nil {
		return errors.Annotatef(err, "encode meta %x", key)
	}
	if DropWrite(engine) {
		return nil
	}
	return synced(engine, engine.Update(func(txn *badger.Txn) error {
		return txn.Set(key, val)
	}))
}

// deleteRangeBatchSize bounds one transaction of DeleteRange, well below
// badger's transaction limit.
const deleteRangeBatchSize = 4096

// DeleteRange deletes the keys in [startKey, endKey) of every column family.
// It runs in several transactions, so a crash may leave part of the range:
// callers delete ranges that are already unreachable (a destroyed region, a
// snapshot about to be applied) and repeat the deletion when they recover.
func DeleteRange(db *badger.DB, startKey, endKey []byte) error {
	for _, cf := range CFs {
		if err := deleteRangeCF(db, cf, startKey, endKey); err != nil {
			return err
		}
	}
	return nil
}

func deleteRangeCF(db *badger.DB, cf string, startKey, endKey []byte) error {
	start, end := KeyWithCF(cf, startKey), KeyWithCF(cf, endKey)
	for {
		keys, err := collectKeys(db, cf, start, end, len(endKey) == 0, deleteRangeBatchSize)
		if err != nil {
			return err
		}
		// A crashed database drops the deletion: stop, or the same keys
		// would be collected forever.
		if len(keys) == 0 || DropWrite(db) {
			return nil
		}
		if err := DeleteKeys(db, keys); err != nil {
			return errors.Annotatef(err, "delete range of cf %s", cf)
		}
	}
}

// DeleteKeys deletes raw badger keys (no column family added) in one
// transaction; callers keep the list small enough for one.
func DeleteKeys(db *badger.DB, keys [][]byte) error {
	if DropWrite(db) {
		return nil
	}
	return synced(db, db.Update(func(txn *badger.Txn) error {
		for _, key := range keys {
			if err := txn.Delete(key); err != nil {
				return err
			}
		}
		return nil
	}))
}

// synced makes the write that returned err durable on an engine opened by
// CreateKVDB or CreateRaftDB (the engine syncs it itself otherwise).
func synced(db *badger.DB, err error) error {
	if err != nil {
		return err
	}
	return syncAfterWrite(db, false)
}

// collectKeys lists up to limit badger keys of column family cf in
// [start, end), or from start to the end of the family when unbounded.
func collectKeys(db *badger.DB, cf string, start, end []byte, unbounded bool, limit int) ([][]byte, error) {
	prefix := KeyWithCF(cf, nil)
	var keys [][]byte
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(start); it.Valid() && len(keys) < limit; it.Next() {
			key := it.Item().Key()
			if !bytes.HasPrefix(key, prefix) || (!unbounded && bytes.Compare(key, end) >= 0) {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys, err
}

// ExceedEndKey reports whether key is at or past endKey; an empty endKey is
// the end of the key space, which nothing exceeds.
func ExceedEndKey(key, endKey []byte) bool {
	if len(endKey) == 0 {
		return false
	}
	return bytes.Compare(key, endKey) >= 0
}
