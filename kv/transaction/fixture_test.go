package transaction_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// The handler tests run a Server over a MemStorage, put a history into the
// column families directly, call one handler and look at the column
// families again. Course test files of package transaction may sit next to
// these (package transaction_test), so no name here is one of theirs.

// txnFixture is a Server over a MemStorage. Its latch hook fails the test
// when a request writes a key it did not latch.
type txnFixture struct {
	t     *testing.T
	mem   *storage.MemStorage
	store *serialReaders // what srv reads and writes: mem
	srv   *server.Server
}

func newTxnFixture(t *testing.T) *txnFixture {
	mem := storage.NewMemStorage()
	store := &serialReaders{MemStorage: mem}
	srv := server.NewServer(store)
	srv.Latches.Validation = func(txn *mvcc.MvccTxn, latched [][]byte) {
		held := make(map[string]bool, len(latched))
		for _, key := range latched {
			held[string(key)] = true
		}
		for _, m := range txn.Writes() {
			key := m.Key()
			if m.Cf() != engine_util.CfLock {
				key = mvcc.DecodeUserKey(key)
			}
			if !held[string(key)] {
				t.Errorf("a request wrote %s of key %q without latching it (it latched %q)", m.Cf(), key, latched)
			}
		}
	}
	return &txnFixture{t: t, mem: mem, store: store, srv: srv}
}

// serialReaders hands out the readers of a MemStorage one at a time.
// MemStorage.Reader clones its trees under a shared lock, and two clones at
// once race (btree.Clone writes to the tree); until that is fixed there,
// concurrent requests go through this.
// pause, when set, is slept after each snapshot is taken, so that
// concurrent requests that are not latched overlap.
type serialReaders struct {
	*storage.MemStorage
	mu    sync.Mutex
	pause time.Duration
}

func (s *serialReaders) Reader(ctx *kvrpcpb.Context) (storage.StorageReader, error) {
	reader, err := s.snapshot(ctx)
	time.Sleep(s.pause)
	return reader, err
}

func (s *serialReaders) snapshot(ctx *kvrpcpb.Context) (storage.StorageReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemStorage.Reader(ctx)
}

// Putting a history in place.

func (f *txnFixture) committed(key string, startTs, commitTs uint64, value string) *txnFixture {
	f.mem.Set(engine_util.CfDefault, mvcc.EncodeKey([]byte(key), startTs), []byte(value))
	return f.record(key, commitTs, mvcc.WriteKindPut, startTs)
}

func (f *txnFixture) deleted(key string, startTs, commitTs uint64) *txnFixture {
	return f.record(key, commitTs, mvcc.WriteKindDelete, startTs)
}

func (f *txnFixture) rolledBack(key string, startTs uint64) *txnFixture {
	return f.record(key, startTs, mvcc.WriteKindRollback, startTs)
}

func (f *txnFixture) record(key string, commitTs uint64, kind mvcc.WriteKind, startTs uint64) *txnFixture {
	f.mem.Set(engine_util.CfWrite, mvcc.EncodeKey([]byte(key), commitTs), (&mvcc.Write{StartTS: startTs, Kind: kind}).ToBytes())
	return f
}

// prewritten leaves the lock and value of a Put by txn startTs.
func (f *txnFixture) prewritten(key, primary string, startTs, ttl uint64, value string) *txnFixture {
	f.mem.Set(engine_util.CfDefault, mvcc.EncodeKey([]byte(key), startTs), []byte(value))
	return f.locked(key, &mvcc.Lock{Primary: []byte(primary), Ts: startTs, Ttl: ttl, Kind: mvcc.WriteKindPut})
}

func (f *txnFixture) locked(key string, lock *mvcc.Lock) *txnFixture {
	f.mem.Set(engine_util.CfLock, []byte(key), lock.ToBytes())
	return f
}

// Reading the column families.

// lockOf is the lock on key, nil for none.
func (f *txnFixture) lockOf(key string) *mvcc.Lock {
	raw := f.mem.Get(engine_util.CfLock, []byte(key))
	if raw == nil {
		return nil
	}
	lock, err := mvcc.ParseLock(raw)
	require.NoError(f.t, err, "lock of %q", key)
	return lock
}

// recordAt is the write record of key at ts, nil for none.
func (f *txnFixture) recordAt(key string, ts uint64) *mvcc.Write {
	raw := f.mem.Get(engine_util.CfWrite, mvcc.EncodeKey([]byte(key), ts))
	if raw == nil {
		return nil
	}
	write, err := mvcc.ParseWrite(raw)
	require.NoError(f.t, err, "write record of %q at %d", key, ts)
	return write
}

// valueAt is the default column family's value of key written at startTs.
func (f *txnFixture) valueAt(key string, startTs uint64) []byte {
	return f.mem.Get(engine_util.CfDefault, mvcc.EncodeKey([]byte(key), startTs))
}

// wantCounts checks the number of keys in default, lock and write.
func (f *txnFixture) wantCounts(def, lock, write int) {
	f.t.Helper()
	got := [3]int{f.mem.Len(engine_util.CfDefault), f.mem.Len(engine_util.CfLock), f.mem.Len(engine_util.CfWrite)}
	require.Equal(f.t, [3]int{def, lock, write}, got, "keys in [default, lock, write]")
}

// cfDump is every key and value of every column family, and whether a
// request wrote the key since the test put it there.
type cfDump map[string]map[string]dumpedValue

type dumpedValue struct {
	value   string
	written bool
}

func (f *txnFixture) dump() cfDump {
	reader, err := f.mem.Reader(nil)
	require.NoError(f.t, err)
	defer reader.Close()
	d := cfDump{}
	for _, cf := range engine_util.CFs {
		d[cf] = map[string]dumpedValue{}
		iter := reader.IterCF(cf)
		for iter.Seek(nil); iter.Valid(); iter.Next() {
			key := iter.Item().KeyCopy(nil)
			value, err := iter.Item().ValueCopy(nil)
			require.NoError(f.t, err)
			d[cf][string(key)] = dumpedValue{value: string(value), written: f.mem.HasChanged(cf, key)}
		}
		iter.Close()
	}
	return d
}

func (d cfDump) String() string {
	var lines []string
	for cf, pairs := range d {
		for key, v := range pairs {
			lines = append(lines, fmt.Sprintf("%s %x = %x", cf, key, v.value))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// wantNothingWritten checks that storage holds what it held in before and
// that no key of it was written since (not even with the same value); keys
// written before the snapshot are only compared.
func (f *txnFixture) wantNothingWritten(before cfDump, what string) {
	f.t.Helper()
	after := f.dump()
	require.Equal(f.t, before.String(), after.String(), "%s must not change storage", what)
	for cf, pairs := range before {
		for key, v := range pairs {
			require.False(f.t, !v.written && f.mem.HasChanged(cf, []byte(key)), "%s must not write %s key %x", what, cf, key)
		}
	}
}

// Calling the handlers, with a nil context as gRPC tests do.

func (f *txnFixture) get(key string, version uint64) *kvrpcpb.GetResponse {
	resp, err := f.srv.KvGet(nil, &kvrpcpb.GetRequest{Key: []byte(key), Version: version})
	f.answered("KvGet", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) prewrite(startTs uint64, primary string, ttl uint64, muts ...*kvrpcpb.Mutation) *kvrpcpb.PrewriteResponse {
	resp, err := f.srv.KvPrewrite(nil, &kvrpcpb.PrewriteRequest{Mutations: muts, PrimaryLock: []byte(primary), StartVersion: startTs, LockTtl: ttl})
	f.answered("KvPrewrite", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) commit(startTs, commitTs uint64, keys ...string) *kvrpcpb.CommitResponse {
	resp, err := f.srv.KvCommit(nil, &kvrpcpb.CommitRequest{StartVersion: startTs, CommitVersion: commitTs, Keys: byteKeys(keys)})
	f.answered("KvCommit", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) scan(start string, limit uint32, version uint64) *kvrpcpb.ScanResponse {
	resp, err := f.srv.KvScan(nil, &kvrpcpb.ScanRequest{StartKey: []byte(start), Limit: limit, Version: version})
	f.answered("KvScan", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) checkTxnStatus(primary string, lockTs, currentTs uint64) *kvrpcpb.CheckTxnStatusResponse {
	resp, err := f.srv.KvCheckTxnStatus(nil, &kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte(primary), LockTs: lockTs, CurrentTs: currentTs})
	f.answered("KvCheckTxnStatus", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) rollback(startTs uint64, keys ...string) *kvrpcpb.BatchRollbackResponse {
	resp, err := f.srv.KvBatchRollback(nil, &kvrpcpb.BatchRollbackRequest{StartVersion: startTs, Keys: byteKeys(keys)})
	f.answered("KvBatchRollback", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) resolve(startTs, commitTs uint64) *kvrpcpb.ResolveLockResponse {
	resp, err := f.srv.KvResolveLock(nil, &kvrpcpb.ResolveLockRequest{StartVersion: startTs, CommitVersion: commitTs})
	f.answered("KvResolveLock", resp, err)
	require.Nil(f.t, resp.RegionError)
	return resp
}

func (f *txnFixture) answered(rpc string, resp interface{}, err error) {
	f.t.Helper()
	require.NoError(f.t, err, "%s must answer in the response, not with a gRPC error", rpc)
	require.NotNil(f.t, resp, "%s returned no response", rpc)
}

func put(key, value string) *kvrpcpb.Mutation {
	return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(key), Value: []byte(value)}
}

func del(key string) *kvrpcpb.Mutation {
	return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte(key)}
}

func byteKeys(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, key := range keys {
		out[i] = []byte(key)
	}
	return out
}

// physicalTs is a timestamp at ms milliseconds of physical time.
func physicalTs(ms uint64) uint64 {
	return ms << 18
}
