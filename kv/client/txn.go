package client

import (
	"context"
	"fmt"

	"github.com/tinykv-lab/tinykv/kv/client/percolator"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
)

// Txn is a transaction of the client (see package percolator).
type Txn = percolator.Txn

// Begin starts a transaction at a timestamp from the scheduler. Its reads
// see the data committed before that timestamp; its writes are buffered
// until Commit.
func (c *Client) Begin(ctx context.Context) (*Txn, error) {
	return c.txn.Begin(ctx)
}

// Txn is the transactional client (snapshot reads at any timestamp, and
// transactions).
func (c *Client) Txn() *percolator.Client {
	return c.txn
}

// TxnGet reads key in a snapshot at ts (resolving locks in the way); nil
// means no value.
func (c *Client) TxnGet(ctx context.Context, key []byte, ts uint64) ([]byte, error) {
	return c.txn.Get(ctx, key, ts)
}

// TxnScan reads up to limit pairs of [start, end) in a snapshot at ts.
func (c *Client) TxnScan(ctx context.Context, start, end []byte, limit int, ts uint64) ([]KvPair, error) {
	kvs, err := c.txn.Scan(ctx, start, end, limit, ts)
	if err != nil {
		return nil, err
	}
	pairs := make([]KvPair, len(kvs))
	for i, kv := range kvs {
		pairs[i] = KvPair{Key: kv.Key, Value: kv.Value}
	}
	return pairs, nil
}

// Timestamp returns a new timestamp from the scheduler, retrying while the
// scheduler is away until ctx (or the client's timeout) ends.
func (c *Client) Timestamp(ctx context.Context) (uint64, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	backoff := c.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		rpcCtx, cancelRPC := context.WithTimeout(ctx, c.opts.RPCTimeout)
		ts, err := c.sched.GetTS(rpcCtx)
		cancelRPC()
		if err == nil {
			return ts, nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no timestamp from the scheduler after %d attempts: %v", attempt, err)
		}
		if err := c.sleep(ctx, backoff); err != nil {
			return 0, fmt.Errorf("no timestamp from the scheduler after %d attempts: %v", attempt, err)
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
}

// oracle is the scheduler's timestamp oracle as a percolator.Oracle.
type oracle struct{ c *Client }

func (o oracle) Timestamp(ctx context.Context) (uint64, error) {
	return o.c.Timestamp(ctx)
}

// sender routes the transactional requests through the region cache.
type sender struct{ c *Client }

func (s sender) SendByRegion(ctx context.Context, keys [][]byte, send percolator.SendFunc) error {
	return s.c.send(ctx, keys, func(ctx context.Context, r route, keys [][]byte) (*errorpb.Error, error) {
		return send(ctx, percolator.Target{KV: txnKV{r.kv}, Ctx: r.ctx, EndKey: r.loc.Region.EndKey}, keys)
	})
}

// txnKV is a store's gRPC client as a percolator.TxnKV.
type txnKV struct{ kv tinykvpb.TinyKvClient }

func (t txnKV) KvGet(ctx context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
	return t.kv.KvGet(ctx, req)
}

func (t txnKV) KvScan(ctx context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
	return t.kv.KvScan(ctx, req)
}

func (t txnKV) KvPrewrite(ctx context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
	return t.kv.KvPrewrite(ctx, req)
}

func (t txnKV) KvCommit(ctx context.Context, req *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error) {
	return t.kv.KvCommit(ctx, req)
}

func (t txnKV) KvCheckTxnStatus(ctx context.Context, req *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error) {
	return t.kv.KvCheckTxnStatus(ctx, req)
}

func (t txnKV) KvBatchRollback(ctx context.Context, req *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error) {
	return t.kv.KvBatchRollback(ctx, req)
}

func (t txnKV) KvResolveLock(ctx context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
	return t.kv.KvResolveLock(ctx, req)
}
