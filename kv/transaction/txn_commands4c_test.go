package transaction_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// Tests of KvScan, KvCheckTxnStatus, KvBatchRollback and KvResolveLock
// (stage 4C).

// pairsOf prints scan pairs as key=value, or key:locked@ts.
func pairsOf(resp *kvrpcpb.ScanResponse) []string {
	var out []string
	for _, pair := range resp.Pairs {
		switch {
		case pair.Error.GetLocked() != nil:
			out = append(out, fmt.Sprintf("%s:locked@%d", pair.Key, pair.Error.Locked.LockVersion))
		case pair.Error != nil:
			out = append(out, fmt.Sprintf("%s:error %v", pair.Key, pair.Error))
		default:
			out = append(out, fmt.Sprintf("%s=%s", pair.Key, pair.Value))
		}
	}
	return out
}

func scanFixture(t *testing.T) *txnFixture {
	return newTxnFixture(t).
		committed("a", 10, 11, "a10").committed("a", 20, 21, "a20").
		committed("b", 10, 11, "b10").deleted("b", 20, 21).
		rolledBack("c", 20).
		committed("d", 10, 11, "d10").rolledBack("d", 30).
		committed("e", 10, 11, "e10").
		committed("f", 25, 31, "f25"). // started before 30, committed after
		committed("g", 10, 11, "g10")
}

func TestTxnScan4C(t *testing.T) {
	f := scanFixture(t)
	cases := []struct {
		start   string
		limit   uint32
		version uint64
		want    []string
	}{
		{"", 100, 30, []string{"a=a20", "d=d10", "e=e10", "g=g10"}},
		{"", 100, 15, []string{"a=a10", "b=b10", "d=d10", "e=e10", "g=g10"}},
		{"", 100, 31, []string{"a=a20", "d=d10", "e=e10", "f=f25", "g=g10"}},
		{"", 2, 30, []string{"a=a20", "d=d10"}},
		{"b", 2, 30, []string{"d=d10", "e=e10"}},
		{"d", 1, 30, []string{"d=d10"}},
		{"d\x00", 100, 30, []string{"e=e10", "g=g10"}},
		{"h", 100, 30, nil},
		{"", 100, 10, nil},
		{"", 0, 30, nil},
		{"", server.MaxScanLimit + 1, 30, []string{"a=a20", "d=d10", "e=e10", "g=g10"}},
	}
	for _, c := range cases {
		got := pairsOf(f.scan(c.start, c.limit, c.version))
		assert.Equal(t, c.want, got, "scan from %q, limit %d, at %d", c.start, c.limit, c.version)
	}
}

func TestTxnScanLocked4C(t *testing.T) {
	f := scanFixture(t).
		prewritten("b", "b", 40, 5, "b40").
		prewritten("bb", "b", 40, 5, "new key").
		prewritten("e", "x", 60, 5, "after the scan")
	got := pairsOf(f.scan("", 100, 50))
	assert.Equal(t, []string{"a=a20", "b:locked@40", "bb:locked@40", "d=d10", "e=e10", "f=f25", "g=g10"}, got)
	got = pairsOf(f.scan("", 3, 50))
	assert.Equal(t, []string{"a=a20", "b:locked@40", "bb:locked@40"}, got, "locked keys count towards the limit")
	got = pairsOf(f.scan("", 100, 39))
	assert.Equal(t, []string{"a=a20", "d=d10", "e=e10", "f=f25", "g=g10"}, got, "locks after the scan's version are no obstacle")
}

// TestTxnScanAgreesWithGet4C: a scan reads each key as a get at the same
// version does.
func TestTxnScanAgreesWithGet4C(t *testing.T) {
	f := scanFixture(t).prewritten("e", "x", 40, 5, "pending")
	for version := uint64(0); version <= 45; version++ {
		var want []string
		for _, key := range []string{"a", "b", "c", "d", "e", "f", "g"} {
			resp := f.get(key, version)
			switch {
			case resp.Error.GetLocked() != nil:
				want = append(want, fmt.Sprintf("%s:locked@%d", key, resp.Error.Locked.LockVersion))
			case !resp.NotFound:
				want = append(want, fmt.Sprintf("%s=%s", key, resp.Value))
			}
		}
		assert.Equal(t, want, pairsOf(f.scan("", 100, version)), "scan and gets at %d", version)
	}
}

func TestTxnCheckTxnStatus4C(t *testing.T) {
	lockTs := physicalTs(100) + 7
	cases := []struct {
		name       string
		setup      func(f *txnFixture)
		currentTs  uint64
		wantAction kvrpcpb.Action
		wantTtl    uint64
		wantCommit uint64
		// After the call: does the lock remain, is there a rollback record?
		wantLock, wantRollback bool
	}{
		{
			name:       "committed",
			setup:      func(f *txnFixture) { f.committed("p", lockTs, lockTs+5, "v") },
			currentTs:  physicalTs(500),
			wantAction: kvrpcpb.Action_NoAction, wantCommit: lockTs + 5,
		},
		{
			name:       "rolled back",
			setup:      func(f *txnFixture) { f.rolledBack("p", lockTs) },
			currentTs:  physicalTs(500),
			wantAction: kvrpcpb.Action_NoAction, wantRollback: true,
		},
		{
			name:       "alive",
			setup:      func(f *txnFixture) { f.prewritten("p", "p", lockTs, 20, "v") },
			currentTs:  physicalTs(119) + 0x3FFFF, // 19.99 ms later
			wantAction: kvrpcpb.Action_NoAction, wantTtl: 20, wantLock: true,
		},
		{
			name:       "alive, read before the lock",
			setup:      func(f *txnFixture) { f.prewritten("p", "p", lockTs, 20, "v") },
			currentTs:  physicalTs(50),
			wantAction: kvrpcpb.Action_NoAction, wantTtl: 20, wantLock: true,
		},
		{
			name:       "expired",
			setup:      func(f *txnFixture) { f.prewritten("p", "p", lockTs, 20, "v") },
			currentTs:  physicalTs(120), // exactly 20 ms later
			wantAction: kvrpcpb.Action_TTLExpireRollback, wantRollback: true,
		},
		{
			name:       "no lock, no record",
			setup:      func(f *txnFixture) { f.committed("p", 1, 2, "older txn") },
			currentTs:  physicalTs(101),
			wantAction: kvrpcpb.Action_LockNotExistRollback, wantRollback: true,
		},
		{
			name:       "locked by another txn",
			setup:      func(f *txnFixture) { f.prewritten("p", "p", lockTs+1, 1, "other") },
			currentTs:  physicalTs(500),
			wantAction: kvrpcpb.Action_LockNotExistRollback, wantRollback: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTxnFixture(t)
			c.setup(f)
			otherLock := f.lockOf("p") != nil && f.lockOf("p").Ts != lockTs
			resp := f.checkTxnStatus("p", lockTs, c.currentTs)
			assert.Equal(t, c.wantAction, resp.Action, "action")
			assert.Equal(t, c.wantTtl, resp.LockTtl, "lock TTL")
			assert.Equal(t, c.wantCommit, resp.CommitVersion, "commit version")

			lock := f.lockOf("p")
			assert.Equal(t, c.wantLock, lock != nil && lock.Ts == lockTs, "lock of the txn after the call")
			if otherLock {
				assert.NotNil(t, lock, "another transaction's lock stays")
			}
			if c.wantRollback {
				assert.Equal(t, &mvcc.Write{StartTS: lockTs, Kind: mvcc.WriteKindRollback}, f.recordAt("p", lockTs), "rollback record")
				assert.Nil(t, f.valueAt("p", lockTs), "a rolled back value is gone")
			}
			if c.wantAction == kvrpcpb.Action_NoAction {
				assert.False(t, f.mem.HasChanged("write", mvcc.EncodeKey([]byte("p"), lockTs)), "no action writes no record")
				assert.False(t, f.mem.HasChanged("lock", []byte("p")), "no action leaves the lock alone")
			}
		})
	}
}

// TestTxnCheckTxnStatusStopsLatePrewrite4C: once a checker rolled back a
// primary that was never locked, a late prewrite of it must fail.
func TestTxnCheckTxnStatusStopsLatePrewrite4C(t *testing.T) {
	f := newTxnFixture(t)
	resp := f.checkTxnStatus("p", 100, physicalTs(1))
	require.Equal(t, kvrpcpb.Action_LockNotExistRollback, resp.Action)
	pw := f.prewrite(100, "p", 10, put("p", "late"))
	require.Len(t, pw.Errors, 1, "a late prewrite after the rollback")
	assert.Nil(t, f.lockOf("p"))
}

func TestTxnBatchRollback4C(t *testing.T) {
	f := newTxnFixture(t).
		prewritten("mine", "mine", 100, 10, "v").
		prewritten("theirs", "theirs", 90, 10, "their value").
		rolledBack("done", 100)
	resp := f.rollback(100, "mine", "theirs", "none", "mine", "done")
	require.Nil(t, resp.Error)

	rollbackRecord := &mvcc.Write{StartTS: 100, Kind: mvcc.WriteKindRollback}
	assert.Nil(t, f.lockOf("mine"))
	assert.Nil(t, f.valueAt("mine", 100))
	assert.Equal(t, []byte{3, 0, 0, 0, 0, 0, 0, 0, 100}, f.mem.Get("write", mvcc.EncodeKey([]byte("mine"), 100)), "rollback record bytes")
	assert.Equal(t, uint64(90), f.lockOf("theirs").Ts, "another transaction's lock stays")
	assert.Equal(t, "their value", string(f.valueAt("theirs", 90)))
	assert.Equal(t, rollbackRecord, f.recordAt("theirs", 100), "a rollback record stops a late prewrite on theirs")
	assert.Equal(t, rollbackRecord, f.recordAt("none", 100), "a rollback record on a key never locked")
	assert.False(t, f.mem.HasChanged("write", mvcc.EncodeKey([]byte("done"), 100)), "rolling back twice writes nothing")
	f.wantCounts(1, 1, 4)

	// A late prewrite of a rolled back key fails.
	require.Len(t, f.prewrite(100, "mine", 10, put("mine", "v")).Errors, 1)
	require.Nil(t, f.rollback(100).Error, "a rollback without keys")
}

func TestTxnRollbackCommitted4C(t *testing.T) {
	f := newTxnFixture(t).
		committed("a", 100, 110, "v").
		prewritten("b", "a", 100, 10, "v")
	before := f.dump()
	resp := f.rollback(100, "b", "a")
	require.NotNil(t, resp.Error, "a is committed: the transaction cannot roll back")
	assert.NotEmpty(t, resp.Error.Abort)
	f.wantNothingWritten(before, "a refused rollback")
}

// TestTxnCommitAfterRollback4C: whichever comes first of commit and
// rollback wins, the other is refused.
func TestTxnCommitAfterRollback4C(t *testing.T) {
	f := newTxnFixture(t).prewritten("a", "a", 100, 10, "v")
	require.Nil(t, f.rollback(100, "a").Error)
	assert.NotNil(t, f.commit(100, 110, "a").Error, "commit after rollback")
	assert.True(t, f.get("a", 200).NotFound)

	f = newTxnFixture(t).prewritten("a", "a", 100, 10, "v")
	require.Nil(t, f.commit(100, 110, "a").Error)
	assert.NotNil(t, f.rollback(100, "a").Error, "rollback after commit")
	assert.Equal(t, "v", string(f.get("a", 200).Value))
}

// resolveFixture: txn 100 locked a, b, c (primary a); c's lock is gone
// already (resolved earlier); txn 90 locked d.
func resolveFixture(t *testing.T, cResolved func(f *txnFixture)) *txnFixture {
	f := newTxnFixture(t).
		prewritten("a", "a", 100, 10, "va").
		prewritten("b", "a", 100, 10, "vb").
		prewritten("d", "d", 90, 10, "vd")
	cResolved(f)
	return f
}

func TestTxnResolveLockCommit4C(t *testing.T) {
	f := resolveFixture(t, func(f *txnFixture) { f.committed("c", 100, 120, "vc") })
	require.Nil(t, f.resolve(100, 120).Error)
	for _, key := range []string{"a", "b", "c"} {
		assert.Nil(t, f.lockOf(key), "lock of %s", key)
		assert.Equal(t, &mvcc.Write{StartTS: 100, Kind: mvcc.WriteKindPut}, f.recordAt(key, 120), "commit record of %s", key)
		assert.Equal(t, "v"+key, string(f.get(key, 120).Value))
	}
	assert.False(t, f.mem.HasChanged("write", mvcc.EncodeKey([]byte("c"), 120)), "c was committed already")
	assert.Equal(t, uint64(90), f.lockOf("d").Ts, "another transaction's lock stays")
	f.wantCounts(4, 1, 3)
}

func TestTxnResolveLockRollback4C(t *testing.T) {
	f := resolveFixture(t, func(f *txnFixture) { f.rolledBack("c", 100) })
	require.Nil(t, f.resolve(100, 0).Error)
	for _, key := range []string{"a", "b", "c"} {
		assert.Nil(t, f.lockOf(key), "lock of %s", key)
		assert.Nil(t, f.valueAt(key, 100), "value of %s", key)
		assert.Equal(t, &mvcc.Write{StartTS: 100, Kind: mvcc.WriteKindRollback}, f.recordAt(key, 100), "rollback record of %s", key)
	}
	assert.False(t, f.mem.HasChanged("write", mvcc.EncodeKey([]byte("c"), 100)), "c was rolled back already")
	assert.Equal(t, uint64(90), f.lockOf("d").Ts, "another transaction's lock stays")
	f.wantCounts(1, 1, 3)
}

func TestTxnResolveLockNothingToDo4C(t *testing.T) {
	f := resolveFixture(t, func(*txnFixture) {})
	before := f.dump()
	require.Nil(t, f.resolve(95, 120).Error, "a transaction without locks")
	require.Nil(t, f.resolve(95, 0).Error)
	// Start version 0 matches no lock (no transaction has it): not bad input.
	require.Nil(t, f.resolve(0, 0).Error, "start version 0, commit version 0")
	require.Nil(t, f.resolve(0, 120).Error, "start version 0, commit version 120")
	f.wantNothingWritten(before, "resolving a transaction without locks")
}

// TestTxnLockLifecycle4C follows one transaction whose client vanished
// after its prewrite: a reader finds its lock, learns from the primary that
// it expired, and rolls it back everywhere.
func TestTxnLockLifecycle4C(t *testing.T) {
	f := newTxnFixture(t).committed("a", 1, 2, "a0").committed("b", 1, 2, "b0")
	startTs := physicalTs(10)
	require.Empty(t, f.prewrite(startTs, "a", 5, put("a", "a1"), put("b", "b1")).Errors)

	readTs := physicalTs(12)
	locked := f.get("b", readTs).Error.GetLocked()
	require.NotNil(t, locked, "b is locked")
	status := f.checkTxnStatus(string(locked.PrimaryLock), locked.LockVersion, readTs)
	require.Equal(t, kvrpcpb.Action_NoAction, status.Action, "2 ms into a 5 ms TTL")
	require.Equal(t, uint64(5), status.LockTtl)

	later := physicalTs(15)
	status = f.checkTxnStatus(string(locked.PrimaryLock), locked.LockVersion, later)
	require.Equal(t, kvrpcpb.Action_TTLExpireRollback, status.Action)
	require.Nil(t, f.resolve(locked.LockVersion, status.CommitVersion).Error)
	assert.Equal(t, "b0", string(f.get("b", later).Value))
	assert.Equal(t, "a0", string(f.get("a", later).Value))
	assert.NotNil(t, f.commit(startTs, physicalTs(16), "a", "b").Error, "the vanished client comes back and commits")
	f.wantCounts(2, 0, 4)
}
