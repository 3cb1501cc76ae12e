package snap

import (
	"bytes"
	"encoding/binary"
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

// Apply ingests the snapshot's tables into opts.DB. Each table is read
// whole and checked first (see checkTable): a snapshot with a malformed
// table or a key outside opts.Region changes nothing. The caller deletes
// the region's old data
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
// ingest: the files themselves, or copies rewritten with the database's
// table options when it compresses its tables.
func (s *Snap) tablesToIngest(opts ApplyOptions, workDir string) ([]string, error) {
	compresses, err := dbCompressesTables(opts.DB, workDir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for i, f := range s.cfFiles {
		if f.Size == 0 {
			continue
		}
		path := f.Path
		if compresses {
			path = filepath.Join(workDir, "rewritten_"+f.CF+sstFileSuffix)
		}
		if err := checkTable(f, opts, workDir, i, compresses); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// checkTable reads a whole snapshot table and checks that it is a
// well-formed table of plain values whose keys are sorted, belong to its
// column family and lie inside the region. Badger trusts the tables it
// ingests (a malformed one can stop the process), so nothing reaches it
// unchecked. With rewrite, the pairs are copied into a table built with
// the database's options on the way.
func checkTable(f *CFFile, opts ApplyOptions, workDir string, id int, rewrite bool) error {
	if err := checkTableLayout(f.Path); err != nil {
		return errors.Annotatef(err, "snapshot file %s is not a valid table", f.Path)
	}
	t, cleanup, err := openSnapTable(f, workDir, id)
	if err != nil {
		return err
	}
	defer cleanup()
	var out *tableWriter
	if rewrite {
		if out, err = newTableWriter(opts.DB, filepath.Join(workDir, "rewritten_"+f.CF+sstFileSuffix)); err != nil {
			return err
		}
	}
	err = scanTable(t, f.CF, opts.Region, out)
	if out != nil {
		if finishErr := out.finish(err == nil); err == nil {
			err = finishErr
		}
	}
	return errors.Annotatef(err, "snapshot file %s", f.Path)
}

// openSnapTable opens a snapshot file as a badger table. Badger accepts
// only table file names, so the file is hard-linked under one in workDir.
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
	// Memory-mapped: the whole file is read without allocating per block.
	t, err = table.OpenTable(fd, options.MemoryMap, options.None, nil)
	if err != nil {
		_ = os.Remove(link)
		return nil, nil, errors.Annotatef(err, "open snapshot file %s", f.Path)
	}
	return t, func() { _ = t.Close(); _ = os.Remove(link) }, nil
}

// scanTable walks every pair of t (see checkTable), copying them to out
// when it is set. A malformed block makes badger panic: that is an error.
func scanTable(t *table.Table, cf string, region *metapb.Region, out *tableWriter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.Errorf("not a valid table: %v", r)
		}
	}()
	biggest := y.ParseKey(t.Biggest())
	if len(biggest) == 0 {
		return errors.New("not a valid table: it holds no key")
	}
	var last []byte
	it := t.NewIterator(false)
	for it.Rewind(); it.Valid(); it.Next() {
		key, value := it.RawKey(), it.Value()
		if last != nil && bytes.Compare(key, last) <= 0 {
			return errors.Errorf("not a valid table: key %x follows %x", key, last)
		}
		if value.Meta != 0 || len(value.UserMeta) != 0 {
			return errors.Errorf("not a valid table: key %x has no plain value (meta %x)", key, value.Meta)
		}
		if err := checkKeyOfFile(cf, key, region); err != nil {
			return err
		}
		if out != nil {
			if err := out.add(key, value); err != nil {
				return err
			}
		}
		last = append(last[:0], key...)
	}
	if !bytes.Equal(last, biggest) {
		return errors.Errorf("not a valid table: reading stopped at key %x before its last key %x", last, biggest)
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

// checkTableLayout checks that the index at the end of a table file points
// inside the file, before badger reads it: badger stops the process on an
// index it cannot read. The layout, from the end: global ts (8 bytes),
// SuRF size (4, zero for external tables), hash index, bloom filter, then
// the block count, base-key offsets, base keys and block end offsets.
func checkTableLayout(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return errors.WithStack(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return errors.WithStack(err)
	}
	r := &tailReader{f: f, pos: fi.Size()}
	r.skip(8)
	if surf := r.u32(); surf != 0 && r.err == nil {
		return errors.Errorf("it has a SuRF index (%d bytes), which snapshot tables never have", surf)
	}
	r.skip(3 * int64(r.u32()))
	r.skip(int64(r.u32()))
	numBlocks := int64(r.u32())
	if r.err == nil && numBlocks == 0 {
		return errors.New("it has no block")
	}
	baseKeyEnds := r.u32s(numBlocks)
	if r.err != nil {
		return r.err
	}
	r.skip(int64(baseKeyEnds[numBlocks-1]))
	blockEnds := r.u32s(numBlocks)
	if r.err != nil {
		return r.err
	}
	for i := int64(1); i < numBlocks; i++ {
		if blockEnds[i] < blockEnds[i-1] || baseKeyEnds[i] < baseKeyEnds[i-1] {
			return errors.Errorf("block %d ends before block %d", i, i-1)
		}
	}
	if int64(blockEnds[numBlocks-1]) > r.pos {
		return errors.Errorf("its blocks end at %d, inside their index at %d", blockEnds[numBlocks-1], r.pos)
	}
	return nil
}

// tailReader reads little-endian numbers backwards from the end of a file,
// remembering the first read that falls outside it.
type tailReader struct {
	f   *os.File
	pos int64
	err error
}

func (r *tailReader) skip(n int64) {
	if r.err == nil && n > r.pos {
		r.err = errors.Errorf("its index points %d bytes before the start of the file", n-r.pos)
	}
	if r.err == nil {
		r.pos -= n
	}
}

func (r *tailReader) u32() uint32 {
	values := r.u32s(1)
	if r.err != nil {
		return 0
	}
	return values[0]
}

func (r *tailReader) u32s(n int64) []uint32 {
	r.skip(4 * n)
	if r.err != nil {
		return nil
	}
	buf := make([]byte, 4*n)
	if _, err := r.f.ReadAt(buf, r.pos); err != nil {
		r.err = errors.Annotate(err, "read its index")
		return nil
	}
	values := make([]uint32, n)
	for i := range values {
		values[i] = binary.LittleEndian.Uint32(buf[4*i:])
	}
	return values
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

// tableWriter builds a table with a database's options.
type tableWriter struct {
	path    string
	file    *os.File
	builder *table.Builder
}

func newTableWriter(db *badger.DB, path string) (*tableWriter, error) {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0644)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	return &tableWriter{path: path, file: file, builder: db.NewExternalTableBuilder(file, nil)}, nil
}

func (w *tableWriter) add(key []byte, value y.ValueStruct) error {
	return errors.WithStack(w.builder.Add(key, value))
}

// finish completes the table when complete is set and closes the file.
func (w *tableWriter) finish(complete bool) error {
	var err error
	if complete {
		err = errors.Annotatef(w.builder.Finish(), "finish %s", w.path)
	}
	if closeErr := w.file.Close(); err == nil {
		err = errors.WithStack(closeErr)
	}
	return err
}

// ingestTables hands the tables to badger in one call.
func ingestTables(db *badger.DB, paths []string) error {
	if len(paths) == 0 || engine_util.DropWrite(db) {
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
