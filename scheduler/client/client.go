// Package client is the gRPC client of tinyscheduler-server, for the store
// (kv/raftstore/scheduler_client builds on it), the client library and
// tools.
//
//	c := client.New([]string{"http://127.0.0.1:2379"}, client.Options{})
//	defer c.Close()
//	ts, err := c.GetTS(ctx)
//	region, leader, err := c.GetRegion(ctx, key)
//
// The client finds the leader through GetMembers on the URLs it was given
// (and on every member they name), puts the cluster id in every request,
// and retries a call that failed for want of a leader (Unavailable, a
// connection refused, a timeout) with back-off and a fresh leader lookup,
// until the call's context ends. New does not dial: a client made before
// the scheduler is up works once it is. Timestamps requested at the same
// time share one request on one long-lived stream.
package client

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Options shape a Client; zero fields take the defaults.
type Options struct {
	// Timeout bounds a call whose context has no deadline, retries
	// included (default 30 s).
	Timeout time.Duration
	// RPCTimeout bounds one attempt of a unary call (default 3 s).
	RPCTimeout time.Duration
	// MinBackoff and MaxBackoff bound the pause between attempts, which
	// doubles from one to the other (defaults 20 ms and 1 s).
	MinBackoff, MaxBackoff time.Duration
	// MaxTSBatch caps the timestamps of one Tso request (default 10,000).
	MaxTSBatch int
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.RPCTimeout <= 0 {
		o.RPCTimeout = 3 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 20 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Second, o.MinBackoff)
	}
	if o.MaxTSBatch <= 0 || o.MaxTSBatch >= 1<<18 {
		o.MaxTSBatch = 10000
	}
	return o
}

// HeaderError is an error the scheduler answered in a response header.
type HeaderError struct {
	Type    schedulerpb.ErrorType
	Message string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("scheduler: %s: %s", e.Type, e.Message)
}

// ErrorType returns the header error type of err (OK when err is not a
// header error).
func ErrorType(err error) schedulerpb.ErrorType {
	if he, ok := errors.Cause(err).(*HeaderError); ok {
		return he.Type
	}
	return schedulerpb.ErrorType_OK
}

// IsNotBootstrapped reports whether err says the cluster is not bootstrapped.
func IsNotBootstrapped(err error) bool {
	return ErrorType(err) == schedulerpb.ErrorType_NOT_BOOTSTRAPPED
}

func headerErr(h *schedulerpb.ResponseHeader) error {
	if e := h.GetError(); e != nil && e.GetType() != schedulerpb.ErrorType_OK {
		return &HeaderError{Type: e.GetType(), Message: e.GetMessage()}
	}
	return nil
}

// Client talks to a scheduler cluster. Safe for concurrent use.
type Client struct {
	opts Options
	urls []string // host:port of the configured members

	mu        sync.Mutex
	conns     map[string]*grpc.ClientConn
	leader    string   // host:port of the leader, "" when unknown
	members   []string // host:port of every member last seen
	clusterID uint64

	tso *tsoBatcher

	ctx    context.Context
	cancel context.CancelFunc
}

// New makes a client of the scheduler members at urls ("http://host:port"
// or "host:port"). It does not connect: the first call does.
func New(urls []string, opts Options) (*Client, error) {
	var hosts []string
	for _, u := range urls {
		for _, part := range strings.Split(u, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			h, err := hostOf(part)
			if err != nil {
				return nil, err
			}
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, errors.New("scheduler client: no scheduler URL given")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{opts: opts.withDefaults(), urls: hosts, conns: map[string]*grpc.ClientConn{}, ctx: ctx, cancel: cancel}
	c.tso = newTSOBatcher(c)
	return c, nil
}

// hostOf turns "http://host:port" or "host:port" into "host:port".
func hostOf(s string) (string, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", errors.Annotatef(err, "scheduler URL %q", s)
		}
		if u.Host == "" {
			return "", errors.Errorf("scheduler URL %q: no host", s)
		}
		return u.Host, nil
	}
	if !strings.Contains(s, ":") {
		return "", errors.Errorf("scheduler address %q: want host:port or http://host:port", s)
	}
	return s, nil
}

// Close ends the client's streams and connections.
func (c *Client) Close() {
	c.cancel()
	c.tso.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, conn := range c.conns {
		conn.Close()
		delete(c.conns, addr)
	}
}

func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[addr]; ok {
		return conn, nil
	}
	if c.ctx.Err() != nil {
		return nil, errors.New("scheduler client is closed")
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, errors.Annotatef(err, "scheduler %s", addr)
	}
	c.conns[addr] = conn
	return conn, nil
}

// withTimeout gives ctx the client's Timeout when it has no deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// discover asks the known members who leads; it sets the leader and the
// cluster id.
func (c *Client) discover(ctx context.Context) (string, uint64, error) {
	c.mu.Lock()
	candidates := append(append([]string{}, c.urls...), c.members...)
	c.mu.Unlock()
	var lastErr error
	seen := map[string]bool{}
	for _, addr := range candidates {
		if seen[addr] {
			continue
		}
		seen[addr] = true
		resp, err := c.getMembersFrom(ctx, addr)
		if err != nil {
			lastErr = err
			continue
		}
		var members []string
		for _, m := range resp.GetMembers() {
			for _, u := range m.GetClientUrls() {
				if h, err := hostOf(u); err == nil {
					members = append(members, h)
				}
			}
		}
		if len(resp.GetLeader().GetClientUrls()) == 0 {
			c.mu.Lock()
			c.members = members
			c.mu.Unlock()
			lastErr = errors.Errorf("scheduler %s: no leader elected yet", addr)
			continue
		}
		leader, err := hostOf(resp.GetLeader().GetClientUrls()[0])
		if err != nil {
			lastErr = err
			continue
		}
		cid := resp.GetHeader().GetClusterId()
		c.mu.Lock()
		if c.clusterID != 0 && cid != c.clusterID {
			c.mu.Unlock()
			return "", 0, errors.Errorf("scheduler %s serves cluster %d, this client was talking to cluster %d", addr, cid, c.clusterID)
		}
		c.members = members
		c.leader = leader
		c.clusterID = cid
		c.mu.Unlock()
		return leader, cid, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no scheduler answered")
	}
	return "", 0, lastErr
}

func (c *Client) getMembersFrom(ctx context.Context, addr string) (*schedulerpb.GetMembersResponse, error) {
	conn, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.RPCTimeout)
	defer cancel()
	resp, err := schedulerpb.NewSchedulerClient(conn).GetMembers(actx, &schedulerpb.GetMembersRequest{})
	if err != nil {
		return nil, errors.Annotatef(err, "GetMembers from %s", addr)
	}
	return resp, nil
}

// leaderConn returns the connection to the leader and the cluster id,
// looking the leader up when it is not known.
func (c *Client) leaderConn(ctx context.Context) (*grpc.ClientConn, uint64, error) {
	c.mu.Lock()
	leader, cid := c.leader, c.clusterID
	c.mu.Unlock()
	if leader == "" {
		var err error
		if leader, cid, err = c.discover(ctx); err != nil {
			return nil, 0, err
		}
	}
	conn, err := c.conn(leader)
	return conn, cid, err
}

// forgetLeader drops the leader after a failure, so the next attempt looks
// it up again.
func (c *Client) forgetLeader(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if addr == "" || c.leader == addr {
		c.leader = ""
	}
}

// retryable reports whether a gRPC failure may go away with another leader
// or another try.
func retryable(err error) bool {
	switch status.Code(errors.Cause(err)) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// backoff sleeps before attempt n (from 0) or returns the context's error.
func (c *Client) backoff(ctx context.Context, n int) error {
	d := c.opts.MinBackoff << uint(min(n, 16))
	if d > c.opts.MaxBackoff || d <= 0 {
		d = c.opts.MaxBackoff
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call runs one unary request on the leader, with retries; fn gets a
// header with the cluster id and a context bounded by RPCTimeout.
func (c *Client) call(ctx context.Context, what string, fn func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := c.attempt(ctx, fn)
		if err == nil {
			return nil
		}
		if _, ok := err.(*HeaderError); ok || !retryable(err) && !isDiscoveryErr(err) {
			return errors.Annotate(err, what)
		}
		log.Debugf("[scheduler-client] %s attempt %d: %v", what, attempt, err)
		if berr := c.backoff(ctx, attempt); berr != nil {
			return errors.Annotatef(err, "%s: gave up (%v)", what, berr)
		}
	}
}

// discoveryErr marks a failure to find the leader (always retried).
type discoveryErr struct{ error }

func isDiscoveryErr(err error) bool {
	_, ok := err.(discoveryErr)
	return ok
}

func (c *Client) attempt(ctx context.Context, fn func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error) error {
	conn, cid, err := c.leaderConn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return discoveryErr{err}
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.RPCTimeout)
	defer cancel()
	err = fn(actx, schedulerpb.NewSchedulerClient(conn), &schedulerpb.RequestHeader{ClusterId: cid})
	if err != nil && retryable(err) {
		c.forgetLeader(conn.Target())
	}
	return err
}

// ClusterID returns the id of the cluster, asking the scheduler if needed.
func (c *Client) ClusterID(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	cid := c.clusterID
	c.mu.Unlock()
	if cid != 0 {
		return cid, nil
	}
	err := c.call(ctx, "cluster id", func(ctx context.Context, _ schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		cid = h.ClusterId
		return nil
	})
	return cid, err
}

// GetMembers returns the members and the leader as the leader sees them.
func (c *Client) GetMembers(ctx context.Context) (*schedulerpb.GetMembersResponse, error) {
	var resp *schedulerpb.GetMembersResponse
	err := c.call(ctx, "GetMembers", func(ctx context.Context, cli schedulerpb.SchedulerClient, _ *schedulerpb.RequestHeader) error {
		var err error
		resp, err = cli.GetMembers(ctx, &schedulerpb.GetMembersRequest{})
		return err
	})
	return resp, err
}

// AllocID returns a new id unique in the cluster.
func (c *Client) AllocID(ctx context.Context) (uint64, error) {
	var id uint64
	err := c.call(ctx, "AllocID", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.AllocID(ctx, &schedulerpb.AllocIDRequest{Header: h})
		if err != nil {
			return err
		}
		id = resp.GetId()
		return headerErr(resp.GetHeader())
	})
	return id, err
}

// IsBootstrapped reports whether the cluster has been bootstrapped.
func (c *Client) IsBootstrapped(ctx context.Context) (bool, error) {
	var ok bool
	err := c.call(ctx, "IsBootstrapped", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.IsBootstrapped(ctx, &schedulerpb.IsBootstrappedRequest{Header: h})
		if err != nil {
			return err
		}
		ok = resp.GetBootstrapped()
		return headerErr(resp.GetHeader())
	})
	return ok, err
}

// Bootstrap records the cluster's first store and region (region may be
// nil). An ALREADY_BOOTSTRAPPED answer is returned in the response, not as
// an error.
func (c *Client) Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) (*schedulerpb.BootstrapResponse, error) {
	var resp *schedulerpb.BootstrapResponse
	err := c.call(ctx, "Bootstrap", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		var err error
		resp, err = cli.Bootstrap(ctx, &schedulerpb.BootstrapRequest{Header: h, Store: store, Region: region})
		if err != nil {
			return err
		}
		if ErrorType(headerErr(resp.GetHeader())) == schedulerpb.ErrorType_ALREADY_BOOTSTRAPPED {
			return nil
		}
		return headerErr(resp.GetHeader())
	})
	return resp, err
}

// PutStore registers a store or updates its address.
func (c *Client) PutStore(ctx context.Context, store *metapb.Store) error {
	return c.call(ctx, "PutStore", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.PutStore(ctx, &schedulerpb.PutStoreRequest{Header: h, Store: store})
		if err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
}

// GetStore returns a store; an unknown store is an error.
func (c *Client) GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error) {
	resp, err := c.GetStoreWithStats(ctx, storeID)
	return resp.GetStore(), err
}

// GetStoreWithStats returns a store and its last statistics.
func (c *Client) GetStoreWithStats(ctx context.Context, storeID uint64) (*schedulerpb.GetStoreResponse, error) {
	var resp *schedulerpb.GetStoreResponse
	err := c.call(ctx, "GetStore", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		var err error
		resp, err = cli.GetStore(ctx, &schedulerpb.GetStoreRequest{Header: h, StoreId: storeID})
		if err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// GetAllStores returns every store, tombstones too unless excluded.
func (c *Client) GetAllStores(ctx context.Context, excludeTombstones bool) ([]*metapb.Store, error) {
	var stores []*metapb.Store
	err := c.call(ctx, "GetAllStores", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.GetAllStores(ctx, &schedulerpb.GetAllStoresRequest{Header: h, ExcludeTombstoneStores: excludeTombstones})
		if err != nil {
			return err
		}
		stores = resp.GetStores()
		return headerErr(resp.GetHeader())
	})
	return stores, err
}

// StoreHeartbeat reports a store's statistics.
func (c *Client) StoreHeartbeat(ctx context.Context, stats *schedulerpb.StoreStats) error {
	return c.call(ctx, "StoreHeartbeat", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.StoreHeartbeat(ctx, &schedulerpb.StoreHeartbeatRequest{Header: h, Stats: stats})
		if err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
}

func (c *Client) getRegion(ctx context.Context, what string, fn func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) (*schedulerpb.GetRegionResponse, error)) (*metapb.Region, *metapb.Peer, error) {
	var resp *schedulerpb.GetRegionResponse
	err := c.call(ctx, what, func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		var err error
		if resp, err = fn(ctx, cli, h); err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
	if err != nil {
		return nil, nil, err
	}
	leader := resp.GetLeader()
	if leader == nil {
		leader = &metapb.Peer{}
	}
	return resp.GetRegion(), leader, nil
}

// GetRegion returns the region containing key and its leader (a zero Peer
// when unknown); a nil region when the scheduler knows none.
func (c *Client) GetRegion(ctx context.Context, key []byte) (*metapb.Region, *metapb.Peer, error) {
	return c.getRegion(ctx, "GetRegion", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) (*schedulerpb.GetRegionResponse, error) {
		return cli.GetRegion(ctx, &schedulerpb.GetRegionRequest{Header: h, RegionKey: key})
	})
}

// GetPrevRegion returns the region before the one containing key.
func (c *Client) GetPrevRegion(ctx context.Context, key []byte) (*metapb.Region, *metapb.Peer, error) {
	return c.getRegion(ctx, "GetPrevRegion", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) (*schedulerpb.GetRegionResponse, error) {
		return cli.GetPrevRegion(ctx, &schedulerpb.GetRegionRequest{Header: h, RegionKey: key})
	})
}

// GetRegionByID returns a region and its leader; a nil region when unknown.
func (c *Client) GetRegionByID(ctx context.Context, regionID uint64) (*metapb.Region, *metapb.Peer, error) {
	return c.getRegion(ctx, "GetRegionByID", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) (*schedulerpb.GetRegionResponse, error) {
		return cli.GetRegionByID(ctx, &schedulerpb.GetRegionByIDRequest{Header: h, RegionId: regionID})
	})
}

// ScanRegions returns up to limit regions from the one containing start to
// the last one starting before end (empty: the end of the key space), with
// a leader each (a zero Peer when unknown).
func (c *Client) ScanRegions(ctx context.Context, start, end []byte, limit int) ([]*metapb.Region, []*metapb.Peer, error) {
	var resp *schedulerpb.ScanRegionsResponse
	err := c.call(ctx, "ScanRegions", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		var err error
		resp, err = cli.ScanRegions(ctx, &schedulerpb.ScanRegionsRequest{Header: h, StartKey: start, EndKey: end, Limit: int32(limit)})
		if err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
	if err != nil {
		return nil, nil, err
	}
	return resp.GetRegions(), resp.GetLeaders(), nil
}

// AskSplit returns the ids for splitting region: a new region id and one
// new peer id per peer, in peer order.
func (c *Client) AskSplit(ctx context.Context, region *metapb.Region) (*schedulerpb.AskSplitResponse, error) {
	var resp *schedulerpb.AskSplitResponse
	err := c.call(ctx, "AskSplit", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		var err error
		if resp, err = cli.AskSplit(ctx, &schedulerpb.AskSplitRequest{Header: h, Region: region}); err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// GetOperator returns the region's running or last operator.
func (c *Client) GetOperator(ctx context.Context, regionID uint64) (*schedulerpb.GetOperatorResponse, error) {
	var resp *schedulerpb.GetOperatorResponse
	err := c.call(ctx, "GetOperator", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		var err error
		if resp, err = cli.GetOperator(ctx, &schedulerpb.GetOperatorRequest{Header: h, RegionId: regionID}); err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// GetClusterConfig returns the cluster's metapb.Cluster (max_peer_count).
func (c *Client) GetClusterConfig(ctx context.Context) (*metapb.Cluster, error) {
	var cluster *metapb.Cluster
	err := c.call(ctx, "GetClusterConfig", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.GetClusterConfig(ctx, &schedulerpb.GetClusterConfigRequest{Header: h})
		if err != nil {
			return err
		}
		cluster = resp.GetCluster()
		return headerErr(resp.GetHeader())
	})
	return cluster, err
}

// PutClusterConfig replaces the cluster's metapb.Cluster.
func (c *Client) PutClusterConfig(ctx context.Context, cluster *metapb.Cluster) error {
	return c.call(ctx, "PutClusterConfig", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.PutClusterConfig(ctx, &schedulerpb.PutClusterConfigRequest{Header: h, Cluster: cluster})
		if err != nil {
			return err
		}
		return headerErr(resp.GetHeader())
	})
}

// GetGCSafePoint returns the GC safe point.
func (c *Client) GetGCSafePoint(ctx context.Context) (uint64, error) {
	var sp uint64
	err := c.call(ctx, "GetGCSafePoint", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.GetGCSafePoint(ctx, &schedulerpb.GetGCSafePointRequest{Header: h})
		if err != nil {
			return err
		}
		sp = resp.GetSafePoint()
		return headerErr(resp.GetHeader())
	})
	return sp, err
}

// UpdateGCSafePoint moves the GC safe point forward and returns the one in
// force (an older one than the current is ignored).
func (c *Client) UpdateGCSafePoint(ctx context.Context, safePoint uint64) (uint64, error) {
	var sp uint64
	err := c.call(ctx, "UpdateGCSafePoint", func(ctx context.Context, cli schedulerpb.SchedulerClient, h *schedulerpb.RequestHeader) error {
		resp, err := cli.UpdateGCSafePoint(ctx, &schedulerpb.UpdateGCSafePointRequest{Header: h, SafePoint: safePoint})
		if err != nil {
			return err
		}
		sp = resp.GetNewSafePoint()
		return headerErr(resp.GetHeader())
	})
	return sp, err
}

// Stream opens a stream on the leader with open (for the region heartbeat
// stream of the store client), retrying like a unary call until it opens.
// It returns the stream and the header to put in its requests; the stream
// lives until ctx ends.
func (c *Client) Stream(ctx context.Context, open func(ctx context.Context, cli schedulerpb.SchedulerClient) error) (*schedulerpb.RequestHeader, error) {
	for attempt := 0; ; attempt++ {
		conn, cid, err := c.leaderConn(ctx)
		if err == nil {
			if err = open(ctx, schedulerpb.NewSchedulerClient(conn)); err == nil {
				return &schedulerpb.RequestHeader{ClusterId: cid}, nil
			}
			c.forgetLeader(conn.Target())
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Debugf("[scheduler-client] open stream attempt %d: %v", attempt, err)
		if berr := c.backoff(ctx, attempt); berr != nil {
			return nil, errors.Annotatef(err, "open stream: gave up (%v)", berr)
		}
	}
}

// ForgetLeader makes the next call look the leader up again (a stream user
// calls it when its stream breaks).
func (c *Client) ForgetLeader() { c.forgetLeader("") }
