package server

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// Project 1 tests of the raw API over StandAloneStorage. Every handler is
// called with a nil context.Context and a nil kvrpcpb.Context, as the
// course tests do.

func TestRawPutGetEachColumnFamily1(t *testing.T) {
	s := newRawStore(t)
	key := []byte("shared-key")
	for _, cf := range engine_util.CFs {
		mustRawPut(t, s.server, cf, key, []byte("value in "+cf))
	}
	for _, cf := range engine_util.CFs {
		value, found := mustRawGet(t, s.server, cf, key)
		if want := "value in " + cf; !found || string(value) != want {
			t.Errorf("RawGet(%s, %q) = %q (found %v), want %q: column families must not share keys", cf, key, value, found, want)
		}
	}
}

func TestRawDeleteTouchesOneColumnFamily1(t *testing.T) {
	s := newRawStore(t)
	key := []byte("k")
	for _, cf := range engine_util.CFs {
		mustRawPut(t, s.server, cf, key, []byte(cf))
	}
	mustRawDelete(t, s.server, engine_util.CfLock, key)

	if value, found := mustRawGet(t, s.server, engine_util.CfLock, key); found {
		t.Errorf("RawGet(lock, %q) after RawDelete = %q, want NotFound", key, value)
	}
	for _, cf := range []string{engine_util.CfDefault, engine_util.CfWrite} {
		if value, found := mustRawGet(t, s.server, cf, key); !found || string(value) != cf {
			t.Errorf("RawGet(%s, %q) after deleting the key from lock = %q (found %v), want %q", cf, key, value, found, cf)
		}
	}
}

func TestRawOverwrite1(t *testing.T) {
	s := newRawStore(t)
	cf, key := engine_util.CfDefault, []byte("counter")
	for i := 0; i < 5; i++ {
		want := []byte(fmt.Sprintf("version %d", i))
		mustRawPut(t, s.server, cf, key, want)
		if got, found := mustRawGet(t, s.server, cf, key); !found || !bytes.Equal(got, want) {
			t.Fatalf("RawGet after put number %d = %q (found %v), want %q", i, got, found, want)
		}
	}
	if kvs := mustRawScan(t, s.server, cf, nil, 10); len(kvs) != 1 {
		t.Errorf("RawScan after 5 overwrites of one key returned %d pairs, want 1", len(kvs))
	}
}

func TestRawGetMissingKey1(t *testing.T) {
	s := newRawStore(t)
	mustRawPut(t, s.server, engine_util.CfWrite, []byte("only-in-write"), []byte("v"))

	for _, tc := range []struct{ cf, key string }{
		{engine_util.CfDefault, "never-written"},
		{engine_util.CfDefault, "only-in-write"},
		{engine_util.CfLock, "only-in-write"},
	} {
		resp, err := s.server.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: tc.cf, Key: []byte(tc.key)})
		if err != nil || resp.GetError() != "" || resp.GetRegionError() != nil {
			t.Errorf("RawGet(%s, %q) of a missing key: want no error, got err=%v Error=%q RegionError=%v",
				tc.cf, tc.key, err, resp.GetError(), resp.GetRegionError())
			continue
		}
		if !resp.GetNotFound() || resp.GetValue() != nil {
			t.Errorf("RawGet(%s, %q) of a missing key = {NotFound: %v, Value: %q}, want {NotFound: true, Value: nil}",
				tc.cf, tc.key, resp.GetNotFound(), resp.GetValue())
		}
	}
}

func TestRawDeleteMissingKey1(t *testing.T) {
	s := newRawStore(t)
	mustRawDelete(t, s.server, engine_util.CfDefault, []byte("never-written"))
	mustRawPut(t, s.server, engine_util.CfDefault, []byte("k"), []byte("v"))
	mustRawDelete(t, s.server, engine_util.CfDefault, []byte("k"))
	mustRawDelete(t, s.server, engine_util.CfDefault, []byte("k")) // twice is fine too
	if _, found := mustRawGet(t, s.server, engine_util.CfDefault, []byte("k")); found {
		t.Errorf("RawGet after RawDelete found the key, want NotFound")
	}
}

// An empty value is a value: the key exists.
func TestRawPutEmptyValue1(t *testing.T) {
	s := newRawStore(t)
	cf, key := engine_util.CfDefault, []byte("empty")
	mustRawPut(t, s.server, cf, key, nil)
	if value, found := mustRawGet(t, s.server, cf, key); !found || len(value) != 0 {
		t.Errorf("RawGet of a key put with an empty value = %q (found %v), want an empty value, found", value, found)
	}
	if kvs := mustRawScan(t, s.server, cf, nil, 10); len(kvs) != 1 || !bytes.Equal(kvs[0].Key, key) {
		t.Errorf("RawScan = %v, want the one key %q", kvs, key)
	}
}

func TestRawScanOrderAndLimit1(t *testing.T) {
	s := newRawStore(t)
	cf := engine_util.CfDefault
	model := newRawModel()
	// Written out of order, with keys that are prefixes of others and bytes
	// at both ends of the range: the scan order is bytewise.
	for _, key := range []string{"b", "a\xff", "a", "", "\x00", "ab", "\xff\xff", "b\x00", "aa", "c"} {
		if key == "" {
			continue // empty keys are refused, see TestRawBadInput1
		}
		value := []byte("v-" + key)
		mustRawPut(t, s.server, cf, []byte(key), value)
		model[cf][key] = value
	}
	for _, tc := range []struct {
		start string
		limit uint32
	}{
		{"", 100}, {"", 1}, {"", 3}, {"a", 2}, {"a\x00", 3}, {"aa", 10},
		{"b", 1}, {"b\x00", 2}, {"bb", 5}, {"\xff\xff", 5}, {"\xff\xff\x00", 5},
	} {
		got := mustRawScan(t, s.server, cf, []byte(tc.start), tc.limit)
		if diff := diffPairs(model.scan(cf, []byte(tc.start), int(tc.limit)), got); diff != "" {
			t.Errorf("RawScan(start %q, limit %d): %s", tc.start, tc.limit, diff)
		}
	}
}

// A scan stops at the end of its column family, even when its limit asks
// for more and other families hold keys after it.
func TestRawScanStaysInColumnFamily1(t *testing.T) {
	s := newRawStore(t)
	model := newRawModel()
	for i, cf := range engine_util.CFs {
		for j := 0; j < 3; j++ {
			key, value := []byte{byte(j), 0xff}, []byte(fmt.Sprintf("%s-%d-%d", cf, i, j))
			mustRawPut(t, s.server, cf, key, value)
			model[cf][string(key)] = value
		}
	}
	for _, cf := range engine_util.CFs {
		got := mustRawScan(t, s.server, cf, nil, MaxScanLimit)
		if diff := diffPairs(model.scan(cf, nil, MaxScanLimit), got); diff != "" {
			t.Errorf("RawScan of column family %s from the start: %s", cf, diff)
		}
	}
}

func TestRawScanAfterDelete1(t *testing.T) {
	s := newRawStore(t)
	cf := engine_util.CfWrite
	model := newRawModel()
	for i := 0; i < 20; i++ {
		key, value := []byte(fmt.Sprintf("key%02d", i)), []byte(fmt.Sprintf("value%02d", i))
		mustRawPut(t, s.server, cf, key, value)
		model[cf][string(key)] = value
	}
	for i := 0; i < 20; i += 3 {
		key := fmt.Sprintf("key%02d", i)
		mustRawDelete(t, s.server, cf, []byte(key))
		delete(model[cf], key)
	}
	for _, limit := range []uint32{1, 5, 13, 20} {
		got := mustRawScan(t, s.server, cf, []byte("key00"), limit)
		if diff := diffPairs(model.scan(cf, []byte("key00"), int(limit)), got); diff != "" {
			t.Errorf("RawScan(limit %d) after deleting every third key: %s", limit, diff)
		}
	}
}

// Keys and values at the size limits are accepted, read back whole, scanned
// and kept across a restart.
func TestRawLargeKeysAndValues1(t *testing.T) {
	s := newRawStore(t)
	rng := rand.New(rand.NewSource(testSeed(t)))
	model := newRawModel()
	for i, cf := range engine_util.CFs {
		key := make([]byte, MaxKeySize)
		rng.Read(key)
		key[0] = byte(i) // distinct keys, so the scan below sees all of them in order
		value := make([]byte, MaxValueSize)
		rng.Read(value)
		mustRawPut(t, s.server, cf, key, value)
		model[cf][string(key)] = value
		mustRawPut(t, s.server, engine_util.CfDefault, key, value)
		model[engine_util.CfDefault][string(key)] = value
	}
	check := func(when string) {
		t.Helper()
		for _, cf := range engine_util.CFs {
			for key, want := range model[cf] {
				got, found := mustRawGet(t, s.server, cf, []byte(key))
				if !found || !bytes.Equal(got, want) {
					t.Errorf("%s: RawGet(%s) of a %d-byte key returned %d bytes (found %v), want the %d bytes put",
						when, cf, len(key), len(got), found, len(want))
				}
			}
			if diff := diffPairs(model.scan(cf, nil, 10), mustRawScan(t, s.server, cf, nil, 10)); diff != "" {
				t.Errorf("%s: RawScan(%s): %s", when, cf, diff)
			}
		}
	}
	check("before restart")
	s.restart()
	check("after restart")
}

// Writes, overwrites and deletes are on disk once acknowledged: a new
// storage on the same directory sees exactly them.
func TestRawPersistAcrossRestart1(t *testing.T) {
	s := newRawStore(t)
	model := newRawModel()
	for i := 0; i < 30; i++ {
		cf := engine_util.CFs[i%len(engine_util.CFs)]
		key, value := []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i))
		mustRawPut(t, s.server, cf, key, value)
		model[cf][string(key)] = value
	}
	mustRawPut(t, s.server, engine_util.CfDefault, []byte("k0"), []byte("overwritten"))
	model[engine_util.CfDefault]["k0"] = []byte("overwritten")
	mustRawDelete(t, s.server, engine_util.CfWrite, []byte("k1"))
	delete(model[engine_util.CfWrite], "k1")

	for round := 1; round <= 2; round++ {
		s.restart()
		if diff := diffModels(model, dumpStorage(t, s.storage)); diff != "" {
			t.Fatalf("after restart %d the storage differs from what was acknowledged: %s", round, diff)
		}
	}
}

// A random mix of puts, deletes, gets and scans over a small key space
// (so that keys are overwritten and deleted often) agrees with a map at
// every step and after a restart.
func TestRawRandomOpsAgreeWithModel1(t *testing.T) {
	s := newRawStore(t)
	rng := rand.New(rand.NewSource(testSeed(t)))
	model := newRawModel()
	randomKey := func() []byte {
		key := make([]byte, 1+rng.Intn(3))
		for i := range key {
			key[i] = []byte{0x00, 'a', 'b', 0xff}[rng.Intn(4)]
		}
		return key
	}
	for step := 0; step < 600; step++ {
		cf, key := engine_util.CFs[rng.Intn(len(engine_util.CFs))], randomKey()
		switch op := rng.Intn(10); {
		case op < 4:
			value := []byte(fmt.Sprintf("step %d", step))
			mustRawPut(t, s.server, cf, key, value)
			model[cf][string(key)] = value
		case op < 6:
			mustRawDelete(t, s.server, cf, key)
			delete(model[cf], string(key))
		case op < 8:
			got, found := mustRawGet(t, s.server, cf, key)
			want, exists := model[cf][string(key)]
			if found != exists || !bytes.Equal(got, want) {
				t.Fatalf("step %d: RawGet(%s, %q) = %q (found %v), want %q (found %v)", step, cf, key, got, found, want, exists)
			}
		default:
			limit := 1 + rng.Intn(20)
			got := mustRawScan(t, s.server, cf, key, uint32(limit))
			if diff := diffPairs(model.scan(cf, key, limit), got); diff != "" {
				t.Fatalf("step %d: RawScan(%s, %q, %d): %s", step, cf, key, limit, diff)
			}
		}
	}
	s.restart()
	if diff := diffModels(model, dumpStorage(t, s.storage)); diff != "" {
		t.Fatalf("after restart: %s", diff)
	}
}
