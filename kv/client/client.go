package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/tinykv-lab/tinykv/kv/client/percolator"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	schedclient "github.com/tinykv-lab/tinykv/scheduler/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Scheduler is what the client needs of the scheduler. The gRPC client of
// scheduler/client implements it (Connect uses it); tests use fakes.
type Scheduler interface {
	// GetRegion returns the region containing key and its leader (a zero
	// Peer when unknown); a nil region when the scheduler knows none yet.
	GetRegion(ctx context.Context, key []byte) (*metapb.Region, *metapb.Peer, error)
	// GetStore returns a store by id (its address above all).
	GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error)
	// GetTS returns a new timestamp from the scheduler's oracle.
	GetTS(ctx context.Context) (uint64, error)
}

// Dialer connects to a store's gRPC address; the closer ends the connection.
type Dialer func(addr string) (tinykvpb.TinyKvClient, func() error, error)

// Options shape a Client. Zero fields take the defaults.
type Options struct {
	// Timeout bounds an operation whose context has no deadline, retries
	// included (default 20 s).
	Timeout time.Duration
	// RPCTimeout bounds one request to one store, after which the client
	// tries another peer (default 3 s).
	RPCTimeout time.Duration
	// MinBackoff and MaxBackoff bound the pause between retries, which
	// doubles from the first to the second (defaults 5 ms and 500 ms).
	MinBackoff, MaxBackoff time.Duration
	// Txn shapes the transactional client (lock TTL, lock waits).
	Txn percolator.Options
	// Dial connects to stores (default: gRPC without TLS).
	Dial Dialer
	// Seed seeds the back-off jitter (default: the clock).
	Seed int64
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.RPCTimeout <= 0 {
		o.RPCTimeout = 3 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 5 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(500*time.Millisecond, o.MinBackoff)
	}
	if o.Dial == nil {
		o.Dial = dialGRPC
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	return o
}

func dialGRPC(addr string) (tinykvpb.TinyKvClient, func() error, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return tinykvpb.NewTinyKvClient(conn), conn.Close, nil
}

// Client talks to a TinyKV cluster: it finds each key's region and leader
// through its region cache, sends requests there, and follows region errors
// and unreachable stores until it gets an answer or the deadline passes.
// It is safe for concurrent use.
type Client struct {
	sched   Scheduler
	regions *RegionCache
	stores  *storeCache
	opts    Options
	txn     *percolator.Client
	// closeSched closes the scheduler client when Connect made it.
	closeSched func()

	rngMu sync.Mutex
	rng   *rand.Rand
}

// New makes a client over sched (which the caller closes after the client).
func New(sched Scheduler, opts Options) *Client {
	opts = opts.withDefaults()
	c := &Client{
		sched:   sched,
		regions: newRegionCache(sched),
		stores:  newStoreCache(sched, opts.Dial),
		opts:    opts,
		rng:     rand.New(rand.NewSource(opts.Seed)),
	}
	c.txn = percolator.NewClient(sender{c}, oracle{c}, opts.Txn)
	return c
}

// Connect makes a client of the cluster whose scheduler is at addrs
// ("host:port" or "http://host:port", several for a scheduler of several
// members). It does not wait: the first request finds the scheduler.
func Connect(addrs []string, opts Options) (*Client, error) {
	sched, err := schedclient.New(addrs, schedclient.Options{Timeout: opts.withDefaults().Timeout})
	if err != nil {
		return nil, err
	}
	c := New(sched, opts)
	c.closeSched = sched.Close
	return c, nil
}

// Close closes the connections to the stores (and to the scheduler, when
// Connect made the client).
func (c *Client) Close() error {
	if c.closeSched != nil {
		defer c.closeSched()
	}
	return c.stores.close()
}

// Regions is the client's region cache.
func (c *Client) Regions() *RegionCache {
	return c.regions
}

// route is where one request goes.
type route struct {
	kv    tinykvpb.TinyKvClient
	ctx   *kvrpcpb.Context
	loc   *Location
	store uint64
}

// sendFunc sends one request for keys, all in r's region, and returns the
// response's region error or an error; a retryable transport error makes
// the client try again, anything else ends the operation.
type sendFunc func(ctx context.Context, r route, keys [][]byte) (*errorpb.Error, error)

// withDeadline gives ctx the client's operation timeout when it has none.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// send delivers keys to their regions, one request per region, and sends
// again (routed anew, after a back-off) the keys whose request met a region
// error or a store that did not answer, until all got through or ctx ends.
func (c *Client) send(ctx context.Context, keys [][]byte, f sendFunc) error {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	backoff := c.opts.MinBackoff
	var last error
	for attempt := 1; len(keys) > 0; attempt++ {
		var retry [][]byte
		pause := false
		for _, group := range c.groupByRegion(ctx, keys) {
			if group.err != nil {
				last, pause = group.err, true
				retry = append(retry, group.keys...)
				continue
			}
			again, wait, err := c.sendGroup(ctx, group, f)
			if err != nil {
				return err
			}
			if again != nil {
				last = again
				pause = pause || wait
				retry = append(retry, group.keys...)
			}
		}
		keys = retry
		if len(keys) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("gave up after %d attempts (%v): %v", attempt, ctx.Err(), last)
		}
		if pause {
			if err := c.sleep(ctx, backoff); err != nil {
				return fmt.Errorf("gave up after %d attempts (%v): %v", attempt, err, last)
			}
			backoff = min(2*backoff, c.opts.MaxBackoff)
		}
	}
	return nil
}

// sendGroup sends one region's keys once. again is the reason to send them
// again (nil when they got through); wait says to back off first.
func (c *Client) sendGroup(ctx context.Context, g keyGroup, f sendFunc) (again error, wait bool, err error) {
	loc := g.loc
	kv, err := c.stores.get(ctx, loc.Leader.StoreId)
	if err != nil {
		c.regions.NextPeer(loc.Region.Id, loc.Leader.StoreId)
		return fmt.Errorf("region %d: %v", loc.Region.Id, err), true, nil
	}
	rctx := &kvrpcpb.Context{RegionId: loc.Region.Id, RegionEpoch: loc.Region.RegionEpoch, Peer: loc.Leader}
	rpcCtx, cancel := context.WithTimeout(ctx, c.opts.RPCTimeout)
	regionErr, err := f(rpcCtx, route{kv: kv, ctx: rctx, loc: loc, store: loc.Leader.StoreId}, g.keys)
	cancel()
	if err != nil {
		if ctx.Err() == nil && retryableTransport(err) {
			c.regions.NextPeer(loc.Region.Id, loc.Leader.StoreId)
			c.stores.forget(loc.Leader.StoreId)
			return fmt.Errorf("region %d, store %d (peer %d) did not answer: %v", loc.Region.Id, loc.Leader.StoreId, loc.Leader.Id, err), true, nil
		}
		return nil, false, fmt.Errorf("region %d, store %d (peer %d): %w", loc.Region.Id, loc.Leader.StoreId, loc.Leader.Id, err)
	}
	if regionErr == nil {
		return nil, false, nil
	}
	wait = c.onRegionError(loc, regionErr)
	return fmt.Errorf("region %d, store %d (peer %d): %s", loc.Region.Id, loc.Leader.StoreId, loc.Leader.Id, describe(regionErr)), wait, nil
}

// onRegionError corrects the cache after a region error from the peer of
// loc and says whether to back off before the next attempt (no pause when
// the error named the way forward, such as a new leader).
func (c *Client) onRegionError(loc *Location, e *errorpb.Error) bool {
	regionID, storeID := loc.Region.Id, loc.Leader.StoreId
	switch {
	case e.NotLeader != nil:
		leader := e.NotLeader.Leader
		if leader.GetId() != 0 && leader.GetId() != loc.Leader.Id {
			// Straight to the new leader; a leader the cache does not know
			// as a peer sends the region back to the scheduler, after a
			// pause (the scheduler may lag).
			return !c.regions.UpdateLeader(regionID, leader)
		}
		// No leader known (an election is running) or the hint is the peer
		// we asked: try another peer, after a pause.
		c.regions.NextPeer(regionID, storeID)
		return true
	case e.EpochNotMatch != nil:
		c.regions.OnEpochNotMatch(regionID, storeID, e.EpochNotMatch.CurrentRegions)
		return len(e.EpochNotMatch.CurrentRegions) == 0
	case e.RegionNotFound != nil, e.KeyNotInRegion != nil, e.StoreNotMatch != nil:
		c.regions.Invalidate(regionID)
		if e.StoreNotMatch != nil {
			c.stores.forget(storeID)
		}
		return true
	case e.StaleCommand != nil:
		// The command lost its place in the log: same route, later.
		return true
	default:
		// An error of no known kind (a peer id the store does not hold
		// for the region, a busy or stopping store): the cached route may
		// be wrong, so ask the scheduler again, later.
		c.regions.Invalidate(regionID)
		return true
	}
}

// describe names a region error in a few words.
func describe(e *errorpb.Error) string {
	switch {
	case e.NotLeader != nil:
		if e.NotLeader.Leader.GetId() != 0 {
			return fmt.Sprintf("not leader (leader is peer %d on store %d)", e.NotLeader.Leader.Id, e.NotLeader.Leader.StoreId)
		}
		return "not leader (no leader known)"
	case e.EpochNotMatch != nil:
		return fmt.Sprintf("epoch not match (%d current regions)", len(e.EpochNotMatch.CurrentRegions))
	case e.RegionNotFound != nil:
		return "region not found"
	case e.KeyNotInRegion != nil:
		return fmt.Sprintf("key %q not in region", e.KeyNotInRegion.Key)
	case e.StaleCommand != nil:
		return "stale command"
	case e.StoreNotMatch != nil:
		return fmt.Sprintf("store not match (request for store %d, this is store %d)", e.StoreNotMatch.RequestStoreId, e.StoreNotMatch.ActualStoreId)
	}
	return "region error: " + e.Message
}

// retryableTransport reports whether a request failed in a way another
// attempt (maybe at another peer) can cure: the store is down, slow,
// overloaded or stopping.
func retryableTransport(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return true
	}
	return false
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	c.rngMu.Lock()
	d = d/2 + time.Duration(c.rng.Int63n(int64(d/2)+1))
	c.rngMu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type keyGroup struct {
	loc  *Location
	keys [][]byte
	err  error // the region could not be located
}

// groupByRegion splits keys by region, keeping the order of first
// appearance; keys whose region cannot be located form groups with err set.
func (c *Client) groupByRegion(ctx context.Context, keys [][]byte) []keyGroup {
	var groups []keyGroup
	index := make(map[uint64]int)
	for _, key := range keys {
		if i := cachedGroup(groups, key); i >= 0 {
			groups[i].keys = append(groups[i].keys, key)
			continue
		}
		loc, err := c.regions.Locate(ctx, key)
		if err != nil {
			groups = append(groups, keyGroup{keys: [][]byte{key}, err: err})
			continue
		}
		if i, ok := index[loc.Region.Id]; ok {
			groups[i].keys = append(groups[i].keys, key)
			continue
		}
		index[loc.Region.Id] = len(groups)
		groups = append(groups, keyGroup{loc: loc, keys: [][]byte{key}})
	}
	return groups
}

// cachedGroup is the index of the located group whose region holds key, or -1.
func cachedGroup(groups []keyGroup, key []byte) int {
	for i := range groups {
		if groups[i].loc != nil && groups[i].loc.Contains(key) {
			return i
		}
	}
	return -1
}
