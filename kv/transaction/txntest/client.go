// Package txntest drives the transactional API the way a client does, for
// tests: a timestamp oracle with a virtual clock (Oracle), a sender that
// hands each request straight to a TxnKV with the context a Router names
// (NewClient), and the bank workload (RunBank), which moves money between
// accounts from many clients at once, abandons some transactions half way,
// and checks at every snapshot that no money appeared or vanished.
//
// The two-phase commit and the lock resolution are the client library's
// (kv/client/percolator); this package only plugs a store in directly, so
// the same code checks a Server over MemStorage, over standalone storage or
// over a raft cluster (give it a Router that names each key's region), and
// the bank runs against a real cluster through kv/client too (RunBankWith).
package txntest

import (
	"context"
	"fmt"
	"time"

	"github.com/tinykv-lab/tinykv/kv/client/percolator"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// TxnKV is the transactional API of a store; *server.Server implements it.
type TxnKV = percolator.TxnKV

// The client types are the client library's.
type (
	Client       = percolator.Client
	Txn          = percolator.Txn
	CrashPoint   = percolator.CrashPoint
	ResolveStats = percolator.ResolveStats
)

// The places a commit can be stopped at.
const (
	NoCrash                   = percolator.NoCrash
	CrashAfterPrimaryPrewrite = percolator.CrashAfterPrimaryPrewrite
	CrashAfterPrewrite        = percolator.CrashAfterPrewrite
	CrashAfterPrimaryCommit   = percolator.CrashAfterPrimaryCommit
)

// ErrAborted is returned (wrapped) by Commit when the transaction did not
// commit and never will.
var ErrAborted = percolator.ErrAborted

// Router gives the request context (region, epoch, peer) for a key. It is
// asked again after a region error. nil routes every key to a nil context,
// which is right for a single storage.
type Router func(key []byte) *kvrpcpb.Context

// Limits that keep a broken store from hanging a test.
const (
	maxRegionRetries = 50
	maxLockRetries   = 5000
	regionBackoff    = 20 * time.Millisecond
	// lockBackoff is the real time a reader gives a live lock's owner to
	// finish before it asks again (and the virtual clock moves on).
	lockBackoff = 50 * time.Microsecond
)

// NewClient makes a client whose transactions go straight to kv and lock
// keys for ttl milliseconds of the oracle's virtual clock. stats may be
// shared.
func NewClient(kv TxnKV, oracle *Oracle, route Router, ttl uint64, stats *ResolveStats) *Client {
	return percolator.NewClient(&routedSender{kv: kv, route: route}, oracle, percolator.Options{
		LockTTL:        ttl,
		LockBackoff:    lockBackoff,
		MaxLockBackoff: lockBackoff,
		MaxLockRetries: maxLockRetries,
		Stats:          stats,
	})
}

// routedSender sends every request to one TxnKV, with the context its
// router names.
type routedSender struct {
	kv    TxnKV
	route Router
}

// SendByRegion sends keys in one request per region. A request that meets
// a region error is sent again, routed anew, until every key got through.
func (s *routedSender) SendByRegion(ctx context.Context, keys [][]byte, send percolator.SendFunc) error {
	for attempt := 1; len(keys) > 0; attempt++ {
		var retry [][]byte
		var lastRegionErr *errorpb.Error
		for _, group := range s.groupByRegion(keys) {
			regionErr, err := send(ctx, percolator.Target{KV: s.kv, Ctx: group.ctx}, group.keys)
			if err != nil {
				return err
			}
			if regionErr != nil {
				retry = append(retry, group.keys...)
				lastRegionErr = regionErr
			}
		}
		if len(retry) > 0 && attempt >= maxRegionRetries {
			return fmt.Errorf("keys %x still get region errors after %d attempts, last: %v", retry, attempt, lastRegionErr)
		}
		if len(retry) > 0 {
			time.Sleep(regionBackoff)
		}
		keys = retry
	}
	return nil
}

type regionGroup struct {
	ctx  *kvrpcpb.Context
	keys [][]byte
}

// groupByRegion splits keys by the region the router names, keeping the
// order of first appearance.
func (s *routedSender) groupByRegion(keys [][]byte) []regionGroup {
	if s.route == nil {
		return []regionGroup{{keys: keys}}
	}
	var groups []regionGroup
	index := make(map[uint64]int)
	for _, key := range keys {
		ctx := s.route(key)
		i, ok := index[ctx.GetRegionId()]
		if !ok {
			i = len(groups)
			index[ctx.GetRegionId()] = i
			groups = append(groups, regionGroup{ctx: ctx})
		}
		groups[i].keys = append(groups[i].keys, key)
	}
	return groups
}
