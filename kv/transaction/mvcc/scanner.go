package mvcc

import (
	"bytes"
	"fmt"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
)

// Scanner is used for reading multiple sequential key/value pairs from the storage layer. It is aware of the implementation
// of the storage layer and returns results suitable for users.
// Invariant: either the scanner is finished and cannot be used, or it is ready to return a value immediately.
//
// A Scanner reads at its txn's start ts: for each key from the start key on,
// in key order, the newest value committed at or before that ts. Keys whose
// newest visible write is a delete, and rollback records, are skipped. A key
// locked by a transaction that started at or before the ts is returned with
// a *KeyLockedError, since its value is not known yet.
type Scanner struct {
	// Your Data Here (4C).
	//lab:begin 4C
	txn       *MvccTxn
	writeIter engine_util.DBIterator
	lockIter  engine_util.DBIterator
	next      []byte // the smallest user key not returned yet
	done      bool
	//lab:end
}

// NewScanner creates a new scanner ready to read from the snapshot in txn.
func NewScanner(startKey []byte, txn *MvccTxn) *Scanner {
	// Your Code Here (4C).
	//lab:begin 4C
	return &Scanner{
		txn:       txn,
		writeIter: txn.Reader.IterCF(engine_util.CfWrite),
		lockIter:  txn.Reader.IterCF(engine_util.CfLock),
		next:      append([]byte{}, startKey...),
	}
	//lab:else
	//	return nil
	//lab:end
}

// Close releases the scanner's iterators.
func (scan *Scanner) Close() {
	// Your Code Here (4C).
	//lab:begin 4C
	scan.writeIter.Close()
	scan.lockIter.Close()
	scan.done = true
	//lab:end
}

// Next returns the next key/value pair from the scanner. If the scanner is exhausted, then it will return `nil, nil, nil`.
// A locked key comes back as (key, nil, *KeyLockedError); the scan can go on after it.
func (scan *Scanner) Next() ([]byte, []byte, error) {
	// Your Code Here (4C).
	//lab:begin 4C
	for !scan.done {
		written, err := scan.nextWrittenKey()
		if err != nil {
			return nil, nil, err
		}
		locked, lock, err := scan.nextLockedKey()
		if err != nil {
			return nil, nil, err
		}
		if written == nil && locked == nil {
			scan.done = true
			break
		}
		// The lock decides when both column families have the smaller key.
		if locked != nil && (written == nil || bytes.Compare(locked, written) <= 0) {
			scan.moveAfter(locked)
			return locked, nil, &KeyLockedError{Key: locked, Lock: lock}
		}
		scan.moveAfter(written)
		value, err := scan.visibleValue(written)
		if err != nil {
			return nil, nil, err
		}
		if value != nil {
			return written, value, nil
		}
	}
	return nil, nil, nil
	//lab:else
	//	return nil, nil, nil
	//lab:end
}

//lab:begin 4C

// nextWrittenKey is the first user key at or after scan.next that has any
// record in the write column family, or nil.
func (scan *Scanner) nextWrittenKey() ([]byte, error) {
	// TsMax is the first version of a key in the encoded order.
	scan.writeIter.Seek(EncodeKey(scan.next, TsMax))
	if !scan.writeIter.Valid() {
		return nil, nil
	}
	key := scan.writeIter.Item().Key()
	userKey, _, ok := decodeKey(key)
	if !ok {
		return nil, &corruptKeyError{cf: engine_util.CfWrite, key: append([]byte{}, key...)}
	}
	return userKey, nil
}

// nextLockedKey is the first key at or after scan.next with a lock that the
// scan's ts must respect, and that lock; nil when there is none.
func (scan *Scanner) nextLockedKey() ([]byte, *Lock, error) {
	for scan.lockIter.Seek(scan.next); scan.lockIter.Valid(); scan.lockIter.Next() {
		item := scan.lockIter.Item()
		value, err := item.Value()
		if err != nil {
			return nil, nil, err
		}
		lock, err := ParseLock(value)
		if err != nil {
			return nil, nil, err
		}
		// A transaction that starts after the scan commits after it too.
		if lock.Ts <= scan.txn.StartTS {
			return item.KeyCopy(nil), lock, nil
		}
	}
	return nil, nil, nil
}

// visibleValue is the value of key at the scan's ts, nil if it has none.
func (scan *Scanner) visibleValue(key []byte) ([]byte, error) {
	versions := newVersionWalk(scan.writeIter, key, scan.txn.StartTS)
	for ; versions.valid(); versions.next() {
		write, _, err := versions.write()
		if err != nil {
			return nil, err
		}
		switch write.Kind {
		case WriteKindPut:
			return scan.txn.Reader.GetCF(engine_util.CfDefault, EncodeKey(key, write.StartTS))
		case WriteKindDelete:
			return nil, nil
		}
	}
	return nil, nil
}

// moveAfter sets the scan's position to the smallest key after key.
func (scan *Scanner) moveAfter(key []byte) {
	scan.next = append(append(scan.next[:0:0], key...), 0)
}

// corruptKeyError is a key in storage that EncodeKey did not make.
type corruptKeyError struct {
	cf  string
	key []byte
}

func (e *corruptKeyError) Error() string {
	return fmt.Sprintf("mvcc: key %x in column family %s is not an encoded key", e.key, e.cf)
}

//lab:end
