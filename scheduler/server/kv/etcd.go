// Package kv is the scheduler's view of its embedded etcd: reads, and writes
// that succeed only while this member is still the leader that made them.
//
// Every write goes through a transaction guarded by a comparison (the
// leader's election key still exists with the revision it was created at),
// so a member that lost its leadership cannot overwrite what the next leader
// wrote: its write fails with ErrNotLeader instead.
package kv

import (
	"context"
	"time"

	"github.com/pingcap/errors"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// RequestTimeout bounds one etcd request.
const RequestTimeout = 5 * time.Second

// maxTxnOps is etcd's default limit on the operations of one transaction.
const maxTxnOps = 128

// ErrNotLeader is returned by a guarded write whose guard failed: the member
// is no longer the leader.
var ErrNotLeader = errors.New("not leader")

// Etcd reads and writes keys under a root prefix.
type Etcd struct {
	client *clientv3.Client
	root   string
	guard  []clientv3.Cmp
}

// NewEtcd makes a store of keys under root, writing only while every
// comparison of guard holds (an empty guard writes unconditionally).
func NewEtcd(client *clientv3.Client, root string, guard ...clientv3.Cmp) *Etcd {
	return &Etcd{client: client, root: root, guard: guard}
}

// Client is the etcd client the store uses.
func (e *Etcd) Client() *clientv3.Client { return e.client }

func (e *Etcd) path(key string) string { return e.root + "/" + key }

// Load reads one key; ok is false when it does not exist.
func (e *Etcd) Load(key string) (value []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	resp, err := e.client.Get(ctx, e.path(key))
	if err != nil {
		return nil, false, errors.Annotatef(err, "etcd get %s", e.path(key))
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	return resp.Kvs[0].Value, true, nil
}

// LoadPrefix calls fn for every key starting with prefix, in key order,
// reading pageSize keys at a time. fn gets the key without the root.
func (e *Etcd) LoadPrefix(prefix string, pageSize int64, fn func(key string, value []byte) error) error {
	start := e.path(prefix)
	end := clientv3.GetPrefixRangeEnd(start)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
		resp, err := e.client.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(pageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		cancel()
		if err != nil {
			return errors.Annotatef(err, "etcd range %s", e.path(prefix))
		}
		for _, kv := range resp.Kvs {
			if err := fn(string(kv.Key[len(e.root)+1:]), kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Batch is a list of writes applied together.
type Batch struct {
	ops []write
}

type write struct {
	key    string
	value  []byte
	delete bool
}

// Put adds a write of key.
func (b *Batch) Put(key string, value []byte) {
	b.ops = append(b.ops, write{key: key, value: value})
}

// Delete adds a delete of key.
func (b *Batch) Delete(key string) {
	b.ops = append(b.ops, write{key: key, delete: true})
}

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Save writes key = value.
func (e *Etcd) Save(key string, value []byte) error {
	var b Batch
	b.Put(key, value)
	return e.Commit(&b)
}

// Commit applies the batch in one guarded transaction. Keys of the batch
// are relative to the root. Batches longer than etcd's transaction limit
// are split into several transactions (each one guarded).
func (e *Etcd) Commit(b *Batch) error {
	ops := b.ops
	for len(ops) > 0 {
		n := len(ops)
		if n > maxTxnOps {
			n = maxTxnOps
		}
		if err := e.commit(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

func (e *Etcd) commit(ops []write) error {
	rooted := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		if op.delete {
			rooted[i] = clientv3.OpDelete(e.path(op.key))
		} else {
			rooted[i] = clientv3.OpPut(e.path(op.key), string(op.value))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	resp, err := e.client.Txn(ctx).If(e.guard...).Then(rooted...).Commit()
	if err != nil {
		return errors.Annotatef(err, "etcd txn of %d writes under %s", len(ops), e.root)
	}
	if !resp.Succeeded {
		return errors.WithStack(ErrNotLeader)
	}
	return nil
}
