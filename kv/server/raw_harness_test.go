package server

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/storage/standalone_storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// Helpers of the project 1 tests. Course test files in this package declare
// Get, Iter, Set and cleanUpTestData, so the names here are different.

// rawStore is a Server over a started StandAloneStorage in a fresh data
// directory. The test stops the storage and removes the directory when it
// ends, failed or not.
type rawStore struct {
	t       testing.TB
	conf    *config.Config
	storage *standalone_storage.StandAloneStorage
	server  *Server
}

func newRawStore(t testing.TB) *rawStore {
	t.Helper()
	conf := config.NewTestConfig()
	t.Cleanup(func() { removeTestDir(t, conf.DBPath) }) // registered first, runs last
	s := &rawStore{t: t, conf: conf}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func removeTestDir(t testing.TB, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("remove test directory %s: %v", dir, err)
	}
}

// start opens the storage on the store's directory, with a new Server.
func (s *rawStore) start() {
	s.t.Helper()
	s.storage = standalone_storage.NewStandAloneStorage(s.conf)
	if err := s.storage.Start(); err != nil {
		s.t.Fatalf("start standalone storage in %s: %v", s.conf.DBPath, err)
	}
	s.server = NewServer(s.storage)
}

// stop closes the storage; stopping a stopped storage is fine.
func (s *rawStore) stop() {
	s.t.Helper()
	if err := s.storage.Stop(); err != nil {
		s.t.Errorf("stop standalone storage: %v", err)
	}
}

// restart closes the storage and opens the same directory again.
func (s *rawStore) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// The must* helpers call a handler and fail the test on any error: a gRPC
// error, a region error or an Error message.

func mustRawPut(t testing.TB, srv *Server, cf string, key, value []byte) {
	t.Helper()
	resp, err := srv.RawPut(nil, &kvrpcpb.RawPutRequest{Cf: cf, Key: key, Value: value})
	checkRawOK(t, fmt.Sprintf("RawPut(%s, %q)", cf, shorten(key)), resp == nil, err, resp.GetRegionError(), resp.GetError())
}

// mustRawGet returns the value and whether the key was found.
func mustRawGet(t testing.TB, srv *Server, cf string, key []byte) ([]byte, bool) {
	t.Helper()
	resp, err := srv.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: cf, Key: key})
	checkRawOK(t, fmt.Sprintf("RawGet(%s, %q)", cf, shorten(key)), resp == nil, err, resp.GetRegionError(), resp.GetError())
	if resp.GetNotFound() && len(resp.GetValue()) > 0 {
		t.Fatalf("RawGet(%s, %q) answered NotFound with a value of %d bytes", cf, shorten(key), len(resp.GetValue()))
	}
	return resp.GetValue(), !resp.GetNotFound()
}

func mustRawDelete(t testing.TB, srv *Server, cf string, key []byte) {
	t.Helper()
	resp, err := srv.RawDelete(nil, &kvrpcpb.RawDeleteRequest{Cf: cf, Key: key})
	checkRawOK(t, fmt.Sprintf("RawDelete(%s, %q)", cf, shorten(key)), resp == nil, err, resp.GetRegionError(), resp.GetError())
}

func mustRawScan(t testing.TB, srv *Server, cf string, start []byte, limit uint32) []*kvrpcpb.KvPair {
	t.Helper()
	resp, err := srv.RawScan(nil, &kvrpcpb.RawScanRequest{Cf: cf, StartKey: start, Limit: limit})
	checkRawOK(t, fmt.Sprintf("RawScan(%s, %q, %d)", cf, shorten(start), limit), resp == nil, err, resp.GetRegionError(), resp.GetError())
	return resp.GetKvs()
}

func checkRawOK(t testing.TB, call string, noResponse bool, err error, regionErr *errorpb.Error, msg string) {
	t.Helper()
	switch {
	case err != nil:
		t.Fatalf("%s: want success, got gRPC error %v", call, err)
	case noResponse:
		t.Fatalf("%s: want a response, got nil", call)
	case regionErr != nil:
		t.Fatalf("%s: want success, got region error %v", call, regionErr)
	case msg != "":
		t.Fatalf("%s: want success, got Error %q", call, msg)
	}
}

// shorten keeps failure messages about large keys and values readable.
func shorten(b []byte) []byte {
	if len(b) <= 32 {
		return b
	}
	return append(append([]byte{}, b[:32]...), fmt.Sprintf("...(%d bytes)", len(b))...)
}

// rawModel is what the storage should hold: column family -> key -> value.
type rawModel map[string]map[string][]byte

func newRawModel() rawModel {
	m := rawModel{}
	for _, cf := range engine_util.CFs {
		m[cf] = map[string][]byte{}
	}
	return m
}

// scan answers a scan the way RawScan should.
func (m rawModel) scan(cf string, start []byte, limit int) []*kvrpcpb.KvPair {
	keys := make([]string, 0, len(m[cf]))
	for k := range m[cf] {
		if k >= string(start) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	pairs := make([]*kvrpcpb.KvPair, len(keys))
	for i, k := range keys {
		pairs[i] = &kvrpcpb.KvPair{Key: []byte(k), Value: m[cf][k]}
	}
	return pairs
}

// dumpStorage reads every column family of s through one Reader.
func dumpStorage(t testing.TB, s storage.Storage) rawModel {
	t.Helper()
	reader, err := s.Reader(nil)
	if err != nil {
		t.Fatalf("open a reader to dump the storage: %v", err)
	}
	defer reader.Close()
	m := newRawModel()
	for _, cf := range engine_util.CFs {
		iter := reader.IterCF(cf)
		for iter.Seek(nil); iter.Valid(); iter.Next() {
			value, err := iter.Item().ValueCopy(nil)
			if err != nil {
				iter.Close()
				t.Fatalf("read value of %q in %s: %v", iter.Item().Key(), cf, err)
			}
			m[cf][string(iter.Item().KeyCopy(nil))] = value
		}
		iter.Close()
	}
	return m
}

// diffModels describes how got differs from want, "" when they agree.
func diffModels(want, got rawModel) string {
	var diffs []string
	for _, cf := range engine_util.CFs {
		for k, wv := range want[cf] {
			gv, ok := got[cf][k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s %q: missing, want %q", cf, shorten([]byte(k)), shorten(wv)))
			case !bytes.Equal(wv, gv):
				diffs = append(diffs, fmt.Sprintf("%s %q: got %q, want %q", cf, shorten([]byte(k)), shorten(gv), shorten(wv)))
			}
		}
		for k, gv := range got[cf] {
			if _, ok := want[cf][k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s %q: got %q, want no key", cf, shorten([]byte(k)), shorten(gv)))
			}
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
	}
	return strings.Join(diffs, "; ")
}

// diffPairs describes how a scan result differs from the expected one, ""
// when they agree.
func diffPairs(want, got []*kvrpcpb.KvPair) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("%d pairs, want %d: first missing key %q", len(got), len(want), shorten(want[i].Key))
		case i >= len(want):
			return fmt.Sprintf("%d pairs, want %d: first extra key %q", len(got), len(want), shorten(got[i].Key))
		case !bytes.Equal(want[i].Key, got[i].Key):
			return fmt.Sprintf("pair %d has key %q, want %q", i, shorten(got[i].Key), shorten(want[i].Key))
		case !bytes.Equal(want[i].Value, got[i].Value):
			return fmt.Sprintf("pair %d (key %q) has value %q, want %q", i, shorten(got[i].Key), shorten(got[i].Value), shorten(want[i].Value))
		}
	}
	return ""
}

// testSeed is TINYKV_SEED when set (to replay a failure), a fresh seed
// otherwise. A failing test prints the seed it ran with.
func testSeed(t testing.TB) int64 {
	t.Helper()
	seed := rand.Int63()
	if env := os.Getenv("TINYKV_SEED"); env != "" {
		parsed, err := strconv.ParseInt(env, 10, 64)
		if err != nil {
			t.Fatalf("TINYKV_SEED=%q is not an integer: %v", env, err)
		}
		seed = parsed
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed %d; replay with TINYKV_SEED=%d go test -run '^%s$'", seed, seed, t.Name())
		}
	})
	return seed
}
