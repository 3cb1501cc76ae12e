// Package transaction is project 4: Percolator transactions on top of any
// Storage.
//
// The pieces live in sub-packages and in the server:
//
//   - mvcc: how versions, locks and commit records are laid out in the
//     default, lock and write column families, MvccTxn (the reads and writes
//     of one request) and Scanner (reads many keys at one timestamp);
//   - latches: serialises the requests of one server that write the same
//     keys;
//   - kv/server/txn_api.go: the handlers KvGet, KvPrewrite, KvCommit (4B)
//     and KvScan, KvCheckTxnStatus, KvBatchRollback, KvResolveLock (4C);
//   - txntest: a client with two-phase commit and lock resolution, and the
//     bank workload that checks snapshot isolation end to end.
//
// The tests of this directory call the handlers of a Server over a
// MemStorage and check the column families byte by byte; see
// doc/project4-Transaction.md.
package transaction
