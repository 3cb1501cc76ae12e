package scheduler_client

import (
	"context"
	"sync"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/client"
)

// GRPCClient is the Client of a real scheduler, over gRPC. It is the
// general scheduler client (scheduler/client) plus one long-lived region
// heartbeat stream: heartbeats are queued and sent on it, the scheduler's
// orders received on it go to the handler, and the stream is opened again
// (on the leader of the moment) whenever it breaks.
type GRPCClient struct {
	*client.Client

	hbQueue chan *schedulerpb.RegionHeartbeatRequest

	mu      sync.Mutex
	handler func(*schedulerpb.RegionHeartbeatResponse)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ Client = (*GRPCClient)(nil)

// heartbeatQueueLen bounds the region heartbeats waiting to be sent; a
// region whose heartbeat did not fit sends another at its next tick.
const heartbeatQueueLen = 4096

// NewClient makes a client of the scheduler at urls ("http://host:port" or
// "host:port"). It does not wait for the scheduler: calls retry until it
// answers or their context ends.
func NewClient(urls []string, opts client.Options) (*GRPCClient, error) {
	base, err := client.New(urls, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &GRPCClient{
		Client:  base,
		hbQueue: make(chan *schedulerpb.RegionHeartbeatRequest, heartbeatQueueLen),
		ctx:     ctx,
		cancel:  cancel,
	}
	c.wg.Add(1)
	go c.heartbeatLoop()
	return c, nil
}

// GetClusterID returns the cluster id, waiting for the scheduler until ctx
// ends (0 then).
func (c *GRPCClient) GetClusterID(ctx context.Context) uint64 {
	id, err := c.Client.ClusterID(ctx)
	if err != nil {
		log.Warnf("[scheduler-client] cluster id: %v", err)
		return 0
	}
	return id
}

// RegionHeartbeat queues a region heartbeat for the stream.
func (c *GRPCClient) RegionHeartbeat(req *schedulerpb.RegionHeartbeatRequest) error {
	select {
	case c.hbQueue <- req:
		return nil
	case <-c.ctx.Done():
		return errors.New("region heartbeat: the scheduler client is closed")
	default:
		return errors.Errorf("region heartbeat of region %d: %d heartbeats already wait for the scheduler", req.GetRegion().GetId(), heartbeatQueueLen)
	}
}

// SetRegionHeartbeatResponseHandler installs the receiver of the
// scheduler's orders (the store id is the store this client serves).
func (c *GRPCClient) SetRegionHeartbeatResponseHandler(storeID uint64, h func(*schedulerpb.RegionHeartbeatResponse)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handler = h
}

func (c *GRPCClient) handle(resp *schedulerpb.RegionHeartbeatResponse) {
	if e := resp.GetHeader().GetError(); e != nil && e.GetType() != schedulerpb.ErrorType_OK {
		log.Debugf("[scheduler-client] region=%d heartbeat answered %s: %s", resp.GetRegionId(), e.GetType(), e.GetMessage())
		return
	}
	c.mu.Lock()
	h := c.handler
	c.mu.Unlock()
	if h != nil {
		h(resp)
	}
}

// heartbeatLoop keeps a region heartbeat stream open and sends the queued
// heartbeats on it.
func (c *GRPCClient) heartbeatLoop() {
	defer c.wg.Done()
	for attempt := 0; c.ctx.Err() == nil; attempt++ {
		if err := c.runStream(); err != nil && c.ctx.Err() == nil {
			log.Warnf("[scheduler-client] region heartbeat stream broke, opening another: %v", err)
			c.ForgetLeader()
			select {
			case <-time.After(time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond):
			case <-c.ctx.Done():
			}
			continue
		}
		attempt = 0
	}
}

// runStream opens one stream and uses it until it breaks.
func (c *GRPCClient) runStream() error {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	var stream schedulerpb.Scheduler_RegionHeartbeatClient
	header, err := c.Stream(ctx, func(sctx context.Context, cli schedulerpb.SchedulerClient) error {
		s, err := cli.RegionHeartbeat(sctx)
		if err == nil {
			stream = s
		}
		return err
	})
	if err != nil {
		return err
	}
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			c.handle(resp)
		}
	}()
	for {
		select {
		case req := <-c.hbQueue:
			req.Header = header
			if err := stream.Send(req); err != nil {
				return errors.Annotatef(err, "send heartbeat of region %d", req.GetRegion().GetId())
			}
		case err := <-recvErr:
			return errors.Annotate(err, "receive")
		case <-c.ctx.Done():
			stream.CloseSend()
			return nil
		}
	}
}

// Close stops the heartbeat stream and the client.
func (c *GRPCClient) Close() {
	c.cancel()
	c.wg.Wait()
	c.Client.Close()
}
