package engine_util

import (
	"github.com/Connor1996/badger"
)

// Column families. Percolator uses all three: default holds values, lock
// holds locks, write holds commit records.
const (
	CfDefault string = "default"
	CfWrite   string = "write"
	CfLock    string = "lock"
)

// CFs lists every column family.
var CFs [3]string = [3]string{CfDefault, CfWrite, CfLock}

// DBItem is one key/value pair seen by a DBIterator.
type DBItem interface {
	// Key returns the key without its column-family prefix.
	Key() []byte
	// KeyCopy returns a copy of the key, written into dst when it is large enough.
	KeyCopy(dst []byte) []byte
	// Value returns the value; it is valid only until the iterator moves.
	Value() ([]byte, error)
	// ValueSize is the size of the value in bytes.
	ValueSize() int
	// ValueCopy returns a copy of the value, written into dst when it is large enough.
	ValueCopy(dst []byte) ([]byte, error)
}

// DBIterator walks the keys of one column family in order.
type DBIterator interface {
	// Item returns the current pair.
	Item() DBItem
	// Valid is false once the iterator has left the column family.
	Valid() bool
	// Next moves to the next key.
	Next()
	// Seek moves to the first key at or after key.
	Seek([]byte)
	// Close releases the iterator; call it before the transaction ends.
	Close()
}

// CFItem is a badger item seen through its column family.
type CFItem struct {
	item      *badger.Item
	prefixLen int
}

func (i *CFItem) String() string {
	return i.item.String()
}

// Key returns the key without its column-family prefix.
func (i *CFItem) Key() []byte {
	return i.item.Key()[i.prefixLen:]
}

// KeyCopy returns a copy of the key without its column-family prefix.
func (i *CFItem) KeyCopy(dst []byte) []byte {
	return append(dst[:0], i.Key()...)
}

// Version is badger's internal version of the item.
func (i *CFItem) Version() uint64 {
	return i.item.Version()
}

// IsEmpty reports whether the item has no value.
func (i *CFItem) IsEmpty() bool {
	return i.item.IsEmpty()
}

// Value returns the value; it is valid only until the iterator moves.
func (i *CFItem) Value() ([]byte, error) {
	return i.item.Value()
}

// ValueSize is the size of the value in bytes.
func (i *CFItem) ValueSize() int {
	return i.item.ValueSize()
}

// ValueCopy returns a copy of the value.
func (i *CFItem) ValueCopy(dst []byte) ([]byte, error) {
	return i.item.ValueCopy(dst)
}

// BadgerIterator is a DBIterator over one column family of a badger transaction.
type BadgerIterator struct {
	iter   *badger.Iterator
	prefix string
}

// NewCFIterator iterates column family cf of txn.
func NewCFIterator(cf string, txn *badger.Txn) *BadgerIterator {
	return &BadgerIterator{
		iter:   txn.NewIterator(badger.DefaultIteratorOptions),
		prefix: cf + "_",
	}
}

// Item returns the current pair.
func (it *BadgerIterator) Item() DBItem {
	return &CFItem{
		item:      it.iter.Item(),
		prefixLen: len(it.prefix),
	}
}

// Valid is false once the iterator has left the column family.
func (it *BadgerIterator) Valid() bool { return it.iter.ValidForPrefix([]byte(it.prefix)) }

// ValidForPrefix is Valid and also requires the key (without the column
// family) to start with prefix.
func (it *BadgerIterator) ValidForPrefix(prefix []byte) bool {
	return it.iter.ValidForPrefix(append([]byte(it.prefix), prefix...))
}

// Close releases the iterator.
func (it *BadgerIterator) Close() {
	it.iter.Close()
}

// Next moves to the next key.
func (it *BadgerIterator) Next() {
	it.iter.Next()
}

// Seek moves to the first key of the column family at or after key.
func (it *BadgerIterator) Seek(key []byte) {
	it.iter.Seek(append([]byte(it.prefix), key...))
}

// Rewind moves to the first key of the column family.
func (it *BadgerIterator) Rewind() {
	it.iter.Seek([]byte(it.prefix))
}
