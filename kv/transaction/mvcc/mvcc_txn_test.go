package mvcc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
)

// history is what a test puts in storage before it reads through a txn.
type history struct {
	mem *storage.MemStorage
}

func newHistory() *history {
	return &history{mem: storage.NewMemStorage()}
}

// put records a Put of key by the txn startTs, committed at commitTs.
func (h *history) put(key string, startTs, commitTs uint64, value string) *history {
	h.mem.Set(engine_util.CfDefault, EncodeKey([]byte(key), startTs), []byte(value))
	h.mem.Set(engine_util.CfWrite, EncodeKey([]byte(key), commitTs), (&Write{StartTS: startTs, Kind: WriteKindPut}).ToBytes())
	return h
}

func (h *history) del(key string, startTs, commitTs uint64) *history {
	h.mem.Set(engine_util.CfWrite, EncodeKey([]byte(key), commitTs), (&Write{StartTS: startTs, Kind: WriteKindDelete}).ToBytes())
	return h
}

func (h *history) rollback(key string, startTs uint64) *history {
	h.mem.Set(engine_util.CfWrite, EncodeKey([]byte(key), startTs), (&Write{StartTS: startTs, Kind: WriteKindRollback}).ToBytes())
	return h
}

func (h *history) lock(key string, lock Lock) *history {
	h.mem.Set(engine_util.CfLock, []byte(key), lock.ToBytes())
	return h
}

// txnAt reads the history at startTs.
func (h *history) txnAt(t *testing.T, startTs uint64) *MvccTxn {
	reader, err := h.mem.Reader(nil)
	require.NoError(t, err)
	t.Cleanup(reader.Close)
	return NewMvccTxn(reader, startTs)
}

func TestMvccTxnStagesWrites4A(t *testing.T) {
	h := newHistory()
	txn := h.txnAt(t, 30)
	lock := &Lock{Primary: []byte("p"), Ts: 30, Ttl: 7, Kind: WriteKindPut}
	write := &Write{StartTS: 30, Kind: WriteKindDelete}
	txn.PutLock([]byte("a"), lock)
	txn.PutValue([]byte("a"), []byte("v"))
	txn.PutWrite([]byte("b"), 40, write)
	txn.DeleteValue([]byte("b"))
	txn.DeleteLock([]byte("b"))

	want := []storage.Modify{
		{Data: storage.Put{Cf: engine_util.CfLock, Key: []byte("a"), Value: lock.ToBytes()}},
		{Data: storage.Put{Cf: engine_util.CfDefault, Key: EncodeKey([]byte("a"), 30), Value: []byte("v")}},
		{Data: storage.Put{Cf: engine_util.CfWrite, Key: EncodeKey([]byte("b"), 40), Value: write.ToBytes()}},
		{Data: storage.Delete{Cf: engine_util.CfDefault, Key: EncodeKey([]byte("b"), 30)}},
		{Data: storage.Delete{Cf: engine_util.CfLock, Key: []byte("b")}},
	}
	assert.Equal(t, want, txn.Writes(), "writes must be staged in order, keys encoded per column family")
	for _, cf := range engine_util.CFs {
		assert.Zero(t, h.mem.Len(cf), "a txn only stages writes; %s must stay empty", cf)
	}
}

func TestMvccGetLock4A(t *testing.T) {
	lock := Lock{Primary: []byte("primary"), Ts: 12, Ttl: 100, Kind: WriteKindDelete}
	h := newHistory().lock("k", lock)
	h.mem.Set(engine_util.CfLock, []byte("bad"), []byte{1, 2, 3})
	txn := h.txnAt(t, 50)

	got, err := txn.GetLock([]byte("k"))
	require.NoError(t, err)
	require.NotNil(t, got, "the lock of k")
	assert.Equal(t, lock, *got)

	got, err = txn.GetLock([]byte("k2"))
	assert.NoError(t, err)
	assert.Nil(t, got, "k2 is not locked")

	_, err = txn.GetLock([]byte("bad"))
	assert.Error(t, err, "a lock record of 3 bytes is corrupt")
}

func TestMvccGetValueAtEachTs4A(t *testing.T) {
	h := newHistory().
		put("k", 10, 12, "v10").
		rollback("k", 14).
		put("k", 20, 25, "v20").
		del("k", 30, 33).
		put("k", 40, 44, "v40").
		rollback("k", 50).
		// Neighbours whose encodings share a prefix with k's.
		put("k\x00", 5, 6, "neighbour").
		put("j", 60, 61, "before")
	cases := []struct {
		ts   uint64
		want string // "" for no value
	}{
		{11, ""},    // nothing committed yet
		{12, "v10"}, // a write is visible at its commit ts
		{14, "v10"}, // a rollback hides nothing
		{24, "v10"}, // started at 20, committed after 24
		{25, "v20"},
		{33, ""}, // deleted
		{43, ""},
		{44, "v40"},
		{50, "v40"},
		{TsMax, "v40"},
	}
	for _, c := range cases {
		value, err := h.txnAt(t, c.ts).GetValue([]byte("k"))
		require.NoError(t, err, "GetValue at %d", c.ts)
		assert.Equal(t, c.want, string(value), "value of k at ts %d", c.ts)
		if c.want == "" {
			assert.Nil(t, value, "no value at ts %d", c.ts)
		}
	}
	value, err := h.txnAt(t, TsMax).GetValue([]byte("missing"))
	assert.NoError(t, err)
	assert.Nil(t, value, "a key never written has no value")
}

func TestMvccGetValuePassesOverRollbacks4A(t *testing.T) {
	h := newHistory().put("k", 1, 2, "v").rollback("k", 3).rollback("k", 7).rollback("r", 3)
	txn := h.txnAt(t, 10)
	value, err := txn.GetValue([]byte("k"))
	assert.NoError(t, err)
	assert.Equal(t, "v", string(value), "rollbacks above a value do not hide it")
	value, err = txn.GetValue([]byte("r"))
	assert.NoError(t, err)
	assert.Nil(t, value, "rollbacks are not values")
}

func TestMvccCurrentWrite4A(t *testing.T) {
	h := newHistory().
		put("k", 10, 12, "a").
		rollback("k", 15).
		put("k", 20, 20, "b"). // committed at its own start ts
		put("k", 30, 41, "c").
		put("k", 35, 38, "d")
	cases := []struct {
		startTs  uint64
		kind     WriteKind
		commitTs uint64
	}{
		{10, WriteKindPut, 12},
		{15, WriteKindRollback, 15},
		{20, WriteKindPut, 20},
		{30, WriteKindPut, 41}, // past a newer commit of another txn
		{35, WriteKindPut, 38},
	}
	for _, c := range cases {
		write, commitTs, err := h.txnAt(t, c.startTs).CurrentWrite([]byte("k"))
		require.NoError(t, err)
		require.NotNil(t, write, "the write of txn %d", c.startTs)
		assert.Equal(t, Write{StartTS: c.startTs, Kind: c.kind}, *write)
		assert.Equal(t, c.commitTs, commitTs, "commit ts of txn %d", c.startTs)
	}
	for _, startTs := range []uint64{11, 12, 25, 50} {
		write, commitTs, err := h.txnAt(t, startTs).CurrentWrite([]byte("k"))
		assert.NoError(t, err)
		assert.Nil(t, write, "txn %d wrote nothing on k", startTs)
		assert.Zero(t, commitTs)
	}
	write, _, err := h.txnAt(t, 10).CurrentWrite([]byte("k\x00"))
	assert.NoError(t, err)
	assert.Nil(t, write, "k's records do not belong to k\\x00")
}

func TestMvccMostRecentWrite4A(t *testing.T) {
	h := newHistory().put("k", 10, 12, "a").put("k", 20, 22, "b").rollback("k", 30).put("l", 40, 41, "c")
	// The read ts of the txn does not matter: the newest record wins.
	for _, ts := range []uint64{1, 25, TsMax} {
		write, commitTs, err := h.txnAt(t, ts).MostRecentWrite([]byte("k"))
		require.NoError(t, err)
		require.NotNil(t, write)
		assert.Equal(t, Write{StartTS: 30, Kind: WriteKindRollback}, *write, "newest record of k, read at %d", ts)
		assert.Equal(t, uint64(30), commitTs)
	}
	write, commitTs, err := h.txnAt(t, 5).MostRecentWrite([]byte("j"))
	assert.NoError(t, err)
	assert.Nil(t, write, "j was never written (l's records come after it)")
	assert.Zero(t, commitTs)
}

func TestMvccCorruptWrite4A(t *testing.T) {
	h := newHistory()
	h.mem.Set(engine_util.CfWrite, EncodeKey([]byte("k"), 5), []byte{9})
	txn := h.txnAt(t, 10)
	_, err := txn.GetValue([]byte("k"))
	assert.Error(t, err, "GetValue over a corrupt write record")
	_, _, err = txn.MostRecentWrite([]byte("k"))
	assert.Error(t, err, "MostRecentWrite over a corrupt write record")
	txn.StartTS = 5
	_, _, err = txn.CurrentWrite([]byte("k"))
	assert.Error(t, err, "CurrentWrite over a corrupt write record")
}
