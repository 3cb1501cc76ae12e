package mvcc

import (
	"bytes"
	"math/rand"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// Tests of the storage format (framework code, no stage): course tests and
// stored data depend on these bytes.

func TestEncodeKeyBytes(t *testing.T) {
	// One group of 8 bytes padded with seven zeros (marker 0xFF-7), then ^ts.
	assert.Equal(t, []byte{7, 0, 0, 0, 0, 0, 0, 0, 0xF8, 0, 0, 0, 0, 0, 0, 0, 0}, EncodeKey([]byte{7}, TsMax))
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}, EncodeKey(nil, 1))
	// Eight bytes fill a group (marker 0xFF) and add an empty one.
	eight := []byte("abcdefgh")
	want := append(append([]byte("abcdefgh"), 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC)
	assert.Equal(t, want, EncodeKey(eight, 3))
}

// randomKey makes short keys with many zeros and shared prefixes, where an
// encoding that does not preserve order would show.
func randomKey(rng *rand.Rand) []byte {
	key := make([]byte, rng.Intn(18))
	for i := range key {
		key[i] = []byte{0, 1, 0xFF, byte(rng.Intn(256))}[rng.Intn(4)]
	}
	return key
}

func TestEncodeKeySortsByKeyThenNewestFirst(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	type version struct {
		key []byte
		ts  uint64
	}
	versions := make([]version, 400)
	for i := range versions {
		versions[i] = version{randomKey(rng), []uint64{0, 1, 5, TsMax, rng.Uint64()}[rng.Intn(5)]}
	}
	byEncoding := append([]version{}, versions...)
	sort.Slice(byEncoding, func(i, j int) bool {
		return bytes.Compare(EncodeKey(byEncoding[i].key, byEncoding[i].ts), EncodeKey(byEncoding[j].key, byEncoding[j].ts)) < 0
	})
	byMeaning := append([]version{}, versions...)
	sort.Slice(byMeaning, func(i, j int) bool {
		if c := bytes.Compare(byMeaning[i].key, byMeaning[j].key); c != 0 {
			return c < 0
		}
		return byMeaning[i].ts > byMeaning[j].ts
	})
	for i := range byMeaning {
		if !bytes.Equal(byMeaning[i].key, byEncoding[i].key) || byMeaning[i].ts != byEncoding[i].ts {
			t.Fatalf("position %d: encoded order has %x@%d, want %x@%d (key ascending, ts descending)",
				i, byEncoding[i].key, byEncoding[i].ts, byMeaning[i].key, byMeaning[i].ts)
		}
	}
}

func TestDecodeEncodedKey(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 200; i++ {
		key, ts := randomKey(rng), rng.Uint64()
		encoded := EncodeKey(key, ts)
		if got := DecodeUserKey(encoded); !bytes.Equal(got, key) {
			t.Fatalf("DecodeUserKey(EncodeKey(%x, %d)) = %x, want %x", key, ts, got, key)
		}
		if got := decodeTimestamp(encoded); got != ts {
			t.Fatalf("decodeTimestamp(EncodeKey(%x, %d)) = %d", key, ts, got)
		}
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, append(EncodeKey([]byte{1}, 1), 9), {1, 0, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3, 4, 5, 6, 7, 8}} {
		assert.Nil(t, DecodeUserKey(bad), "DecodeUserKey(%x) of bytes EncodeKey did not make", bad)
	}
}

func TestPhysicalTime(t *testing.T) {
	assert.Equal(t, uint64(5), PhysicalTime(5<<18|12345))
	assert.Equal(t, uint64(0), PhysicalTime(1<<18-1))
}

func TestLockBytes(t *testing.T) {
	lock := Lock{Primary: []byte("pk"), Ts: 0x0102, Ttl: 3000, Kind: WriteKindDelete}
	want := []byte{'p', 'k', 2, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0x0B, 0xB8}
	require.Equal(t, want, lock.ToBytes())
	parsed, err := ParseLock(want)
	require.NoError(t, err)
	assert.Equal(t, lock, *parsed)

	// An empty primary is just no bytes before the suffix.
	parsed, err = ParseLock([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0})
	require.NoError(t, err)
	assert.Equal(t, Lock{Primary: []byte{}, Ts: 9, Kind: WriteKindPut}, *parsed)

	for _, bad := range [][]byte{nil, want[:16], {7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, err := ParseLock(bad)
		assert.Error(t, err, "ParseLock(%x)", bad)
	}
}

func TestLockInfoAndExpiry(t *testing.T) {
	lock := Lock{Primary: []byte("pk"), Ts: 10<<18 | 3, Ttl: 5, Kind: WriteKindPut}
	assert.Equal(t, &kvrpcpb.LockInfo{PrimaryLock: []byte("pk"), LockVersion: 10<<18 | 3, Key: []byte("k"), LockTtl: 5}, lock.Info([]byte("k")))
	assert.False(t, lock.IsExpired(14<<18|0x3FFFF), "4.99 ms after the start a 5 ms lock is alive")
	assert.True(t, lock.IsExpired(15<<18), "5 ms after the start a 5 ms lock has expired")
}

func TestWriteBytes(t *testing.T) {
	write := Write{StartTS: 0x0A0B, Kind: WriteKindRollback}
	want := []byte{3, 0, 0, 0, 0, 0, 0, 0x0A, 0x0B}
	require.Equal(t, want, write.ToBytes())
	parsed, err := ParseWrite(want)
	require.NoError(t, err)
	assert.Equal(t, write, *parsed)
	for _, bad := range [][]byte{nil, want[:8], append(want, 0), {0, 0, 0, 0, 0, 0, 0, 0, 1}} {
		_, err := ParseWrite(bad)
		assert.Error(t, err, "ParseWrite(%x)", bad)
	}
}

func TestWriteKindOfMutation(t *testing.T) {
	kind, err := WriteKindFromProto(kvrpcpb.Op_Put)
	assert.NoError(t, err)
	assert.Equal(t, WriteKindPut, kind)
	kind, err = WriteKindFromProto(kvrpcpb.Op_Del)
	assert.NoError(t, err)
	assert.Equal(t, WriteKindDelete, kind)
	for _, op := range []kvrpcpb.Op{kvrpcpb.Op_Rollback, kvrpcpb.Op_Lock, kvrpcpb.Op(42)} {
		_, err := WriteKindFromProto(op)
		assert.Error(t, err, "op %v cannot be prewritten", op)
	}
	assert.Equal(t, kvrpcpb.Op_Del, WriteKindDelete.ToProto())
}
