package server

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// countingStorage counts the readers its users open and have not closed.
type countingStorage struct {
	storage.Storage
	open atomic.Int64
}

func (s *countingStorage) Reader(ctx *kvrpcpb.Context) (storage.StorageReader, error) {
	r, err := s.Storage.Reader(ctx)
	if err != nil {
		return nil, err
	}
	s.open.Add(1)
	return &countedReader{StorageReader: r, storage: s}, nil
}

type countedReader struct {
	storage.StorageReader
	storage *countingStorage
	closed  bool
}

func (r *countedReader) Close() {
	if !r.closed {
		r.closed = true
		r.storage.open.Add(-1)
	}
	r.StorageReader.Close()
}

// Every handler closes the readers it opens, on success and on error: an
// open reader pins a badger transaction, and a Stop waits for it.
func TestRawHandlersCloseTheirReaders1(t *testing.T) {
	s := newRawStore(t)
	seedEveryCF(t, s.server)
	counted := &countingStorage{Storage: s.storage}
	srv := NewServer(counted)
	cf := engine_util.CfDefault
	if value, found := mustRawGet(t, srv, cf, []byte("seeded")); !found || string(value) != "original default" {
		t.Fatalf("RawGet(seeded) = %q (found %v), want %q", value, found, "original default")
	}
	for _, call := range []rawCall{
		rawGetCall("get of a key", cf, []byte("seeded")),
		rawGetCall("get of a missing key", cf, []byte("missing")),
		rawGetCall("get of an unknown column family", "nope", []byte("seeded")),
		rawPutCall("put", cf, []byte("k"), []byte("v")),
		rawDeleteCall("delete", cf, []byte("k")),
		rawScanCall("scan", cf, nil, 10),
		rawScanCall("scan past the end", cf, []byte{0xff, 0xff}, 10),
		rawScanCall("scan of an unknown column family", "nope", nil, 10),
	} {
		call.send(srv)
		if n := counted.open.Load(); n != 0 {
			t.Errorf("%s: %d reader(s) left open after the handler returned, want every reader closed", call.name, n)
			counted.open.Store(0)
		}
	}
}

// Stop refuses new requests at once but waits (a while) for the readers
// already open: badger unmaps its files when it closes, and a reader in use
// must not read unmapped memory.
func TestRawStopWaitsForOpenReaders1(t *testing.T) {
	s := newRawStore(t)
	seedEveryCF(t, s.server)
	r, err := s.storage.Reader(nil)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.storage.Stop() }()
	select {
	case err := <-stopped:
		r.Close()
		t.Fatalf("Stop returned (err %v) while a reader was open and in use: it must wait for open readers", err)
	case <-time.After(300 * time.Millisecond):
	}
	value, err := r.GetCF(engine_util.CfDefault, []byte("seeded"))
	if err != nil || string(value) != "original default" {
		t.Errorf("a reader opened before Stop, read during Stop: %q, %v; want %q", value, err, "original default")
	}
	r.Close()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return within 10 s of the last reader closing")
	}
}
