package server

import (
	"context"
	"fmt"

	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/transaction/mvcc"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The functions below are Server's transactional API (project 4): Percolator
// transactions over the MVCC layout of package mvcc. A request that writes
// latches its keys (server.Latches), reads one snapshot through an
// mvcc.MvccTxn, decides, and hands all its changes to storage in one batch,
// so a request that fails writes nothing. Region errors go into RegionError,
// transaction errors into the response's KeyError fields. Responses that
// have no field for an error (scan, check txn status) answer a bad request
// with a gRPC InvalidArgument status.

// KvGet reads the value of a key at req.Version: the newest value committed
// at or before it. A key locked by a transaction that started at or before
// req.Version answers Error.Locked; a key without a value answers NotFound.
func (server *Server) KvGet(_ context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
	// Your Code Here (4B).
	//lab:begin 4B
	resp := &kvrpcpb.GetResponse{}
	if err := checkKey(req.Key); err != nil {
		resp.Error = abortError(err)
		return resp, nil
	}
	reader, err := server.storage.Reader(req.Context)
	if err != nil {
		resp.RegionError, resp.Error = storageFailure(err)
		return resp, nil
	}
	defer reader.Close()
	txn := mvcc.NewMvccTxn(reader, req.Version)
	lock, err := txn.GetLock(req.Key)
	if err != nil {
		resp.RegionError, resp.Error = storageFailure(err)
		return resp, nil
	}
	if lock != nil && lock.Ts <= req.Version {
		resp.Error = &kvrpcpb.KeyError{Locked: lock.Info(req.Key)}
		return resp, nil
	}
	value, err := txn.GetValue(req.Key)
	if err != nil {
		resp.RegionError, resp.Error = storageFailure(err)
		return resp, nil
	}
	resp.Value, resp.NotFound = value, value == nil
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// KvPrewrite is the first phase of a commit: it locks every key of the
// mutations for the transaction starting at req.StartVersion and stores
// their values. A key written by a transaction that committed at or after
// the start is a write conflict; a key locked by another transaction is an
// error too. Any error leaves every key as it was; Errors lists them.
func (server *Server) KvPrewrite(_ context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
	// Your Code Here (4B).
	//lab:begin 4B
	resp := &kvrpcpb.PrewriteResponse{}
	if err := checkPrewrite(req); err != nil {
		resp.Errors = []*kvrpcpb.KeyError{abortError(err)}
		return resp, nil
	}
	keys := mutationKeys(req.Mutations)
	txn, done, err := server.beginLatched(req.Context, keys, req.StartVersion)
	if err != nil {
		regionErr, keyErr := storageFailure(err)
		resp.RegionError, resp.Errors = regionErr, keyErrors(keyErr)
		return resp, nil
	}
	defer done()
	for _, mut := range req.Mutations {
		keyErr, err := prewriteMutation(txn, mut, req.PrimaryLock, req.LockTtl)
		if err != nil {
			regionErr, keyErr := storageFailure(err)
			resp.RegionError, resp.Errors = regionErr, keyErrors(keyErr)
			return resp, nil
		}
		if keyErr != nil {
			resp.Errors = append(resp.Errors, keyErr)
		}
	}
	if len(resp.Errors) > 0 {
		return resp, nil
	}
	if err := server.writeTxn(req.Context, txn, keys); err != nil {
		regionErr, keyErr := storageFailure(err)
		resp.RegionError, resp.Errors = regionErr, keyErrors(keyErr)
	}
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// KvCommit is the second phase: it commits the keys the transaction
// starting at req.StartVersion prewrote, at req.CommitVersion. Keys already
// committed by it, or never prewritten, need nothing. A key the transaction
// was rolled back on, or that another transaction has locked instead, fails
// the whole request with nothing written.
func (server *Server) KvCommit(_ context.Context, req *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error) {
	// Your Code Here (4B).
	//lab:begin 4B
	resp := &kvrpcpb.CommitResponse{}
	if err := firstError(checkTs("start version", req.StartVersion), checkCommitTs(req.StartVersion, req.CommitVersion), checkKeys(req.Keys)); err != nil {
		resp.Error = abortError(err)
		return resp, nil
	}
	commit := func(txn *mvcc.MvccTxn, key []byte) (*kvrpcpb.KeyError, error) {
		return commitKey(txn, key, req.CommitVersion)
	}
	resp.RegionError, resp.Error = server.settleKeys(req.Context, req.StartVersion, uniqueKeys(req.Keys), commit)
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// KvScan reads up to req.Limit pairs in key order from req.StartKey at
// req.Version, as KvGet would read each key. A locked key gives a pair with
// its Error instead of a value. A limit of 0 reads nothing; a limit above
// MaxScanLimit reads MaxScanLimit pairs at most.
func (server *Server) KvScan(_ context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
	// Your Code Here (4C).
	//lab:begin 4C
	resp := &kvrpcpb.ScanResponse{}
	limit := min(int(req.Limit), MaxScanLimit)
	if limit == 0 {
		return resp, nil
	}
	reader, err := server.storage.Reader(req.Context)
	if err != nil {
		return failScan(err)
	}
	defer reader.Close()
	scanner := mvcc.NewScanner(req.StartKey, mvcc.NewMvccTxn(reader, req.Version))
	defer scanner.Close()
	for len(resp.Pairs) < limit {
		key, value, err := scanner.Next()
		if locked, ok := err.(*mvcc.KeyLockedError); ok {
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: key, Error: locked.KeyError()})
			continue
		}
		if err != nil {
			return failScan(err)
		}
		if key == nil {
			break
		}
		resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: key, Value: value})
	}
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// KvCheckTxnStatus reports the fate of the transaction that started at
// req.LockTs, as recorded on its primary key, and settles it when its client
// is gone: a lock whose TTL has expired at req.CurrentTs is rolled back
// (TTLExpireRollback), and a primary that was never locked gets a rollback
// record so that a late prewrite cannot lock it (LockNotExistRollback). A
// committed transaction answers its CommitVersion; a live lock its LockTtl.
func (server *Server) KvCheckTxnStatus(_ context.Context, req *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error) {
	// Your Code Here (4C).
	//lab:begin 4C
	resp := &kvrpcpb.CheckTxnStatusResponse{}
	if err := firstError(checkKey(req.PrimaryKey), checkTs("lock ts", req.LockTs)); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "check txn status: %v", err)
	}
	keys := [][]byte{req.PrimaryKey}
	txn, done, err := server.beginLatched(req.Context, keys, req.LockTs)
	if err != nil {
		return failCheckTxnStatus(err)
	}
	defer done()
	write, commitTs, err := txn.CurrentWrite(req.PrimaryKey)
	if err != nil {
		return failCheckTxnStatus(err)
	}
	if write != nil {
		if write.Kind != mvcc.WriteKindRollback {
			resp.CommitVersion = commitTs
		}
		resp.Action = kvrpcpb.Action_NoAction
		return resp, nil
	}
	lock, err := txn.GetLock(req.PrimaryKey)
	if err != nil {
		return failCheckTxnStatus(err)
	}
	switch {
	case lock == nil || lock.Ts != req.LockTs:
		rollbackKey(txn, req.PrimaryKey, lock)
		resp.Action = kvrpcpb.Action_LockNotExistRollback
	case lock.IsExpired(req.CurrentTs):
		rollbackKey(txn, req.PrimaryKey, lock)
		resp.Action = kvrpcpb.Action_TTLExpireRollback
	default:
		resp.LockTtl = lock.Ttl
		resp.Action = kvrpcpb.Action_NoAction
	}
	if err := server.writeTxn(req.Context, txn, keys); err != nil {
		return failCheckTxnStatus(err)
	}
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// KvBatchRollback rolls back the transaction starting at req.StartVersion on
// every key of req.Keys: its lock and value go, and a rollback record stays,
// so that a late prewrite of the transaction fails. A key the transaction
// already committed fails the request with nothing written. Another
// transaction's lock on a key is left alone.
func (server *Server) KvBatchRollback(_ context.Context, req *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error) {
	// Your Code Here (4C).
	//lab:begin 4C
	resp := &kvrpcpb.BatchRollbackResponse{}
	if err := firstError(checkTs("start version", req.StartVersion), checkKeys(req.Keys)); err != nil {
		resp.Error = abortError(err)
		return resp, nil
	}
	resp.RegionError, resp.Error = server.settleKeys(req.Context, req.StartVersion, uniqueKeys(req.Keys), rollbackUnlessCommitted)
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// KvResolveLock settles every lock of the transaction starting at
// req.StartVersion in the region: it commits them at req.CommitVersion, or
// rolls them back when that is 0. Clients call it once they learnt the
// transaction's fate from its primary (KvCheckTxnStatus). A request that
// matches no lock (start version 0 included) succeeds and writes nothing.
func (server *Server) KvResolveLock(_ context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
	// Your Code Here (4C).
	//lab:begin 4C
	resp := &kvrpcpb.ResolveLockResponse{}
	keys, err := server.lockedKeys(req.Context, req.StartVersion)
	if err != nil || len(keys) == 0 {
		resp.RegionError, resp.Error = storageFailure(err)
		return resp, nil
	}
	settle := rollbackUnlessCommitted
	if req.CommitVersion != 0 {
		if err := checkCommitTs(req.StartVersion, req.CommitVersion); err != nil {
			resp.Error = abortError(err)
			return resp, nil
		}
		settle = func(txn *mvcc.MvccTxn, key []byte) (*kvrpcpb.KeyError, error) {
			return commitKey(txn, key, req.CommitVersion)
		}
	}
	// The locks were found without latches: settleKeys checks each again.
	resp.RegionError, resp.Error = server.settleKeys(req.Context, req.StartVersion, keys, settle)
	return resp, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

//lab:begin 4B

// beginLatched latches keys, then opens a snapshot for a txn at startTs (in
// this order, so the snapshot holds every write of the latches' previous
// holders). done closes the snapshot and releases the latches.
func (server *Server) beginLatched(ctx *kvrpcpb.Context, keys [][]byte, startTs uint64) (txn *mvcc.MvccTxn, done func(), err error) {
	server.Latches.WaitForLatches(keys)
	reader, err := server.storage.Reader(ctx)
	if err != nil {
		server.Latches.ReleaseLatches(keys)
		return nil, nil, err
	}
	done = func() {
		reader.Close()
		server.Latches.ReleaseLatches(keys)
	}
	return mvcc.NewMvccTxn(reader, startTs), done, nil
}

// settleKeys runs settle on every key in one txn at startTs, under latches,
// and writes the txn's changes once every key succeeded. It returns what
// the response reports: a region error, or the first key's error.
func (server *Server) settleKeys(ctx *kvrpcpb.Context, startTs uint64, keys [][]byte,
	settle func(txn *mvcc.MvccTxn, key []byte) (*kvrpcpb.KeyError, error)) (*errorpb.Error, *kvrpcpb.KeyError) {
	txn, done, err := server.beginLatched(ctx, keys, startTs)
	if err != nil {
		return storageFailure(err)
	}
	defer done()
	for _, key := range keys {
		keyErr, err := settle(txn, key)
		if err != nil {
			return storageFailure(err)
		}
		if keyErr != nil {
			return nil, keyErr
		}
	}
	return storageFailure(server.writeTxn(ctx, txn, keys))
}

// writeTxn writes the changes of txn in one batch, after the latch
// validation hook has seen them.
func (server *Server) writeTxn(ctx *kvrpcpb.Context, txn *mvcc.MvccTxn, latched [][]byte) error {
	server.Latches.Validate(txn, latched)
	if len(txn.Writes()) == 0 {
		return nil
	}
	return server.storage.Write(ctx, txn.Writes())
}

// prewriteMutation locks mut.Key for txn and stages its value, or returns
// why it cannot.
func prewriteMutation(txn *mvcc.MvccTxn, mut *kvrpcpb.Mutation, primary []byte, ttl uint64) (*kvrpcpb.KeyError, error) {
	// Any record at or after the start ts (even this transaction's own
	// rollback) means someone else decided about the key after we started.
	_, commitTs, err := txn.MostRecentWrite(mut.Key)
	if err != nil {
		return nil, err
	}
	if commitTs >= txn.StartTS {
		return &kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{
			StartTs:    txn.StartTS,
			ConflictTs: commitTs,
			Key:        mut.Key,
			Primary:    primary,
		}}, nil
	}
	lock, err := txn.GetLock(mut.Key)
	if err != nil {
		return nil, err
	}
	if lock != nil && lock.Ts != txn.StartTS {
		return &kvrpcpb.KeyError{Locked: lock.Info(mut.Key)}, nil
	}
	kind, err := mvcc.WriteKindFromProto(mut.Op)
	if err != nil {
		return abortError(err), nil
	}
	txn.PutLock(mut.Key, &mvcc.Lock{Primary: primary, Ts: txn.StartTS, Ttl: ttl, Kind: kind})
	if kind == mvcc.WriteKindPut {
		txn.PutValue(mut.Key, mut.Value)
	} else {
		// A repeated prewrite may turn an earlier Put of this transaction
		// into a Delete: its value must not outlive it.
		txn.DeleteValue(mut.Key)
	}
	return nil, nil
}

// commitKey commits txn's lock on key at commitTs. A key the transaction
// committed already, or never locked, needs nothing.
func commitKey(txn *mvcc.MvccTxn, key []byte, commitTs uint64) (*kvrpcpb.KeyError, error) {
	lock, err := txn.GetLock(key)
	if err != nil {
		return nil, err
	}
	if lock != nil && lock.Ts == txn.StartTS {
		txn.PutWrite(key, commitTs, &mvcc.Write{StartTS: txn.StartTS, Kind: lock.Kind})
		txn.DeleteLock(key)
		return nil, nil
	}
	write, _, err := txn.CurrentWrite(key)
	if err != nil {
		return nil, err
	}
	switch {
	case write != nil && write.Kind == mvcc.WriteKindRollback:
		return &kvrpcpb.KeyError{Abort: fmt.Sprintf("transaction %d was rolled back on key %x and cannot commit", txn.StartTS, key)}, nil
	case write != nil:
		return nil, nil
	case lock != nil:
		return &kvrpcpb.KeyError{Retryable: fmt.Sprintf("key %x is locked by transaction %d, not by transaction %d", key, lock.Ts, txn.StartTS)}, nil
	}
	return nil, nil
}

// checkPrewrite checks a prewrite request before it touches anything.
func checkPrewrite(req *kvrpcpb.PrewriteRequest) error {
	if err := checkTs("start version", req.StartVersion); err != nil {
		return err
	}
	if err := checkKey(req.PrimaryLock); err != nil {
		return fmt.Errorf("primary lock: %v", err)
	}
	for i, mut := range req.Mutations {
		if mut == nil {
			return fmt.Errorf("mutation %d is missing", i)
		}
		_, err := mvcc.WriteKindFromProto(mut.Op)
		if err = firstError(checkKey(mut.Key), checkValue(mut.Value), err); err != nil {
			return fmt.Errorf("mutation %d (key %q): %v", i, mut.Key, err)
		}
	}
	return nil
}

// checkTs rejects timestamp 0, which no transaction can have.
func checkTs(name string, ts uint64) error {
	if ts == 0 {
		return fmt.Errorf("%s is 0, not a valid timestamp", name)
	}
	return nil
}

// checkCommitTs rejects a commit that is not after its start.
func checkCommitTs(startTs, commitTs uint64) error {
	if commitTs <= startTs {
		return fmt.Errorf("commit version %d is not after start version %d", commitTs, startTs)
	}
	return nil
}

// checkKeys checks every key of a request.
func checkKeys(keys [][]byte) error {
	for i, key := range keys {
		if err := checkKey(key); err != nil {
			return fmt.Errorf("key %d: %v", i, err)
		}
	}
	return nil
}

func mutationKeys(muts []*kvrpcpb.Mutation) [][]byte {
	keys := make([][]byte, 0, len(muts))
	for _, mut := range muts {
		keys = append(keys, mut.Key)
	}
	return keys
}

// uniqueKeys drops repeated keys, keeping the first of each.
func uniqueKeys(keys [][]byte) [][]byte {
	seen := make(map[string]bool, len(keys))
	unique := make([][]byte, 0, len(keys))
	for _, key := range keys {
		if !seen[string(key)] {
			seen[string(key)] = true
			unique = append(unique, key)
		}
	}
	return unique
}

func abortError(err error) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Abort: err.Error()}
}

// storageFailure sorts a storage error into a region error or an aborting
// key error; a nil error gives neither.
func storageFailure(err error) (*errorpb.Error, *kvrpcpb.KeyError) {
	if err == nil {
		return nil, nil
	}
	regionErr, msg := splitError(err)
	if regionErr != nil {
		return regionErr, nil
	}
	return nil, &kvrpcpb.KeyError{Abort: msg}
}

// keyErrors is the Errors field of a prewrite that failed with keyErr.
func keyErrors(keyErr *kvrpcpb.KeyError) []*kvrpcpb.KeyError {
	if keyErr == nil {
		return nil
	}
	return []*kvrpcpb.KeyError{keyErr}
}

//lab:end

//lab:begin 4C

// rollbackKey removes txn's lock (when lock is it) and value on key and
// leaves a rollback record at the start ts.
func rollbackKey(txn *mvcc.MvccTxn, key []byte, lock *mvcc.Lock) {
	if lock != nil && lock.Ts == txn.StartTS {
		txn.DeleteLock(key)
		txn.DeleteValue(key)
	}
	txn.PutWrite(key, txn.StartTS, &mvcc.Write{StartTS: txn.StartTS, Kind: mvcc.WriteKindRollback})
}

// rollbackUnlessCommitted rolls txn back on key, unless it committed there
// (an error) or was rolled back already (nothing to do).
func rollbackUnlessCommitted(txn *mvcc.MvccTxn, key []byte) (*kvrpcpb.KeyError, error) {
	write, commitTs, err := txn.CurrentWrite(key)
	if err != nil {
		return nil, err
	}
	if write != nil {
		if write.Kind == mvcc.WriteKindRollback {
			return nil, nil
		}
		return &kvrpcpb.KeyError{Abort: fmt.Sprintf("transaction %d committed on key %x at %d and cannot roll back", txn.StartTS, key, commitTs)}, nil
	}
	lock, err := txn.GetLock(key)
	if err != nil {
		return nil, err
	}
	rollbackKey(txn, key, lock)
	return nil, nil
}

// lockedKeys lists the keys locked by the transaction starting at startTs.
func (server *Server) lockedKeys(ctx *kvrpcpb.Context, startTs uint64) ([][]byte, error) {
	reader, err := server.storage.Reader(ctx)
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	return locksOfTxn(reader, startTs)
}

func locksOfTxn(reader storage.StorageReader, startTs uint64) ([][]byte, error) {
	iter := reader.IterCF(engine_util.CfLock)
	defer iter.Close()
	var keys [][]byte
	for iter.Seek(nil); iter.Valid(); iter.Next() {
		item := iter.Item()
		value, err := item.Value()
		if err != nil {
			return nil, err
		}
		lock, err := mvcc.ParseLock(value)
		if err != nil {
			return nil, fmt.Errorf("lock of key %x: %v", item.Key(), err)
		}
		if lock.Ts == startTs {
			keys = append(keys, item.KeyCopy(nil))
		}
	}
	return keys, nil
}

// failScan answers a scan whose storage failed: with a region error when
// the client can retry elsewhere, else with a gRPC error.
func failScan(err error) (*kvrpcpb.ScanResponse, error) {
	regionErr, msg := splitError(err)
	if regionErr != nil {
		return &kvrpcpb.ScanResponse{RegionError: regionErr}, nil
	}
	return nil, status.Errorf(codes.Unavailable, "scan: %s", msg)
}

// failCheckTxnStatus is failScan for KvCheckTxnStatus.
func failCheckTxnStatus(err error) (*kvrpcpb.CheckTxnStatusResponse, error) {
	regionErr, msg := splitError(err)
	if regionErr != nil {
		return &kvrpcpb.CheckTxnStatusResponse{RegionError: regionErr}, nil
	}
	return nil, status.Errorf(codes.Unavailable, "check txn status: %s", msg)
}

//lab:end
