// Package snap keeps the files of region snapshots.
//
// A snapshot of a region at raft (term, index) is one file per column
// family (default, lock, write), each a badger SST table holding the
// region's keys of that family, plus a meta file listing the size and CRC32
// of every column-family file (a marshalled raft_serverpb.SnapshotMeta).
// Files live flat in the snap directory of the store:
//
//	gen_<region>_<term>_<index>_<cf>.sst   built here, to send to followers
//	gen_<region>_<term>_<index>.meta
//	rev_<region>_<term>_<index>_<cf>.sst   received from a leader, to apply
//	rev_<region>_<term>_<index>.meta
//
// Every file is first written as <name>.tmp and renamed only when complete;
// the meta file is renamed last, so a set with its meta file is complete
// and a set without one is a leftover of a crash (SnapManager.Init removes
// those and every .tmp file).
//
// A Snap is one handle on such a set, opened for one purpose:
//
//	NewSnapForBuilding   Build writes the files from a consistent read of kvdb.
//	NewSnapForSending    Read streams the column-family files one after another.
//	NewSnapForReceiving  Write splits the stream back into files by the meta's
//	                     sizes; Save checks sizes and checksums, then renames.
//	NewSnapForApplying   Apply ingests the files into kvdb.
//
// The SnapManager owns the directory: it hands out handles, counts the
// snapshots in use (generating, sending, receiving, applying) so that
// garbage collection never deletes one of them, and tracks the total size
// of the complete snapshots on disk.
//
// The SST files are always written uncompressed. Apply ingests them as they
// are into a database that stores uncompressed tables (the store's kvdb),
// and rewrites them with the database's own table options otherwise.
package snap
