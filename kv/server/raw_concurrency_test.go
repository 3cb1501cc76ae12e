package server

import (
	"bytes"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// concurrentValue is the value client puts as its seq-th write of key: it
// names the key, so a reader can tell a value that belongs to another key.
func concurrentValue(key []byte, seq int) []byte {
	return []byte(fmt.Sprintf("%s=%d", key, seq))
}

// checkScanConsistent fails unless kvs are in strictly increasing key order
// and every value was written for its key.
func checkScanConsistent(kvs []*kvrpcpb.KvPair) error {
	for i, kv := range kvs {
		if i > 0 && bytes.Compare(kvs[i-1].Key, kv.Key) >= 0 {
			return fmt.Errorf("pair %d: key %q does not come after %q", i, kv.Key, kvs[i-1].Key)
		}
		if !bytes.HasPrefix(kv.Value, append(append([]byte{}, kv.Key...), '=')) {
			return fmt.Errorf("pair %d: key %q has value %q, which was written for another key", i, kv.Key, kv.Value)
		}
	}
	return nil
}

// Clients work at the same time on keys of their own, while a scanner reads
// all of them; every client sees its own writes, scans are ordered and
// consistent, and the final content is the union of what clients left.
func TestRawConcurrentClients1(t *testing.T) {
	const clients, opsPerClient = 4, 60
	s := newRawStore(t)
	seed := testSeed(t)
	cf := engine_util.CfDefault
	models := make([]map[string][]byte, clients)
	errs := make(chan error, clients+1)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		models[c] = map[string][]byte{}
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			errs <- runRawClient(s.server, cf, fmt.Sprintf("client%d/", c), rand.New(rand.NewSource(seed+int64(c))), opsPerClient, models[c])
		}(c)
	}
	scannerDone := make(chan struct{})
	go func() {
		errs <- scanUntil(s.server, cf, scannerDone)
	}()
	wg.Wait()
	close(scannerDone)
	for i := 0; i < clients+1; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	want := newRawModel()
	for _, m := range models {
		for k, v := range m {
			want[cf][k] = v
		}
	}
	if diff := diffModels(want, dumpStorage(t, s.storage)); diff != "" {
		t.Errorf("after %d concurrent clients: %s", clients, diff)
	}
}

// runRawClient does ops random puts, deletes and gets on keys that start with
// prefix (its own), checking each get against model, which it keeps up to date.
func runRawClient(srv *Server, cf, prefix string, rng *rand.Rand, ops int, model map[string][]byte) error {
	for seq := 0; seq < ops; seq++ {
		key := []byte(fmt.Sprintf("%s%02d", prefix, rng.Intn(8)))
		switch rng.Intn(4) {
		case 0, 1:
			value := concurrentValue(key, seq)
			resp, err := srv.RawPut(nil, &kvrpcpb.RawPutRequest{Cf: cf, Key: key, Value: value})
			if err != nil || resp.GetError() != "" || resp.GetRegionError() != nil {
				return fmt.Errorf("%s: RawPut(%q): err=%v Error=%q RegionError=%v", prefix, key, err, resp.GetError(), resp.GetRegionError())
			}
			model[string(key)] = value
		case 2:
			resp, err := srv.RawDelete(nil, &kvrpcpb.RawDeleteRequest{Cf: cf, Key: key})
			if err != nil || resp.GetError() != "" || resp.GetRegionError() != nil {
				return fmt.Errorf("%s: RawDelete(%q): err=%v Error=%q RegionError=%v", prefix, key, err, resp.GetError(), resp.GetRegionError())
			}
			delete(model, string(key))
		default:
			resp, err := srv.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: cf, Key: key})
			if err != nil || resp.GetError() != "" || resp.GetRegionError() != nil {
				return fmt.Errorf("%s: RawGet(%q): err=%v Error=%q RegionError=%v", prefix, key, err, resp.GetError(), resp.GetRegionError())
			}
			want, exists := model[string(key)]
			if resp.GetNotFound() == exists || !bytes.Equal(resp.GetValue(), want) {
				return fmt.Errorf("%s: RawGet(%q) after its own writes = %q (NotFound %v), want %q (exists %v)",
					prefix, key, resp.GetValue(), resp.GetNotFound(), want, exists)
			}
		}
	}
	return nil
}

// scanUntil scans the whole column family over and over until done is
// closed, checking each result with checkScanConsistent.
func scanUntil(srv *Server, cf string, done <-chan struct{}) error {
	for scans := 0; ; scans++ {
		select {
		case <-done:
			if scans == 0 {
				return fmt.Errorf("the scanner did not finish a single scan while the clients ran")
			}
			return nil
		default:
		}
		resp, err := srv.RawScan(nil, &kvrpcpb.RawScanRequest{Cf: cf, Limit: MaxScanLimit})
		if err != nil || resp.GetError() != "" || resp.GetRegionError() != nil {
			return fmt.Errorf("concurrent RawScan: err=%v Error=%q RegionError=%v", err, resp.GetError(), resp.GetRegionError())
		}
		if err := checkScanConsistent(resp.GetKvs()); err != nil {
			return fmt.Errorf("concurrent RawScan number %d: %v", scans, err)
		}
	}
}

// Stopping the storage while clients are busy: no panic, every request
// either succeeds or gets an Error, and every acknowledged write is there
// after a restart.
func TestRawRequestsDuringStop1(t *testing.T) {
	const clients = 4
	s := newRawStore(t)
	srv, cf := s.server, engine_util.CfDefault
	acked := make([]map[string][]byte, clients)
	errs := make(chan error, clients)
	started := make(chan struct{}, clients)
	for c := 0; c < clients; c++ {
		acked[c] = map[string][]byte{}
		go func(c int) {
			errs <- writeUntilRefused(srv, cf, fmt.Sprintf("client%d/", c), acked[c], started)
		}(c)
	}
	for c := 0; c < clients; c++ {
		<-started
	}
	s.stop()
	for c := 0; c < clients; c++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	s.start()
	want := newRawModel()
	for _, m := range acked {
		for k, v := range m {
			want[cf][k] = v
		}
	}
	if diff := diffModels(want, dumpStorage(t, s.storage)); diff != "" {
		t.Errorf("after stopping under load and restarting, the storage differs from the acknowledged writes: %s", diff)
	}
}

// writeUntilRefused puts, reads back and scans keys of its own until the
// storage refuses a request; it records acknowledged puts in acked and
// signals started after its first few writes.
func writeUntilRefused(srv *Server, cf, prefix string, acked map[string][]byte, started chan<- struct{}) error {
	defer func() {
		if len(acked) < 3 {
			started <- struct{}{} // refused early: still let the test go on
		}
	}()
	for seq := 0; ; seq++ {
		key := []byte(fmt.Sprintf("%s%04d", prefix, seq))
		value := concurrentValue(key, seq)
		put, err := srv.RawPut(nil, &kvrpcpb.RawPutRequest{Cf: cf, Key: key, Value: value})
		if refused, err := checkDuringStop("RawPut", err, put.GetError()); refused || err != nil {
			return err
		}
		acked[string(key)] = value
		if len(acked) == 3 {
			started <- struct{}{}
		}
		get, err := srv.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: cf, Key: key})
		if refused, err := checkDuringStop("RawGet", err, get.GetError()); refused || err != nil {
			return err
		}
		if !bytes.Equal(get.GetValue(), value) {
			return fmt.Errorf("%s: RawGet(%q) right after its put = %q, want %q", prefix, key, get.GetValue(), value)
		}
		scan, err := srv.RawScan(nil, &kvrpcpb.RawScanRequest{Cf: cf, StartKey: []byte(prefix), Limit: 5})
		if refused, err := checkDuringStop("RawScan", err, scan.GetError()); refused || err != nil {
			return err
		}
		if err := checkScanConsistent(scan.GetKvs()); err != nil {
			return fmt.Errorf("%s: RawScan while stopping: %v", prefix, err)
		}
	}
}

// checkDuringStop reports whether a request was refused with an Error (the
// storage is stopping), and an error when it failed in any other way.
func checkDuringStop(call string, err error, msg string) (bool, error) {
	switch {
	case err != nil:
		return false, fmt.Errorf("%s while stopping: want success or an Error in the response, got gRPC error %v", call, err)
	case strings.TrimSpace(msg) != "":
		return true, nil
	}
	return false, nil
}

// A reader opened before Stop keeps reading its snapshot until it is
// closed, even though new requests are already refused: badger must not be
// closed under it (its files are memory-mapped, so reading a closed
// database crashes the process).
func TestReaderOutlivesStop1(t *testing.T) {
	s := newRawStore(t)
	cf := engine_util.CfDefault
	model := newRawModel()
	for i := 0; i < 200; i++ {
		key := []byte(fmt.Sprintf("key%03d", i))
		value := concurrentValue(key, i)
		mustRawPut(t, s.server, cf, key, value)
		model[cf][string(key)] = value
	}
	s.restart() // the data now lives in memory-mapped tables, not in the memtable

	reader, err := s.storage.Reader(nil)
	if err != nil {
		t.Fatalf("Reader: %v", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.storage.Stop() }()
	waitUntilRefused(t, s.server)

	got := newRawModel()
	iter := reader.IterCF(cf)
	for iter.Seek(nil); iter.Valid(); iter.Next() {
		value, err := iter.Item().ValueCopy(nil)
		if err != nil {
			t.Fatalf("read %q through a reader opened before Stop: %v", iter.Item().Key(), err)
		}
		got[cf][string(iter.Item().KeyCopy(nil))] = value
	}
	iter.Close()
	if value, err := reader.GetCF(cf, []byte("key007")); err != nil || !bytes.Equal(value, model[cf]["key007"]) {
		t.Errorf("GetCF through a reader opened before Stop = %q, %v; want %q", value, err, model[cf]["key007"])
	}
	reader.Close()
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	if diff := diffModels(model, got); diff != "" {
		t.Errorf("a reader opened before Stop saw: %s", diff)
	}
}

// waitUntilRefused sends gets until the server refuses one: the storage has
// begun to stop.
func waitUntilRefused(t testing.TB, srv *Server) {
	t.Helper()
	for {
		resp, err := srv.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: engine_util.CfDefault, Key: []byte("key000")})
		if err != nil {
			t.Fatalf("RawGet while stopping: want success or an Error in the response, got gRPC error %v", err)
		}
		if resp.GetError() != "" {
			return
		}
		runtime.Gosched()
	}
}

// A reader that is never closed (course tests' helpers leave theirs open)
// delays Stop by a grace period at most; it does not keep it waiting.
func TestLeakedReaderDoesNotBlockStop1(t *testing.T) {
	s := newRawStore(t)
	mustRawPut(t, s.server, engine_util.CfDefault, []byte("k"), []byte("v"))
	reader, err := s.storage.Reader(nil)
	if err != nil {
		t.Fatalf("Reader: %v", err)
	}
	if value, err := reader.GetCF(engine_util.CfDefault, []byte("k")); err != nil || string(value) != "v" {
		t.Fatalf("GetCF = %q, %v; want \"v\"", value, err)
	}
	iter := reader.IterCF(engine_util.CfDefault)
	iter.Close()

	stopped := make(chan error, 1)
	go func() { stopped <- s.storage.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop with a reader left open: %v", err)
		}
	case <-time.After(processTimeout):
		t.Fatalf("Stop with a reader left open did not return within %v", processTimeout)
	}
}
