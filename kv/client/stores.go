package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
)

// storeCache resolves store ids to addresses through the scheduler and
// keeps one connection per address.
type storeCache struct {
	sched Scheduler
	dial  Dialer

	mu    sync.Mutex
	addrs map[uint64]string // store id → address
	conns map[string]*storeConn
}

type storeConn struct {
	kv    tinykvpb.TinyKvClient
	close func() error
}

func newStoreCache(sched Scheduler, dial Dialer) *storeCache {
	return &storeCache{sched: sched, dial: dial, addrs: make(map[uint64]string), conns: make(map[string]*storeConn)}
}

// get returns the API of a store, resolving its address when not known.
func (s *storeCache) get(ctx context.Context, storeID uint64) (tinykvpb.TinyKvClient, error) {
	s.mu.Lock()
	addr, ok := s.addrs[storeID]
	s.mu.Unlock()
	if !ok {
		store, err := s.sched.GetStore(ctx, storeID)
		if err != nil {
			return nil, fmt.Errorf("resolving store %d: %v", storeID, err)
		}
		if store.GetAddress() == "" {
			return nil, fmt.Errorf("resolving store %d: the scheduler knows no address for it", storeID)
		}
		if store.GetState() == metapb.StoreState_Tombstone {
			return nil, fmt.Errorf("store %d is a tombstone", storeID)
		}
		addr = store.Address
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[storeID] = addr
	if conn, ok := s.conns[addr]; ok {
		return conn.kv, nil
	}
	kv, closer, err := s.dial(addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to store %d at %s: %v", storeID, addr, err)
	}
	s.conns[addr] = &storeConn{kv: kv, close: closer}
	return kv, nil
}

// forget drops a store's address, so the next request asks the scheduler
// again (the store may have moved); the connection stays for other ids.
func (s *storeCache) forget(storeID uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.addrs, storeID)
}

func (s *storeCache) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for addr, conn := range s.conns {
		if err := conn.close(); err != nil && first == nil {
			first = fmt.Errorf("closing the connection to %s: %v", addr, err)
		}
		delete(s.conns, addr)
	}
	return first
}
