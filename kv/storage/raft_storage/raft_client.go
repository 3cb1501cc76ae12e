package raft_storage

import (
	"context"
	"sync"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

const (
	// raftConnQueueLen bounds the messages waiting for one connection. Raft
	// survives lost messages, so when a store is unreachable long enough to
	// fill it, new messages are dropped instead of blocking the raft worker.
	raftConnQueueLen = 4096
	// maxQueuedAge: a message that waited longer for its connection (the
	// store was unreachable) is dropped, not sent. Raft sends again what
	// is still needed; a restarted store would otherwise first get
	// seconds-old messages, some for peers that left it meanwhile.
	maxQueuedAge     = time.Second
	minReconnectWait = 50 * time.Millisecond
	maxReconnectWait = 2 * time.Second
	dialTimeout      = 3 * time.Second
)

var errConnQueueFull = errors.New("raft connection queue is full")

// raftConn keeps one TinyKv.Raft stream to one address and sends the
// messages queued for it from its own goroutine, reconnecting with
// exponential back-off when the stream breaks.
type raftConn struct {
	addr   string
	queue  chan queuedMsg
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// queuedMsg is a message waiting for its connection since at.
type queuedMsg struct {
	msg *raft_serverpb.RaftMessage
	at  time.Time
}

func newRaftConn(addr string) *raftConn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &raftConn{
		addr:   addr,
		queue:  make(chan queuedMsg, raftConnQueueLen),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go c.run()
	return c
}

// enqueue hands msg to the connection without waiting.
func (c *raftConn) enqueue(msg *raft_serverpb.RaftMessage) error {
	select {
	case c.queue <- queuedMsg{msg: msg, at: time.Now()}:
		return nil
	default:
		return errConnQueueFull
	}
}

// run connects, sends until the stream breaks, waits, and connects again,
// until the connection is closed.
func (c *raftConn) run() {
	defer close(c.done)
	wait := minReconnectWait
	for c.ctx.Err() == nil {
		sent, err := c.connectAndSend()
		if c.ctx.Err() != nil {
			return
		}
		if sent {
			wait = minReconnectWait
		}
		log.Debugf("[msg] raft stream to %s broke: %v; reconnecting in %v", c.addr, err, wait)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
			return
		}
		if wait *= 2; wait > maxReconnectWait {
			wait = maxReconnectWait
		}
	}
}

// connectAndSend opens a stream and sends queued messages until an error;
// it reports whether any message went through.
func (c *raftConn) connectAndSend() (bool, error) {
	dialCtx, cancel := context.WithTimeout(c.ctx, dialTimeout)
	defer cancel()
	cc, err := grpc.DialContext(dialCtx, c.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithBlock(),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 3 * time.Second, Timeout: 60 * time.Second}))
	if err != nil {
		return false, err
	}
	defer cc.Close()
	stream, err := tinykvpb.NewTinyKvClient(cc).Raft(c.ctx)
	if err != nil {
		return false, err
	}
	sent, stale := false, 0
	for {
		select {
		case <-c.ctx.Done():
			_, _ = stream.CloseAndRecv()
			return sent, c.ctx.Err()
		case q := <-c.queue:
			if time.Since(q.at) > maxQueuedAge {
				stale++
				continue
			}
			if stale > 0 {
				log.Infof("[msg] raft stream to %s: dropped %d messages that waited more than %v for it", c.addr, stale, maxQueuedAge)
				stale = 0
			}
			if err := stream.Send(q.msg); err != nil {
				return sent, err
			}
			sent = true
		}
	}
}

func (c *raftConn) close() {
	c.cancel()
	<-c.done
}

// RaftClient sends raft messages to other stores, one connection per address.
type RaftClient struct {
	sync.Mutex
	conns  map[string]*raftConn
	addrs  map[uint64]string
	closed bool
}

func newRaftClient() *RaftClient {
	return &RaftClient{
		conns: make(map[string]*raftConn),
		addrs: make(map[uint64]string),
	}
}

func (c *RaftClient) getConn(addr string) (*raftConn, error) {
	c.Lock()
	defer c.Unlock()
	if c.closed {
		return nil, errors.New("raft client is closed")
	}
	conn, ok := c.conns[addr]
	if !ok {
		conn = newRaftConn(addr)
		c.conns[addr] = conn
	}
	return conn, nil
}

// Send queues msg for the store at addr.
func (c *RaftClient) Send(storeID uint64, addr string, msg *raft_serverpb.RaftMessage) error {
	conn, err := c.getConn(addr)
	if err != nil {
		return err
	}
	return conn.enqueue(msg)
}

// GetAddr is the cached address of a store, "" when unknown.
func (c *RaftClient) GetAddr(storeID uint64) string {
	c.Lock()
	defer c.Unlock()
	return c.addrs[storeID]
}

// InsertAddr caches the address of a store.
func (c *RaftClient) InsertAddr(storeID uint64, addr string) {
	c.Lock()
	defer c.Unlock()
	c.addrs[storeID] = addr
}

// Stop closes every connection and waits for their goroutines.
func (c *RaftClient) Stop() {
	c.Lock()
	c.closed = true
	conns := c.conns
	c.conns = make(map[string]*raftConn)
	c.Unlock()
	for _, conn := range conns {
		conn.close()
	}
}
