// Package client is the Go client of a TinyKV cluster: what tinykv-ctl,
// the launcher, the end-to-end tests and any other program use to read and
// write.
//
// A Client keeps a cache of regions (range, epoch, peers, the peer believed
// to lead) filled from the scheduler, and of store addresses. Each request
// goes to the leader of its key's region with the region's id, epoch and
// peer in its context. A region error corrects the cache and the request
// goes again: NotLeader follows the hint (or tries the next peer when there
// is none), EpochNotMatch takes the regions the store lists, RegionNotFound,
// KeyNotInRegion and StoreNotMatch forget the region and ask the scheduler,
// StaleCommand and a busy store retry later; a store that does not answer
// within RPCTimeout moves the region's requests to its next peer. Retries
// back off (doubling, with jitter) and stop at the operation's deadline
// (the context's, or Options.Timeout).
//
// The raw API (Get, Put, Delete, Scan across regions, and the Batch
// helpers) works on the default column family. The transactional API
// (Begin, Txn.Get/Set/Delete/Commit, TxnGet and TxnScan at a timestamp) is
// Percolator's two-phase commit from package percolator, run over this
// package's routing, with timestamps from the scheduler.
//
//	c, err := client.Connect([]string{"127.0.0.1:2379"}, client.Options{})
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Put(ctx, []byte("k"), []byte("v"))
//	txn, err := c.Begin(ctx)
//	txn.Set([]byte("a"), []byte("1"))
//	commitTS, err := txn.Commit(ctx)
package client
