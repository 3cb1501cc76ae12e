package latches

import (
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
)

func keys(names ...string) [][]byte {
	out := make([][]byte, len(names))
	for i, name := range names {
		out[i] = []byte(name)
	}
	return out
}

func TestLatchesAllOrNothing(t *testing.T) {
	l := NewLatches()
	require.Nil(t, l.AcquireLatches(keys("a", "b", "b")), "free keys, one repeated")
	holder := l.AcquireLatches(keys("c", "b"))
	require.NotNil(t, holder, "b is latched")
	assert.Nil(t, l.AcquireLatches(keys("c")), "a refused request must not keep c")
	l.ReleaseLatches(keys("c"))

	// Partial releases: the holder's group is done only once all its keys are.
	l.ReleaseLatches(keys("a"))
	require.Nil(t, l.AcquireLatches(keys("a")))
	l.ReleaseLatches(keys("b", "never latched"))
	holder.Wait() // returns: every key of the first request is released
	require.Nil(t, l.AcquireLatches(keys("b")))
	assert.NotNil(t, l.AcquireLatches(keys("a")), "a was latched again")
}

func TestLatchesZeroValueWithMap(t *testing.T) {
	// Course tests build Latches with only the map set.
	l := Latches{latchMap: make(map[string]*sync.WaitGroup)}
	require.Nil(t, l.AcquireLatches(keys("x", "y")))
	require.NotNil(t, l.AcquireLatches(keys("y")))
	l.ReleaseLatches(keys("y"))
	require.Nil(t, l.AcquireLatches(keys("y")))
	l.ReleaseLatches(keys("x"))
	l.ReleaseLatches(keys("y"))
	assert.Empty(t, l.latchMap)
	assert.Nil(t, l.AcquireLatches(nil), "no keys is nothing to wait for")
}

// TestLatchesNoDeadlock: goroutines latch overlapping key sets in random
// orders; none may deadlock, and no two may hold a key at once.
func TestLatchesNoDeadlock(t *testing.T) {
	l := NewLatches()
	var holders [6]int32
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			for i := 0; i < 300; i++ {
				perm := rng.Perm(len(holders))[:1+rng.Intn(3)]
				var ks [][]byte
				for _, k := range perm {
					ks = append(ks, []byte(fmt.Sprint(k)))
				}
				l.WaitForLatches(ks)
				mu.Lock()
				for _, k := range perm {
					holders[k]++
					if holders[k] != 1 {
						t.Errorf("key %d held by %d requests at once", k, holders[k])
					}
				}
				mu.Unlock()
				runtime.Gosched() // hold the keys a while
				mu.Lock()
				for _, k := range perm {
					holders[k]--
				}
				mu.Unlock()
				l.ReleaseLatches(ks)
			}
		}(g)
	}
	wg.Wait()
	assert.Empty(t, l.latchMap, "every latch released")
	assert.Empty(t, l.heldKeys)
}

func TestLatchesValidate(t *testing.T) {
	l := NewLatches()
	l.Validate(nil, nil) // no hook: nothing happens
	var seen [][]byte
	l.Validation = func(txn *mvcc.MvccTxn, latched [][]byte) { seen = latched }
	l.Validate(mvcc.NewMvccTxn(nil, 1), keys("k"))
	assert.Equal(t, keys("k"), seen)
}
