package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bad transactional requests get a clear error and write nothing.

// txnBadCall is one bad request and the text its error must contain.
type txnBadCall struct {
	name string
	want string
	call func(srv *server.Server) (errText string, err error)
}

var (
	txnBigKey   = bytes.Repeat([]byte("k"), server.MaxKeySize+1)
	txnBigValue = bytes.Repeat([]byte("v"), server.MaxValueSize+1)
)

func txnPrewriteCall(name, want string, req *kvrpcpb.PrewriteRequest) txnBadCall {
	return txnBadCall{name, want, func(srv *server.Server) (string, error) {
		resp, err := srv.KvPrewrite(nil, req)
		if resp == nil || len(resp.Errors) != 1 {
			return "", err
		}
		return resp.Errors[0].Abort, err
	}}
}

func txnCommitCall(name, want string, req *kvrpcpb.CommitRequest) txnBadCall {
	return txnBadCall{name, want, func(srv *server.Server) (string, error) {
		resp, err := srv.KvCommit(nil, req)
		return resp.GetError().GetAbort(), err
	}}
}

func txnGoodPrewrite() *kvrpcpb.PrewriteRequest {
	return &kvrpcpb.PrewriteRequest{
		Mutations:    []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: []byte("v")}},
		PrimaryLock:  []byte("k"),
		StartVersion: 100,
		LockTtl:      10,
	}
}

func txnBadPrewrite(change func(req *kvrpcpb.PrewriteRequest)) *kvrpcpb.PrewriteRequest {
	req := txnGoodPrewrite()
	change(req)
	return req
}

func txnBadCalls4B() []txnBadCall {
	return []txnBadCall{
		{"get empty key", "empty key", func(srv *server.Server) (string, error) {
			resp, err := srv.KvGet(nil, &kvrpcpb.GetRequest{Version: 5})
			return resp.GetError().GetAbort(), err
		}},
		{"get oversized key", "larger than the limit", func(srv *server.Server) (string, error) {
			resp, err := srv.KvGet(nil, &kvrpcpb.GetRequest{Key: txnBigKey, Version: 5})
			return resp.GetError().GetAbort(), err
		}},
		txnPrewriteCall("prewrite start ts 0", "start version is 0", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) { req.StartVersion = 0 })),
		txnPrewriteCall("prewrite missing primary", "primary lock: empty key", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) { req.PrimaryLock = nil })),
		txnPrewriteCall("prewrite op Rollback", "op Rollback is not supported", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) {
			req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Rollback, Key: []byte("x")})
		})),
		txnPrewriteCall("prewrite op Lock", "op Lock is not supported", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) { req.Mutations[0].Op = kvrpcpb.Op_Lock })),
		txnPrewriteCall("prewrite unknown op", "op 42 is not supported", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) { req.Mutations[0].Op = 42 })),
		txnPrewriteCall("prewrite empty key", `mutation 1 (key ""): empty key`, txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) {
			req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put})
		})),
		txnPrewriteCall("prewrite missing mutation", "mutation 1 is missing", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) {
			req.Mutations = append(req.Mutations, nil)
		})),
		txnPrewriteCall("prewrite oversized value", "larger than the limit", txnBadPrewrite(func(req *kvrpcpb.PrewriteRequest) { req.Mutations[0].Value = txnBigValue })),
		txnCommitCall("commit start ts 0", "start version is 0", &kvrpcpb.CommitRequest{CommitVersion: 5, Keys: [][]byte{[]byte("k")}}),
		txnCommitCall("commit ts equal to start ts", "commit version 100 is not after start version 100",
			&kvrpcpb.CommitRequest{StartVersion: 100, CommitVersion: 100, Keys: [][]byte{[]byte("k")}}),
		txnCommitCall("commit ts before start ts", "commit version 0 is not after start version 100",
			&kvrpcpb.CommitRequest{StartVersion: 100, Keys: [][]byte{[]byte("k")}}),
		txnCommitCall("commit empty key", "key 1: empty key",
			&kvrpcpb.CommitRequest{StartVersion: 100, CommitVersion: 110, Keys: [][]byte{[]byte("k"), nil}}),
	}
}

func txnBadCalls4C() []txnBadCall {
	return []txnBadCall{
		{"rollback start ts 0", "start version is 0", func(srv *server.Server) (string, error) {
			resp, err := srv.KvBatchRollback(nil, &kvrpcpb.BatchRollbackRequest{Keys: [][]byte{[]byte("k")}})
			return resp.GetError().GetAbort(), err
		}},
		{"rollback empty key", "key 0: empty key", func(srv *server.Server) (string, error) {
			resp, err := srv.KvBatchRollback(nil, &kvrpcpb.BatchRollbackRequest{StartVersion: 100, Keys: [][]byte{{}}})
			return resp.GetError().GetAbort(), err
		}},
		{"resolve commit before start", "commit version 90 is not after start version 100", func(srv *server.Server) (string, error) {
			resp, err := srv.KvResolveLock(nil, &kvrpcpb.ResolveLockRequest{StartVersion: 100, CommitVersion: 90})
			return resp.GetError().GetAbort(), err
		}},
		{"check status missing primary", "empty key", func(srv *server.Server) (string, error) {
			return txnStatusError(srv.KvCheckTxnStatus(nil, &kvrpcpb.CheckTxnStatusRequest{LockTs: 100, CurrentTs: 200}))
		}},
		{"check status lock ts 0", "lock ts is 0", func(srv *server.Server) (string, error) {
			return txnStatusError(srv.KvCheckTxnStatus(nil, &kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), CurrentTs: 200}))
		}},
	}
}

// txnStatusError: a check-status response has no error field, so a bad
// request is a gRPC InvalidArgument.
func txnStatusError(resp *kvrpcpb.CheckTxnStatusResponse, err error) (string, error) {
	if resp != nil || status.Code(err) != codes.InvalidArgument {
		return "", err
	}
	return status.Convert(err).Message(), nil
}

// txnSeed puts a committed value and the locks of txn 100 in place, so a
// bad request has something it could wrongly change.
func txnSeed(mem *storage.MemStorage) [][2][]byte {
	seeded := [][2][]byte{
		{[]byte(engine_util.CfDefault), mvcc.EncodeKey([]byte("k"), 100)},
		{[]byte(engine_util.CfLock), []byte("k")},
		{[]byte(engine_util.CfDefault), mvcc.EncodeKey([]byte("old"), 1)},
		{[]byte(engine_util.CfWrite), mvcc.EncodeKey([]byte("old"), 2)},
	}
	mem.Set(engine_util.CfDefault, seeded[0][1], []byte("v"))
	mem.Set(engine_util.CfLock, seeded[1][1], (&mvcc.Lock{Primary: []byte("k"), Ts: 100, Ttl: 10, Kind: mvcc.WriteKindPut}).ToBytes())
	mem.Set(engine_util.CfDefault, seeded[2][1], []byte("old"))
	mem.Set(engine_util.CfWrite, seeded[3][1], (&mvcc.Write{StartTS: 1, Kind: mvcc.WriteKindPut}).ToBytes())
	return seeded
}

func runTxnBadCalls(t *testing.T, calls []txnBadCall) {
	for _, c := range calls {
		mem := storage.NewMemStorage()
		seeded := txnSeed(mem)
		srv := server.NewServer(mem)
		errText, err := c.call(srv)
		if err != nil {
			t.Errorf("%s: want the error in the response, got the gRPC error %v", c.name, err)
			continue
		}
		if !strings.Contains(errText, c.want) {
			t.Errorf("%s: error %q, want one that says %q", c.name, errText, c.want)
		}
		for _, cf := range engine_util.CFs {
			if want := map[string]int{engine_util.CfDefault: 2, engine_util.CfLock: 1, engine_util.CfWrite: 1}[cf]; mem.Len(cf) != want {
				t.Errorf("%s: %s holds %d keys afterwards, want the %d seeded", c.name, cf, mem.Len(cf), want)
			}
		}
		for _, s := range seeded {
			if mem.HasChanged(string(s[0]), s[1]) {
				t.Errorf("%s: wrote %s key %x", c.name, s[0], s[1])
			}
		}
	}
}

func TestTxnBadInput4B(t *testing.T) {
	runTxnBadCalls(t, txnBadCalls4B())
}

func TestTxnBadInput4C(t *testing.T) {
	runTxnBadCalls(t, txnBadCalls4C())
}

// TestTxnGoodInputAccepted4B: the request the bad ones are made from is
// good, so the errors above come from the changes.
func TestTxnGoodInputAccepted4B(t *testing.T) {
	srv := server.NewServer(storage.NewMemStorage())
	resp, err := srv.KvPrewrite(nil, txnGoodPrewrite())
	if err != nil || resp == nil || len(resp.Errors) != 0 {
		t.Fatalf("good prewrite: %v, %v", resp, err)
	}
	commit, err := srv.KvCommit(nil, &kvrpcpb.CommitRequest{StartVersion: 100, CommitVersion: 110, Keys: [][]byte{[]byte("k")}})
	if err != nil || commit == nil || commit.Error != nil {
		t.Fatalf("good commit: %v, %v", commit, err)
	}
}
