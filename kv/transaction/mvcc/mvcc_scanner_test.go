package mvcc

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
)

// scanned is one result of a Scanner: a value, or a lock in the way.
type scanned struct {
	key    string
	value  string
	lockTs uint64 // the lock's start ts when the key is locked
}

func (s scanned) String() string {
	if s.lockTs != 0 {
		return fmt.Sprintf("%q locked by %d", s.key, s.lockTs)
	}
	return fmt.Sprintf("%q=%q", s.key, s.value)
}

// scanAll runs a scanner from start to its end (at most max results).
func scanAll(t *testing.T, txn *MvccTxn, start string, max int) []scanned {
	scanner := NewScanner([]byte(start), txn)
	require.NotNil(t, scanner, "NewScanner")
	defer scanner.Close()
	var results []scanned
	for len(results) < max {
		key, value, err := scanner.Next()
		var locked *KeyLockedError
		if errors.As(err, &locked) {
			require.Equal(t, string(key), string(locked.Key), "a locked key is returned with its error")
			results = append(results, scanned{key: string(key), lockTs: locked.Lock.Ts})
			continue
		}
		require.NoError(t, err)
		if key == nil {
			break
		}
		results = append(results, scanned{key: string(key), value: string(value)})
	}
	return results
}

func TestMvccScannerSkipsDeletesAndRollbacks4C(t *testing.T) {
	h := newHistory().
		put("a", 1, 2, "a1").
		put("b", 1, 2, "b1").del("b", 3, 4).   // deleted
		rollback("c", 5).                      // only a rollback
		put("d", 1, 2, "d1").rollback("d", 6). // rollback above a value
		put("e", 7, 9, "e7").                  // committed after the scan's ts
		put("f", 1, 2, "f1").put("f", 3, 5, "f3")
	got := scanAll(t, h.txnAt(t, 8), "", 100)
	assert.Equal(t, []scanned{{key: "a", value: "a1"}, {key: "d", value: "d1"}, {key: "f", value: "f3"}}, got)

	got = scanAll(t, h.txnAt(t, 8), "b", 100)
	assert.Equal(t, []scanned{{key: "d", value: "d1"}, {key: "f", value: "f3"}}, got, "scan from b")
	got = scanAll(t, h.txnAt(t, 8), "g", 100)
	assert.Empty(t, got, "scan after the last key")
}

func TestMvccScannerLocks4C(t *testing.T) {
	h := newHistory().
		put("a", 1, 2, "a1").lock("a", Lock{Primary: []byte("a"), Ts: 10, Ttl: 1, Kind: WriteKindPut}).
		put("b", 1, 2, "b1").lock("b", Lock{Primary: []byte("a"), Ts: 30, Ttl: 1, Kind: WriteKindPut}). // after the scan
		lock("c", Lock{Primary: []byte("a"), Ts: 10, Ttl: 1, Kind: WriteKindPut}).                      // a first write, not committed
		put("d", 1, 2, "d1")
	got := scanAll(t, h.txnAt(t, 20), "", 100)
	want := []scanned{{key: "a", lockTs: 10}, {key: "b", value: "b1"}, {key: "c", lockTs: 10}, {key: "d", value: "d1"}}
	assert.Equal(t, want, got, "locks at or before the scan's ts are in the way, later ones are not")
}

// countingReader counts the steps of the iterators it hands out.
type countingReader struct {
	storage.StorageReader
	steps *int
}

func (r countingReader) IterCF(cf string) engine_util.DBIterator {
	return countingIter{DBIterator: r.StorageReader.IterCF(cf), steps: r.steps}
}

type countingIter struct {
	engine_util.DBIterator
	steps *int
}

func (it countingIter) Next() {
	*it.steps++
	it.DBIterator.Next()
}

func TestMvccScannerSeeksOverOldVersions4C(t *testing.T) {
	h := newHistory()
	const versions = 300
	for i := uint64(1); i <= versions; i++ {
		h.put("a", 10*i, 10*i+1, "a"+strconv.FormatUint(i, 10))
		h.put("b", 10*i, 10*i+2, "b"+strconv.FormatUint(i, 10))
	}
	var steps int
	txn := h.txnAt(t, 10*versions/2)
	txn.Reader = countingReader{StorageReader: txn.Reader, steps: &steps}
	got := scanAll(t, txn, "", 100)
	assert.Equal(t, []scanned{{key: "a", value: "a149"}, {key: "b", value: "b149"}}, got)
	assert.Less(t, steps, 20, "a scan over 2 keys of %d versions each stepped %d times: it must seek past old versions", versions, steps)
}

// TestMvccScannerAgreesWithModel4C compares scans of random histories at
// random timestamps with a model of what each key holds.
func TestMvccScannerAgreesWithModel4C(t *testing.T) {
	seed := time.Now().UnixNano()
	if env := os.Getenv("TXN_SEED"); env != "" {
		var err error
		seed, err = strconv.ParseInt(env, 10, 64)
		require.NoError(t, err, "TXN_SEED=%q", env)
	}
	rng := rand.New(rand.NewSource(seed))
	for round := 0; round < 30; round++ {
		h, model, lastTs := randomHistory(rng)
		ts := uint64(rng.Int63n(int64(lastTs) + 2))
		start := string(rune('a' + rng.Intn(8)))
		want := model.at(ts, start)
		got := scanAll(t, h.txnAt(t, ts), start, 1000)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("round %d: scan from %q at ts %d\ngot  %v\nwant %v\n(replay with TXN_SEED=%d)", round, start, ts, got, want, seed)
		}
	}
}

// keyModel is what is known of each key: its committed records and the
// start ts of the lock left on it (0 for none).
type keyModel map[string]*modelKey

type modelKey struct {
	records []modelRecord
	lockTs  uint64
}

type modelRecord struct {
	commitTs uint64
	kind     WriteKind
	value    string
}

func (m keyModel) key(key string) *modelKey {
	if m[key] == nil {
		m[key] = new(modelKey)
	}
	return m[key]
}

// randomHistory writes random transactions on a few keys, each with a
// unique start and commit ts, and sometimes leaves a lock.
func randomHistory(rng *rand.Rand) (*history, keyModel, uint64) {
	h, model := newHistory(), keyModel{}
	ts := uint64(0)
	for i := 0; i < 40; i++ {
		key := string(rune('a' + rng.Intn(8)))
		startTs, commitTs := ts+1, ts+1+uint64(rng.Intn(3))
		ts = commitTs + 1
		if model[key] != nil && model[key].lockTs != 0 {
			continue // nobody commits on a locked key
		}
		switch rng.Intn(5) {
		case 0:
			h.del(key, startTs, commitTs)
			model.key(key).records = append(model.key(key).records, modelRecord{commitTs: commitTs, kind: WriteKindDelete})
		case 1:
			h.rollback(key, startTs)
		case 2:
			if rng.Intn(3) == 0 {
				h.lock(key, Lock{Primary: []byte(key), Ts: startTs, Ttl: 1, Kind: WriteKindPut})
				model.key(key).lockTs = startTs
			}
		default:
			value := fmt.Sprintf("%s@%d", key, startTs)
			h.put(key, startTs, commitTs, value)
			model.key(key).records = append(model.key(key).records, modelRecord{commitTs: commitTs, kind: WriteKindPut, value: value})
		}
	}
	return h, model, ts
}

// at is what a scan from start at ts must return.
func (m keyModel) at(ts uint64, start string) []scanned {
	var keys []string
	for key := range m {
		if key >= start {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	var results []scanned
	for _, key := range keys {
		if lockTs := m[key].lockTs; lockTs != 0 && lockTs <= ts {
			results = append(results, scanned{key: key, lockTs: lockTs})
			continue
		}
		var newest *modelRecord
		for i, rec := range m[key].records {
			if rec.commitTs <= ts && (newest == nil || rec.commitTs > newest.commitTs) {
				newest = &m[key].records[i]
			}
		}
		if newest != nil && newest.kind == WriteKindPut {
			results = append(results, scanned{key: key, value: newest.value})
		}
	}
	return results
}
