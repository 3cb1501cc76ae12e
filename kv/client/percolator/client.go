package percolator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// TxnKV is the transactional API of a store; *server.Server implements it,
// and KVOverGRPC adapts a gRPC client to it.
type TxnKV interface {
	KvGet(context.Context, *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error)
	KvScan(context.Context, *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error)
	KvPrewrite(context.Context, *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error)
	KvCommit(context.Context, *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error)
	KvCheckTxnStatus(context.Context, *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error)
	KvBatchRollback(context.Context, *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error)
	KvResolveLock(context.Context, *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error)
}

// Target is where one request goes: the store's API, the request context
// naming the region, and the region's end key (nil when it reaches the end
// of the key space, or when the sender does not know it).
type Target struct {
	KV     TxnKV
	Ctx    *kvrpcpb.Context
	EndKey []byte
}

// SendFunc sends one request for keys (all in the region of t) and returns
// the response's region error, if any, or an error that ends the operation.
type SendFunc func(ctx context.Context, t Target, keys [][]byte) (*errorpb.Error, error)

// Sender delivers requests to the regions of their keys.
type Sender interface {
	// SendByRegion calls send once per region with that region's keys
	// (keeping their order) and calls it again, routed anew, for the keys
	// whose request met a region error, until every key got through, an
	// error ends it, or it gives up.
	SendByRegion(ctx context.Context, keys [][]byte, send SendFunc) error
}

// Oracle hands out timestamps, each larger than every one before it.
type Oracle interface {
	Timestamp(ctx context.Context) (uint64, error)
}

// ErrAborted is returned (wrapped) by Commit when the transaction did not
// commit and never will; running it again as a new transaction is safe.
var ErrAborted = errors.New("transaction aborted")

// errCrashed ends a commit that a test stopped on purpose.
var errCrashed = errors.New("client crashed on purpose")

// ResolveStats counts what clients did about other transactions' locks.
type ResolveStats struct {
	Committed  atomic.Int64 // locks committed because their primary was
	RolledBack atomic.Int64 // locks rolled back because their primary was
	Expired    atomic.Int64 // primaries rolled back because their TTL ran out
	Waited     atomic.Int64 // times a reader met a live lock and waited
}

// Options shape a Client. Zero fields take the defaults.
type Options struct {
	// LockTTL is how long, in milliseconds of timestamp physical time, the
	// locks of a transaction protect it before others may roll it back
	// (default 3000).
	LockTTL uint64
	// LockBackoff is the first wait of a reader that met a live lock; it
	// doubles up to MaxLockBackoff (defaults 10 ms and 500 ms).
	LockBackoff    time.Duration
	MaxLockBackoff time.Duration
	// MaxLockRetries bounds how often a read resolves locks and tries again
	// (default 1000).
	MaxLockRetries int
	// Stats receives the lock resolution counts; nil for a private one.
	Stats *ResolveStats
}

func (o Options) withDefaults() Options {
	if o.LockTTL == 0 {
		o.LockTTL = 3000
	}
	if o.LockBackoff <= 0 {
		o.LockBackoff = 10 * time.Millisecond
	}
	if o.MaxLockBackoff < o.LockBackoff {
		o.MaxLockBackoff = max(500*time.Millisecond, o.LockBackoff)
	}
	if o.MaxLockRetries <= 0 {
		o.MaxLockRetries = 1000
	}
	if o.Stats == nil {
		o.Stats = new(ResolveStats)
	}
	return o
}

// Client runs transactions. It is safe for concurrent use.
type Client struct {
	sender Sender
	oracle Oracle
	opts   Options
}

// NewClient makes a client that sends through sender and takes its
// timestamps from oracle.
func NewClient(sender Sender, oracle Oracle, opts Options) *Client {
	return &Client{sender: sender, oracle: oracle, opts: opts.withDefaults()}
}

// Stats are the client's lock resolution counts.
func (c *Client) Stats() *ResolveStats {
	return c.opts.Stats
}

// Txn is one transaction: reads at its start ts, buffered writes, and the
// two-phase commit. A Txn is used by one goroutine at a time.
type Txn struct {
	c       *Client
	StartTS uint64
	keys    [][]byte // written keys in the order of their first write; keys[0] is the primary
	muts    map[string]*kvrpcpb.Mutation
}

// Begin starts a transaction at a fresh timestamp.
func (c *Client) Begin(ctx context.Context) (*Txn, error) {
	ts, err := c.oracle.Timestamp(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: no start timestamp: %v", err)
	}
	return c.BeginAt(ts), nil
}

// BeginAt starts a transaction at startTS, which must come from the oracle.
func (c *Client) BeginAt(startTS uint64) *Txn {
	return &Txn{c: c, StartTS: startTS, muts: make(map[string]*kvrpcpb.Mutation)}
}

// Get reads key at the transaction's start ts, or its own buffered write;
// nil means no value.
func (txn *Txn) Get(ctx context.Context, key []byte) ([]byte, error) {
	if mut, ok := txn.muts[string(key)]; ok {
		if mut.Op == kvrpcpb.Op_Del {
			return nil, nil
		}
		return mut.Value, nil
	}
	return txn.c.Get(ctx, key, txn.StartTS)
}

// Set buffers a write of key; the first key written is the primary.
func (txn *Txn) Set(key, value []byte) {
	txn.buffer(&kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: key, Value: value})
}

// Delete buffers a delete of key.
func (txn *Txn) Delete(key []byte) {
	txn.buffer(&kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: key})
}

// Len is the number of keys the transaction writes.
func (txn *Txn) Len() int {
	return len(txn.keys)
}

func (txn *Txn) buffer(mut *kvrpcpb.Mutation) {
	if _, seen := txn.muts[string(mut.Key)]; !seen {
		txn.keys = append(txn.keys, mut.Key)
	}
	txn.muts[string(mut.Key)] = mut
}

// CrashPoint is where a client stops in the middle of a commit, leaving its
// locks for others to resolve (tests use it to play a client that dies).
type CrashPoint int

// The places a commit can be stopped at.
const (
	NoCrash                   CrashPoint = iota
	CrashAfterPrimaryPrewrite            // only the primary is locked
	CrashAfterPrewrite                   // every key is locked, nothing committed
	CrashAfterPrimaryCommit              // committed, secondaries still locked
)

func (p CrashPoint) String() string {
	if p < NoCrash || p > CrashAfterPrimaryCommit {
		return fmt.Sprintf("crash point %d", int(p))
	}
	return [...]string{"no crash", "crash after primary prewrite", "crash after prewrite", "crash after primary commit"}[p]
}

// Commit runs the two-phase commit and returns the commit ts. An error
// wrapping ErrAborted means the transaction did not commit; any other
// error leaves the outcome unknown (a store broke a rule, or could not be
// reached before ctx ended): the transaction may still commit, through the
// locks it left, when another reader resolves them.
func (txn *Txn) Commit(ctx context.Context) (uint64, error) {
	return txn.commit(ctx, NoCrash)
}

// CommitAndCrash runs the commit up to at and walks away. committed says
// whether the transaction is committed (only possible past its primary's
// commit); the locks it leaves are for other clients to resolve.
func (txn *Txn) CommitAndCrash(ctx context.Context, at CrashPoint) (committed bool, err error) {
	_, err = txn.commit(ctx, at)
	if errors.Is(err, errCrashed) {
		return at == CrashAfterPrimaryCommit, nil
	}
	return false, err
}

// Rollback gives the transaction up: its keys get rollback records, so a
// late prewrite of it fails. A transaction that was never committed needs
// no rollback; it only frees its locks sooner.
func (txn *Txn) Rollback(ctx context.Context) error {
	if len(txn.keys) == 0 {
		return nil
	}
	return txn.rollback(ctx)
}

func (txn *Txn) commit(ctx context.Context, crash CrashPoint) (uint64, error) {
	if len(txn.keys) == 0 {
		return txn.StartTS, nil
	}
	primary, secondaries := txn.keys[:1], txn.keys[1:]
	// The primary goes first: whoever meets a secondary lock later asks the
	// primary for the transaction's fate, so it must be locked by then.
	if err := txn.prewrite(ctx, primary); err != nil {
		return 0, txn.abortOn(ctx, err)
	}
	if crash == CrashAfterPrimaryPrewrite {
		return 0, errCrashed
	}
	if err := txn.prewrite(ctx, secondaries); err != nil {
		return 0, txn.abortOn(ctx, err)
	}
	if crash == CrashAfterPrewrite {
		return 0, errCrashed
	}
	commitTs, err := txn.c.oracle.Timestamp(ctx)
	if err != nil {
		// Nothing is committed: the locks expire and readers roll them back.
		return 0, fmt.Errorf("txn %d: no commit timestamp: %v", txn.StartTS, err)
	}
	if err := txn.commitKeys(ctx, primary, commitTs); err != nil {
		return 0, txn.abortOn(ctx, err)
	}
	if crash == CrashAfterPrimaryCommit {
		return commitTs, errCrashed
	}
	// Past the primary the transaction is committed: a secondary that fails
	// to commit stays locked until a reader resolves it (to committed).
	if err := txn.commitKeys(ctx, secondaries, commitTs); err != nil {
		return commitTs, fmt.Errorf("txn %d committed at %d but a secondary commit failed (readers will resolve it): %v", txn.StartTS, commitTs, err)
	}
	return commitTs, nil
}

// abortOn rolls the transaction back after err, when err is an abort.
func (txn *Txn) abortOn(ctx context.Context, err error) error {
	if !errors.Is(err, ErrAborted) {
		return err
	}
	if rbErr := txn.rollback(ctx); rbErr != nil {
		return rbErr
	}
	return err
}

func (txn *Txn) aborted(format string, args ...interface{}) error {
	return fmt.Errorf("%w: txn %d: %s", ErrAborted, txn.StartTS, fmt.Sprintf(format, args...))
}

// prewrite locks keys. A lock of another transaction gets resolved (so a
// retry can get further) and aborts this one, as does a write conflict.
func (txn *Txn) prewrite(ctx context.Context, keys [][]byte) error {
	return txn.c.sender.SendByRegion(ctx, keys, func(ctx context.Context, t Target, keys [][]byte) (*errorpb.Error, error) {
		req := &kvrpcpb.PrewriteRequest{Context: t.Ctx, PrimaryLock: txn.keys[0], StartVersion: txn.StartTS, LockTtl: txn.c.opts.LockTTL}
		for _, key := range keys {
			req.Mutations = append(req.Mutations, txn.muts[string(key)])
		}
		resp, err := t.KV.KvPrewrite(ctx, req)
		if err = answered("KvPrewrite", resp, err); err != nil {
			return nil, err
		}
		if resp.RegionError != nil || len(resp.Errors) == 0 {
			return resp.RegionError, nil
		}
		keyErr := resp.Errors[0]
		switch {
		case keyErr.Locked != nil:
			if _, err := txn.c.resolveLock(ctx, keyErr.Locked); err != nil {
				return nil, err
			}
			return nil, txn.aborted("prewrite met lock of txn %d on key %x", keyErr.Locked.LockVersion, keyErr.Locked.Key)
		case keyErr.Conflict != nil:
			return nil, txn.aborted("write conflict on key %x with a write at %d", keyErr.Conflict.Key, keyErr.Conflict.ConflictTs)
		case keyErr.Abort != "":
			return nil, txn.aborted("prewrite refused: %s", keyErr.Abort)
		}
		return nil, fmt.Errorf("prewrite of txn %d failed: %v", txn.StartTS, keyErr)
	})
}

// commitKeys commits keys at commitTs; a refused commit aborts.
func (txn *Txn) commitKeys(ctx context.Context, keys [][]byte, commitTs uint64) error {
	return txn.c.sender.SendByRegion(ctx, keys, func(ctx context.Context, t Target, keys [][]byte) (*errorpb.Error, error) {
		resp, err := t.KV.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: t.Ctx, StartVersion: txn.StartTS, CommitVersion: commitTs, Keys: keys})
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
func (txn *Txn) rollback(ctx context.Context) error {
	return txn.c.sender.SendByRegion(ctx, txn.keys, func(ctx context.Context, t Target, keys [][]byte) (*errorpb.Error, error) {
		resp, err := t.KV.KvBatchRollback(ctx, &kvrpcpb.BatchRollbackRequest{Context: t.Ctx, StartVersion: txn.StartTS, Keys: keys})
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
func (c *Client) Get(ctx context.Context, key []byte, ts uint64) ([]byte, error) {
	wait := c.newLockWait()
	for attempt := 0; attempt < c.opts.MaxLockRetries; attempt++ {
		var value []byte
		var locked *kvrpcpb.LockInfo
		err := c.sender.SendByRegion(ctx, [][]byte{key}, func(ctx context.Context, t Target, _ [][]byte) (*errorpb.Error, error) {
			resp, err := t.KV.KvGet(ctx, &kvrpcpb.GetRequest{Context: t.Ctx, Key: key, Version: ts})
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
		if err := c.resolveOrWait(ctx, locked, wait); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("get %x at %d: still locked after %d attempts to resolve", key, ts, c.opts.MaxLockRetries)
}

// Scan reads up to limit pairs of [start, end) at ts (an empty end is the
// end of the key space), across regions, resolving the locks it meets.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int, ts uint64) ([]*kvrpcpb.KvPair, error) {
	var all []*kvrpcpb.KvPair
	for len(all) < limit {
		pairs, regionEnd, err := c.scanRegion(ctx, start, limit-len(all), ts)
		if err != nil {
			return nil, err
		}
		for _, pair := range pairs {
			if len(end) > 0 && bytes.Compare(pair.Key, end) >= 0 {
				return all, nil
			}
			all = append(all, pair)
		}
		if len(regionEnd) == 0 || (len(end) > 0 && bytes.Compare(regionEnd, end) >= 0) {
			break
		}
		start = regionEnd
	}
	return all, nil
}

// scanRegion reads up to limit pairs from start in start's region at ts,
// resolving locks and scanning again until it meets none. It returns the
// region's end key too.
func (c *Client) scanRegion(ctx context.Context, start []byte, limit int, ts uint64) ([]*kvrpcpb.KvPair, []byte, error) {
	wait := c.newLockWait()
	for attempt := 0; attempt < c.opts.MaxLockRetries; attempt++ {
		var pairs []*kvrpcpb.KvPair
		var regionEnd []byte
		err := c.sender.SendByRegion(ctx, [][]byte{start}, func(ctx context.Context, t Target, _ [][]byte) (*errorpb.Error, error) {
			resp, err := t.KV.KvScan(ctx, &kvrpcpb.ScanRequest{Context: t.Ctx, StartKey: start, Limit: uint32(limit), Version: ts})
			if err = answered("KvScan", resp, err); err != nil {
				return nil, err
			}
			pairs, regionEnd = resp.Pairs, t.EndKey
			return resp.RegionError, nil
		})
		if err != nil {
			return nil, nil, err
		}
		locked, err := lockedPairs(pairs)
		if err != nil || len(locked) == 0 {
			return pairs, regionEnd, err
		}
		for _, info := range locked {
			if err := c.resolveOrWait(ctx, info, wait); err != nil {
				return nil, nil, err
			}
		}
	}
	return nil, nil, fmt.Errorf("scan from %x at %d: still locked after %d attempts to resolve", start, ts, c.opts.MaxLockRetries)
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

// lockWait is the growing pause of one reader waiting for live locks.
type lockWait struct {
	next, max time.Duration
}

func (c *Client) newLockWait() *lockWait {
	return &lockWait{next: c.opts.LockBackoff, max: c.opts.MaxLockBackoff}
}

// resolveOrWait resolves a lock, or waits a while when its owner is alive.
func (c *Client) resolveOrWait(ctx context.Context, info *kvrpcpb.LockInfo, wait *lockWait) error {
	live, err := c.resolveLock(ctx, info)
	if err != nil || !live {
		return err
	}
	c.opts.Stats.Waited.Add(1)
	timer := time.NewTimer(wait.next)
	defer timer.Stop()
	wait.next = min(2*wait.next, wait.max)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the lock of txn %d on key %x: %v", info.LockVersion, info.Key, ctx.Err())
	}
}

// resolveLock settles a lock the client ran into: it asks the lock's
// primary for the transaction's fate, rolling the primary back if its TTL
// is over, and then commits or rolls back the transaction's locks in the
// key's region. live says the lock's owner still runs (nothing was done).
func (c *Client) resolveLock(ctx context.Context, info *kvrpcpb.LockInfo) (live bool, err error) {
	currentTs, err := c.oracle.Timestamp(ctx)
	if err != nil {
		return false, fmt.Errorf("checking txn %d: no timestamp: %v", info.LockVersion, err)
	}
	var status *kvrpcpb.CheckTxnStatusResponse
	err = c.sender.SendByRegion(ctx, [][]byte{info.PrimaryLock}, func(ctx context.Context, t Target, _ [][]byte) (*errorpb.Error, error) {
		resp, err := t.KV.KvCheckTxnStatus(ctx, &kvrpcpb.CheckTxnStatusRequest{
			Context:    t.Ctx,
			PrimaryKey: info.PrimaryLock,
			LockTs:     info.LockVersion,
			CurrentTs:  currentTs,
		})
		if err = answered("KvCheckTxnStatus", resp, err); err != nil {
			return nil, err
		}
		status = resp
		return resp.RegionError, nil
	})
	if err != nil {
		return false, err
	}
	// Our transactions always have a TTL, so NoAction with a TTL of 0 and no
	// commit version is a rolled back primary.
	if status.Action == kvrpcpb.Action_NoAction && status.CommitVersion == 0 && status.LockTtl > 0 {
		return true, nil
	}
	if status.Action == kvrpcpb.Action_TTLExpireRollback {
		c.opts.Stats.Expired.Add(1)
	}
	return false, c.resolveTxn(ctx, info, status.CommitVersion)
}

// resolveTxn commits (commitTs > 0) or rolls back the locks of the
// transaction of info in the region of info.Key.
func (c *Client) resolveTxn(ctx context.Context, info *kvrpcpb.LockInfo, commitTs uint64) error {
	err := c.sender.SendByRegion(ctx, [][]byte{info.Key}, func(ctx context.Context, t Target, _ [][]byte) (*errorpb.Error, error) {
		resp, err := t.KV.KvResolveLock(ctx, &kvrpcpb.ResolveLockRequest{Context: t.Ctx, StartVersion: info.LockVersion, CommitVersion: commitTs})
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
		c.opts.Stats.Committed.Add(1)
	} else {
		c.opts.Stats.RolledBack.Add(1)
	}
	return nil
}

// answered turns a transport error, or a handler that gave no response
// (a stub), into an error.
func answered[R any](rpc string, resp *R, err error) error {
	if err != nil {
		return fmt.Errorf("%s failed: %w", rpc, err)
	}
	if resp == nil {
		return fmt.Errorf("%s returned neither a response nor an error", rpc)
	}
	return nil
}
