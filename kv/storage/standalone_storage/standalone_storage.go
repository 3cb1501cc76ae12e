package standalone_storage

import (
	"errors"
	"path/filepath"
	"sync"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// ErrStopped is returned for requests that arrive when the storage is not running.
var ErrStopped = errors.New("standalone storage is not running")

// StandAloneStorage is an implementation of `Storage` for a single-node TinyKV instance. It does not
// communicate with other nodes and all data is stored locally.
type StandAloneStorage struct {
	// Your Data Here (1).
	//lab:begin 1
	dbPath    string
	lifecycle sync.Mutex   // serialises Start and Stop
	mu        sync.RWMutex // held for reading by every request, for writing to change db
	db        *badger.DB   // nil while the storage is not running
	readers   *readerSet   // the readers of db; badger must outlive them (it unmaps its files on Close)
	//lab:end
}

// NewStandAloneStorage makes a storage that keeps its data in conf.DBPath.
func NewStandAloneStorage(conf *config.Config) *StandAloneStorage {
	// Your Code Here (1).
	//lab:begin 1
	return &StandAloneStorage{dbPath: filepath.Join(conf.DBPath, "kv")}
	//lab:else
	//	return nil
	//lab:end
}

// Start opens the badger database.
func (s *StandAloneStorage) Start() error {
	// Your Code Here (1).
	//lab:begin 1
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return nil
	}
	db, err := engine_util.CreateDB(s.dbPath, false)
	if err != nil {
		return err
	}
	s.db = db
	s.readers = newReaderSet()
	//lab:end
	return nil
}

// Stop closes the database; writes acknowledged before it are on disk.
// Requests that arrive from now on are refused; readers already open keep
// working, and Stop waits until they are closed (for a grace period at most:
// a reader used after Stop returns is a bug of its user).
func (s *StandAloneStorage) Stop() error {
	// Your Code Here (1).
	//lab:begin 1
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	s.mu.Lock()
	db := s.db
	s.db = nil
	s.mu.Unlock()
	if db == nil {
		return nil
	}
	// Not under mu: a request may still write (and be refused) while it holds a reader.
	if open := s.readers.drain(readerGracePeriod); open > 0 {
		log.Warnf("standalone storage: %d reader(s) still open %v after Stop began; closing the database anyway", open, readerGracePeriod)
	}
	return db.Close()
	//lab:else
	//	return nil
	//lab:end
}

// Reader returns a reader over one consistent snapshot of the database.
func (s *StandAloneStorage) Reader(ctx *kvrpcpb.Context) (storage.StorageReader, error) {
	// Your Code Here (1).
	//lab:begin 1
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, ErrStopped
	}
	s.readers.add()
	return &badgerReader{txn: s.db.NewTransaction(false), done: s.readers.remove}, nil
	//lab:else
	//	return nil, nil
	//lab:end
}

// Write applies every modification of batch in one atomic write.
func (s *StandAloneStorage) Write(ctx *kvrpcpb.Context, batch []storage.Modify) error {
	// Your Code Here (1).
	//lab:begin 1
	wb := new(engine_util.WriteBatch)
	for _, m := range batch {
		switch data := m.Data.(type) {
		case storage.Put:
			wb.SetCF(data.Cf, data.Key, data.Value)
		case storage.Delete:
			wb.DeleteCF(data.Cf, data.Key)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrStopped
	}
	return wb.WriteToDB(s.db)
	//lab:else
	//	return nil
	//lab:end
}

//lab:begin 1

// badgerReader reads through one read-only badger transaction.
type badgerReader struct {
	txn  *badger.Txn
	done func() // tells the storage that the reader is closed; nil once called
}

func (r *badgerReader) GetCF(cf string, key []byte) ([]byte, error) {
	val, err := engine_util.GetCFFromTxn(r.txn, cf, key)
	if err == badger.ErrKeyNotFound {
		return nil, nil
	}
	return val, err
}

func (r *badgerReader) IterCF(cf string) engine_util.DBIterator {
	return engine_util.NewCFIterator(cf, r.txn)
}

func (r *badgerReader) Close() {
	r.txn.Discard()
	if r.done != nil {
		r.done()
		r.done = nil
	}
}

//lab:end
