// Package latches serialises the requests that touch the same keys.
//
// A transactional request reads a snapshot, decides what to write and then
// writes. Two requests for the same key must not interleave those steps, or
// both could decide on the same old state (two prewrites could each see no
// lock and both lock the key). A request therefore latches every key it
// writes, for the time of its read-decide-write, and releases them after its
// batch is written. Latches are local to one server: they are not locks of
// the transaction model, which live in the lock column family.
//
// A request takes all its latches at once or none (AcquireLatches), so two
// requests can never hold part of each other's keys and wait forever,
// whatever order their keys are in.
package latches

import (
	"sync"

	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
)

// Latches are the latched keys of one server. The zero value with a made
// latchMap is ready to use; NewLatches makes one.
type Latches struct {
	// latchMap maps a latched key to the wait group of the request holding
	// it. The group is done once that request released all its keys.
	latchMap map[string]*sync.WaitGroup
	// heldKeys counts the keys each wait group still holds.
	heldKeys   map[*sync.WaitGroup]int
	latchGuard sync.Mutex
	// Validation, when set, is called with a request's txn and latched keys
	// just before its writes go to storage. Tests use it to check that a
	// request latched every key it writes.
	Validation func(txn *mvcc.MvccTxn, keys [][]byte)
}

// NewLatches creates a new Latches object for managing a databases latches. There should only be one such object, shared
// between all threads.
func NewLatches() *Latches {
	return &Latches{latchMap: make(map[string]*sync.WaitGroup)}
}

// AcquireLatches tries to latch all of keysToLatch at once. It returns nil
// when it did; otherwise it latched nothing and returns the wait group of a
// request holding one of the keys, to wait on before trying again.
// Repeated keys are fine.
func (l *Latches) AcquireLatches(keysToLatch [][]byte) *sync.WaitGroup {
	l.latchGuard.Lock()
	defer l.latchGuard.Unlock()
	for _, key := range keysToLatch {
		if holder, latched := l.latchMap[string(key)]; latched {
			return holder
		}
	}
	if len(keysToLatch) == 0 {
		return nil
	}
	if l.latchMap == nil {
		l.latchMap = make(map[string]*sync.WaitGroup)
	}
	if l.heldKeys == nil {
		l.heldKeys = make(map[*sync.WaitGroup]int)
	}
	wg := new(sync.WaitGroup)
	wg.Add(1)
	for _, key := range keysToLatch {
		if _, repeated := l.latchMap[string(key)]; !repeated {
			l.latchMap[string(key)] = wg
			l.heldKeys[wg]++
		}
	}
	return nil
}

// ReleaseLatches releases the latches of keysToUnlatch; keys that are not
// latched are ignored. Requests waiting for a holder wake up once it has
// released all its keys.
func (l *Latches) ReleaseLatches(keysToUnlatch [][]byte) {
	l.latchGuard.Lock()
	defer l.latchGuard.Unlock()
	for _, key := range keysToUnlatch {
		wg, latched := l.latchMap[string(key)]
		if !latched {
			continue
		}
		delete(l.latchMap, string(key))
		if remaining := l.heldKeys[wg] - 1; remaining > 0 {
			l.heldKeys[wg] = remaining
			continue
		}
		delete(l.heldKeys, wg)
		wg.Done()
	}
}

// WaitForLatches latches all of keysToLatch, waiting as long as it takes.
func (l *Latches) WaitForLatches(keysToLatch [][]byte) {
	for {
		holder := l.AcquireLatches(keysToLatch)
		if holder == nil {
			return
		}
		holder.Wait()
	}
}

// Validate calls the Validation hook, if any, with the writes of txn and the
// keys the request latched.
func (l *Latches) Validate(txn *mvcc.MvccTxn, latched [][]byte) {
	if l.Validation != nil {
		l.Validation(txn, latched)
	}
}
