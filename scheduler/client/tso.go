package client

import (
	"context"
	"sync"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// tsoBatcher gathers the timestamp requests that arrive while one Tso
// request is in flight into the next one, on one stream to the leader.
type tsoBatcher struct {
	c       *Client
	reqs    chan *tsoRequest
	stopc   chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

type tsoRequest struct {
	ctx  context.Context
	done chan tsoResult // buffered: the batcher never blocks on it
}

type tsoResult struct {
	ts  uint64
	err error
}

// tsoQueue bounds the requests waiting for the next batch.
const tsoQueue = 1 << 16

func newTSOBatcher(c *Client) *tsoBatcher {
	b := &tsoBatcher{c: c, reqs: make(chan *tsoRequest, tsoQueue), stopc: make(chan struct{})}
	b.stopped.Add(1)
	go b.run()
	return b
}

func (b *tsoBatcher) close() {
	b.once.Do(func() { close(b.stopc) })
	b.stopped.Wait()
}

// ComposeTS makes a timestamp of its physical (ms) and logical parts.
func ComposeTS(physical, logical int64) uint64 {
	return uint64(physical)<<18 | uint64(logical)
}

// GetTS returns a new timestamp (physical ms << 18 | logical), strictly
// greater than every timestamp the cluster answered before the call.
func (c *Client) GetTS(ctx context.Context) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	req := tsoRequestPool.Get().(*tsoRequest)
	req.ctx = ctx
	select {
	case c.tso.reqs <- req:
	case <-ctx.Done():
		return 0, errors.Annotate(ctx.Err(), "get timestamp")
	case <-c.tso.stopc:
		return 0, errors.New("get timestamp: the client is closed")
	}
	select {
	case r := <-req.done:
		req.ctx = nil
		tsoRequestPool.Put(req)
		return r.ts, r.err
	case <-ctx.Done():
		// The batcher may still answer req: it is not reused.
		return 0, errors.Annotate(ctx.Err(), "get timestamp")
	}
}

var tsoRequestPool = sync.Pool{New: func() any { return &tsoRequest{done: make(chan tsoResult, 1)} }}

// run sends batches until the client closes.
func (b *tsoBatcher) run() {
	defer b.stopped.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-b.stopc
		cancel()
	}()
	var stream schedulerpb.Scheduler_TsoClient
	var header *schedulerpb.RequestHeader
	var batch []*tsoRequest
	attempt := 0
	for {
		if len(batch) == 0 {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			case <-b.stopc:
				return
			}
		}
		// Take whatever else is waiting, up to the batch limit.
	gather:
		for len(batch) < b.c.opts.MaxTSBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		batch = dropCancelled(batch)
		if len(batch) == 0 {
			continue
		}
		if stream == nil {
			var err error
			header, err = b.c.Stream(ctx, func(sctx context.Context, cli schedulerpb.SchedulerClient) error {
				s, err := cli.Tso(sctx)
				if err == nil {
					stream = s
				}
				return err
			})
			if err != nil {
				if ctx.Err() != nil {
					failAll(batch, errors.New("get timestamp: the client is closed"))
					return
				}
				continue
			}
		}
		last, err := exchange(stream, header, len(batch))
		if err != nil {
			log.Debugf("[scheduler-client] tso stream: %v", err)
			stream = nil
			b.c.ForgetLeader()
			if !retryable(err) {
				failAll(batch, errors.Annotate(err, "get timestamp"))
				batch = nil
				continue
			}
			if b.c.backoff(ctx, attempt) != nil {
				failAll(batch, errors.New("get timestamp: the client is closed"))
				return
			}
			attempt++
			continue
		}
		attempt = 0
		first := last - uint64(len(batch)) + 1
		for i, r := range batch {
			r.done <- tsoResult{ts: first + uint64(i)}
		}
		batch = batch[:0]
	}
}

// exchange asks for n timestamps and returns the last one.
func exchange(stream schedulerpb.Scheduler_TsoClient, header *schedulerpb.RequestHeader, n int) (uint64, error) {
	if err := stream.Send(&schedulerpb.TsoRequest{Header: header, Count: uint32(n)}); err != nil {
		return 0, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, err
	}
	if err := headerErr(resp.GetHeader()); err != nil {
		return 0, err
	}
	if resp.GetCount() != uint32(n) || resp.GetTimestamp() == nil {
		return 0, errors.Errorf("tso: asked for %d timestamps, got %d", n, resp.GetCount())
	}
	ts := resp.GetTimestamp()
	if ts.GetLogical() < int64(n) {
		return 0, errors.Errorf("tso: batch of %d ends at logical %d", n, ts.GetLogical())
	}
	return ComposeTS(ts.GetPhysical(), ts.GetLogical()), nil
}

func dropCancelled(batch []*tsoRequest) []*tsoRequest {
	out := batch[:0]
	for _, r := range batch {
		if r.ctx.Err() == nil {
			out = append(out, r)
		}
	}
	return out
}

func failAll(batch []*tsoRequest, err error) {
	for _, r := range batch {
		r.done <- tsoResult{err: err}
	}
}
