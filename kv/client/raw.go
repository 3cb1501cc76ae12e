package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/errorpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// ErrNotFound is what Get returns for a key without a value.
var ErrNotFound = errors.New("key not found")

// KvPair is a key and its value.
type KvPair struct {
	Key, Value []byte
}

// maxScanBatch is the most pairs one RawScan request asks for (the server's
// limit is 10240).
const maxScanBatch = 1024

// batchParallelism bounds the requests a batch helper has in flight.
const batchParallelism = 16

// storeError is an error the store answered in a response's error field:
// the request was bad, retrying will not help.
func storeError(rpc string, key []byte, msg string) error {
	return fmt.Errorf("%s of key %q refused: %s", rpc, key, msg)
}

// Get reads key's value (raw API, default column family); ErrNotFound
// when it has none.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, error) {
	var value []byte
	var found bool
	err := c.send(ctx, [][]byte{key}, func(ctx context.Context, r route, _ [][]byte) (*errorpb.Error, error) {
		resp, err := r.kv.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: r.ctx, Key: key, Cf: engine_util.CfDefault})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, storeError("RawGet", key, resp.Error)
		}
		value, found = resp.Value, !resp.NotFound
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return value, nil
}

// Put writes key's value (raw API, default column family).
func (c *Client) Put(ctx context.Context, key, value []byte) error {
	err := c.send(ctx, [][]byte{key}, func(ctx context.Context, r route, _ [][]byte) (*errorpb.Error, error) {
		resp, err := r.kv.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: r.ctx, Key: key, Value: value, Cf: engine_util.CfDefault})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, storeError("RawPut", key, resp.Error)
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// Delete removes key's value (raw API); deleting a missing key succeeds.
func (c *Client) Delete(ctx context.Context, key []byte) error {
	err := c.send(ctx, [][]byte{key}, func(ctx context.Context, r route, _ [][]byte) (*errorpb.Error, error) {
		resp, err := r.kv.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Context: r.ctx, Key: key, Cf: engine_util.CfDefault})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, storeError("RawDelete", key, resp.Error)
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// Scan reads up to limit pairs of [start, end) in key order (raw API); an
// empty end is the end of the key space. It walks as many regions as it
// takes.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int) ([]KvPair, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	var pairs []KvPair
	for len(pairs) < limit {
		want := min(limit-len(pairs), maxScanBatch)
		batch, regionEnd, err := c.scanRegion(ctx, start, want)
		if err != nil {
			return nil, fmt.Errorf("scan [%q, %q) from %q: %w", start, end, start, err)
		}
		for _, kv := range batch {
			if len(end) > 0 && bytes.Compare(kv.Key, end) >= 0 {
				return pairs, nil
			}
			pairs = append(pairs, KvPair{Key: kv.Key, Value: kv.Value})
		}
		switch {
		case len(batch) == want:
			// A full batch: the region may hold more after its last key.
			start = append(append([]byte{}, batch[len(batch)-1].Key...), 0)
		case len(regionEnd) == 0 || (len(end) > 0 && bytes.Compare(regionEnd, end) >= 0):
			return pairs, nil
		default:
			start = regionEnd
		}
	}
	return pairs, nil
}

// scanRegion reads up to limit pairs from start within start's region and
// returns them with the end key of the region that answered.
func (c *Client) scanRegion(ctx context.Context, start []byte, limit int) ([]*kvrpcpb.KvPair, []byte, error) {
	var kvs []*kvrpcpb.KvPair
	var regionEnd []byte
	err := c.send(ctx, [][]byte{start}, func(ctx context.Context, r route, _ [][]byte) (*errorpb.Error, error) {
		resp, err := r.kv.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: r.ctx, StartKey: start, Limit: uint32(limit), Cf: engine_util.CfDefault})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, storeError("RawScan", start, resp.Error)
		}
		kvs, regionEnd = resp.Kvs, r.loc.Region.EndKey
		return nil, nil
	})
	return kvs, regionEnd, err
}

// BatchGet reads many keys at once; a key without a value is missing from
// the result.
func (c *Client) BatchGet(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	var mu sync.Mutex
	values := make(map[string][]byte, len(keys))
	err := c.parallel(len(keys), func(i int) error {
		value, err := c.Get(ctx, keys[i])
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		mu.Lock()
		values[string(keys[i])] = value
		mu.Unlock()
		return nil
	})
	return values, err
}

// BatchPut writes many pairs at once (each pair on its own; not atomic).
func (c *Client) BatchPut(ctx context.Context, pairs []KvPair) error {
	return c.parallel(len(pairs), func(i int) error {
		return c.Put(ctx, pairs[i].Key, pairs[i].Value)
	})
}

// BatchDelete deletes many keys at once (each on its own; not atomic).
func (c *Client) BatchDelete(ctx context.Context, keys [][]byte) error {
	return c.parallel(len(keys), func(i int) error {
		return c.Delete(ctx, keys[i])
	})
}

// parallel runs f(0..n-1) with at most batchParallelism at a time and
// returns the first error.
func (c *Client) parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	slots := make(chan struct{}, batchParallelism)
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-slots; wg.Done() }()
			if err := f(i); err != nil {
				once.Do(func() { first = err })
			}
		}(i)
	}
	wg.Wait()
	return first
}
