// Package id allocates the cluster's unique ids (stores, regions, peers).
//
// Ids are handed out from a window: before the first id of a window is
// answered, the window's end is written to etcd, so after a crash or a
// change of leader the next allocator starts above every id ever answered.
package id

import (
	"encoding/binary"
	"sync"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
)

// Key is where the high-water mark lives (relative to the cluster root).
const Key = "alloc_id"

// DefaultStep is the size of a window.
const DefaultStep = 1000

// Allocator answers ids from windows persisted ahead.
type Allocator struct {
	mu   sync.Mutex
	kv   *kv.Etcd
	step uint64
	base uint64 // last id answered
	end  uint64 // persisted high-water mark: every id answered is <= end
}

// NewAllocator loads the high-water mark; ids start above it.
func NewAllocator(store *kv.Etcd, step uint64) (*Allocator, error) {
	if step == 0 {
		step = DefaultStep
	}
	end, err := Load(store)
	if err != nil {
		return nil, err
	}
	return &Allocator{kv: store, step: step, base: end, end: end}, nil
}

// Load reads the persisted high-water mark (0 when there is none).
func Load(store *kv.Etcd) (uint64, error) {
	v, ok, err := store.Load(Key)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.Errorf("id allocator: high-water mark %q is %d bytes, want 8", Key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Alloc answers a new id.
func (a *Allocator) Alloc() (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.base == a.end {
		end := a.end + a.step
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], end)
		if err := a.kv.Save(Key, buf[:]); err != nil {
			return 0, errors.Annotatef(err, "id allocator: save high-water mark %d", end)
		}
		a.end = end
	}
	a.base++
	observe.IDAllocated()
	return a.base, nil
}
