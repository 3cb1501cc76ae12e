package server

import (
	"sync"

	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// heartbeatStreams holds the open region heartbeat stream of each store:
// orders for a region go to the stream of the store of its leader. Each
// stream has a queue and a goroutine that sends from it, so a slow store
// never holds up the heartbeats of the others.
type heartbeatStreams struct {
	clusterID uint64

	mu      sync.Mutex
	streams map[uint64]*hbStream
}

type hbStream struct {
	storeID uint64
	stream  schedulerpb.Scheduler_RegionHeartbeatServer
	queue   chan *schedulerpb.RegionHeartbeatResponse
	done    chan struct{}
}

// hbQueueLen bounds the orders waiting for one store; more are dropped (an
// order is sent again on the region's next heartbeat).
const hbQueueLen = 1024

func newHeartbeatStreams(clusterID uint64) *heartbeatStreams {
	return &heartbeatStreams{clusterID: clusterID, streams: map[uint64]*hbStream{}}
}

// SendMsg sends an order to the leader of region (schedule.HeartbeatStreams).
func (h *heartbeatStreams) SendMsg(region *core.RegionInfo, msg *schedulerpb.RegionHeartbeatResponse) {
	storeID := region.GetLeader().GetStoreId()
	if storeID == 0 {
		return
	}
	msg.Header = &schedulerpb.ResponseHeader{ClusterId: h.clusterID}
	h.send(storeID, msg)
}

// bind makes stream the one of storeID (replacing an older one); the
// returned function unbinds it when the stream ends.
func (h *heartbeatStreams) bind(storeID uint64, stream schedulerpb.Scheduler_RegionHeartbeatServer) *hbStream {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.streams[storeID]; ok && old.stream == stream {
		return old
	}
	s := &hbStream{
		storeID: storeID,
		stream:  stream,
		queue:   make(chan *schedulerpb.RegionHeartbeatResponse, hbQueueLen),
		done:    make(chan struct{}),
	}
	if old, ok := h.streams[storeID]; ok {
		close(old.done)
	}
	h.streams[storeID] = s
	go s.run()
	return s
}

// unbind forgets stream if it is still the one of its store.
func (h *heartbeatStreams) unbind(stream schedulerpb.Scheduler_RegionHeartbeatServer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, s := range h.streams {
		if s.stream == stream {
			close(s.done)
			delete(h.streams, id)
		}
	}
}

func (s *hbStream) run() {
	for {
		select {
		case msg := <-s.queue:
			if err := s.stream.Send(msg); err != nil {
				log.Debugf("[heartbeat] store=%d send order of region=%d: %v", s.storeID, msg.GetRegionId(), err)
			}
		case <-s.done:
			return
		}
	}
}

// send queues an order for the store of the region's leader; false when
// that store has no stream or its queue is full.
func (h *heartbeatStreams) send(storeID uint64, msg *schedulerpb.RegionHeartbeatResponse) bool {
	h.mu.Lock()
	s, ok := h.streams[storeID]
	h.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case s.queue <- msg:
		return true
	case <-s.done:
		return false
	default:
		log.Warnf("[heartbeat] store=%d region=%d order dropped: the store's queue is full", storeID, msg.GetRegionId())
		return false
	}
}

// close ends every stream's sender.
func (h *heartbeatStreams) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, s := range h.streams {
		close(s.done)
		delete(h.streams, id)
	}
}
