// Package percolator is the client side of Percolator's two-phase commit
// over the transactional TinyKv API (KvGet, KvScan, KvPrewrite, KvCommit,
// KvCheckTxnStatus, KvBatchRollback, KvResolveLock).
//
// A transaction reads at its start timestamp and buffers its writes; Commit
// prewrites the primary key first, then the others, takes a commit
// timestamp and commits the primary (the moment the transaction is
// committed), then the others. A reader that meets a lock asks the lock's
// primary for the transaction's fate (KvCheckTxnStatus, which rolls an
// expired primary back) and then commits or rolls back the locks of that
// transaction in the key's region (KvResolveLock).
//
// The package knows nothing of regions and stores: a Sender delivers each
// request to where its keys live and retries on region errors, an Oracle
// hands out timestamps. The client library (kv/client) plugs in its region
// cache and the scheduler's timestamp oracle; the test driver
// (kv/transaction/txntest) plugs in a fixed router and a virtual clock. Both
// run the same commit and lock resolution code, this package.
package percolator
