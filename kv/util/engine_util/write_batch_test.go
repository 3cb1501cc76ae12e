package engine_util

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/Connor1996/badger"
)

func openTestDB(t *testing.T) *badger.DB {
	t.Helper()
	db, err := CreateDB(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestWriteBatchPutDeleteAndEmptyValue(t *testing.T) {
	db := openTestDB(t)
	wb := new(WriteBatch)
	wb.SetCF(CfDefault, []byte("a"), []byte("1"))
	wb.SetCF(CfLock, []byte("a"), []byte{})
	wb.SetCF(CfDefault, []byte("b"), []byte("2"))
	wb.DeleteCF(CfDefault, []byte("b"))
	if err := wb.WriteToDB(db); err != nil {
		t.Fatal(err)
	}
	if v, err := GetCF(db, CfDefault, []byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("default a = %q, %v; want 1", v, err)
	}
	if v, err := GetCF(db, CfLock, []byte("a")); err != nil || len(v) != 0 {
		t.Fatalf("a put of an empty value reads as %q, %v; want an empty value", v, err)
	}
	if _, err := GetCF(db, CfDefault, []byte("b")); err != badger.ErrKeyNotFound {
		t.Fatalf("deleted key b: err %v, want ErrKeyNotFound", err)
	}
}

// A batch far over badger's transaction limit is written whole.
func TestWriteBatchLargerThanOneTransaction(t *testing.T) {
	db := openTestDB(t)
	wb := new(WriteBatch)
	value := bytes.Repeat([]byte("v"), 64*1024)
	const n = 200 // 12.5 MiB
	for i := 0; i < n; i++ {
		wb.SetCF(CfDefault, []byte(fmt.Sprintf("k%04d", i)), value)
	}
	if err := wb.WriteToDB(db); err != nil {
		t.Fatalf("writing a 12.5 MiB batch: %v", err)
	}
	for i := 0; i < n; i++ {
		if v, err := GetCF(db, CfDefault, []byte(fmt.Sprintf("k%04d", i))); err != nil || len(v) != len(value) {
			t.Fatalf("key %d after a large batch: %d bytes, %v", i, len(v), err)
		}
	}
}

func TestDeleteRangeAndIterator(t *testing.T) {
	db := openTestDB(t)
	wb := new(WriteBatch)
	for _, cf := range CFs {
		for _, k := range []string{"a", "b", "c", "d"} {
			wb.SetCF(cf, []byte(k), []byte(cf+k))
		}
	}
	wb.MustWriteToDB(db)
	if err := DeleteRange(db, []byte("b"), []byte("d")); err != nil {
		t.Fatal(err)
	}
	txn := db.NewTransaction(false)
	defer txn.Discard()
	for _, cf := range CFs {
		it := NewCFIterator(cf, txn)
		var keys []string
		for it.Seek(nil); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().Key()))
		}
		it.Close()
		if fmt.Sprint(keys) != "[a d]" {
			t.Errorf("cf %s after DeleteRange(b, d) has keys %v, want [a d]", cf, keys)
		}
	}
}
