// Package txntest drives the transactional API the way a client does, for
// tests: a timestamp oracle with a virtual clock (Oracle), a client that
// runs Percolator's two-phase commit and resolves the locks it meets
// (Client, Txn), and the bank workload (RunBank), which moves money between
// accounts from many clients at once, abandons some transactions half way,
// and checks at every snapshot that no money appeared or vanished.
//
// Everything here talks to the seven Kv* handlers only, so the same code
// checks a Server over MemStorage, over standalone storage or over a raft
// cluster (give it a Router that names each key's region).
package txntest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// TxnKV is the transactional API of a store; *server.Server implements it.
type TxnKV interface {
	KvGet(context.Context, *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error)
	KvScan(context.Context, *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error)
	KvPrewrite(context.Context, *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error)
	KvCommit(context.Context, *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error)
	KvCheckTxnStatus(context.Context, *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error)
	KvBatchRollback(context.Context, *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error)
	KvResolveLock(context.Context, *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error)
}

// Router gives the request context (region, epoch, peer) for a key. It is
// asked again after a region error. nil routes every key to a nil context,
// which is right for a single storage.
type Router func(key []byte) *kvrpcpb.Context

// ErrAborted is returned (wrapped) by Commit when the transaction did not
// commit and never will; running it again as a new transaction is safe.
var ErrAborted = errors.New("transaction aborted")

// errCrashed ends a commit that a test stopped on purpose.
var errCrashed = errors.New("client crashed on purpose")

// Limits that keep a broken store from hanging a test.
const (
	maxRegionRetries = 50
	maxLockRetries   = 5000
	regionBackoff    = 20 * time.Millisecond
	// lockBackoff is the real time a reader gives a live lock's owner to
	// finish before it asks again (and the virtual clock moves on).
	lockBackoff = 50 * time.Microsecond
)

// ResolveStats counts what clients did about other transactions' locks.
type ResolveStats struct {
	Committed  atomic.Int64 // locks committed because their primary was
	RolledBack atomic.Int64 // locks rolled back because their primary was
	Expired    atomic.Int64 // primaries rolled back because their TTL ran out
	Waited     atomic.Int64 // times a reader met a live lock and waited
}

// Client runs transactions against one TxnKV. It is safe for concurrent
// use; clients may share an Oracle and ResolveStats.
type Client struct {
	kv     TxnKV
	oracle *Oracle
	route  Router
	ttl    uint64
	stats  *ResolveStats
}

// NewClient makes a client whose transactions lock keys for ttl
// milliseconds (of the oracle's virtual clock). stats may be shared.
func NewClient(kv TxnKV, oracle *Oracle, route Router, ttl uint64, stats *ResolveStats) *Client {
	if stats == nil {
		stats = new(ResolveStats)
	}
	return &Client{kv: kv, oracle: oracle, route: route, ttl: ttl, stats: stats}
}

// Txn is one transaction: reads at its start ts, buffered writes, and the
// two-phase commit.
type Txn struct {
	c       *Client
	StartTS uint64
	keys    [][]byte // written keys in the order of their first write; keys[0] is the primary
	muts    map[string]*kvrpcpb.Mutation
}

// Begin starts a transaction at a fresh timestamp.
func (c *Client) Begin() *Txn {
	return &Txn{c: c, StartTS: c.oracle.Next(), muts: make(map[string]*kvrpcpb.Mutation)}
}

// Get reads key at the transaction's start ts; nil means no value.
func (txn *Txn) Get(key []byte) ([]byte, error) {
	return txn.c.Get(key, txn.StartTS)
}

// Set buffers a write of key; the first key written is the primary.
func (txn *Txn) Set(key, value []byte) {
	txn.buffer(&kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: key, Value: value})
}

// Delete buffers a delete of key.
func (txn *Txn) Delete(key []byte) {
	txn.buffer(&kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: key})
}

func (txn *Txn) buffer(mut *kvrpcpb.Mutation) {
	if _, seen := txn.muts[string(mut.Key)]; !seen {
		txn.keys = append(txn.keys, mut.Key)
	}
	txn.muts[string(mut.Key)] = mut
}

// CrashPoint is where a client stops in the middle of a commit, leaving its
// locks for others to resolve.
type CrashPoint int

// The places a commit can be stopped at.
const (
	NoCrash                   CrashPoint = iota
	CrashAfterPrimaryPrewrite            // only the primary is locked
	CrashAfterPrewrite                   // every key is locked, nothing committed
	CrashAfterPrimaryCommit              // committed, secondaries still locked
)

func (p CrashPoint) String() string {
	return [...]string{"no crash", "crash after primary prewrite", "crash after prewrite", "crash after primary commit"}[p]
}

// Commit runs the two-phase commit and returns the commit ts. An error
// wrapping ErrAborted means the transaction did not commit; any other
// error means the store broke a rule and the outcome is unknown.
func (txn *Txn) Commit() (uint64, error) {
	return txn.commit(NoCrash)
}

// CommitAndCrash runs the commit up to at and walks away. committed says
// whether the transaction is committed (only possible past its primary's
// commit); the locks it leaves are for other clients to resolve.
func (txn *Txn) CommitAndCrash(at CrashPoint) (committed bool, err error) {
	_, err = txn.commit(at)
	if errors.Is(err, errCrashed) {
		return at == CrashAfterPrimaryCommit, nil
	}
	return false, err
}

func (txn *Txn) commit(crash CrashPoint) (uint64, error) {
	if len(txn.keys) == 0 {
		return txn.StartTS, nil
	}
	primary, secondaries := txn.keys[:1], txn.keys[1:]
	// The primary goes first: whoever meets a secondary lock later asks the
	// primary for the transaction's fate, so it must be locked by then.
	if err := txn.prewrite(primary); err != nil {
		return 0, txn.abortOn(err)
	}
	if crash == CrashAfterPrimaryPrewrite {
		return 0, errCrashed
	}
	if err := txn.prewrite(secondaries); err != nil {
		return 0, txn.abortOn(err)
	}
	if crash == CrashAfterPrewrite {
		return 0, errCrashed
	}
	commitTs := txn.c.oracle.Next()
	if err := txn.commitKeys(primary, commitTs); err != nil {
		return 0, txn.abortOn(err)
	}
	if crash == CrashAfterPrimaryCommit {
		return commitTs, errCrashed
	}
	// Past the primary the transaction is committed: a secondary that fails
	// to commit is a broken store, not an abort.
	if err := txn.commitKeys(secondaries, commitTs); err != nil {
		return 0, fmt.Errorf("txn %d committed at %d but a secondary commit failed: %v", txn.StartTS, commitTs, err)
	}
	return commitTs, nil
}

// abortOn rolls the transaction back after err, when err is an abort.
func (txn *Txn) abortOn(err error) error {
	if !errors.Is(err, ErrAborted) {
		return err
	}
	if rbErr := txn.rollback(); rbErr != nil {
		return rbErr
	}
	return err
}

func (txn *Txn) aborted(format string, args ...interface{}) error {
	return fmt.Errorf("%w: txn %d: %s", ErrAborted, txn.StartTS, fmt.Sprintf(format, args...))
}

// prewrite locks keys. A lock of another transaction gets resolved (so a
// retry can get further) and aborts this one, as does a write conflict.
func (txn *Txn) prewrite(keys [][]byte) error {
	return txn.c.sendByRegion(keys, func(ctx *kvrpcpb.Context, keys [][]byte) (*errorpb.Error, error) {
		req := &kvrpcpb.PrewriteRequest{Context: ctx, PrimaryLock: txn.keys[0], StartVersion: txn.StartTS, LockTtl: txn.c.ttl}
		for _, key := range keys {
			req.Mutations = append(req.Mutations, txn.muts[string(key)])
		}
		resp, err := txn.c.kv.KvPrewrite(nil, req)
		if err = answered("KvPrewrite", resp, err); err != nil {
			return nil, err
		}
		if resp.RegionError != nil || len(resp.Errors) == 0 {
			return resp.RegionError, nil
		}
		keyErr := resp.Errors[0]
		switch {
		case keyErr.Locked != nil:
			if err := txn.c.resolveLock(keyErr.Locked); err != nil {
				return nil, err
			}
			return nil, txn.aborted("prewrite met lock of txn %d on key %x", keyErr.Locked.LockVersion, keyErr.Locked.Key)
		case keyErr.Conflict != nil:
			return nil, txn.aborted("write conflict on key %x with a write at %d", keyErr.Conflict.Key, keyErr.Conflict.ConflictTs)
		}
		return nil, fmt.Errorf("prewrite of txn %d failed: %v", txn.StartTS, keyErr)
	})
}

// commitKeys commits keys at commitTs; a refused commit aborts.
func (txn *Txn) commitKeys(keys [][]byte, commitTs uint64) error {
	return txn.c.sendByRegion(keys, func(ctx *kvrpcpb.Context, keys [][]byte) (*errorpb.Error, error) {
		resp, err := txn.c.kv.KvCommit(nil, &kvrpcpb.CommitRequest{Context: ctx, StartVersion: txn.StartTS, CommitVersion: commitTs, Keys: keys})
		if err = answered("KvCommit", resp, err); err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, txn.aborted("commit at %d refused: %v", commitTs, resp.Error)
		}
		return resp.RegionError, nil
	})
}

// rollback rolls the transaction back on all its keys, locked or not, so
// that a late prewrite of it fails too.
func (txn *Txn) rollback() error {
	return txn.c.sendByRegion(txn.keys, func(ctx *kvrpcpb.Context, keys [][]byte) (*errorpb.Error, error) {
		resp, err := txn.c.kv.KvBatchRollback(nil, &kvrpcpb.BatchRollbackRequest{Context: ctx, StartVersion: txn.StartTS, Keys: keys})
		if err = answered("KvBatchRollback", resp, err); err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("rollback of uncommitted txn %d refused: %v", txn.StartTS, resp.Error)
		}
		return resp.RegionError, nil
	})
}

// Get reads key at ts, resolving the locks in the way; nil means no value.
func (c *Client) Get(key []byte, ts uint64) ([]byte, error) {
	for attempt := 0; attempt < maxLockRetries; attempt++ {
		var value []byte
		var locked *kvrpcpb.LockInfo
		err := c.sendByRegion([][]byte{key}, func(ctx *kvrpcpb.Context, _ [][]byte) (*errorpb.Error, error) {
			resp, err := c.kv.KvGet(nil, &kvrpcpb.GetRequest{Context: ctx, Key: key, Version: ts})
			if err = answered("KvGet", resp, err); err != nil || resp.RegionError != nil {
				return resp.GetRegionError(), err
			}
			if resp.Error != nil && resp.Error.Locked == nil {
				return nil, fmt.Errorf("get %x at %d failed: %v", key, ts, resp.Error)
			}
			locked = resp.Error.GetLocked()
			if !resp.NotFound && locked == nil {
				value = append([]byte{}, resp.Value...)
			}
			return nil, nil
		})
		if err != nil || locked == nil {
			return value, err
		}
		if err := c.resolveLock(locked); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("get %x at %d: still locked after %d attempts to resolve", key, ts, maxLockRetries)
}

// Scan reads up to limit pairs from start at ts, resolving the locks it
// meets and scanning again until it meets none. The range must lie in one
// region.
func (c *Client) Scan(start []byte, limit uint32, ts uint64) ([]*kvrpcpb.KvPair, error) {
	for attempt := 0; attempt < maxLockRetries; attempt++ {
		var pairs []*kvrpcpb.KvPair
		err := c.sendByRegion([][]byte{start}, func(ctx *kvrpcpb.Context, _ [][]byte) (*errorpb.Error, error) {
			resp, err := c.kv.KvScan(nil, &kvrpcpb.ScanRequest{Context: ctx, StartKey: start, Limit: limit, Version: ts})
			if err = answered("KvScan", resp, err); err != nil {
				return nil, err
			}
			pairs = resp.Pairs
			return resp.RegionError, nil
		})
		if err != nil {
			return nil, err
		}
		locked, err := lockedPairs(pairs)
		if err != nil || len(locked) == 0 {
			return pairs, err
		}
		for _, info := range locked {
			if err := c.resolveLock(info); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("scan from %x at %d: still locked after %d attempts to resolve", start, ts, maxLockRetries)
}

func lockedPairs(pairs []*kvrpcpb.KvPair) ([]*kvrpcpb.LockInfo, error) {
	var locked []*kvrpcpb.LockInfo
	for _, pair := range pairs {
		if pair.Error == nil {
			continue
		}
		if pair.Error.Locked == nil {
			return nil, fmt.Errorf("scan pair of key %x failed: %v", pair.Key, pair.Error)
		}
		locked = append(locked, pair.Error.Locked)
	}
	return locked, nil
}

// resolveLock settles a lock the client ran into: it asks the lock's
// primary for the transaction's fate, rolling the primary back if its TTL
// is over, and then commits or rolls back the transaction's locks in the
// key's region. A live lock is left alone after a short wait.
func (c *Client) resolveLock(info *kvrpcpb.LockInfo) error {
	var status *kvrpcpb.CheckTxnStatusResponse
	err := c.sendByRegion([][]byte{info.PrimaryLock}, func(ctx *kvrpcpb.Context, _ [][]byte) (*errorpb.Error, error) {
		resp, err := c.kv.KvCheckTxnStatus(nil, &kvrpcpb.CheckTxnStatusRequest{
			Context:    ctx,
			PrimaryKey: info.PrimaryLock,
			LockTs:     info.LockVersion,
			CurrentTs:  c.oracle.Next(),
		})
		if err = answered("KvCheckTxnStatus", resp, err); err != nil {
			return nil, err
		}
		status = resp
		return resp.RegionError, nil
	})
	if err != nil {
		return err
	}
	// Our transactions always have a TTL, so NoAction with a TTL of 0 and no
	// commit version is a rolled back primary.
	if status.Action == kvrpcpb.Action_NoAction && status.CommitVersion == 0 && status.LockTtl > 0 {
		c.stats.Waited.Add(1)
		time.Sleep(lockBackoff)
		return nil
	}
	if status.Action == kvrpcpb.Action_TTLExpireRollback {
		c.stats.Expired.Add(1)
	}
	return c.resolveTxn(info, status.CommitVersion)
}

// resolveTxn commits (commitTs > 0) or rolls back the locks of the
// transaction of info in the region of info.Key.
func (c *Client) resolveTxn(info *kvrpcpb.LockInfo, commitTs uint64) error {
	err := c.sendByRegion([][]byte{info.Key}, func(ctx *kvrpcpb.Context, _ [][]byte) (*errorpb.Error, error) {
		resp, err := c.kv.KvResolveLock(nil, &kvrpcpb.ResolveLockRequest{Context: ctx, StartVersion: info.LockVersion, CommitVersion: commitTs})
		if err = answered("KvResolveLock", resp, err); err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("resolve of txn %d with commit version %d (as its primary %x says) refused: %v",
				info.LockVersion, commitTs, info.PrimaryLock, resp.Error)
		}
		return resp.RegionError, nil
	})
	if err != nil {
		return err
	}
	if commitTs > 0 {
		c.stats.Committed.Add(1)
	} else {
		c.stats.RolledBack.Add(1)
	}
	return nil
}

// sendByRegion sends keys in one request per region. A request that meets
// a region error is sent again, routed anew, until every key got through.
func (c *Client) sendByRegion(keys [][]byte, send func(ctx *kvrpcpb.Context, keys [][]byte) (*errorpb.Error, error)) error {
	for attempt := 1; len(keys) > 0; attempt++ {
		var retry [][]byte
		var lastRegionErr *errorpb.Error
		for _, group := range c.groupByRegion(keys) {
			regionErr, err := send(group.ctx, group.keys)
			if err != nil {
				return err
			}
			if regionErr != nil {
				retry = append(retry, group.keys...)
				lastRegionErr = regionErr
			}
		}
		if len(retry) > 0 && attempt >= maxRegionRetries {
			return fmt.Errorf("keys %x still get region errors after %d attempts, last: %v", retry, attempt, lastRegionErr)
		}
		if len(retry) > 0 {
			time.Sleep(regionBackoff)
		}
		keys = retry
	}
	return nil
}

type regionGroup struct {
	ctx  *kvrpcpb.Context
	keys [][]byte
}

// groupByRegion splits keys by the region the router names, keeping the
// order of first appearance.
func (c *Client) groupByRegion(keys [][]byte) []regionGroup {
	if c.route == nil {
		return []regionGroup{{keys: keys}}
	}
	var groups []regionGroup
	index := make(map[uint64]int)
	for _, key := range keys {
		ctx := c.route(key)
		i, ok := index[ctx.GetRegionId()]
		if !ok {
			i = len(groups)
			index[ctx.GetRegionId()] = i
			groups = append(groups, regionGroup{ctx: ctx})
		}
		groups[i].keys = append(groups[i].keys, key)
	}
	return groups
}

// answered turns a transport error, or a handler that gave no response
// (a stub), into an error.
func answered[R any](rpc string, resp *R, err error) error {
	if err != nil {
		return fmt.Errorf("%s failed: %v", rpc, err)
	}
	if resp == nil {
		return fmt.Errorf("%s returned neither a response nor an error", rpc)
	}
	return nil
}
