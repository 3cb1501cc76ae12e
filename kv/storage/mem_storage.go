package storage

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/google/btree"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// MemStorage is an in-memory Storage for unit tests. Besides the Storage
// methods it lets a test seed data (Set), inspect it (Get, Len) and ask
// whether a request wrote a key (HasChanged).
type MemStorage struct {
	mu      sync.RWMutex
	cfs     map[string]*btree.BTreeG[memItem]
	changed map[string]map[string]bool
}

type memItem struct {
	key   []byte
	value []byte
}

func memItemLess(a, b memItem) bool { return bytes.Compare(a.key, b.key) < 0 }

// NewMemStorage returns an empty MemStorage with the three column families.
func NewMemStorage() *MemStorage {
	s := &MemStorage{
		cfs:     make(map[string]*btree.BTreeG[memItem]),
		changed: make(map[string]map[string]bool),
	}
	for _, cf := range engine_util.CFs {
		s.cfs[cf] = btree.NewG(8, memItemLess)
		s.changed[cf] = make(map[string]bool)
	}
	return s
}

// Start does nothing: a MemStorage is ready when made.
func (s *MemStorage) Start() error { return nil }

// Stop does nothing.
func (s *MemStorage) Stop() error { return nil }

// Reader returns a snapshot: later writes are not visible through it.
// Cloning a btree updates the tree's copy-on-write state, so it takes the
// write lock: concurrent Clone calls race.
func (s *MemStorage) Reader(ctx *kvrpcpb.Context) (StorageReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snapshot := make(map[string]*btree.BTreeG[memItem], len(s.cfs))
	for cf, tree := range s.cfs {
		snapshot[cf] = tree.Clone()
	}
	return &memReader{cfs: snapshot}, nil
}

// Write applies batch atomically; an unknown column family fails the whole batch.
func (s *MemStorage) Write(ctx *kvrpcpb.Context, batch []Modify) error {
	for i := range batch {
		if _, ok := s.cfs[batch[i].Cf()]; !ok {
			return fmt.Errorf("mem storage: unknown column family %q", batch[i].Cf())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range batch {
		switch data := m.Data.(type) {
		case Put:
			s.cfs[data.Cf].ReplaceOrInsert(memItem{key: clone(data.Key), value: clone(data.Value)})
		case Delete:
			s.cfs[data.Cf].Delete(memItem{key: data.Key})
		}
		s.changed[m.Cf()][string(m.Key())] = true
	}
	return nil
}

// Get returns the value of key in cf, nil when missing (test helper).
func (s *MemStorage) Get(cf string, key []byte) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	item, ok := s.cfs[cf].Get(memItem{key: key})
	if !ok {
		return nil
	}
	return item.value
}

// Set seeds key = value in cf without counting as a change (test helper).
func (s *MemStorage) Set(cf string, key []byte, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfs[cf].ReplaceOrInsert(memItem{key: clone(key), value: clone(value)})
	delete(s.changed[cf], string(key))
}

// HasChanged reports whether a Write put or deleted key in cf since it was
// last Set (test helper).
func (s *MemStorage) HasChanged(cf string, key []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed[cf][string(key)]
}

// Len is the number of keys in cf (test helper).
func (s *MemStorage) Len(cf string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfs[cf].Len()
}

// clone copies b; the copy is never nil, since readers report a missing key
// as a nil value and an empty value must not look missing.
func clone(b []byte) []byte {
	return append([]byte{}, b...)
}

// memReader reads a frozen copy of the trees.
type memReader struct {
	cfs map[string]*btree.BTreeG[memItem]
}

func (r *memReader) GetCF(cf string, key []byte) ([]byte, error) {
	tree, ok := r.cfs[cf]
	if !ok {
		return nil, fmt.Errorf("mem storage: unknown column family %q", cf)
	}
	item, ok := tree.Get(memItem{key: key})
	if !ok {
		return nil, nil
	}
	return item.value, nil
}

func (r *memReader) IterCF(cf string) engine_util.DBIterator {
	tree, ok := r.cfs[cf]
	if !ok {
		tree = btree.NewG(2, memItemLess)
	}
	it := &memIter{tree: tree}
	it.Seek(nil)
	return it
}

func (r *memReader) Close() {}

// memIter walks a tree; it copies the current item, so it is cheap to keep
// as long as the snapshot it reads from.
type memIter struct {
	tree  *btree.BTreeG[memItem]
	item  memItem
	valid bool
}

func (it *memIter) Item() engine_util.DBItem { return memDBItem(it.item) }
func (it *memIter) Valid() bool              { return it.valid }
func (it *memIter) Close()                   {}

// Next moves to the first key greater than the current one.
func (it *memIter) Next() {
	if !it.valid {
		return
	}
	current := it.item.key
	it.valid = false
	it.tree.AscendGreaterOrEqual(memItem{key: current}, func(item memItem) bool {
		if bytes.Equal(item.key, current) {
			return true
		}
		it.item, it.valid = item, true
		return false
	})
}

// Seek moves to the first key at or after key.
func (it *memIter) Seek(key []byte) {
	it.valid = false
	it.tree.AscendGreaterOrEqual(memItem{key: key}, func(item memItem) bool {
		it.item, it.valid = item, true
		return false
	})
}

type memDBItem memItem

func (i memDBItem) Key() []byte                          { return i.key }
func (i memDBItem) KeyCopy(dst []byte) []byte            { return append(dst[:0], i.key...) }
func (i memDBItem) Value() ([]byte, error)               { return i.value, nil }
func (i memDBItem) ValueSize() int                       { return len(i.value) }
func (i memDBItem) ValueCopy(dst []byte) ([]byte, error) { return append(dst[:0], i.value...), nil }
