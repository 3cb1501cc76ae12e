// Package mvcc lays out the versions of the transactional API (project 4)
// in the three column families of a Storage: the lock CF maps a user key to
// the Lock of the transaction that is writing it (Lock.ToBytes); the
// default CF maps EncodeKey(key, start ts) to the value that transaction
// wrote; the write CF maps EncodeKey(key, commit ts) to a Write record
// (kind and start ts) that makes the value visible from the commit ts on,
// or records a rollback at the start ts. EncodeKey appends the inverted
// timestamp, so the newest version of a key sorts first. An MvccTxn reads
// one snapshot (a StorageReader) at its start ts and collects the changes
// of one request, which the server writes in one batch; a Scanner reads
// consecutive keys at one timestamp. Project 4A fills the MvccTxn methods,
// 4C the Scanner.
package mvcc
