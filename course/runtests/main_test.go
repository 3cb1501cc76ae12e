package main

import (
	"bytes"
	"testing"
)

func TestParseFlags(t *testing.T) {
	var errs bytes.Buffer
	f, err := parseFlags([]string{"-n", "3", "TestOneSplit3B"}, &errs)
	if err != nil || f.run != "^TestOneSplit3B$" || f.n != 3 {
		t.Errorf("a test name as argument: got %+v, %v", f, err)
	}
	for _, args := range [][]string{{}, {"-run", "X", "extra"}, {"-run", "X", "-n", "0"}, {"-run", "X", "-parallel", "0"}} {
		if _, err := parseFlags(args, &errs); err == nil {
			t.Errorf("parseFlags(%q) accepted a bad command line", args)
		}
	}
}
