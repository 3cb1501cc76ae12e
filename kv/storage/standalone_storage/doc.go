// Package standalone_storage is project 1: a Storage on a single badger
// instance, with no replication. Column families are key prefixes inside the
// one badger database (engine_util), a Reader is a read-only badger
// transaction (a consistent snapshot until it is closed), and Write applies
// a batch of puts and deletes atomically. Start opens the database under
// Config.DBPath, Stop closes it once the open readers are done; requests
// outside Start and Stop fail with ErrStopped. The raw API of kv/server
// runs on it in project 1, and tinykv-server serves it with -standalone.
package standalone_storage
