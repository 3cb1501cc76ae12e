package storage

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
)

func TestMemStorageReaderIsASnapshot(t *testing.T) {
	s := NewMemStorage()
	s.Set(engine_util.CfDefault, []byte("a"), []byte("1"))
	reader, _ := s.Reader(nil)
	defer reader.Close()
	put := Modify{Data: Put{Cf: engine_util.CfDefault, Key: []byte("b"), Value: []byte("2")}}
	if err := s.Write(nil, []Modify{put}); err != nil {
		t.Fatal(err)
	}
	if v, _ := reader.GetCF(engine_util.CfDefault, []byte("b")); v != nil {
		t.Fatalf("a reader opened before a write sees it: %q", v)
	}
	if !s.HasChanged(engine_util.CfDefault, []byte("b")) || s.HasChanged(engine_util.CfDefault, []byte("a")) {
		t.Fatal("HasChanged must report written keys only")
	}
	it := reader.IterCF(engine_util.CfDefault)
	defer it.Close()
	var keys []string
	for ; it.Valid(); it.Next() {
		keys = append(keys, string(it.Item().Key()))
	}
	if fmt.Sprint(keys) != "[a]" {
		t.Fatalf("snapshot iterates %v, want [a]", keys)
	}
}

// Readers and writers at once: run with -race.
func TestMemStorageConcurrentReaders(t *testing.T) {
	s := NewMemStorage()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				put := Modify{Data: Put{Cf: engine_util.CfWrite, Key: []byte(fmt.Sprintf("%d-%d", i, j)), Value: []byte("v")}}
				if err := s.Write(nil, []Modify{put}); err != nil {
					t.Error(err)
					return
				}
				r, _ := s.Reader(nil)
				r.Close()
			}
		}(i)
	}
	wg.Wait()
	if got := s.Len(engine_util.CfWrite); got != 1600 {
		t.Fatalf("%d keys after concurrent writes, want 1600", got)
	}
}
