package transaction_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// Tests of KvGet, KvPrewrite and KvCommit (stage 4B).

func TestTxnGetVersions4B(t *testing.T) {
	f := newTxnFixture(t).
		committed("k", 10, 15, "v10").
		rolledBack("k", 18).
		committed("k", 20, 25, "v20").
		deleted("k", 30, 35).
		committed("k", 40, 45, "v40").
		committed("k\x00", 1, 2, "neighbour")
	cases := []struct {
		version uint64
		want    string // "" for NotFound
	}{
		{9, ""}, {14, ""}, {15, "v10"}, {18, "v10"}, {24, "v10"}, {25, "v20"},
		{34, "v20"}, {35, ""}, {44, ""}, {45, "v40"}, {mvcc.TsMax, "v40"},
	}
	for _, c := range cases {
		resp := f.get("k", c.version)
		require.Nil(t, resp.Error, "get k at %d", c.version)
		assert.Equal(t, c.want == "", resp.NotFound, "NotFound of k at %d", c.version)
		assert.Equal(t, c.want, string(resp.Value), "value of k at %d", c.version)
	}
	resp := f.get("j", mvcc.TsMax)
	assert.Nil(t, resp.Error)
	assert.True(t, resp.NotFound, "a key never written is not found")
}

func TestTxnGetLocked4B(t *testing.T) {
	f := newTxnFixture(t).
		committed("k", 10, 15, "old").
		locked("k", &mvcc.Lock{Primary: []byte("p"), Ts: 20, Ttl: 3, Kind: mvcc.WriteKindPut})

	resp := f.get("k", 19)
	assert.Nil(t, resp.Error, "a lock newer than the read is no obstacle")
	assert.Equal(t, "old", string(resp.Value))

	for _, version := range []uint64{20, mvcc.TsMax} {
		resp = f.get("k", version)
		require.NotNil(t, resp.Error, "a lock at %d hides k from a read at %d", 20, version)
		assert.Equal(t, &kvrpcpb.LockInfo{PrimaryLock: []byte("p"), LockVersion: 20, Key: []byte("k"), LockTtl: 3}, resp.Error.Locked)
		assert.Nil(t, resp.Value)
	}
}

func TestTxnPrewrite4B(t *testing.T) {
	f := newTxnFixture(t).committed("d", 1, 2, "old")
	resp := f.prewrite(100, "p", 500, put("p", "pv"), put("a", ""), del("d"))
	require.Empty(t, resp.Errors)

	// Lock: primary, kind, start ts, ttl (8 bytes each, big-endian).
	wantLock := append([]byte("p"), 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 1, 0xF4)
	assert.Equal(t, wantLock, f.mem.Get("lock", []byte("p")), "lock bytes of p")
	assert.Equal(t, mvcc.Lock{Primary: []byte("p"), Ts: 100, Ttl: 500, Kind: mvcc.WriteKindPut}, *f.lockOf("a"))
	assert.Equal(t, mvcc.Lock{Primary: []byte("p"), Ts: 100, Ttl: 500, Kind: mvcc.WriteKindDelete}, *f.lockOf("d"))
	assert.Equal(t, "pv", string(f.valueAt("p", 100)))
	assert.NotNil(t, f.valueAt("a", 100), "an empty value is a value")
	assert.Nil(t, f.valueAt("d", 100), "a delete stores no value")
	f.wantCounts(3, 3, 1)

	// Until it commits, readers at or after its start see the lock.
	assert.NotNil(t, f.get("d", 100).Error.GetLocked())
	assert.Equal(t, "old", string(f.get("d", 99).Value))
}

func TestTxnPrewriteWriteConflict4B(t *testing.T) {
	f := newTxnFixture(t).
		committed("a", 1, 2, "a").
		committed("b", 90, 110, "b"). // committed after our start at 100
		rolledBack("c", 100)          // our own rollback, e.g. by a lock resolver
	before := f.dump()
	resp := f.prewrite(100, "a", 10, put("a", "x"), put("b", "x"), put("c", "x"))
	require.Len(t, resp.Errors, 2, "b and c conflict: %v", resp.Errors)
	assert.Equal(t, &kvrpcpb.WriteConflict{StartTs: 100, ConflictTs: 110, Key: []byte("b"), Primary: []byte("a")}, resp.Errors[0].Conflict)
	assert.Equal(t, &kvrpcpb.WriteConflict{StartTs: 100, ConflictTs: 100, Key: []byte("c"), Primary: []byte("a")}, resp.Errors[1].Conflict)
	f.wantNothingWritten(before, "a prewrite with conflicts")
	assert.False(t, f.mem.HasChanged("lock", []byte("a")), "a must not be locked when another key conflicts")

	resp = f.prewrite(120, "a", 10, put("a", "x"), put("b", "x"))
	assert.Empty(t, resp.Errors, "writes before the start are no conflict")
}

func TestTxnPrewriteLockedByOther4B(t *testing.T) {
	f := newTxnFixture(t).
		prewritten("a", "a", 50, 10, "theirs").
		prewritten("b", "a", 150, 10, "newer")
	before := f.dump()
	resp := f.prewrite(100, "c", 10, put("c", "x"), put("a", "x"), put("b", "x"))
	require.Len(t, resp.Errors, 2, "a and b are locked: %v", resp.Errors)
	assert.Equal(t, &kvrpcpb.LockInfo{PrimaryLock: []byte("a"), LockVersion: 50, Key: []byte("a"), LockTtl: 10}, resp.Errors[0].Locked)
	assert.Equal(t, uint64(150), resp.Errors[1].Locked.GetLockVersion(), "a newer lock blocks a prewrite too")
	f.wantNothingWritten(before, "a prewrite that meets locks")
	assert.False(t, f.mem.HasChanged("lock", []byte("c")))
}

func TestTxnPrewriteRepeated4B(t *testing.T) {
	f := newTxnFixture(t)
	require.Empty(t, f.prewrite(100, "a", 10, put("a", "1"), put("b", "2")).Errors)
	state := f.dump()
	require.Empty(t, f.prewrite(100, "a", 10, put("a", "1"), put("b", "2")).Errors, "a repeated prewrite succeeds")
	assert.Equal(t, state.String(), f.dump().String(), "a repeated prewrite changes nothing")

	// A retry that changed its mind about b turns its Put into a Delete.
	require.Empty(t, f.prewrite(100, "a", 10, put("a", "1"), del("b")).Errors)
	assert.Equal(t, mvcc.WriteKindDelete, f.lockOf("b").Kind)
	assert.Nil(t, f.valueAt("b", 100), "the value of the earlier Put must go")
	f.wantCounts(1, 2, 0)
}

func TestTxnPrewriteDuplicateMutations4B(t *testing.T) {
	f := newTxnFixture(t)
	resp := f.prewrite(100, "a", 10, put("a", "first"), del("a"), put("a", "last"))
	require.Empty(t, resp.Errors)
	assert.Equal(t, "last", string(f.valueAt("a", 100)), "the last mutation of a key wins")
	assert.Equal(t, mvcc.WriteKindPut, f.lockOf("a").Kind)
	f.wantCounts(1, 1, 0)
}

// TestTxnPrewriteEmpty4B: a prewrite without mutations has nothing to do
// (course tests expect it to succeed).
func TestTxnPrewriteEmpty4B(t *testing.T) {
	f := newTxnFixture(t)
	resp := f.prewrite(100, "a", 10)
	assert.Empty(t, resp.Errors)
	f.wantCounts(0, 0, 0)
}

func TestTxnCommit4B(t *testing.T) {
	f := newTxnFixture(t).
		committed("a", 10, 20, "old").
		prewritten("a", "a", 100, 10, "new").
		locked("b", &mvcc.Lock{Primary: []byte("a"), Ts: 100, Ttl: 10, Kind: mvcc.WriteKindDelete}).
		prewritten("c", "c", 90, 10, "other txn")
	resp := f.commit(100, 110, "a", "b")
	require.Nil(t, resp.Error)

	assert.Equal(t, []byte{1, 0, 0, 0, 0, 0, 0, 0, 100}, f.mem.Get("write", mvcc.EncodeKey([]byte("a"), 110)), "commit record of a")
	assert.Equal(t, &mvcc.Write{StartTS: 100, Kind: mvcc.WriteKindDelete}, f.recordAt("b", 110))
	assert.Nil(t, f.lockOf("a"))
	assert.Nil(t, f.lockOf("b"))
	assert.False(t, f.mem.HasChanged("default", mvcc.EncodeKey([]byte("a"), 100)), "commit leaves the value alone")
	assert.False(t, f.mem.HasChanged("lock", []byte("c")), "commit leaves other transactions alone")
	f.wantCounts(3, 1, 3)

	assert.Equal(t, "old", string(f.get("a", 109).Value))
	assert.Equal(t, "new", string(f.get("a", 110).Value))
	assert.True(t, f.get("b", 110).NotFound)
}

func TestTxnCommitRepeated4B(t *testing.T) {
	f := newTxnFixture(t).prewritten("a", "a", 100, 10, "v")
	require.Nil(t, f.commit(100, 110, "a", "a").Error, "a key twice in one commit")
	f.wantCounts(1, 0, 1)

	// The same state put in place by the test, so that a rewrite shows.
	f = newTxnFixture(t).committed("a", 100, 110, "v")
	before := f.dump()
	require.Nil(t, f.commit(100, 110, "a").Error, "a repeated commit succeeds")
	f.wantNothingWritten(before, "a repeated commit")
}

func TestTxnCommitRolledBack4B(t *testing.T) {
	f := newTxnFixture(t).
		prewritten("a", "a", 100, 10, "v").
		rolledBack("b", 100)
	before := f.dump()
	resp := f.commit(100, 110, "a", "b")
	require.NotNil(t, resp.Error, "b was rolled back: the transaction cannot commit")
	assert.NotEmpty(t, resp.Error.Abort)
	f.wantNothingWritten(before, "a refused commit")
}

func TestTxnCommitLockedByOther4B(t *testing.T) {
	f := newTxnFixture(t).prewritten("a", "a", 90, 10, "theirs")
	before := f.dump()
	resp := f.commit(100, 110, "a")
	require.NotNil(t, resp.Error)
	assert.NotEmpty(t, resp.Error.Retryable, "another transaction's lock is a retryable error")
	f.wantNothingWritten(before, "a commit over another transaction's lock")
}

// TestTxnCommitNotPrewritten4B: a key the transaction never locked (its
// prewrite got lost) needs nothing.
func TestTxnCommitNotPrewritten4B(t *testing.T) {
	f := newTxnFixture(t).committed("a", 10, 20, "old")
	before := f.dump()
	require.Nil(t, f.commit(100, 110, "a", "b").Error)
	f.wantNothingWritten(before, "a commit without prewrite")
	require.Nil(t, f.commit(100, 110).Error, "a commit without keys")
}

// TestTxnLatePrewrite4B: a prewrite that arrives after its transaction
// committed must not lock the key again.
func TestTxnLatePrewrite4B(t *testing.T) {
	f := newTxnFixture(t).committed("a", 100, 110, "v")
	before := f.dump()
	resp := f.prewrite(100, "a", 10, put("a", "v"))
	require.Len(t, resp.Errors, 1)
	assert.NotNil(t, resp.Errors[0].Conflict)
	f.wantNothingWritten(before, "a late prewrite")
}

// TestTxnConcurrentPrewrites4B: of transactions that prewrite the same key
// at once, exactly one locks it (latches keep two from both seeing it free).
func TestTxnConcurrentPrewrites4B(t *testing.T) {
	for round := 0; round < 10; round++ {
		f := newTxnFixture(t)
		f.store.pause = time.Millisecond // without latches, all would see the key free
		const txns = 8
		resps := make([]*kvrpcpb.PrewriteResponse, txns)
		var wg sync.WaitGroup
		for i := 0; i < txns; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				own := fmt.Sprintf("own%d", i)
				resps[i], _ = f.srv.KvPrewrite(nil, &kvrpcpb.PrewriteRequest{
					Mutations:    []*kvrpcpb.Mutation{put(own, "x"), put("shared", own)},
					PrimaryLock:  []byte(own),
					StartVersion: uint64(100 + i),
					LockTtl:      10,
				})
			}(i)
		}
		wg.Wait()
		winners := 0
		for i, resp := range resps {
			require.NotNil(t, resp, "txn %d got no response", i)
			if len(resp.Errors) == 0 {
				winners++
				assert.Equal(t, uint64(100+i), f.lockOf("shared").Ts, "the lock on shared belongs to the winner")
			}
		}
		require.Equal(t, 1, winners, "round %d: transactions that locked the shared key", round)
		f.wantCounts(1+1, 1+1, 0)
	}
}
