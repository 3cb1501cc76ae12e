package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
)

// oneStore is a scheduler that knows one store (a real gRPC server over
// MemStorage on a loopback port) holding one region over all keys.
type oneStore struct {
	addr string
	mu   sync.Mutex
	ts   uint64
}

var wholeRegion = &metapb.Region{Id: 2, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 3, StoreId: 1}}}

func (s *oneStore) GetRegion(context.Context, []byte) (*metapb.Region, *metapb.Peer, error) {
	return wholeRegion, wholeRegion.Peers[0], nil
}

func (s *oneStore) GetStore(_ context.Context, id uint64) (*metapb.Store, error) {
	return &metapb.Store{Id: id, Address: s.addr}, nil
}

func (s *oneStore) GetTS(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ts += 1 << 18
	return s.ts, nil
}

func (s *oneStore) GetAllStores(context.Context, bool) ([]*metapb.Store, error) {
	return []*metapb.Store{{Id: 1, Address: s.addr}}, nil
}

func (s *oneStore) ScanRegions(context.Context, []byte, []byte, int) ([]*metapb.Region, []*metapb.Peer, error) {
	return []*metapb.Region{wholeRegion}, []*metapb.Peer{wholeRegion.Peers[0]}, nil
}

func (s *oneStore) GetOperator(_ context.Context, id uint64) (*schedulerpb.GetOperatorResponse, error) {
	return &schedulerpb.GetOperatorResponse{RegionId: id, Desc: []byte("add peer 4 on store 2"), Kind: []byte("region"), Status: schedulerpb.OperatorStatus_RUNNING}, nil
}

func (s *oneStore) Close() {}

func startOneStore(t *testing.T) connectFunc {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	tinykvpb.RegisterTinyKvServer(srv, server.NewServer(storage.NewMemStorage()))
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	admin := &oneStore{addr: l.Addr().String()}
	return func(context.Context, string) (Admin, error) { return admin, nil }
}

func ctl(t *testing.T, connect connectFunc, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut, connect)
	return out.String(), errOut.String(), code
}

func mustCtl(t *testing.T, connect connectFunc, args ...string) string {
	t.Helper()
	out, errOut, code := ctl(t, connect, args...)
	if code != exitOK {
		t.Fatalf("tinykv-ctl %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

func TestCtlRawAndTxnCommands(t *testing.T) {
	connect := startOneStore(t)
	mustCtl(t, connect, "put", "greeting", "hello")
	mustCtl(t, connect, "put", "b", "2")
	if out := mustCtl(t, connect, "get", "greeting"); out != "hello\n" {
		t.Fatalf("get greeting printed %q, want hello", out)
	}
	if out := mustCtl(t, connect, "scan", "-limit", "5", ""); out != "b\t2\ngreeting\thello\n" {
		t.Fatalf("scan printed %q", out)
	}
	mustCtl(t, connect, "delete", "b")
	if _, errOut, code := ctl(t, connect, "get", "b"); code != exitNotFound || !strings.Contains(errOut, "not found") {
		t.Fatalf("get of a deleted key: exit %d, stderr %q; want exit %d and 'not found'", code, errOut, exitNotFound)
	}
	if out := mustCtl(t, connect, "txn", "put", "x", "1", "y", "2"); !strings.Contains(out, "committed") {
		t.Fatalf("txn put printed %q, want the commit ts", out)
	}
	if out := mustCtl(t, connect, "txn", "get", "y"); out != "2\n" {
		t.Fatalf("txn get y printed %q, want 2", out)
	}
	if out, _, code := ctl(t, connect, "txn", "get", "-ts", "1", "y"); out != "" || code != exitNotFound {
		t.Fatalf("txn get at ts 1 (before the commit) printed %q, exit %d; want nothing, exit %d", out, code, exitNotFound)
	}
	mustCtl(t, connect, "txn", "delete", "x")
	if out := mustCtl(t, connect, "txn", "scan", ""); out != "y\t2\n" {
		t.Fatalf("txn scan after deleting x printed %q, want only y", out)
	}
	if out := mustCtl(t, connect, "tso"); !strings.Contains(out, "physical") {
		t.Fatalf("tso printed %q", out)
	}
}

func TestCtlClusterState(t *testing.T) {
	connect := startOneStore(t)
	mustCtl(t, connect, "put", "k", "0123456789")
	out := mustCtl(t, connect, "regions")
	if !strings.Contains(out, "LEADER") || !strings.Contains(out, "3@1") || !strings.Contains(out, "11B") || !strings.Contains(out, "-inf") {
		t.Fatalf("regions printed\n%s\nwant a table with region 2, peer 3@1 as leader, size 11B", out)
	}
	var rows []regionRow
	if err := json.Unmarshal([]byte(mustCtl(t, connect, "-json", "regions")), &rows); err != nil || len(rows) != 1 || rows[0].ID != 2 || *rows[0].Size != 11 {
		t.Fatalf("regions -json = %+v, %v; want one region 2 of size 11", rows, err)
	}
	if out := mustCtl(t, connect, "region", "k"); !strings.Contains(out, "3@1") {
		t.Fatalf("region k printed %q", out)
	}
	if out := mustCtl(t, connect, "stores"); !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("stores printed %q", out)
	}
	if out := mustCtl(t, connect, "operator", "2"); !strings.Contains(out, "add peer 4 on store 2") {
		t.Fatalf("operator 2 printed %q", out)
	}
}

func TestCtlBadCommandLines(t *testing.T) {
	never := func(context.Context, string) (Admin, error) {
		t.Fatalf("a bad command line connected to the scheduler")
		return nil, nil
	}
	for _, args := range [][]string{{}, {"frob"}, {"get"}, {"put", "k"}, {"txn"}, {"txn", "put", "k"}, {"txn", "frob"},
		{"scan", "-limit", "0", "a"}, {"operator", "x"}, {"-nope", "get", "k"}, {"stores", "extra"}} {
		if _, errOut, code := ctl(t, never, args...); code != exitUsage || errOut == "" {
			t.Errorf("tinykv-ctl %q: exit %d, stderr %q; want exit %d with a message", args, code, errOut, exitUsage)
		}
	}
	out, _, code := ctl(t, never, "-h")
	for _, cmd := range []string{"get", "put", "delete", "scan", "txn get", "txn put", "txn delete", "tso", "stores", "regions", "region KEY", "operator", "-scheduler"} {
		if code != exitOK || !strings.Contains(out, cmd) {
			t.Errorf("tinykv-ctl -h (exit %d) does not document %q", code, cmd)
		}
	}
}
