package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// rawOutcome is what a test needs to know of any raw response.
type rawOutcome struct {
	err       error // the gRPC error
	regionErr *errorpb.Error
	msg       string // the response's Error
	data      string // what the response carries besides errors, "" when nothing
}

// rawCall is one request, sent to a server.
type rawCall struct {
	name string
	key  []byte // the key the request names, for MemStorage.HasChanged
	send func(*Server) rawOutcome
}

func rawGetCall(name, cf string, key []byte) rawCall {
	return rawCall{name, key, func(srv *Server) rawOutcome {
		resp, err := srv.RawGet(nil, &kvrpcpb.RawGetRequest{Cf: cf, Key: key})
		out := rawOutcome{err: err, regionErr: resp.GetRegionError(), msg: resp.GetError()}
		if len(resp.GetValue()) > 0 {
			out.data = "a value of " + string(shorten(resp.GetValue()))
		}
		return out
	}}
}

func rawPutCall(name, cf string, key, value []byte) rawCall {
	return rawCall{name, key, func(srv *Server) rawOutcome {
		resp, err := srv.RawPut(nil, &kvrpcpb.RawPutRequest{Cf: cf, Key: key, Value: value})
		return rawOutcome{err: err, regionErr: resp.GetRegionError(), msg: resp.GetError()}
	}}
}

func rawDeleteCall(name, cf string, key []byte) rawCall {
	return rawCall{name, key, func(srv *Server) rawOutcome {
		resp, err := srv.RawDelete(nil, &kvrpcpb.RawDeleteRequest{Cf: cf, Key: key})
		return rawOutcome{err: err, regionErr: resp.GetRegionError(), msg: resp.GetError()}
	}}
}

func rawScanCall(name, cf string, start []byte, limit uint32) rawCall {
	return rawCall{name, start, func(srv *Server) rawOutcome {
		resp, err := srv.RawScan(nil, &kvrpcpb.RawScanRequest{Cf: cf, StartKey: start, Limit: limit})
		out := rawOutcome{err: err, regionErr: resp.GetRegionError(), msg: resp.GetError()}
		if n := len(resp.GetKvs()); n > 0 {
			out.data = "pairs"
		}
		return out
	}}
}

// badRawCalls are requests that must be refused, each with a word its
// Error must contain.
func badRawCalls() []struct {
	call rawCall
	want string
} {
	cf := engine_util.CfDefault
	tooLongKey := bytes.Repeat([]byte("k"), MaxKeySize+1)
	tooLongValue := bytes.Repeat([]byte("v"), MaxValueSize+1)
	seeded := []byte("seeded")
	return []struct {
		call rawCall
		want string
	}{
		{rawGetCall("get from an unknown column family", "nope", seeded), "column family"},
		{rawGetCall("get from the empty column family name", "", seeded), "column family"},
		{rawGetCall("get with a column family in the wrong case", "Default", seeded), "column family"},
		{rawGetCall("get an empty key", cf, nil), "empty key"},
		{rawGetCall("get an oversized key", cf, tooLongKey), "larger than"},
		{rawPutCall("put into an unknown column family", "nope", []byte("new"), []byte("v")), "column family"},
		{rawPutCall("put an empty key", cf, nil, []byte("v")), "empty key"},
		{rawPutCall("put an oversized key", cf, tooLongKey, []byte("v")), "larger than"},
		{rawPutCall("put an oversized value", cf, seeded, tooLongValue), "larger than"},
		{rawDeleteCall("delete from an unknown column family", "nope", seeded), "column family"},
		{rawDeleteCall("delete an empty key", cf, nil), "empty key"},
		{rawDeleteCall("delete an oversized key", cf, tooLongKey), "larger than"},
		{rawScanCall("scan an unknown column family", "nope", nil, 10), "column family"},
		{rawScanCall("scan with limit 0", cf, nil, 0), "scan limit"},
		{rawScanCall("scan with a limit above MaxScanLimit", cf, nil, MaxScanLimit+1), "scan limit"},
		{rawScanCall("scan from an oversized start key", cf, tooLongKey, 10), "larger than"},
	}
}

// seedEveryCF puts the key "seeded" and one other key in each column family.
func seedEveryCF(t testing.TB, srv *Server) {
	t.Helper()
	for _, cf := range engine_util.CFs {
		mustRawPut(t, srv, cf, []byte("seeded"), []byte("original "+cf))
		mustRawPut(t, srv, cf, []byte("other"), []byte("other "+cf))
	}
}

// checkRefused fails the test unless out is a refusal whose Error contains want.
func checkRefused(t testing.TB, name string, out rawOutcome, want string) {
	t.Helper()
	switch {
	case out.err != nil:
		t.Errorf("%s: want an Error in the response, got gRPC error %v", name, out.err)
	case out.regionErr != nil:
		t.Errorf("%s: want an Error in the response, got region error %v", name, out.regionErr)
	case !strings.Contains(out.msg, want):
		t.Errorf("%s: want an Error mentioning %q, got %q", name, want, out.msg)
	case out.data != "":
		t.Errorf("%s: a refused request must carry no result, got %s", name, out.data)
	}
}

func TestRawBadInput1(t *testing.T) {
	s := newRawStore(t)
	seedEveryCF(t, s.server)
	before := dumpStorage(t, s.storage)
	for _, tc := range badRawCalls() {
		checkRefused(t, tc.call.name, tc.call.send(s.server), tc.want)
	}
	if diff := diffModels(before, dumpStorage(t, s.storage)); diff != "" {
		t.Errorf("refused requests changed the storage: %s", diff)
	}
}

// The same refusals hold over MemStorage, which also tells whether a
// request wrote anything at all.
func TestRawBadInputMemStorage1(t *testing.T) {
	mem := storage.NewMemStorage()
	srv := NewServer(mem)
	for _, cf := range engine_util.CFs {
		mem.Set(cf, []byte("seeded"), []byte("original "+cf)) // Set does not count as a change
	}
	for _, tc := range badRawCalls() {
		checkRefused(t, tc.call.name, tc.call.send(srv), tc.want)
		for _, cf := range engine_util.CFs {
			if mem.HasChanged(cf, tc.call.key) {
				t.Errorf("%s: refused request wrote key %q of column family %s", tc.call.name, shorten(tc.call.key), cf)
			}
		}
	}
}

// The limits themselves are accepted: they are limits, not off by one.
func TestRawLimitsAccepted1(t *testing.T) {
	s := newRawStore(t)
	cf := engine_util.CfDefault
	maxKey := bytes.Repeat([]byte{0xff}, MaxKeySize)
	mustRawPut(t, s.server, cf, maxKey, bytes.Repeat([]byte("v"), MaxValueSize))
	mustRawPut(t, s.server, cf, []byte("a"), []byte("1"))
	if kvs := mustRawScan(t, s.server, cf, nil, MaxScanLimit); len(kvs) != 2 {
		t.Errorf("RawScan with limit MaxScanLimit returned %d pairs, want 2", len(kvs))
	}
	if kvs := mustRawScan(t, s.server, cf, maxKey, 1); len(kvs) != 1 || !bytes.Equal(kvs[0].Key, maxKey) {
		t.Errorf("RawScan from a start key of MaxKeySize bytes returned %d pairs, want the one key", len(kvs))
	}
	mustRawDelete(t, s.server, cf, maxKey)
	if _, found := mustRawGet(t, s.server, cf, maxKey); found {
		t.Errorf("RawGet of a deleted key of MaxKeySize bytes found it")
	}
}

// Requests to a stopped storage get an Error and change nothing; once the
// storage starts again, requests work.
func TestRawRequestsAfterStop1(t *testing.T) {
	s := newRawStore(t)
	seedEveryCF(t, s.server)
	before := dumpStorage(t, s.storage)
	s.stop()
	cf := engine_util.CfDefault
	for _, call := range []rawCall{
		rawGetCall("get after stop", cf, []byte("seeded")),
		rawPutCall("put after stop", cf, []byte("seeded"), []byte("changed")),
		rawPutCall("put of a new key after stop", cf, []byte("new"), []byte("v")),
		rawDeleteCall("delete after stop", cf, []byte("other")),
		rawScanCall("scan after stop", cf, nil, 10),
	} {
		out := call.send(s.server)
		if out.err != nil || out.msg == "" || out.data != "" {
			t.Errorf("%s: want an Error in the response and no result, got gRPC error %v, Error %q, result %q",
				call.name, out.err, out.msg, out.data)
		}
	}
	s.start()
	if diff := diffModels(before, dumpStorage(t, s.storage)); diff != "" {
		t.Errorf("requests to a stopped storage changed it: %s", diff)
	}
	mustRawPut(t, s.server, cf, []byte("new"), []byte("v"))
}
