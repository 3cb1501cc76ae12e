package raft_storage

import (
	"context"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/util/worker"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// storeAddressRefreshInterval is how long a resolved address is trusted.
const storeAddressRefreshInterval = 60 * time.Second

// resolveAddrTask asks for the address of a store; callback gets it.
type resolveAddrTask struct {
	storeID  uint64
	callback func(addr string, err error)
}

type storeAddr struct {
	addr       string
	lastUpdate time.Time
}

// resolverRunner answers store addresses from the scheduler, with a cache.
type resolverRunner struct {
	schedulerClient scheduler_client.Client
	storeAddrs      map[uint64]storeAddr
}

func newResolverRunner(schedulerClient scheduler_client.Client) *resolverRunner {
	return &resolverRunner{
		schedulerClient: schedulerClient,
		storeAddrs:      make(map[uint64]storeAddr),
	}
}

func (r *resolverRunner) getAddr(id uint64) (string, error) {
	if sa, ok := r.storeAddrs[id]; ok {
		if time.Since(sa.lastUpdate) < storeAddressRefreshInterval {
			return sa.addr, nil
		}
	}
	store, err := r.schedulerClient.GetStore(context.TODO(), id)
	if err != nil {
		return "", err
	}
	if store.GetState() == metapb.StoreState_Tombstone {
		return "", errors.Errorf("store %d has been removed", id)
	}
	addr := store.GetAddress()
	if addr == "" {
		return "", errors.Errorf("invalid empty address for store %d", id)
	}
	r.storeAddrs[id] = storeAddr{
		addr:       addr,
		lastUpdate: time.Now(),
	}
	return addr, nil
}

func (r *resolverRunner) Handle(t worker.Task) {
	data := t.(*resolveAddrTask)
	data.callback(r.getAddr(data.storeID))
}
