package snap

import (
	"os"
	"sync/atomic"
	"time"

	"github.com/Connor1996/badger"
	"github.com/Connor1996/badger/options"
	"github.com/Connor1996/badger/table"
	"github.com/Connor1996/badger/y"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	rspb "github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// maxCFDataSize bounds the keys and values put into one table: badger
// tables address blocks with 32-bit offsets. Regions are split long before.
const maxCFDataSize = 3 << 30

// sstBuilderOptions are the table options of snapshot files: badger's
// defaults, uncompressed (Apply rewrites the files for a database that
// compresses its tables).
func sstBuilderOptions() options.TableBuilderOptions {
	opts := badger.DefaultOptions.TableBuilderOptions
	opts.Compression = options.None
	return opts
}

// Build writes the region's keys of every column family, read through
// dbSnap, fills snapData.Meta (and snapData.Region when unset), sets stat
// and adds the total size to the tracked size. A complete snapshot already
// on disk under the same key holds the same data (same region, term and
// index) and is reused.
func (s *Snap) Build(dbSnap *badger.Txn, region *metapb.Region, snapData *rspb.RaftSnapshotData, stat *SnapStatistics, deleter SnapshotDeleter) error {
	if s.mode != modeBuilding {
		return errors.Errorf("snapshot %s is open for %s, not building", s.displayPath, s.mode)
	}
	if snapData.Region == nil {
		snapData.Region = region
	}
	if meta, ok := s.completeMeta(); ok {
		s.setMeta(meta)
		s.fillResult(meta, snapData, stat, 0)
		log.Infof("[snap] region=%d term=%d reusing snapshot %s", s.key.RegionID, s.key.Term, s.displayPath)
		return nil
	}
	if err := s.clearLeftovers(deleter); err != nil {
		return err
	}
	start := time.Now()
	kvCount, err := s.buildFiles(dbSnap, region)
	if err != nil {
		s.removeTmpFiles()
		return err
	}
	meta, err := genSnapshotMeta(s.cfFiles)
	if err != nil {
		s.removeTmpFiles()
		return err
	}
	if err := s.commitFiles(meta); err != nil {
		s.removeTmpFiles()
		return err
	}
	s.metaKnown = true
	s.saved = true
	atomic.AddInt64(s.sizeTrack, int64(s.TotalSize()))
	s.fillResult(meta, snapData, stat, kvCount)
	log.Infof("[snap] region=%d term=%d built snapshot %s: %d keys, %d bytes in %v",
		s.key.RegionID, s.key.Term, s.displayPath, kvCount, s.TotalSize(), time.Since(start))
	return nil
}

func (s *Snap) fillResult(meta *rspb.SnapshotMeta, snapData *rspb.RaftSnapshotData, stat *SnapStatistics, kvCount int) {
	snapData.Meta = meta
	snapData.FileSize = s.TotalSize()
	if stat != nil {
		stat.Size = s.TotalSize()
		stat.KVCount = kvCount
	}
}

// clearLeftovers removes an incomplete set of files of the same key (a
// crash in the middle of a build) before building again.
func (s *Snap) clearLeftovers(deleter SnapshotDeleter) error {
	s.removeTmpFiles()
	leftover := fileExists(s.metaPath)
	for _, f := range s.cfFiles {
		leftover = leftover || fileExists(f.Path)
	}
	if !leftover {
		return nil
	}
	if deleter == nil {
		deleter = s.deleter
	}
	if deleter != nil && deleter.DeleteSnapshot(s.key, s, true) {
		return nil
	}
	return errors.Errorf("snapshot %s has incomplete files that cannot be deleted now", s.displayPath)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// buildFiles writes one temporary table per column family and records
// each file's size and checksum. One table builder serves every family:
// its buffers and index grow once instead of once per file.
func (s *Snap) buildFiles(txn *badger.Txn, region *metapb.Region) (int, error) {
	w := &cfTableWriter{txn: txn, region: region}
	total := 0
	for _, f := range s.cfFiles {
		n, err := w.build(f)
		if err != nil {
			return 0, errors.Annotatef(err, "build snapshot %s, column family %s", s.displayPath, f.CF)
		}
		size, checksum, err := fileSizeAndChecksum(f.TmpPath)
		if err != nil {
			return 0, err
		}
		f.Size, f.Checksum = size, checksum
		total += n
	}
	return total, nil
}

// cfTableWriter writes the region's keys of one column family after
// another as tables.
type cfTableWriter struct {
	txn     *badger.Txn
	region  *metapb.Region
	builder *table.Builder
	key     []byte // the column-family key being added, reused
}

// build writes the family of f into f.TmpPath and returns how many keys it
// has. A family without keys gets an empty file.
func (w *cfTableWriter) build(f *CFFile) (int, error) {
	file, err := os.OpenFile(f.TmpPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0644)
	if err != nil {
		return 0, errors.WithStack(err)
	}
	count, err := w.writeTable(f.CF, file)
	if err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	return count, err
}

func (w *cfTableWriter) writeTable(cf string, file *os.File) (int, error) {
	it := engine_util.NewCFIterator(cf, w.txn)
	defer it.Close()
	started := false
	count, dataSize := 0, 0
	for it.Seek(w.region.GetStartKey()); it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		if engine_util.ExceedEndKey(key, w.region.GetEndKey()) {
			break
		}
		value, err := item.Value()
		if err != nil {
			return 0, errors.Annotatef(err, "read value of key %x", key)
		}
		dataSize += len(key) + len(value)
		if dataSize > maxCFDataSize {
			return 0, errors.Errorf("region %d has more than %d bytes in one column family", w.region.GetId(), maxCFDataSize)
		}
		if !started {
			w.startTable(file)
			started = true
		}
		// The builder copies what it keeps of the key.
		w.key = append(append(append(w.key[:0], cf...), '_'), key...)
		if err := w.builder.Add(w.key, y.ValueStruct{Value: value}); err != nil {
			return 0, errors.WithStack(err)
		}
		count++
	}
	if !started {
		return 0, nil
	}
	return count, errors.WithStack(w.builder.Finish())
}

func (w *cfTableWriter) startTable(file *os.File) {
	if w.builder == nil {
		w.builder = table.NewExternalTableBuilder(file, nil, sstBuilderOptions())
		return
	}
	w.builder.Reset(file)
}
