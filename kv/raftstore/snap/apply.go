package snap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/Connor1996/badger"
	"github.com/Connor1996/badger/options"
	"github.com/Connor1996/badger/table"
	"github.com/Connor1996/badger/y"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// Apply ingests the snapshot's tables into opts.DB. Each table is checked
// first: it must be a readable table whose keys belong to its column family
// and lie inside opts.Region. The caller deletes the region's old data
// before (ingested tables shadow older versions of their keys, but not
// keys they do not contain).
//
// Ingesting hard-links the files into the database directory, which must
// be on the same file system as the snap directory; badger then stamps a
// version into the linked file, so the snapshot's files no longer match
// their checksums afterwards (they are only ever applied again, never sent).
func (s *Snap) Apply(opts ApplyOptions) error {
	if opts.DB == nil || opts.Region == nil {
		return errors.Errorf("apply snapshot %s: database and region are required", s.displayPath)
	}
	meta, ok := s.completeMeta()
	if !ok {
		return errors.Errorf("apply snapshot %s: its files are missing or incomplete", s.displayPath)
	}
	s.setMeta(meta)
	start := time.Now()
	workDir := filepath.Join(s.dir, s.prefix+applyDirSuffix)
	if err := os.RemoveAll(workDir); err != nil {
		return errors.Annotatef(err, "clear %s", workDir)
	}
	if err := os.MkdirAll(workDir, 0755); err != nil {
		return errors.Annotatef(err, "create %s", workDir)
	}
	defer os.RemoveAll(workDir)

	paths, err := s.tablesToIngest(opts, workDir)
	if err != nil {
		return errors.Annotatef(err, "apply snapshot %s", s.displayPath)
	}
	if err := ingestTables(opts.DB, paths); err != nil {
		return errors.Annotatef(err, "apply snapshot %s", s.displayPath)
	}
	log.Infof("[snap] region=%d term=%d applied snapshot %s: %d bytes in %v",
		s.key.RegionID, s.key.Term, s.displayPath, s.TotalSize(), time.Since(start))
	return nil
}

// tablesToIngest checks every non-empty file and returns the tables to
// ingest: the files themselves, or copies rewritten for a database that
// compresses its tables.
func (s *Snap) tablesToIngest(opts ApplyOptions, workDir string) ([]string, error) {
	var files []*CFFile
	for _, f := range s.cfFiles {
		if f.Size > 0 {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	for i, f := range files {
		if err := checkTable(f, opts.Region, workDir, i); err != nil {
			return nil, err
		}
	}
	compresses, err := dbCompressesTables(opts.DB, workDir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(files))
	for i, f := range files {
		path := f.Path
		if compresses {
			if path, err = rewriteTable(opts.DB, f, workDir, i); err != nil {
				return nil, err
			}
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// openSnapTable opens a snapshot file as a badger table. Badger accepts
// only table file names, so the file is hard-linked under one in workDir;
// and it panics on a malformed table, which is turned into an error here.
func openSnapTable(f *CFFile, workDir string, id int) (t *table.Table, cleanup func(), err error) {
	link := filepath.Join(workDir, table.IDToFilename(uint64(id+1)))
	_ = os.Remove(link)
	if err := os.Link(f.Path, link); err != nil {
		return nil, nil, errors.Annotatef(err, "link snapshot file %s", f.Path)
	}
	fd, err := os.Open(link)
	if err != nil {
		_ = os.Remove(link)
		return nil, nil, errors.WithStack(err)
	}
	defer func() {
		if r := recover(); r != nil {
			_ = fd.Close()
			_ = os.Remove(link)
			t, cleanup, err = nil, nil, errors.Errorf("snapshot file %s is not a valid table: %v", f.Path, r)
		}
	}()
	t, err = table.OpenTable(fd, options.FileIO, options.None, nil)
	if err != nil {
		_ = os.Remove(link)
		return nil, nil, errors.Annotatef(err, "open snapshot file %s", f.Path)
	}
	return t, func() { _ = t.Close(); _ = os.Remove(link) }, nil
}

// checkTable makes sure the file is a table whose smallest and biggest
// keys belong to its column family and to the region (keys are sorted, so
// every key then does).
func checkTable(f *CFFile, region *metapb.Region, workDir string, id int) error {
	t, cleanup, err := openSnapTable(f, workDir, id)
	if err != nil {
		return err
	}
	defer cleanup()
	if len(t.Smallest()) == 0 || len(t.Biggest()) == 0 {
		return errors.Errorf("snapshot file %s is not empty but holds no key", f.Path)
	}
	for _, key := range [][]byte{y.ParseKey(t.Smallest()), y.ParseKey(t.Biggest())} {
		if err := checkKeyOfFile(f.CF, key, region); err != nil {
			return errors.Annotatef(err, "snapshot file %s", f.Path)
		}
	}
	return nil
}

func checkKeyOfFile(cf string, key []byte, region *metapb.Region) error {
	prefix := engine_util.KeyWithCF(cf, nil)
	if !bytes.HasPrefix(key, prefix) {
		return errors.Errorf("key %x does not belong to column family %s", key, cf)
	}
	userKey := key[len(prefix):]
	if bytes.Compare(userKey, region.GetStartKey()) < 0 || engine_util.ExceedEndKey(userKey, region.GetEndKey()) {
		return errors.Errorf("key %x lies outside region %d [%x, %x)", userKey, region.GetId(), region.GetStartKey(), region.GetEndKey())
	}
	return nil
}

// probeValueSize is large and regular enough that any compression shrinks
// it a lot.
const probeValueSize = 16 << 10

// dbCompressesTables tells whether db compresses the tables it builds, by
// building a tiny one with its options: badger does not expose them, and
// a table must be written with the compression its database reads with.
func dbCompressesTables(db *badger.DB, workDir string) (bool, error) {
	path := filepath.Join(workDir, "probe"+sstFileSuffix)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0644)
	if err != nil {
		return false, errors.WithStack(err)
	}
	defer os.Remove(path)
	defer f.Close()
	b := db.NewExternalTableBuilder(f, nil)
	if err := b.Add([]byte("probe"), y.ValueStruct{Value: make([]byte, probeValueSize)}); err != nil {
		return false, errors.WithStack(err)
	}
	if err := b.Finish(); err != nil {
		return false, errors.Annotate(err, "build probe table")
	}
	fi, err := f.Stat()
	if err != nil {
		return false, errors.WithStack(err)
	}
	return fi.Size() < probeValueSize, nil
}

// rewriteTable copies a snapshot table into workDir with db's table options.
func rewriteTable(db *badger.DB, f *CFFile, workDir string, id int) (string, error) {
	t, cleanup, err := openSnapTable(f, workDir, id)
	if err != nil {
		return "", err
	}
	defer cleanup()
	path := filepath.Join(workDir, fmt.Sprintf("rewritten_%s%s", f.CF, sstFileSuffix))
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0644)
	if err != nil {
		return "", errors.WithStack(err)
	}
	b := db.NewExternalTableBuilder(out, nil)
	it := t.NewIterator(false)
	for it.Rewind(); it.Valid(); it.Next() {
		if err = b.Add(it.RawKey(), it.Value()); err != nil {
			break
		}
	}
	if err == nil {
		err = b.Finish()
	}
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	return path, errors.Annotatef(err, "rewrite snapshot file %s", f.Path)
}

// ingestTables hands the tables to badger in one call.
func ingestTables(db *badger.DB, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	files := make([]*os.File, 0, len(paths))
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return errors.WithStack(err)
		}
		files = append(files, f)
	}
	n, err := db.IngestExternalFiles(files)
	if err != nil {
		return errors.Annotate(err, "ingest snapshot tables")
	}
	if n != len(files) {
		return errors.Errorf("ingested %d of %d snapshot tables", n, len(files))
	}
	return nil
}
